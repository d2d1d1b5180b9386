// File: sim_main.cc
// `historian-sparkplug-sim`: Sparkplug B edge nodes publishing a simulated
// plant to an MQTT broker (see edge_simulator.h).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/cli/args.h"
#include "client/sparkplug/edge_simulator.h"
#include "client/time_parse.h"

namespace {

constexpr char kUsage[] =
    "Usage: historian-sparkplug-sim --mqtt tcp://host:port [flags]\n"
    "\n"
    "Sparkplug B edge nodes publishing a plant (presses, ovens, counters,\n"
    "conveyors): NBIRTH/DBIRTH with aliases and properties, DDATA by alias,\n"
    "NDEATH as the will (bdSeq), Rebirth on NCMD, and the primary host's STATE\n"
    "honoured (data buffered while it is offline, resent as historical).\n"
    "\n"
    "  --group G              Sparkplug group (default plant1)\n"
    "  --nodes N              edge nodes, edge1..edgeN (default 1)\n"
    "  --devices N            devices per node (default 4)\n"
    "  --metrics_per_device N N Double metrics per device instead of the plant's\n"
    "  --rate HZ              DDATA per device per second; 0: as fast as possible\n"
    "                         (default 1)\n"
    "  --duration D           stop after D (e.g. 30s)\n"
    "  --messages N           stop after N DDATA messages\n"
    "  --host_id H            honour spBv1.0/STATE/H (default: do not wait)\n"
    "  --qos 0|1              QoS of DDATA (default 0, as the specification says)\n"
    "  --seed N               (default 1)\n";

std::atomic<historian::sparkplug::EdgeSimulator*> g_sim{nullptr};

void OnSignal(int) {
  if (auto* sim = g_sim.load()) sim->Stop();
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::string& a : args) {
    if (a.rfind("--", 0) != 0) continue;
    for (size_t i = 2; i < std::min(a.find('='), a.size()); ++i) {
      if (a[i] == '-') a[i] = '_';
    }
  }
  const std::vector<historian::cli::FlagSpec> specs = {
      {"mqtt", true},
      {"group", true},
      {"nodes", true},
      {"devices", true},
      {"metrics_per_device", true},
      {"rate", true},
      {"duration", true},
      {"messages", true},
      {"host_id", true},
      {"qos", true},
      {"seed", true},
  };
  auto parsed = historian::cli::ParseArgs(args, specs);
  if (!parsed.ok()) {
    std::fprintf(stderr, "historian-sparkplug-sim: %s\n", parsed.status().ToString().c_str());
    return 1;
  }
  if (parsed->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  historian::sparkplug::EdgeSimOptions o;
  auto bad = [](const std::string& flag) {
    std::fprintf(stderr, "historian-sparkplug-sim: bad --%s\n", flag.c_str());
    return 1;
  };
  if (auto v = parsed->Get("mqtt")) o.uri = *v;
  if (auto v = parsed->Get("group")) o.group = *v;
  if (auto v = parsed->Get("nodes"); v && !absl::SimpleAtoi(*v, &o.nodes)) return bad("nodes");
  if (auto v = parsed->Get("devices"); v && !absl::SimpleAtoi(*v, &o.devices))
    return bad("devices");
  if (auto v = parsed->Get("metrics_per_device");
      v && !absl::SimpleAtoi(*v, &o.metrics_per_device)) {
    return bad("metrics_per_device");
  }
  if (auto v = parsed->Get("rate"); v && (!absl::SimpleAtod(*v, &o.rate) || o.rate < 0)) {
    return bad("rate");
  }
  if (auto v = parsed->Get("duration")) {
    auto ns = historian::client::ParseDuration(*v);
    if (!ns.ok()) return bad("duration");
    o.duration = absl::Nanoseconds(*ns);
  }
  if (auto v = parsed->Get("messages"); v && !absl::SimpleAtoi(*v, &o.max_messages)) {
    return bad("messages");
  }
  if (auto v = parsed->Get("host_id")) o.host_id = *v;
  if (auto v = parsed->Get("qos"); v && (!absl::SimpleAtoi(*v, &o.qos) || o.qos < 0 || o.qos > 1)) {
    return bad("qos");
  }
  if (auto v = parsed->Get("seed"); v && !absl::SimpleAtoi(*v, &o.seed)) return bad("seed");
  if (o.nodes <= 0 || o.devices <= 0) return bad("nodes/devices");

  historian::sparkplug::EdgeSimulator sim(o);
  g_sim = &sim;
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  const absl::Time start = absl::Now();
  absl::Status s = sim.Run();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  g_sim = nullptr;
  const auto st = sim.stats();
  std::fprintf(
      stderr,
      "historian-sparkplug-sim: messages=%llu metrics=%llu births=%llu buffered=%llu "
      "dropped=%llu seconds=%.3f metrics_per_s=%.0f\n",
      static_cast<unsigned long long>(st.messages), static_cast<unsigned long long>(st.metrics),
      static_cast<unsigned long long>(st.births), static_cast<unsigned long long>(st.buffered),
      static_cast<unsigned long long>(st.dropped), seconds,
      seconds > 0 ? static_cast<double>(st.metrics) / seconds : 0.0);
  if (!s.ok()) {
    std::fprintf(stderr, "historian-sparkplug-sim: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
