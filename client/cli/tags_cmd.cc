// File: tags_cmd.cc
// `historian tags` and `historian create-tag`.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/time_parse.h"
#include "client/value_text.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr char kTagsUsage[] =
    "Usage: historian tags [GLOB] [--attr k=v]...\n"
    "\n"
    "Lists the tags whose name matches GLOB (`*` any run, `?` one character;\n"
    "default: all) and that carry every given attribute, paging through the\n"
    "whole catalog.\n";

constexpr char kCreateTagUsage[] =
    "Usage: historian create-tag NAME --type double|int64|bool|string [--unit U]\n"
    "                            [--description D] [--attr k=v]... [--retention D]\n"
    "\n"
    "Creates a tag and prints it. NAME: 1..256 bytes of [A-Za-z0-9_.:/-]; the name\n"
    "and type never change.\n"
    "\n"
    "Flags:\n"
    "  --type T          value type (required)\n"
    "  --unit U          engineering unit, e.g. degC, bar\n"
    "  --description D   free text\n"
    "  --attr k=v        metadata (asset path, PLC address); repeatable\n"
    "  --retention D     drop samples older than D, e.g. 365d (default: keep)\n";

absl::Status AddAttributes(const ParsedArgs& args,
                           google::protobuf::Map<std::string, std::string>* attributes) {
  for (const std::string& kv : args.GetAll("attr")) {
    absl::StatusOr<std::pair<std::string, std::string>> pair = ParseKeyValue(kv);
    if (!pair.ok())
      return absl::InvalidArgumentError(absl::StrCat("--attr: ", pair.status().message()));
    (*attributes)[pair->first] = pair->second;
  }
  return absl::OkStatus();
}

absl::Status RunTags(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() > 1) {
    return absl::InvalidArgumentError("want at most one GLOB (see historian tags --help)");
  }
  v1::ListTagsRequest request;
  if (!args.positional.empty()) request.set_glob(args.positional[0]);
  RETURN_IF_ERROR(AddAttributes(args, request.mutable_attributes()));
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  TagWriter writer(&ctx.out(), ctx.format());
  return client->ListAllTags(request, [&](const v1::Tag& tag) {
    writer.Write(tag);
    return absl::OkStatus();
  });
}

absl::Status RunCreateTag(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("want exactly one NAME (see historian create-tag --help)");
  }
  const std::optional<std::string> type = args.Get("type");
  if (!type.has_value()) return absl::InvalidArgumentError("--type is required");
  v1::CreateTagRequest request;
  v1::Tag* tag = request.mutable_tag();
  tag->set_name(args.positional[0]);
  absl::StatusOr<v1::ValueType> value_type = client::ParseValueType(*type);
  if (!value_type.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--type: ", value_type.status().message()));
  }
  tag->set_value_type(*value_type);
  tag->set_unit(args.Get("unit").value_or(""));
  tag->set_description(args.Get("description").value_or(""));
  RETURN_IF_ERROR(AddAttributes(args, tag->mutable_attributes()));
  if (auto retention = args.Get("retention")) {
    absl::StatusOr<int64_t> ns = client::ParseDuration(*retention);
    if (!ns.ok())
      return absl::InvalidArgumentError(absl::StrCat("--retention: ", ns.status().message()));
    tag->set_retention_ns(*ns);
  }
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  ASSIGN_OR_RETURN(v1::Tag created, client->CreateTag(request));
  TagWriter(&ctx.out(), ctx.format()).Write(created);
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> TagCommands() {
  return {
      {"tags", "list tags by glob and attributes", kTagsUsage, {{"attr", true}}, RunTags},
      {"create-tag",
       "create a tag",
       kCreateTagUsage,
       {{"type", true}, {"unit", true}, {"description", true}, {"attr", true}, {"retention", true}},
       RunCreateTag},
  };
}

}  // namespace historian::cli
