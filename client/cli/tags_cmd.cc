// File: tags_cmd.cc
// `historian tags`, `create-tag`, `update-tag` and `delete-tag`.
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/csv.h"
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
    "                            [--deadband X] [--eng_low X] [--eng_high X]\n"
    "                            [--stale_after D]\n"
    "\n"
    "Creates a tag and prints it. NAME: 1..256 bytes of [A-Za-z0-9_.:/-]; the name\n"
    "and type never change. A tag written before it was created gets the type of\n"
    "its first value, and text numbers are doubles: create int64 tags this way.\n"
    "\n"
    "Flags:\n"
    "  --type T          value type (required)\n"
    "  --unit U          engineering unit, e.g. degC, bar\n"
    "  --description D   free text\n"
    "  --attr k=v        metadata (asset path, PLC address); repeatable\n"
    "  --retention D     drop samples older than D, e.g. 365d (default: keep)\n"
    "  --deadband X      do not store a sample within +/-X of the last stored one\n"
    "                    (double and int64 tags; default 0: off)\n"
    "  --eng_low X       instrument range low end (engineering units)\n"
    "  --eng_high X      instrument range high end (above --eng_low)\n"
    "  --stale_after D   a value stops holding D after its sample in TWA and\n"
    "                    interpolation when the query gives no max gap, e.g. 5m\n"
    "                    (default: never)\n";

constexpr char kUpdateTagUsage[] =
    "Usage: historian update-tag NAME [--unit U] [--description D] [--retention D]\n"
    "                            [--deadband X] [--eng_low X] [--eng_high X]\n"
    "                            [--stale_after D] [--attr k=v]... [--remove-attr k]...\n"
    "\n"
    "Changes the given fields of a tag and prints it; the others keep their\n"
    "values. The name and type never change.\n"
    "\n"
    "Flags:\n"
    "  --unit U          engineering unit (\"\" clears it)\n"
    "  --description D   free text (\"\" clears it)\n"
    "  --retention D     drop samples older than D, e.g. 365d; `forever` keeps all\n"
    "  --deadband X      exception deadband, 0 turns it off\n"
    "  --eng_low X       instrument range low end; `none` clears it\n"
    "  --eng_high X      instrument range high end; `none` clears it\n"
    "  --stale_after D   default max gap of the tag's queries, e.g. 5m; `never`\n"
    "  --attr k=v        sets an attribute; repeatable\n"
    "  --remove-attr k   removes an attribute; repeatable\n";

constexpr char kDeleteTagUsage[] =
    "Usage: historian delete-tag NAME\n"
    "\n"
    "Deletes a tag from the catalog (role admin).\n";

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

absl::Status SetRetention(const std::string& text, v1::Tag* tag) {
  if (text == "forever") {
    tag->set_retention_ns(0);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> ns = client::ParseDuration(text);
  if (!ns.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--retention: ", ns.status().message(), " or forever"));
  }
  tag->set_retention_ns(*ns);
  return absl::OkStatus();
}

absl::Status SetDeadband(const std::string& text, v1::Tag* tag) {
  double d;
  if (!absl::SimpleAtod(text, &d) || !std::isfinite(d) || d < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--deadband: want a number >= 0, got '", text, "'"));
  }
  tag->set_deadband(d);
  return absl::OkStatus();
}

// --eng_low / --eng_high: a finite number, or `none` to clear it.
absl::Status SetEngBound(const char* flag, const std::string& text, v1::Tag* tag,
                         void (v1::Tag::*set)(double), void (v1::Tag::*clear)()) {
  if (text == "none") {
    (tag->*clear)();
    return absl::OkStatus();
  }
  double d;
  if (!absl::SimpleAtod(text, &d) || !std::isfinite(d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": want a finite number or none, got '", text, "'"));
  }
  (tag->*set)(d);
  return absl::OkStatus();
}

