// File: write_cmd.cc
// `historian write TAG VALUE [--time T] [--quality Q]`.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/value_text.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr char kWriteUsage[] =
    "Usage: historian write TAG VALUE [--time T] [--quality Q]\n"
    "\n"
    "Writes one sample and prints the node's acknowledgement.\n"
    "VALUE is typed like a CSV value: true/false -> bool, a number (180, 21.4,\n"
    "1e-3, nan, inf) -> double, anything else -> string; wrap it in double quotes\n"
    "('\"42\"') to force a string. When the tag exists, the value is converted to\n"
    "its type where that is lossless (180 -> 180 for an int64 tag, made with\n"
    "create-tag --type int64); a new tag gets the value's type.\n"
    "\n"
    "Flags:\n"
    "  --time T      sample time (default now): RFC 3339, 1700000000s, now, -15s...\n"
    "  --quality Q   OPC UA status code, decimal or 0x hex (default 0 = Good)\n";

absl::Status RunWrite(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 2) {
    return absl::InvalidArgumentError("want TAG VALUE (see historian write --help)");
  }
  const std::string& tag = args.positional[0];
  std::string text = args.positional[1];
  bool quoted = false;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
    quoted = true;
  }
  ASSIGN_OR_RETURN(v1::Value value, client::InferValue(text, quoted));
  ASSIGN_OR_RETURN(int64_t time_ns, TimeFlag(ctx, args, "time", "now"));
  ASSIGN_OR_RETURN(uint32_t quality, client::ParseQuality(args.Get("quality").value_or("")));
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());

  TagTypeCache types;
  ASSIGN_OR_RETURN(v1::ValueType type, types.Get(*client, tag));
  ASSIGN_OR_RETURN(value, client::CoerceValue(value, text, type));

  v1::WriteRequest request;
  v1::TagSamples* series = request.add_series();
  series->set_tag(tag);
  v1::Sample* sample = series->add_samples();
  sample->set_timestamp_ns(time_ns);
  *sample->mutable_value() = std::move(value);
  sample->set_quality(quality);
  ASSIGN_OR_RETURN(client::OwnerRouter * router, ctx.router());
  ASSIGN_OR_RETURN(v1::WriteAck ack, router->WriteBatch(request));
  ctx.out() << FormatAck(ack, ctx.format());
  if (ack.rejected_size() > 0) {
    return absl::Status(static_cast<absl::StatusCode>(ack.rejected(0).code()),
                        absl::StrCat("sample rejected: ", ack.rejected(0).reason()));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> WriteCommands() {
  return {
      {"write", "write one sample", kWriteUsage, {{"time", true}, {"quality", true}}, RunWrite}};
}

}  // namespace historian::cli
