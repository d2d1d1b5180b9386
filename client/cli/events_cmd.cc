// File: events_cmd.cc
// `historian rule add|ls|rm`, `historian events` and `historian ack`: the
// Events service (docs/events.md). Rules need the admin role, acks the
// writer role, listing the reader role. They talk to the first --server.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/status_convert.h"
#include "client/tls_options.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/events.grpc.pb.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr char kRuleUsage[] =
    "Usage: historian rule add NAME --kind KIND --tag TAG_OR_GLOB [flags]\n"
    "       historian rule update NAME --kind KIND --tag TAG_OR_GLOB [flags]\n"
    "       historian rule ls\n"
    "       historian rule rm NAME\n"
    "\n"
    "Manages alarm rules (admin role). KIND is one of high, high_high, low,\n"
    "low_low, rate, stale, twin_deviation, bad_quality (docs/events.md).\n"
    "\n"
    "Flags:\n"
    "  --kind KIND         the rule type (required for add/update)\n"
    "  --tag TAG           a tag name or a glob (at most --rule_max_tags tags)\n"
    "  --limit X           threshold; limit rules default to the tag's eng range\n"
    "  --deadband X        a raised limit alarm clears only past limit -/+ X\n"
    "  --on_delay D        the condition must hold this long (e.g. 30s)\n"
    "  --window D          rate rules: the window; twin_deviation: the largest gap\n"
    "                      between compared samples (default 60s)\n"
    "  --duration D        twin_deviation/bad_quality: longer than D\n"
    "  --home_site SITE    where the rule is evaluated (default: the tag's site)\n"
    "  --description TEXT\n";

constexpr char kEventsUsage[] =
    "Usage: historian events [--from T] [--to T] [--active] [--glob GLOB] [--rule NAME]\n"
    "                        [--limit N]\n"
    "\n"
    "Lists alarm events, newest raise first (reader role): id, state, tag, rule,\n"
    "raise time, value, and who acknowledged. --from/--to bound the raise time\n"
    "(e.g. --from -1d); --active shows only raised and not cleared ones.\n";

constexpr char kAckUsage[] =
    "Usage: historian ack EVENT_ID [--comment TEXT]\n"
    "\n"
    "Acknowledges an event (writer role). The user is the caller's token; the\n"
    "ack reaches the other site with the log (the earliest ack wins).\n";

class EventsClient {
 public:
  static absl::StatusOr<EventsClient> Connect(const client::ClientOptions& options) {
    if (options.endpoints.empty()) return absl::InvalidArgumentError("--server: no address");
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds,
                     client::MakeChannelCredentials(options.tls));
    grpc::ChannelArguments args;
    if (!options.tls.server_name.empty()) args.SetSslTargetNameOverride(options.tls.server_name);
    EventsClient c;
    c.options_ = options;
    c.stub_ = v1::Events::NewStub(grpc::CreateCustomChannel(options.endpoints[0], creds, args));
    return c;
  }
  void Prepare(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.timeout)));
    if (!options_.token.empty()) {
      ctx->AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
    }
  }
  v1::Events::Stub* stub() const { return stub_.get(); }

 private:
  client::ClientOptions options_;
  std::shared_ptr<v1::Events::Stub> stub_;
};

absl::StatusOr<int64_t> DurationFlag(const ParsedArgs& args, absl::string_view name) {
  std::optional<std::string> v = args.Get(name);
  if (!v.has_value()) return 0;
  absl::Duration d;
  if (!absl::ParseDuration(*v, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": want a duration such as 30s, 5m or 1h, got '", *v, "'"));
  }
  return absl::ToInt64Nanoseconds(d);
}

absl::StatusOr<double> DoubleFlag(const ParsedArgs& args, absl::string_view name) {
  std::optional<std::string> v = args.Get(name);
  double d = 0;
  if (!absl::SimpleAtod(*v, &d)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a number: '", *v, "'"));
  }
  return d;
}

constexpr const char* kKinds[] = {"",     "high",  "high_high",      "low",        "low_low",
                                  "rate", "stale", "twin_deviation", "bad_quality"};

