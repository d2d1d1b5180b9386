// File: recorder.h
// Recorder: the Sparkplug B 3.0 primary-host state machine, without MQTT.
// It takes each received (topic, payload) and says what to record and what
// to send back:
//
//  * NBIRTH / DBIRTH start a node session / device: metric names and aliases
//    (aliases are per node session), datatypes, tag metadata (properties
//    engUnit, engLow, engHigh, Description), and the birth values as samples.
//    Two metrics of one BIRTH that map to one tag name are both refused; a
//    metric whose type differs from the type its tag had is refused.
//  * NDATA / DDATA: samples by alias or name, at the metric's timestamp, else
//    the payload's, else the receive time.
//  * NDEATH (with the session's bdSeq; a stale one is ignored) / DDEATH: a
//    Bad "not connected" sample for every metric of the node / device, at
//    the DDEATH's timestamp and at the NDEATH's receive time (an NDEATH is
//    the will, whose timestamp is the session's start).
//  * A `seq` gap, or data for a node or device without a BIRTH: a Rebirth
//    request (at most once per `rebirth_min_interval` per node) and that
//    node's messages are held (in memory) until the BIRTH, then recorded:
//    with its aliases when it continues the session (same bdSeq), with the
//    ending session's when the NBIRTH starts a new one (another bdSeq: the
//    aliases may mean other metrics now). Held metrics that still cannot be
//    resolved are counted and logged; those with a name get a Bad sample.
//
// Problems (not Sparkplug, unknown alias, wrong type, unsupported types, too
// large) are counted; each (node, reason) is logged once.
//
// Thread-safety: not thread-safe; the MQTT input serialises calls.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_RECORDER_H_
#define HISTORIAN_CLIENT_SPARKPLUG_RECORDER_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/sparkplug/sparkplug_b.pb.h"
#include "client/sparkplug/tag_template.h"
#include "client/sparkplug/topic.h"
#include "historian/v1/common.pb.h"

namespace historian::sparkplug {

struct RecorderOptions {
  std::string site;
  TagTemplate tag_template = *TagTemplate::Parse(kDefaultTagTemplate);
  absl::Duration rebirth_min_interval = absl::Seconds(5);
  // Held messages per node beyond this are dropped (oldest first) and counted.
  size_t max_held_messages = 10000;
  // Larger payloads are refused and counted.
  size_t max_payload_bytes = 8 << 20;
};

// Catalog metadata of a tag, from a BIRTH.
struct TagInfo {
  std::string tag;
  historian::v1::ValueType type = historian::v1::VALUE_TYPE_UNSPECIFIED;
  std::string unit;
  std::string description;
  std::optional<double> eng_low, eng_high;
};

struct RecordedSample {
  std::string tag;
  historian::v1::Sample sample;
};

// What one message produced. Cleared by Handle.
struct RecorderOutput {
  std::vector<RecordedSample> samples;
  std::vector<TagInfo> births;
  // Nodes to send a Rebirth NCMD to: (group, node).
  std::vector<std::pair<std::string, std::string>> rebirths;
  // Lines to log (without a prefix).
  std::vector<std::string> log;
};

struct RecorderStats {
  uint64_t messages = 0;
  uint64_t samples = 0;
  uint64_t births = 0;
  uint64_t deaths = 0;
  uint64_t stale_deaths = 0;  // NDEATH with another session's bdSeq
  uint64_t rebirth_requests = 0;
  uint64_t held_messages = 0;  // held for a rebirth (total)
  uint64_t held_now = 0;       // held now, in memory only (not yet recorded)
  uint64_t dropped_held = 0;   // over max_held_messages
  uint64_t bad_topics = 0;     // outside the namespace
  uint64_t bad_payloads = 0;   // not a Sparkplug payload, or too large
  uint64_t unresolved = 0;     // metrics with an unknown alias or name
  uint64_t wrong_type = 0;     // value not of the BIRTH's datatype
  uint64_t unsupported = 0;    // arrays, DataSet, Template, Bytes, File...
  uint64_t refused = 0;        // metrics refused at BIRTH (name clash, type change)
};

class Recorder {
 public:
  explicit Recorder(RecorderOptions options);

  void Handle(absl::string_view topic, absl::string_view payload, absl::Time receive_time,
              RecorderOutput* out);

  // Tells the recorder the type a tag already has (e.g. found in the node's
  // catalog); a later BIRTH with another type is refused for that metric.
  void SetKnownType(const std::string& tag, historian::v1::ValueType type);

  const RecorderStats& stats() const { return stats_; }

 private:
  struct Metric {
    std::string tag;
    uint32_t datatype = 0;
    historian::v1::ValueType type = historian::v1::VALUE_TYPE_UNSPECIFIED;
    std::string device;
    bool refused = false;  // recorded nowhere
  };
  struct Held {
    Topic topic;
    Payload payload;
    absl::Time receive_time;
  };
  struct Node {
    bool born = false;
    std::optional<uint64_t> bd_seq;
    uint64_t last_seq = 0;
    std::vector<Metric> metrics;
    absl::flat_hash_map<std::string, size_t> by_name;  // device + '\0' + name
    absl::flat_hash_map<uint64_t, size_t> by_alias;
    absl::flat_hash_set<std::string> devices;  // born and alive
    bool awaiting_rebirth = false;
    absl::Time last_rebirth = absl::InfinitePast();
    std::deque<Held> held;
  };

  void Dispatch(const Topic& topic, const Payload& payload, absl::Time receive_time,
                RecorderOutput* out);
  void Birth(Node& node, const Topic& topic, const Payload& payload, absl::Time receive_time,
             RecorderOutput* out);
  void Data(Node& node, const Topic& topic, const Payload& payload, absl::Time receive_time,
            bool held, RecorderOutput* out);
  void Death(Node& node, const Topic& topic, const Payload& payload, absl::Time receive_time,
             RecorderOutput* out);
  // Holds the message and asks for a rebirth (rate-limited).
  void Hold(Node& node, const Topic& topic, Payload payload, absl::Time receive_time,
            absl::string_view why, RecorderOutput* out);
  // Replays held messages of `device` (empty: node-level ones).
  void Release(Node& node, const std::string& device, RecorderOutput* out);
  // Records the held DATA messages with the node's maps as they are (what
  // cannot be resolved is counted and logged) and forgets every held one.
  void DropHeld(Node& node, RecorderOutput* out);
  // At an NBIRTH of a new session: the held DATA messages of the ending
  // session recorded with its maps, except those of devices it never gave
  // a DBIRTH (they wait for the new one); other held messages go.
  void ResolveHeldOfEndingSession(Node& node, RecorderOutput* out);
  // Forgets `device`'s metrics (a new DBIRTH of it replaces them).
  static void ForgetDevice(Node& node, const std::string& device);
  std::string TagName(const Topic& topic, absl::string_view metric) const;
  // Logs `line` for the first time `reason` happens at `node_key`.
  void LogOnce(const std::string& node_key, absl::string_view reason, std::string line,
               RecorderOutput* out);

  const RecorderOptions options_;
  RecorderStats stats_;
  absl::flat_hash_map<std::string, Node> nodes_;  // group + '/' + node
  // Every tag a BIRTH mapped a metric to: its type and owner (the topic
  // path and metric name), to refuse type changes and name clashes.
  struct TagOwner {
    historian::v1::ValueType type;
    std::string owner;
  };
  absl::flat_hash_map<std::string, TagOwner> tags_;
  absl::flat_hash_set<std::string> logged_;
};

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_RECORDER_H_
