// File: gateway_main.cc
// `historian-gateway`: store-and-forward from a plant to historian nodes.
// Reads samples (CSV from a file or stdin, or a simulated plant), queues
// them durably in --queue_dir and streams them to --server. See
// docs/gateway.md.
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "api/core/status_macros.h"
#include "client/cli/args.h"
#include "client/csv.h"
#include "client/gateway/gateway.h"
#include "client/gateway/input_identity.h"
#include "client/gateway/meta_file.h"
#include "client/plant_simulator.h"
#include "client/sparkplug/catalog_sync.h"
#include "client/sparkplug/mqtt_input.h"
#include "client/sparkplug/tag_template.h"
#include "client/time_parse.h"

namespace historian::gateway {
namespace {

using client::Gateway;
using client::GatewayOptions;

constexpr char kUsage[] =
    "Usage: historian-gateway --queue_dir DIR [--server ADDR[,ADDR2]] [input] [flags]\n"
    "\n"
    "Store-and-forward: every batch is written durably to DIR, then streamed to\n"
    "the first reachable node (own site first, then the twin site); it leaves\n"
    "DIR only when the node acknowledged it. A restart resumes from DIR.\n"
    "\n"
    "Input (one of):\n"
    "  --csv FILE            CSV in the import-csv format tag,time,value[,quality]\n"
    "                        (`-`: stdin). A restart with the same regular FILE\n"
    "                        (same head, as large or grown) skips the rows already\n"
    "                        queued; any other input is read from its start.\n"
    "  (none)                the same CSV format on stdin (not resumable)\n"
    "  --simulate-tags N     a deterministic simulated plant of N tags\n"
    "    --rate HZ           samples per tag per second (default 1)\n"
    "    --duration D        plant time to simulate, e.g. 10m (default: forever)\n"
    "    --site S            tag name prefix (default site)\n"
    "    --seed N            (default 1)\n"
    "    --sim_start T       time of the first tick (default: now, at the first run\n"
    "                        with this queue; kept in DIR)\n"
    "    --fast              do not pace ticks at the wall clock\n"
    "  --mqtt URI            Sparkplug B primary host on an MQTT broker\n"
    "                        (tcp://host:1883 or ssl://host:8883); needs --site\n"
    "    --site S            site for tag names (required with --mqtt)\n"
    "    --tag_template T    default {site}.{group}.{node}.{device}.{metric}\n"
    "    --sparkplug_group G record only this group (default: all)\n"
    "    --sparkplug_host_id H  STATE topic id (default historian)\n"
    "    --sparkplug_rebirth_min_interval D  (default 5s)\n"
    "    --mqtt_client_id ID (default historian-<host_id>)\n"
    "    --mqtt_username U, --mqtt_password_file F\n"
    "    --mqtt_tls_ca F, --mqtt_tls_cert F, --mqtt_tls_key F\n"
    "    --mqtt_clean_session  no persistent MQTT session\n"
    "\n"
    "Flags:\n"
    "  --server ADDR[,ADDR2] nodes in order of preference (default 127.0.0.1:7400)\n"
    "  --client_id ID        writer id for deduplication (default: the one kept in\n"
    "                        DIR, or a new unique one)\n"
    "  --queue_dir DIR       the disk queue (required)\n"
    "  --queue_max_bytes N   disk quota of the queue; when full the OLDEST batches\n"
    "                        are dropped, counted and reported (default 1073741824)\n"
    "  --batch_max_samples N samples per batch (default 5000)\n"
    "  --batch_max_delay D   age at which a partial batch is sent (default 1s)\n"
    "  --max_in_flight N     unacknowledged batches on the stream (default 16)\n"
    "  --reconnect_max_backoff D  longest wait between reconnect rounds (default 10s)\n"
    "  --route_to_owners B   true (default): in a site cluster, send each tag's\n"
    "                        samples straight to the node that owns it (placement\n"
    "                        read from the first --server); false: all to --server\n"
    "  --token TOKEN         bearer token (default $HISTORIAN_TOKEN)\n"
    "  --tls_ca FILE         CA bundle of the nodes' certificates (TLS)\n"
    "  --tls_cert FILE, --tls_key FILE  client certificate (mutual TLS)\n"
    "  --status_interval D   status line period on stderr (default 10s)\n"
    "  --grace D             on SIGINT/SIGTERM, time to get acks for the queue\n"
    "                        before exiting (default 10s)\n"
    "\n"
    "Status lines on stderr: `historian-gateway: status queue_batches=.. queue_bytes=..\n"
    "acked_samples=.. dropped_batches=.. lag=..` (see docs/gateway.md).\n"
    "Exit: 0 when the input is done and every batch is acknowledged, or after\n"
    "SIGINT/SIGTERM (unacked batches stay in DIR); 1 on errors; 2 when the input\n"
    "was delivered but some rows were unreadable or rejected.\n";

struct Config {
  std::vector<std::string> servers = {"127.0.0.1:7400"};
  std::string client_id;
  std::string queue_dir;
  uint64_t queue_max_bytes = uint64_t{1} << 30;
  size_t batch_max_samples = 5000;
  absl::Duration batch_max_delay = absl::Seconds(1);
  size_t max_in_flight = 16;
  absl::Duration max_backoff = absl::Seconds(10);
  bool route_to_owners = true;
  std::string token;
  std::string tls_ca, tls_cert, tls_key;
  absl::Duration status_interval = absl::Seconds(10);
  absl::Duration grace = absl::Seconds(10);
  // Input.
  std::string csv;  // empty: stdin
  size_t sim_tags = 0;
  double rate = 1;
  int64_t duration_ns = 0;  // 0: forever
  std::string site = "site";
  uint64_t seed = 1;
  std::optional<int64_t> sim_start_ns;
  bool fast = false;
  // Sparkplug B over MQTT.
  std::string mqtt;
  std::string mqtt_client_id, mqtt_username, mqtt_password;
  std::string mqtt_tls_ca, mqtt_tls_cert, mqtt_tls_key;
  bool mqtt_clean_session = false;
  std::string sparkplug_group;
  std::string sparkplug_host_id = "historian";
  std::string tag_template = std::string(sparkplug::kDefaultTagTemplate);
  absl::Duration rebirth_min_interval = absl::Seconds(5);
};

absl::StatusOr<absl::Duration> Duration(const std::string& text) {
  ASSIGN_OR_RETURN(int64_t ns, client::ParseDuration(text));
  return absl::Nanoseconds(ns);
}

template <typename T>
absl::StatusOr<T> Number(const std::string& name, const std::string& text) {
  T v;
  if (!absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a number: ", text));
  }
  return v;
}

absl::StatusOr<Config> ParseConfig(std::vector<std::string> args, bool* help) {
  // `--simulate-tags` and `--simulate_tags` are the same flag.
  for (std::string& a : args) {
    if (a.rfind("--", 0) != 0) continue;
    const size_t end = std::min(a.find('='), a.size());
    for (size_t i = 2; i < end; ++i) {
      if (a[i] == '-') a[i] = '_';
    }
  }
  const std::vector<cli::FlagSpec> specs = {
      {"server", true},
      {"client_id", true},
      {"queue_dir", true},
      {"queue_max_bytes", true},
      {"batch_max_samples", true},
      {"batch_max_delay", true},
      {"max_in_flight", true},
      {"reconnect_max_backoff", true},
      {"route_to_owners", true},
      {"token", true},
      {"tls_ca", true},
      {"tls_cert", true},
      {"tls_key", true},
      {"status_interval", true},
      {"grace", true},
      {"csv", true},
      {"simulate_tags", true},
      {"rate", true},
      {"duration", true},
      {"site", true},
      {"seed", true},
      {"sim_start", true},
      {"fast", false},
      {"mqtt", true},
      {"mqtt_client_id", true},
      {"mqtt_username", true},
      {"mqtt_password_file", true},
      {"mqtt_tls_ca", true},
      {"mqtt_tls_cert", true},
      {"mqtt_tls_key", true},
      {"mqtt_clean_session", false},
      {"sparkplug_group", true},
      {"sparkplug_host_id", true},
      {"sparkplug_rebirth_min_interval", true},
      {"tag_template", true},
  };
  ASSIGN_OR_RETURN(cli::ParsedArgs parsed, cli::ParseArgs(args, specs));
  Config c;
  if (parsed.Has("help")) {
    *help = true;
    return c;
  }
  if (!parsed.positional.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument: ", parsed.positional[0]));
  }
  if (auto v = parsed.Get("server")) {
    c.servers = absl::StrSplit(*v, ',', absl::SkipEmpty());
    if (c.servers.empty()) return absl::InvalidArgumentError("--server: no address");
  }
  if (auto v = parsed.Get("client_id")) c.client_id = *v;
  if (auto v = parsed.Get("queue_dir")) c.queue_dir = *v;
  if (c.queue_dir.empty()) return absl::InvalidArgumentError("--queue_dir is required");
  if (auto v = parsed.Get("queue_max_bytes")) {
    ASSIGN_OR_RETURN(c.queue_max_bytes, Number<uint64_t>("queue_max_bytes", *v));
  }
  if (auto v = parsed.Get("batch_max_samples")) {
    ASSIGN_OR_RETURN(c.batch_max_samples, Number<size_t>("batch_max_samples", *v));
    if (c.batch_max_samples == 0) {
      return absl::InvalidArgumentError("--batch_max_samples must be positive");
    }
  }
  if (auto v = parsed.Get("batch_max_delay")) {
    ASSIGN_OR_RETURN(c.batch_max_delay, Duration(*v));
  }
  if (auto v = parsed.Get("max_in_flight")) {
    ASSIGN_OR_RETURN(c.max_in_flight, Number<size_t>("max_in_flight", *v));
    if (c.max_in_flight == 0) return absl::InvalidArgumentError("--max_in_flight must be positive");
  }
  if (auto v = parsed.Get("route_to_owners")) {
    if (*v != "true" && *v != "false") {
      return absl::InvalidArgumentError(
          absl::StrCat("--route_to_owners: '", *v, "', want true or false"));
    }
    c.route_to_owners = *v == "true";
  }
  if (auto v = parsed.Get("reconnect_max_backoff")) {
    ASSIGN_OR_RETURN(c.max_backoff, Duration(*v));
  }
  if (const char* env = std::getenv("HISTORIAN_TOKEN")) c.token = env;
  if (auto v = parsed.Get("token")) c.token = *v;
  if (auto v = parsed.Get("tls_ca")) c.tls_ca = *v;
  if (auto v = parsed.Get("tls_cert")) c.tls_cert = *v;
  if (auto v = parsed.Get("tls_key")) c.tls_key = *v;
  if (auto v = parsed.Get("status_interval")) {
    ASSIGN_OR_RETURN(c.status_interval, Duration(*v));
  }
  if (auto v = parsed.Get("grace")) {
    ASSIGN_OR_RETURN(c.grace, Duration(*v));
  }
  if (auto v = parsed.Get("csv")) c.csv = *v;
  if (auto v = parsed.Get("simulate_tags")) {
    ASSIGN_OR_RETURN(c.sim_tags, Number<size_t>("simulate_tags", *v));
    if (c.sim_tags == 0) return absl::InvalidArgumentError("--simulate-tags must be positive");
    if (!c.csv.empty())
      return absl::InvalidArgumentError("--csv and --simulate-tags exclude each other");
  }
  if (auto v = parsed.Get("rate")) {
    if (!absl::SimpleAtod(*v, &c.rate) || !(c.rate > 0) || c.rate > 1e9) {
      return absl::InvalidArgumentError(absl::StrCat("--rate: not a positive rate: ", *v));
    }
  }
  if (auto v = parsed.Get("duration")) {
    ASSIGN_OR_RETURN(c.duration_ns, client::ParseDuration(*v));
  }
  if (auto v = parsed.Get("site")) c.site = *v;
  if (auto v = parsed.Get("seed")) {
    ASSIGN_OR_RETURN(c.seed, Number<uint64_t>("seed", *v));
  }
  if (auto v = parsed.Get("sim_start")) {
    ASSIGN_OR_RETURN(int64_t t, client::ParseTime(*v, absl::ToUnixNanos(absl::Now())));
    c.sim_start_ns = t;
  }
  c.fast = parsed.Has("fast");
  if (auto v = parsed.Get("mqtt")) {
    c.mqtt = *v;
    if (c.mqtt.rfind("tcp://", 0) != 0 && c.mqtt.rfind("ssl://", 0) != 0 &&
        c.mqtt.rfind("mqtt://", 0) != 0 && c.mqtt.rfind("mqtts://", 0) != 0) {
      return absl::InvalidArgumentError("--mqtt: tcp://host:port or ssl://host:port");
    }
    if (!parsed.Has("site")) return absl::InvalidArgumentError("--mqtt needs --site");
    if (c.sim_tags > 0 || !c.csv.empty()) {
      return absl::InvalidArgumentError("--mqtt excludes --csv and --simulate-tags");
    }
  }
  if (auto v = parsed.Get("mqtt_client_id")) c.mqtt_client_id = *v;
  if (auto v = parsed.Get("mqtt_username")) c.mqtt_username = *v;
  if (auto v = parsed.Get("mqtt_password_file")) {
    ASSIGN_OR_RETURN(std::optional<std::string> pw, client::ReadMetaFile(*v));
    if (!pw.has_value()) return absl::NotFoundError(absl::StrCat("--mqtt_password_file: ", *v));
    c.mqtt_password = std::string(absl::StripTrailingAsciiWhitespace(*pw));
  }
  if (auto v = parsed.Get("mqtt_tls_ca")) c.mqtt_tls_ca = *v;
  if (auto v = parsed.Get("mqtt_tls_cert")) c.mqtt_tls_cert = *v;
  if (auto v = parsed.Get("mqtt_tls_key")) c.mqtt_tls_key = *v;
  c.mqtt_clean_session = parsed.Has("mqtt_clean_session");
  if (auto v = parsed.Get("sparkplug_group")) c.sparkplug_group = *v;
  if (auto v = parsed.Get("sparkplug_host_id")) c.sparkplug_host_id = *v;
  if (auto v = parsed.Get("sparkplug_rebirth_min_interval")) {
    ASSIGN_OR_RETURN(c.rebirth_min_interval, Duration(*v));
  }
  if (auto v = parsed.Get("tag_template")) c.tag_template = *v;
  RETURN_IF_ERROR(sparkplug::TagTemplate::Parse(c.tag_template).status());
  return c;
}

// Stop requests (SIGINT/SIGTERM) and input completion, seen by main.
class Events {
 public:
  void Signal() {
    std::lock_guard<std::mutex> lock(mu_);
    signaled_ = true;
    cv_.notify_all();
  }
  void InputDone() {
    std::lock_guard<std::mutex> lock(mu_);
    input_done_ = true;
    cv_.notify_all();
  }
  bool signaled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return signaled_;
  }
  bool input_done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return input_done_;
  }
  // Waits up to `timeout` for any event.
  void Wait(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return signaled_; });
  }
  // Sleeps until `until` unless a stop is requested; false when stopping.
  bool SleepUntil(absl::Time until) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_until(lock, absl::ToChronoTime(until), [&] { return signaled_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool signaled_ = false;
  bool input_done_ = false;
};

// The input, opened (except a FIFO, opened by the input thread: that may
// block until a writer comes), and what it is.
struct Input {
  client::InputIdentity identity;
  std::unique_ptr<std::ifstream> file;  // a regular --csv file
  std::string stream_path;              // a --csv FIFO or device
  // Neither: stdin (or the simulator).
};

absl::StatusOr<Input> OpenInput(const Config& c, int64_t sim_start_ns) {
  Input input;
  if (!c.mqtt.empty()) {
    // Messages cannot be read twice: never resumes.
    input.identity = client::NamedInput(
        absl::StrCat("mqtt ", c.mqtt,
                     " group=", c.sparkplug_group.empty() ? "+" : c.sparkplug_group,
                     " host_id=", c.sparkplug_host_id),
        false);
    return input;
  }
  if (c.sim_tags > 0) {
    input.identity = client::NamedInput(
        absl::StrCat("simulate site=", c.site, " tags=", c.sim_tags, " rate=", c.rate,
                     " seed=", c.seed, " start=", sim_start_ns),
        true);
    return input;
  }
  if (c.csv.empty() || c.csv == "-") {
    input.identity = client::NamedInput("stdin", false);
    return input;
  }
  std::error_code ec;
  const std::string path = std::filesystem::absolute(c.csv, ec).string();
  struct stat st;
  if (stat(c.csv.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot open ", c.csv, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    // Its rows cannot be read twice: it never resumes.
    input.identity =
        client::NamedInput(absl::StrCat(S_ISFIFO(st.st_mode) ? "fifo " : "stream ", path), false);
    input.stream_path = c.csv;
    return input;
  }
  input.file = std::make_unique<std::ifstream>(c.csv, std::ios::binary);
  if (!*input.file) return absl::NotFoundError(absl::StrCat("cannot open ", c.csv));
  ASSIGN_OR_RETURN(input.identity, client::IdentifyFile(absl::StrCat("csv ", path), *input.file));
  return input;
}

// Where `input` resumes: the position queued last if it was read from this
// very input (see client/gateway/input_identity.h), else 0. Records the input
// in DIR/input, durably, before any of its rows can be queued.
absl::StatusOr<uint64_t> ResumePosition(const std::string& queue_dir, const Gateway& gateway,
                                        Input& input) {
  const std::string path = queue_dir + "/input";
  ASSIGN_OR_RETURN(std::optional<std::string> text, client::ReadMetaFile(path));
  std::optional<client::InputRecord> stored;
  if (text.has_value()) {
    stored = client::ParseInputRecord(*text);
    if (!stored.has_value()) {
      std::fprintf(stderr,
                   "historian-gateway: %s is not understood (written by an older gateway?): "
                   "the input is read from its start\n",
                   path.c_str());
    }
  }
  const client::InputIdentity& current = input.identity;
  bool resume = false;
  if (stored.has_value()) {
    uint64_t head_hash = 0;
    if (input.file != nullptr && stored->identity.regular_file) {
      ASSIGN_OR_RETURN(head_hash, client::HashHead(*input.file, stored->identity.head_bytes));
    }
    resume = client::CanResume(*stored, gateway.resume_sequence(), current, head_hash);
    // Rows of this path were queued, but the file is not the one they were
    // read from.
    if (!resume && stored->identity.name == current.name && current.resumable &&
        gateway.resume_sequence() >= stored->first_sequence && gateway.resume_cursor() > 0) {
      std::fprintf(stderr,
                   "historian-gateway: %s is not the input the queued position %llu was read "
                   "from (other size or content): reading it from the start\n",
                   current.name.c_str(), static_cast<unsigned long long>(gateway.resume_cursor()));
    }
  }
  client::InputRecord record;
  record.identity = current;
  // A resumed input keeps its first sequence; its size may have grown.
  record.first_sequence = resume ? stored->first_sequence : gateway.next_sequence();
  RETURN_IF_ERROR(client::WriteMetaFile(path, client::FormatInputRecord(record)));
  return resume ? gateway.resume_cursor() : 0;
}

struct InputResult {
  absl::Status status;
  uint64_t bad_rows = 0;
};

// CSV rows; the cursor counts rows read (good or bad), so a restart skips
// exactly the rows already queued.
InputResult RunCsv(Input& input, Gateway& gateway, uint64_t skip, Events& events) {
  InputResult result;
  std::ifstream stream;
  std::istream* in = &std::cin;
  if (input.file != nullptr) {
    in = input.file.get();
  } else if (!input.stream_path.empty()) {
    stream.open(input.stream_path, std::ios::binary);
    if (!stream) {
      result.status = absl::NotFoundError(absl::StrCat("cannot open ", input.stream_path));
      return result;
    }
    in = &stream;
  }
  client::ImportReader reader(in);
  result.status = reader.ReadHeader();
  if (!result.status.ok()) return result;
  uint64_t rows = 0;
  client::ImportRow row;
  while (!events.signaled()) {
    absl::StatusOr<bool> next = reader.Next(&row);
    if (next.ok() && !*next) break;
    ++rows;
    if (rows <= skip) continue;
    if (!next.ok()) {
      ++result.bad_rows;
      std::fprintf(stderr, "historian-gateway: %s\n", next.status().ToString().c_str());
      continue;
    }
    historian::v1::Sample sample;
    sample.set_timestamp_ns(row.timestamp_ns);
    *sample.mutable_value() = std::move(row.value);
    sample.set_quality(row.quality);
    absl::Status added = gateway.Add(row.tag, std::move(sample), rows);
    if (absl::IsFailedPrecondition(added)) break;  // stopping
    if (!added.ok()) {
      result.status = added;
      return result;
    }
  }
  if (rows < skip) {
    std::fprintf(stderr,
                 "historian-gateway: the input has %llu rows, fewer than the %llu already "
                 "queued: is it the same file?\n",
                 static_cast<unsigned long long>(rows), static_cast<unsigned long long>(skip));
  }
  return result;
}

// The simulated plant; the cursor counts samples generated (tick * tags +
// tag + 1).
InputResult RunSimulation(const Config& c, int64_t start_ns, Gateway& gateway, uint64_t cursor,
                          Events& events) {
  InputResult result;
  client::PlantSimulator plant(c.site, c.sim_tags, c.seed, c.rate);
  const uint64_t n = plant.num_tags();
  const uint64_t total_ticks =
      c.duration_ns > 0 ? static_cast<uint64_t>(c.duration_ns / plant.period_ns()) : ~uint64_t{0};
  uint64_t tick = cursor / n;
  size_t first_tag = cursor % n;
  const uint64_t first_tick = tick;
  const absl::Time wall_start = absl::Now();
  for (; tick < total_ticks; ++tick, first_tag = 0) {
    if (!c.fast && !events.SleepUntil(wall_start + absl::Nanoseconds(plant.period_ns()) *
                                                       static_cast<double>(tick - first_tick))) {
      break;
    }
    if (events.signaled()) break;
    for (size_t tag = first_tag; tag < n; ++tag) {
      absl::Status added =
          gateway.Add(plant.tag_name(tag), plant.SampleAt(tag, tick, start_ns), tick * n + tag + 1);
      if (absl::IsFailedPrecondition(added)) return result;
      if (!added.ok()) {
        result.status = added;
        return result;
      }
    }
  }
  return result;
}

// Recorded Sparkplug samples go into the gateway (batcher, disk queue).
class GatewaySink : public sparkplug::SampleSink {
 public:
  explicit GatewaySink(Gateway& gateway) : gateway_(gateway) {}
  absl::Status Add(absl::string_view tag, historian::v1::Sample sample) override {
    return gateway_.Add(tag, std::move(sample), 0);
  }
  absl::Status Flush() override { return gateway_.Flush(); }

 private:
  Gateway& gateway_;
};

// The Sparkplug input: runs until a stop signal.
InputResult RunMqtt(const Config& c, Gateway& gateway, Events& events,
                    const std::function<void(std::string)>& set_status) {
  InputResult result;
  client::ClientOptions client_options;
  client_options.endpoints = c.servers;
  client_options.token = c.token;
  client_options.tls.ca_file = c.tls_ca;
  client_options.tls.cert_file = c.tls_cert;
  client_options.tls.key_file = c.tls_key;
  client_options.timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<client::Client>> catalog_client =
      client::Client::Connect(client_options);
  if (!catalog_client.ok()) {
    result.status = catalog_client.status();
    return result;
  }
  sparkplug::MqttInput* input_ptr = nullptr;
  std::mutex input_mu;
  sparkplug::CatalogSync catalog(std::move(*catalog_client),
                                 [&](const std::string& tag, historian::v1::ValueType type) {
                                   std::lock_guard<std::mutex> lock(input_mu);
                                   if (input_ptr != nullptr) input_ptr->SetKnownType(tag, type);
                                 });
  GatewaySink sink(gateway);
  sparkplug::MqttInputOptions o;
  o.connection = {c.mqtt,        c.mqtt_username, c.mqtt_password,
                  c.mqtt_tls_ca, c.mqtt_tls_cert, c.mqtt_tls_key};
  o.client_id = c.mqtt_client_id;
  o.clean_session = c.mqtt_clean_session;
  o.group = c.sparkplug_group;
  o.host_id = c.sparkplug_host_id;
  o.recorder.site = c.site;
  o.recorder.tag_template = *sparkplug::TagTemplate::Parse(c.tag_template);
  o.recorder.rebirth_min_interval = c.rebirth_min_interval;
  absl::StatusOr<std::unique_ptr<sparkplug::MqttInput>> input =
      sparkplug::MqttInput::Start(std::move(o), &sink, &catalog);
  if (!input.ok()) {
    result.status = input.status();
    return result;
  }
  {
    std::lock_guard<std::mutex> lock(input_mu);
    input_ptr = input->get();
  }
  while (!events.signaled()) {
    events.Wait(absl::Milliseconds(200));
    set_status((*input)->StatusLine());
  }
  (*input)->Stop();
  set_status((*input)->StatusLine());
  {
    std::lock_guard<std::mutex> lock(input_mu);
    input_ptr = nullptr;
  }
  return result;
}

int Main(int argc, char** argv) {
  bool help = false;
  absl::StatusOr<Config> config =
      ParseConfig(std::vector<std::string>(argv + 1, argv + argc), &help);
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "historian-gateway: %s\n(see --help)\n",
                 std::string(config.status().message()).c_str());
    return 1;
  }
  const Config& c = *config;

  // Stop signals go to one thread, which tells the rest.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  Events events;
  std::atomic<bool> exiting{false};
  std::thread signal_thread([&] {
    const timespec tick = {0, 200 * 1000 * 1000};
    while (!exiting.load()) {
      if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
        events.Signal();
        return;
      }
    }
  });
  auto finish = [&](int code) {
    exiting = true;
    signal_thread.join();
    return code;
  };

  GatewayOptions options;
  options.queue.dir = c.queue_dir;
  options.queue.max_bytes = c.queue_max_bytes;
  options.writer.endpoints = c.servers;
  options.writer.token = c.token;
  options.writer.tls.ca_file = c.tls_ca;
  options.writer.tls.cert_file = c.tls_cert;
  options.writer.tls.key_file = c.tls_key;
  options.writer.client_id = c.client_id;
  options.writer.max_in_flight_batches = c.max_in_flight;
  options.writer.backoff.max = c.max_backoff;
  options.writer.route_to_owners = c.route_to_owners;
  options.batch_max_samples = c.batch_max_samples;
  options.batch_max_delay = c.batch_max_delay;
  absl::StatusOr<std::unique_ptr<Gateway>> opened = Gateway::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "historian-gateway: %s\n", opened.status().ToString().c_str());
    return finish(1);
  }
  Gateway& gateway = **opened;

  // Where the input resumes.
  int64_t sim_start_ns = 0;
  if (c.sim_tags > 0) {
    const std::string path = c.queue_dir + "/sim_start";
    absl::StatusOr<std::optional<std::string>> stored = client::ReadMetaFile(path);
    if (c.sim_start_ns.has_value()) {
      sim_start_ns = *c.sim_start_ns;
    } else if (stored.ok() && stored->has_value() &&
               absl::SimpleAtoi(absl::StripSuffix(**stored, "\n"), &sim_start_ns)) {
    } else {
      sim_start_ns = absl::ToUnixSeconds(absl::Now()) * 1'000'000'000;
      absl::Status w = client::WriteMetaFile(path, absl::StrCat(sim_start_ns, "\n"));
      if (!w.ok()) std::fprintf(stderr, "historian-gateway: %s\n", w.ToString().c_str());
    }
  }
  absl::StatusOr<Input> opened_input = OpenInput(c, sim_start_ns);
  absl::StatusOr<uint64_t> resumed = 0;
  if (opened_input.ok()) resumed = ResumePosition(c.queue_dir, gateway, *opened_input);
  if (!opened_input.ok() || !resumed.ok()) {
    const absl::Status& s = opened_input.ok() ? resumed.status() : opened_input.status();
    std::fprintf(stderr, "historian-gateway: input: %s\n", s.ToString().c_str());
    gateway.Stop(absl::ZeroDuration());
    return finish(1);
  }
  Input& source = *opened_input;
  const uint64_t cursor = *resumed;
  {
    const client::GatewayStatus s = gateway.status();
    std::fprintf(stderr,
                 "historian-gateway: client_id=%s queue=%s queued_batches=%llu input=\"%s\" "
                 "resume_position=%llu\n",
                 gateway.client_id().c_str(), c.queue_dir.c_str(),
                 static_cast<unsigned long long>(s.queue.batches), source.identity.name.c_str(),
                 static_cast<unsigned long long>(cursor));
  }

  // The input's own status (MQTT), appended to the status line.
  std::mutex input_status_mu;
  std::string input_status;
  auto status_line = [&] {
    std::string line = gateway.StatusLine();
    std::lock_guard<std::mutex> lock(input_status_mu);
    if (!input_status.empty()) line += " " + input_status;
    return line;
  };
  // Periodic status.
  std::mutex status_mu;
  std::condition_variable status_cv;
  bool status_stop = false;
  std::thread status_thread([&] {
    std::unique_lock<std::mutex> lock(status_mu);
    while (!status_cv.wait_for(lock, absl::ToChronoNanoseconds(c.status_interval),
                               [&] { return status_stop; })) {
      std::fprintf(stderr, "historian-gateway: status %s\n", status_line().c_str());
    }
  });

  InputResult input;
  std::thread input_thread([&] {
    if (!c.mqtt.empty()) {
      input = RunMqtt(c, gateway, events, [&](std::string line) {
        std::lock_guard<std::mutex> lock(input_status_mu);
        input_status = std::move(line);
      });
    } else if (c.sim_tags > 0) {
      input = RunSimulation(c, sim_start_ns, gateway, cursor, events);
    } else {
      input = RunCsv(source, gateway, cursor, events);
    }
    events.InputDone();
  });

  // Until the input is done and delivered, or a stop signal.
  while (!events.signaled() && !events.input_done()) events.Wait(absl::Milliseconds(200));
  if (events.input_done() && !input.status.ok()) {
    gateway.Stop(absl::ZeroDuration());
    std::fprintf(stderr, "historian-gateway: input: %s\n", input.status.ToString().c_str());
    {
      std::lock_guard<std::mutex> lock(status_mu);
      status_stop = true;
      status_cv.notify_all();
    }
    status_thread.join();
    input_thread.join();
    return finish(1);
  }
  // The MQTT input stops (STATE offline, disconnect) before the queue is
  // closed, so nothing it accepted is refused by a stopping gateway.
  while (!c.mqtt.empty() && !events.input_done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  absl::Status flushed = gateway.Flush();
  if (!flushed.ok()) {
    std::fprintf(stderr, "historian-gateway: %s\n", flushed.ToString().c_str());
  }
  while (!events.signaled() && !gateway.Drained()) {
    gateway.WaitDrained(absl::Now() + absl::Milliseconds(200));
  }
  const bool signaled = events.signaled();
  gateway.Stop(signaled ? c.grace : absl::ZeroDuration());
  {
    std::lock_guard<std::mutex> lock(status_mu);
    status_stop = true;
    status_cv.notify_all();
  }
  status_thread.join();
  std::fprintf(stderr, "historian-gateway: final %s\n", status_line().c_str());
  std::fflush(stderr);

  // Samples the queue never took (logged by Stop) are no clean exit.
  const bool unqueued = gateway.status().unqueued_samples > 0;
  if (!events.input_done()) {
    // The input thread may be blocked reading stdin; the queue is durable.
    input_thread.detach();
    std::fflush(nullptr);
    std::_Exit(unqueued ? 2 : 0);
  }
  input_thread.join();
  if (signaled) return finish(unqueued ? 2 : 0);
  if (!input.status.ok()) {
    std::fprintf(stderr, "historian-gateway: input: %s\n", input.status.ToString().c_str());
    return finish(1);
  }
  const client::GatewayStatus s = gateway.status();
  if (input.bad_rows > 0 || s.rejected_samples > 0 || s.failed_batches > 0 ||
      s.queue.dropped_batches > 0 || unqueued) {
    return finish(2);
  }
  return finish(0);
}

}  // namespace
}  // namespace historian::gateway

int main(int argc, char** argv) { return historian::gateway::Main(argc, argv); }