absl::StatusOr<v1::Rule> RuleFromFlags(const std::string& name, const ParsedArgs& args) {
  v1::Rule r;
  r.set_name(name);
  const std::string kind = args.Get("kind").value_or("");
  for (int k = 1; k <= 8; ++k) {
    if (kind == kKinds[k]) r.set_kind(static_cast<v1::RuleKind>(k));
  }
  if (r.kind() == v1::RULE_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kind: want high, high_high, low, low_low, rate, stale, twin_deviation or "
                     "bad_quality, got '",
                     kind, "'"));
  }
  r.set_tag(args.Get("tag").value_or(""));
  r.set_home_site(args.Get("home_site").value_or(""));
  r.set_description(args.Get("description").value_or(""));
  if (args.Has("limit")) {
    ASSIGN_OR_RETURN(double limit, DoubleFlag(args, "limit"));
    r.set_limit(limit);
  }
  if (args.Has("deadband")) {
    ASSIGN_OR_RETURN(double deadband, DoubleFlag(args, "deadband"));
    r.set_deadband(deadband);
  }
  ASSIGN_OR_RETURN(int64_t on_delay, DurationFlag(args, "on_delay"));
  ASSIGN_OR_RETURN(int64_t window, DurationFlag(args, "window"));
  ASSIGN_OR_RETURN(int64_t duration, DurationFlag(args, "duration"));
  r.set_on_delay_ns(on_delay);
  r.set_window_ns(window);
  r.set_duration_ns(duration);
  return r;
}

std::string TimeText(int64_t ns) {
  return ns == 0 ? "-"
                 : absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixNanos(ns),
                                    absl::UTCTimeZone());
}

std::string DurationText(int64_t ns) {
  return ns == 0 ? "-" : absl::FormatDuration(absl::Nanoseconds(ns));
}

absl::Status RunRule(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.empty()) {
    return absl::InvalidArgumentError("rule: want add, update, ls or rm (see --help)");
  }
  const std::string& action = args.positional[0];
  ASSIGN_OR_RETURN(EventsClient c, EventsClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  c.Prepare(&gctx);
  std::ostream& out = ctx.out();
  if (action == "ls") {
    v1::ListRulesResponse r;
    RETURN_IF_ERROR(client::FromGrpcStatus(c.stub()->ListRules(&gctx, v1::ListRulesRequest(), &r)));
    if (ctx.format() == OutputFormat::kJson) {
      out << MessageJson(r) << '\n';
      return absl::OkStatus();
    }
    out << "name\tkind\ttag\tlimit\tdeadband\ton_delay\twindow\tduration\thome_site\n";
    for (const v1::Rule& rule : r.rules()) {
      out << rule.name() << '\t' << kKinds[rule.kind() >= 1 && rule.kind() <= 8 ? rule.kind() : 0]
          << '\t' << rule.tag() << '\t'
          << (rule.has_limit() ? absl::StrCat(rule.limit()) : std::string("eng range")) << '\t'
          << rule.deadband() << '\t' << DurationText(rule.on_delay_ns()) << '\t'
          << DurationText(rule.window_ns()) << '\t' << DurationText(rule.duration_ns()) << '\t'
          << (rule.home_site().empty() ? "(tag's site)" : rule.home_site()) << '\n';
    }
    return absl::OkStatus();
  }
  if (args.positional.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", action, ": want one rule NAME"));
  }
  const std::string& name = args.positional[1];
  if (action == "rm") {
    v1::DeleteRuleRequest req;
    req.set_name(name);
    v1::DeleteRuleResponse r;
    RETURN_IF_ERROR(client::FromGrpcStatus(c.stub()->DeleteRule(&gctx, req, &r)));
    out << "deleted rule " << name << '\n';
    return absl::OkStatus();
  }
  if (action != "add" && action != "update") {
    return absl::InvalidArgumentError(
        absl::StrCat("rule: unknown action '", action, "' (want add, update, ls or rm)"));
  }
  ASSIGN_OR_RETURN(v1::Rule rule, RuleFromFlags(name, args));
  v1::Rule r;
  if (action == "add") {
    v1::CreateRuleRequest req;
    *req.mutable_rule() = rule;
    RETURN_IF_ERROR(client::FromGrpcStatus(c.stub()->CreateRule(&gctx, req, &r)));
  } else {
    v1::UpdateRuleRequest req;
    *req.mutable_rule() = rule;
    RETURN_IF_ERROR(client::FromGrpcStatus(c.stub()->UpdateRule(&gctx, req, &r)));
  }
  out << (action == "add" ? "created" : "updated") << " rule " << r.name() << '\n';
  return absl::OkStatus();
}

