// Fuzzes the Sparkplug B recorder with untrusted MQTT payloads: the first
// byte picks the topic (message type, node, device), the rest is the
// payload. One Recorder lives across inputs, so sessions, aliases, held data
// and deaths interleave as they would on a broker.
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "client/sparkplug/recorder.h"

namespace {

constexpr const char* kTopics[] = {
    "spBv1.0/g/NBIRTH/n1",  "spBv1.0/g/NDATA/n1",    "spBv1.0/g/NDEATH/n1", "spBv1.0/g/DBIRTH/n1/d",
    "spBv1.0/g/DDATA/n1/d", "spBv1.0/g/DDEATH/n1/d", "spBv1.0/g/NBIRTH/n2", "spBv1.0/g/NDATA/n2",
    "spBv1.0/g/DDATA/n2/d", "spBv1.0/STATE/h",       "spBv1.0/g/NCMD/n1",   "not/sparkplug",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static historian::sparkplug::Recorder* recorder = [] {
    historian::sparkplug::RecorderOptions o;
    o.site = "f";
    o.max_held_messages = 64;
    return new historian::sparkplug::Recorder(o);
  }();
  static historian::sparkplug::RecorderOutput out;
  static int64_t clock_ms = 0;
  if (size == 0) return 0;
  const char* topic = kTopics[data[0] % (sizeof(kTopics) / sizeof(kTopics[0]))];
  clock_ms += 1000;
  recorder->Handle(topic, absl::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
                   absl::FromUnixMillis(clock_ms), &out);
  return 0;
}