absl::Status SetStaleAfter(const std::string& text, v1::Tag* tag) {
  if (text == "never" || text == "0") {
    tag->set_stale_after_ns(0);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> ns = client::ParseDuration(text);
  if (!ns.ok() || *ns < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--stale_after: ", ns.ok() ? "must be >= 0" : ns.status().message(), " or never"));
  }
  tag->set_stale_after_ns(*ns);
  return absl::OkStatus();
}

// A tag field set by one value flag, shared by create-tag and update-tag: a
// new settable field is one more entry here (and a line in the usage texts).
struct TagFieldFlag {
  const char* name;
  absl::Status (*set)(const std::string& value, v1::Tag* tag);
};

constexpr TagFieldFlag kTagFieldFlags[] = {
    {"unit",
     [](const std::string& v, v1::Tag* t) {
       t->set_unit(v);
       return absl::OkStatus();
     }},
    {"description",
     [](const std::string& v, v1::Tag* t) {
       t->set_description(v);
       return absl::OkStatus();
     }},
    {"retention", SetRetention},
    {"deadband", SetDeadband},
    {"eng_low",
     [](const std::string& v, v1::Tag* t) {
       return SetEngBound("eng_low", v, t, &v1::Tag::set_eng_low, &v1::Tag::clear_eng_low);
     }},
    {"eng_high",
     [](const std::string& v, v1::Tag* t) {
       return SetEngBound("eng_high", v, t, &v1::Tag::set_eng_high, &v1::Tag::clear_eng_high);
     }},
    {"stale_after", SetStaleAfter},
};

// Applies the field flags given in `args` to `tag`; *changed tells whether any was.
absl::Status ApplyTagFieldFlags(const ParsedArgs& args, v1::Tag* tag, bool* changed) {
  for (const TagFieldFlag& f : kTagFieldFlags) {
    if (std::optional<std::string> v = args.Get(f.name)) {
      RETURN_IF_ERROR(f.set(*v, tag));
      *changed = true;
    }
  }
  return absl::OkStatus();
}

std::vector<FlagSpec> TagFieldFlagSpecs(std::vector<FlagSpec> more) {
  for (const TagFieldFlag& f : kTagFieldFlags) more.push_back({f.name, true});
  return more;
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
  bool changed = false;
  RETURN_IF_ERROR(ApplyTagFieldFlags(args, tag, &changed));
  RETURN_IF_ERROR(AddAttributes(args, tag->mutable_attributes()));
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  ASSIGN_OR_RETURN(v1::Tag created, client->CreateTag(request));
  TagWriter(&ctx.out(), ctx.format()).Write(created);
  return absl::OkStatus();
}

absl::Status RunUpdateTag(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("want exactly one NAME (see historian update-tag --help)");
  }
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  // UpdateTag replaces every field: start from the tag as it is.
  v1::GetTagRequest get;
  get.set_name(args.positional[0]);
  ASSIGN_OR_RETURN(v1::Tag current, client->GetTag(get));
  v1::UpdateTagRequest request;
  v1::Tag* tag = request.mutable_tag();
  *tag = current;
  bool changed = false;
  RETURN_IF_ERROR(ApplyTagFieldFlags(args, tag, &changed));
  RETURN_IF_ERROR(AddAttributes(args, tag->mutable_attributes()));
  for (const std::string& key : args.GetAll("remove-attr")) {
    if (tag->mutable_attributes()->erase(key) == 0) {
      return absl::NotFoundError(
          absl::StrCat("--remove-attr: tag ", tag->name(), " has no attribute '", key, "'"));
    }
  }
  changed = changed || args.Has("attr") || args.Has("remove-attr");
  if (!changed) {
    return absl::InvalidArgumentError(
        "nothing to update: give at least one field flag (see historian update-tag --help)");
  }
  ASSIGN_OR_RETURN(v1::Tag updated, client->UpdateTag(request));
  TagWriter(&ctx.out(), ctx.format()).Write(updated);
  return absl::OkStatus();
}

absl::Status RunDeleteTag(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("want exactly one NAME (see historian delete-tag --help)");
  }
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  v1::DeleteTagRequest request;
  request.set_name(args.positional[0]);
  RETURN_IF_ERROR(client->DeleteTag(request));
  switch (ctx.format()) {
    case OutputFormat::kTable:
      ctx.out() << "deleted " << request.name() << '\n';
      break;
    case OutputFormat::kCsv:
      ctx.out() << "deleted\n" << client::CsvEscape(request.name()) << '\n';
      break;
    case OutputFormat::kJson:
      ctx.out() << "{\"deleted\":" << JsonString(request.name()) << "}\n";
      break;
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> TagCommands() {
  return {
      {"tags", "list tags by glob and attributes", kTagsUsage, {{"attr", true}}, RunTags},
      {"create-tag", "create a tag", kCreateTagUsage,
       TagFieldFlagSpecs({{"type", true}, {"attr", true}}), RunCreateTag},
      {"update-tag",
       "change a tag's unit, description, retention, deadband, range, staleness or attributes",
       kUpdateTagUsage, TagFieldFlagSpecs({{"attr", true}, {"remove-attr", true}}), RunUpdateTag},
      {"delete-tag", "delete a tag", kDeleteTagUsage, {}, RunDeleteTag},
  };
}

}  // namespace historian::cli