void PrintEvent(std::ostream& out, const v1::Event& e) {
  const char* state = e.active() ? "ACTIVE" : e.cleared() ? "cleared" : "raised";
  out << e.id() << '\t' << state << (e.late() ? ",late" : "") << (e.acked() ? ",acked" : "") << '\t'
      << e.tag() << '\t' << e.rule() << '\t' << TimeText(e.raised_unix_ns()) << '\t' << e.value()
      << '\t' << TimeText(e.cleared_unix_ns()) << '\t' << e.origin_site() << '\t'
      << (e.acked() ? absl::StrCat(e.ack_user(), ": ", e.ack_comment()) : std::string("-")) << '\n';
}

absl::Status RunEvents(CommandContext& ctx, const ParsedArgs& args) {
  if (!args.positional.empty()) return absl::InvalidArgumentError("events takes no arguments");
  v1::ListEventsRequest req;
  if (args.Has("from")) {
    ASSIGN_OR_RETURN(int64_t from, TimeFlag(ctx, args, "from", ""));
    req.set_from_unix_ns(from);
  }
  if (args.Has("to")) {
    ASSIGN_OR_RETURN(int64_t to, TimeFlag(ctx, args, "to", ""));
    req.set_to_unix_ns(to);
  }
  req.set_active_only(args.Has("active"));
  req.set_glob(args.Get("glob").value_or(""));
  req.set_rule(args.Get("rule").value_or(""));
  if (auto limit = args.Get("limit")) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(*limit, &n)) return absl::InvalidArgumentError("--limit: not a number");
    req.set_limit(n);
  }
  ASSIGN_OR_RETURN(EventsClient c, EventsClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  c.Prepare(&gctx);
  v1::ListEventsResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(c.stub()->ListEvents(&gctx, req, &r)));
  std::ostream& out = ctx.out();
  if (ctx.format() == OutputFormat::kJson) {
    out << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  out << "id\tstate\ttag\trule\traised\tvalue\tcleared\tsite\tack\n";
  for (const v1::Event& e : r.events()) PrintEvent(out, e);
  return absl::OkStatus();
}

absl::Status RunAck(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) return absl::InvalidArgumentError("ack: want one EVENT_ID");
  v1::AckRequest req;
  req.set_id(args.positional[0]);
  req.set_comment(args.Get("comment").value_or(""));
  ASSIGN_OR_RETURN(EventsClient c, EventsClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  c.Prepare(&gctx);
  v1::Event e;
  RETURN_IF_ERROR(client::FromGrpcStatus(c.stub()->Ack(&gctx, req, &e)));
  if (ctx.format() == OutputFormat::kJson) {
    ctx.out() << MessageJson(e) << '\n';
    return absl::OkStatus();
  }
  ctx.out() << "acknowledged " << e.id() << " (" << e.tag() << ", " << e.rule() << ") as "
            << e.ack_user() << '\n';
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> EventsCommands() {
  return {
      {"rule",
       "alarm rules: add, update, ls, rm (admin)",
       kRuleUsage,
       {{"kind", true},
        {"tag", true},
        {"limit", true},
        {"deadband", true},
        {"on_delay", true},
        {"window", true},
        {"duration", true},
        {"home_site", true},
        {"description", true}},
       RunRule},
      {"events",
       "list alarm events (--from, --to, --active, --glob, --rule)",
       kEventsUsage,
       {{"from", true},
        {"to", true},
        {"active", false},
        {"glob", true},
        {"rule", true},
        {"limit", true}},
       RunEvents},
      {"ack", "acknowledge an alarm event (writer)", kAckUsage, {{"comment", true}}, RunAck},
  };
}

}  // namespace historian::cli
