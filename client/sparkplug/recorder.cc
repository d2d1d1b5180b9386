// File: recorder.cc
#include "client/sparkplug/recorder.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "client/sparkplug/metric_value.h"

namespace historian::sparkplug {

namespace v1 = historian::v1;

namespace {

constexpr absl::string_view kBdSeq = "bdSeq";

std::string NameKey(absl::string_view device, absl::string_view name) {
  return absl::StrCat(device, absl::string_view("\0", 1), name);
}

// ms since the epoch as ns; nullopt when out of range.
std::optional<int64_t> MsToNs(uint64_t ms) {
  if (ms > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 1000000)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(ms) * 1000000;
}

int64_t TimestampNs(const Payload::Metric* m, const Payload& p, absl::Time receive_time) {
  if (m != nullptr && m->has_timestamp()) {
    if (auto ns = MsToNs(m->timestamp())) return *ns;
  }
  if (p.has_timestamp()) {
    if (auto ns = MsToNs(p.timestamp())) return *ns;
  }
  return absl::ToUnixNanos(receive_time);
}

std::optional<double> PropertyNumber(const Payload::PropertyValue& v) {
  switch (v.value_case()) {
    case Payload::PropertyValue::kIntValue:
      return static_cast<double>(v.int_value());
    case Payload::PropertyValue::kLongValue:
      return static_cast<double>(v.long_value());
    case Payload::PropertyValue::kFloatValue:
      return v.float_value();
    case Payload::PropertyValue::kDoubleValue:
      return v.double_value();
    default:
      return std::nullopt;
  }
}

std::optional<uint64_t> BdSeqOf(const Payload& p) {
  for (const Payload::Metric& m : p.metrics()) {
    if (m.name() != kBdSeq) continue;
    if (m.value_case() == Payload::Metric::kLongValue) return m.long_value();
    if (m.value_case() == Payload::Metric::kIntValue) return m.int_value();
  }
  return std::nullopt;
}

}  // namespace

Recorder::Recorder(RecorderOptions options) : options_(std::move(options)) {}

void Recorder::SetKnownType(const std::string& tag, v1::ValueType type) {
  auto [it, inserted] = tags_.try_emplace(tag, TagOwner{type, ""});
  if (!inserted) it->second.type = type;
}

std::string Recorder::TagName(const Topic& topic, absl::string_view metric) const {
  return options_.tag_template.Render(
      {options_.site, topic.group, topic.node, topic.device, metric});
}

void Recorder::LogOnce(const std::string& node_key, absl::string_view reason, std::string line,
                       RecorderOutput* out) {
  if (logged_.insert(absl::StrCat(node_key, "|", reason)).second) {
    out->log.push_back(std::move(line));
  }
}

void Recorder::Handle(absl::string_view topic_text, absl::string_view payload_bytes,
                      absl::Time receive_time, RecorderOutput* out) {
  out->samples.clear();
  out->births.clear();
  out->rebirths.clear();
  out->log.clear();
  ++stats_.messages;
  absl::StatusOr<Topic> topic = ParseTopic(topic_text);
  if (!topic.ok()) {
    ++stats_.bad_topics;
    LogOnce("", "topic", absl::StrCat("ignored: ", topic.status().message()), out);
    return;
  }
  // Host STATE and commands are not data.
  if (topic->type == MessageType::kState || topic->type == MessageType::kNCmd ||
      topic->type == MessageType::kDCmd) {
    return;
  }
  const std::string node_key = absl::StrCat(topic->group, "/", topic->node);
  if (payload_bytes.size() > options_.max_payload_bytes) {
    ++stats_.bad_payloads;
    LogOnce(node_key, "too large",
            absl::StrCat(node_key, ": payload of ", payload_bytes.size(), " bytes refused (limit ",
                         options_.max_payload_bytes, ")"),
            out);
    return;
  }
  Payload payload;
  if (!payload.ParseFromArray(payload_bytes.data(), static_cast<int>(payload_bytes.size()))) {
    ++stats_.bad_payloads;
    LogOnce(node_key, "not sparkplug",
            absl::StrCat(node_key, ": ", MessageTypeName(topic->type),
                         " payload is not a Sparkplug B payload; ignored"),
            out);
    return;
  }
  Dispatch(*topic, payload, receive_time, out);
}

void Recorder::Dispatch(const Topic& topic, const Payload& payload, absl::Time receive_time,
                        RecorderOutput* out) {
  const std::string node_key = absl::StrCat(topic.group, "/", topic.node);
  Node& node = nodes_[node_key];
  if (topic.type == MessageType::kNBirth) {
    Birth(node, topic, payload, receive_time, out);
    return;
  }
  if (topic.type == MessageType::kNDeath) {
    Death(node, topic, payload, receive_time, out);
    return;
  }
  // Everything else is in the node's seq order and needs its BIRTH.
  if (!node.born || node.awaiting_rebirth) {
    Hold(node, topic, payload, receive_time,
         node.born ? "waiting for the rebirth" : "no NBIRTH seen", out);
    return;
  }
  if (payload.has_seq() && payload.seq() != (node.last_seq + 1) % 256) {
    const std::string why =
        absl::StrCat("seq gap: expected ", (node.last_seq + 1) % 256, ", got ", payload.seq());
    Hold(node, topic, payload, receive_time, why, out);
    return;
  }
  if (payload.has_seq()) node.last_seq = payload.seq();
  if (topic.type == MessageType::kDBirth) {
    Birth(node, topic, payload, receive_time, out);
    return;
  }
  if (!topic.device.empty() && !node.devices.contains(topic.device)) {
    Hold(node, topic, payload, receive_time, absl::StrCat("no DBIRTH for ", topic.device), out);
    return;
  }
  if (topic.type == MessageType::kDDeath) {
    Death(node, topic, payload, receive_time, out);
    return;
  }
  Data(node, topic, payload, receive_time, /*held=*/false, out);
}

void Recorder::Hold(Node& node, const Topic& topic, Payload payload, absl::Time receive_time,
                    absl::string_view why, RecorderOutput* out) {
  const std::string node_key = absl::StrCat(topic.group, "/", topic.node);
  ++stats_.held_messages;
  ++stats_.held_now;
  node.held.push_back(Held{topic, std::move(payload), receive_time});
  if (node.held.size() > options_.max_held_messages) {
    node.held.pop_front();
    --stats_.held_now;
    ++stats_.dropped_held;
    LogOnce(node_key, "held overflow",
            absl::StrCat(node_key, ": more than ", options_.max_held_messages,
                         " messages held for a rebirth: dropping the oldest"),
            out);
  }
  node.awaiting_rebirth = true;
  if (receive_time - node.last_rebirth >= options_.rebirth_min_interval) {
    node.last_rebirth = receive_time;
    ++stats_.rebirth_requests;
    out->rebirths.emplace_back(topic.group, topic.node);
    out->log.push_back(absl::StrCat(node_key, ": ", why, ": Rebirth requested; holding its data"));
  }
}

void Recorder::Birth(Node& node, const Topic& topic, const Payload& payload,
                     absl::Time receive_time, RecorderOutput* out) {
  const std::string node_key = absl::StrCat(topic.group, "/", topic.node);
  ++stats_.births;
  if (topic.type == MessageType::kNBirth) {
    // Held messages of an ending session are resolved with its aliases
    // before they go: a new session (another bdSeq; the node restarted) may
    // give them to other metrics. A rebirth of the same session replays
    // them with the new BIRTH's maps (which may define what a lost message
    // did).
    const std::optional<uint64_t> bd_seq = BdSeqOf(payload);
    if (node.born && node.bd_seq.has_value() && bd_seq.has_value() && *bd_seq != *node.bd_seq) {
      ResolveHeldOfEndingSession(node, out);
    }
    // A new session: forget the previous one's metrics and aliases. Held
    // device messages wait for their DBIRTH.
    node.born = true;
    node.awaiting_rebirth = false;
    node.bd_seq = bd_seq;
    node.last_seq = payload.has_seq() ? payload.seq() : 0;
    node.metrics.clear();
    node.by_name.clear();
    node.by_alias.clear();
    node.devices.clear();
  } else {
    // A DBIRTH replaces the device's metrics: its old ones and their
    // aliases go (a DDEATH then marks the new ones only, once each).
    ForgetDevice(node, topic.device);
    node.devices.insert(topic.device);
  }
  // Names in this BIRTH that map to one tag.
  absl::flat_hash_map<std::string, int> tag_count;
  std::vector<std::string> tags(payload.metrics_size());
  for (int i = 0; i < payload.metrics_size(); ++i) {
    tags[i] = TagName(topic, payload.metrics(i).name());
    ++tag_count[tags[i]];
  }
  const std::string owner_prefix =
      absl::StrCat(topic.group, "/", topic.node, topic.device.empty() ? "" : "/", topic.device);
  for (int i = 0; i < payload.metrics_size(); ++i) {
    const Payload::Metric& m = payload.metrics(i);
    Metric metric;
    metric.tag = tags[i];
    metric.datatype = m.datatype();
    metric.device = topic.device;
    const std::optional<v1::ValueType> type = HistorianType(m.datatype());
    if (!m.has_name() || m.name().empty()) {
      ++stats_.refused;
      LogOnce(node_key, "birth without name",
              absl::StrCat(node_key, ": ", MessageTypeName(topic.type),
                           " metric without a name: refused"),
              out);
      continue;
    }
    if (!type.has_value()) {
      metric.refused = true;
      ++stats_.unsupported;
      LogOnce(node_key, absl::StrCat("unsupported ", m.datatype()),
              absl::StrCat(node_key, ": metric '", m.name(), "' has datatype ", m.datatype(),
                           ", which the historian does not store (counted as unsupported)"),
              out);
    } else if (tag_count[metric.tag] > 1) {
      metric.refused = true;
      ++stats_.refused;
      out->log.push_back(absl::StrCat(node_key, ": ", MessageTypeName(topic.type),
                                      " error: several metrics map to the tag '", metric.tag,
                                      "'; none of them is recorded"));
    } else {
      metric.type = *type;
      const std::string owner = absl::StrCat(owner_prefix, "/", m.name());
      auto [it, inserted] = tags_.try_emplace(metric.tag, TagOwner{*type, owner});
      if (!inserted && it->second.type != *type) {
        metric.refused = true;
        ++stats_.refused;
        out->log.push_back(absl::StrCat(node_key, ": ", MessageTypeName(topic.type),
                                        " error: metric '", m.name(), "' has datatype ",
                                        m.datatype(), " but the tag '", metric.tag,
                                        "' has another type; refused"));
      } else if (!inserted && !it->second.owner.empty() && it->second.owner != owner) {
        metric.refused = true;
        ++stats_.refused;
        out->log.push_back(absl::StrCat(node_key, ": ", MessageTypeName(topic.type),
                                        " error: metric '", m.name(), "' maps to the tag '",
                                        metric.tag, "' of ", it->second.owner, "; refused"));
      } else {
        it->second.owner = owner;
      }
    }
    const size_t index = node.metrics.size();
    node.by_name[NameKey(topic.device, m.name())] = index;
    if (m.has_alias()) node.by_alias[m.alias()] = index;
    node.metrics.push_back(metric);
    if (metric.refused) continue;
    TagInfo info;
    info.tag = metric.tag;
    info.type = metric.type;
    if (m.has_properties()) {
      const Payload::PropertySet& props = m.properties();
      for (int k = 0; k < props.keys_size() && k < props.values_size(); ++k) {
        const std::string& key = props.keys(k);
        const Payload::PropertyValue& v = props.values(k);
        if (v.is_null()) continue;
        if (key == "engUnit" && v.has_string_value()) {
          info.unit = v.string_value();
        } else if (key == "Description" && v.has_string_value()) {
          info.description = v.string_value();
        } else if (key == "engLow") {
          info.eng_low = PropertyNumber(v);
        } else if (key == "engHigh") {
          info.eng_high = PropertyNumber(v);
        }
      }
    }
    out->births.push_back(std::move(info));
    // The BIRTH carries current values: record them.
    const DecodedValue value = DecodeValue(m, metric.datatype);
    if (value.outcome != ValueOutcome::kOk) continue;
    RecordedSample s;
    s.tag = metric.tag;
    s.sample.set_timestamp_ns(TimestampNs(&m, payload, receive_time));
    *s.sample.mutable_value() = value.value;
    s.sample.set_quality(value.quality);
    out->samples.push_back(std::move(s));
    ++stats_.samples;
  }
  Release(node, topic.device, out);
}

void Recorder::Data(Node& node, const Topic& topic, const Payload& payload, absl::Time receive_time,
                    bool held, RecorderOutput* out) {
  const std::string node_key = absl::StrCat(topic.group, "/", topic.node);
  for (const Payload::Metric& m : payload.metrics()) {
    const Metric* metric = nullptr;
    if (m.has_alias()) {
      auto it = node.by_alias.find(m.alias());
      if (it != node.by_alias.end()) metric = &node.metrics[it->second];
    } else if (m.has_name()) {
      auto it = node.by_name.find(NameKey(topic.device, m.name()));
      if (it != node.by_name.end()) metric = &node.metrics[it->second];
    }
    if (metric != nullptr && metric->device != topic.device) metric = nullptr;
    if (metric == nullptr) {
      ++stats_.unresolved;
      const std::string what =
          m.has_alias() ? absl::StrCat("alias ", m.alias()) : absl::StrCat("name '", m.name(), "'");
      LogOnce(node_key, held ? "held unresolved" : "unresolved",
              absl::StrCat(node_key, ": ", MessageTypeName(topic.type), " ",
                           held ? "held for a rebirth, " : "", "unknown ", what,
                           ": not in the BIRTH; not recorded"),
              out);
      // Held data lost by a rebirth: its metric, when named, is marked Bad.
      const std::optional<v1::ValueType> type = HistorianType(m.datatype());
      if (held && m.has_name() && !m.name().empty() && type.has_value()) {
        RecordedSample s;
        s.tag = TagName(topic, m.name());
        s.sample.set_timestamp_ns(TimestampNs(&m, payload, receive_time));
        *s.sample.mutable_value() = ZeroValue(*type);
        s.sample.set_quality(kQualityBad);
        out->samples.push_back(std::move(s));
        ++stats_.samples;
      }
      continue;
    }
    if (metric->refused) {
      if (metric->type == v1::VALUE_TYPE_UNSPECIFIED && !HistorianType(metric->datatype)) {
        ++stats_.unsupported;
      } else {
        ++stats_.refused;
      }
      continue;
    }
    const DecodedValue value = DecodeValue(m, metric->datatype);
    if (value.outcome == ValueOutcome::kWrongType) {
      ++stats_.wrong_type;
      LogOnce(node_key, "wrong type",
              absl::StrCat(node_key, ": metric for tag '", metric->tag,
                           "' carries a value that is not of its BIRTH datatype ", metric->datatype,
                           "; not recorded"),
              out);
      continue;
    }
    if (value.outcome == ValueOutcome::kUnsupported) {
      ++stats_.unsupported;
      continue;
    }
    RecordedSample s;
    s.tag = metric->tag;
    s.sample.set_timestamp_ns(TimestampNs(&m, payload, receive_time));
    *s.sample.mutable_value() = value.value;
    s.sample.set_quality(value.quality);
    out->samples.push_back(std::move(s));
    ++stats_.samples;
  }
}

void Recorder::Death(Node& node, const Topic& topic, const Payload& payload,
                     absl::Time receive_time, RecorderOutput* out) {
  const std::string node_key = absl::StrCat(topic.group, "/", topic.node);
  if (topic.type == MessageType::kNDeath) {
    const std::optional<uint64_t> bd_seq = BdSeqOf(payload);
    if (!node.born || (node.bd_seq.has_value() && bd_seq.has_value() && *bd_seq != *node.bd_seq)) {
      ++stats_.stale_deaths;
      out->log.push_back(absl::StrCat(
          node_key, ": NDEATH with bdSeq ", bd_seq.has_value() ? absl::StrCat(*bd_seq) : "-",
          " does not end the current session (bdSeq ",
          node.bd_seq.has_value() ? absl::StrCat(*node.bd_seq) : "-", "): ignored"));
      return;
    }
  }
  ++stats_.deaths;
  const bool whole_node = topic.type == MessageType::kNDeath;
  // An NDEATH is the will the broker stored at connect: its timestamp is
  // the session's start, not the death (Sparkplug 3.0), so the receive
  // time it is. A DDEATH is sent by the node when the device goes.
  const int64_t t =
      whole_node ? absl::ToUnixNanos(receive_time) : TimestampNs(nullptr, payload, receive_time);
  for (const Metric& metric : node.metrics) {
    if (metric.refused) continue;
    if (!whole_node && metric.device != topic.device) continue;
    RecordedSample s;
    s.tag = metric.tag;
    s.sample.set_timestamp_ns(t);
    *s.sample.mutable_value() = ZeroValue(metric.type);
    s.sample.set_quality(kQualityBadNotConnected);
    out->samples.push_back(std::move(s));
    ++stats_.samples;
  }
  if (whole_node) {
    node.born = false;
    node.awaiting_rebirth = false;
    node.devices.clear();
    DropHeld(node, out);
  } else {
    node.devices.erase(topic.device);
  }
}

void Recorder::Release(Node& node, const std::string& device, RecorderOutput* out) {
  if (node.held.empty()) return;
  std::deque<Held> keep;
  std::deque<Held> held;
  held.swap(node.held);
  for (Held& h : held) {
    if (h.topic.device != device) {
      keep.push_back(std::move(h));
      continue;
    }
    if (h.topic.type == MessageType::kDBirth) {
      // Replayed below in order; a held DBIRTH of the same device is
      // superseded by the one being processed.
      continue;
    }
    if (h.topic.type == MessageType::kDDeath) {
      Death(node, h.topic, h.payload, h.receive_time, out);
      continue;
    }
    Data(node, h.topic, h.payload, h.receive_time, /*held=*/true, out);
  }
  // Messages that arrived during the replay (none: single-threaded) and the
  // other devices' ones stay held, in their order.
  stats_.held_now -= held.size() - keep.size();
  node.held.swap(keep);
}

void Recorder::DropHeld(Node& node, RecorderOutput* out) {
  for (Held& h : node.held) {
    if (h.topic.type == MessageType::kNData || h.topic.type == MessageType::kDData) {
      Data(node, h.topic, h.payload, h.receive_time, /*held=*/true, out);
    }
  }
  stats_.held_now -= node.held.size();
  node.held.clear();
}

void Recorder::ResolveHeldOfEndingSession(Node& node, RecorderOutput* out) {
  std::deque<Held> keep;
  const size_t before = node.held.size();
  for (Held& h : node.held) {
    if (h.topic.type != MessageType::kNData && h.topic.type != MessageType::kDData) continue;
    // A device the ending session never gave a DBIRTH has no aliases there:
    // its data waits for the new DBIRTH, which names its metrics again.
    if (!h.topic.device.empty() && !node.devices.contains(h.topic.device)) {
      keep.push_back(std::move(h));
      continue;
    }
    Data(node, h.topic, h.payload, h.receive_time, /*held=*/true, out);
  }
  stats_.held_now -= before - keep.size();
  node.held.swap(keep);
}

void Recorder::ForgetDevice(Node& node, const std::string& device) {
  if (std::none_of(node.metrics.begin(), node.metrics.end(),
                   [&](const Metric& m) { return m.device == device; })) {
    return;
  }
  constexpr size_t kGone = std::numeric_limits<size_t>::max();
  std::vector<size_t> moved_to(node.metrics.size(), kGone);
  std::vector<Metric> kept;
  kept.reserve(node.metrics.size());
  for (size_t i = 0; i < node.metrics.size(); ++i) {
    if (node.metrics[i].device == device) continue;
    moved_to[i] = kept.size();
    kept.push_back(std::move(node.metrics[i]));
  }
  node.metrics = std::move(kept);
  auto remap = [&](auto& index) {
    for (auto it = index.begin(); it != index.end();) {
      if (moved_to[it->second] == kGone) {
        index.erase(it++);
      } else {
        it->second = moved_to[it->second];
        ++it;
      }
    }
  };
  remap(node.by_name);
  remap(node.by_alias);
}

}  // namespace historian::sparkplug
