// File: topic.h
// The Sparkplug B 3.0 topic namespace:
//   spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]
//   spBv1.0/STATE/<host_id>
// Parsing of received topics and building of the ones the gateway publishes.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_TOPIC_H_
#define HISTORIAN_CLIENT_SPARKPLUG_TOPIC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace historian::sparkplug {

inline constexpr absl::string_view kNamespace = "spBv1.0";

enum class MessageType {
  kNBirth,
  kNDeath,
  kDBirth,
  kDDeath,
  kNData,
  kDData,
  kNCmd,
  kDCmd,
  kState,
};

// "NBIRTH", ..., "STATE".
absl::string_view MessageTypeName(MessageType type);

struct Topic {
  MessageType type = MessageType::kNData;
  std::string group;   // empty for STATE
  std::string node;    // the host id for STATE
  std::string device;  // empty for node-level messages
};

// INVALID_ARGUMENT for a topic outside the namespace, an unknown message
// type, empty ids, or a device id on a node message (or none on a device one).
absl::StatusOr<Topic> ParseTopic(absl::string_view topic);

// spBv1.0/STATE/<host_id>
std::string StateTopic(absl::string_view host_id);
// spBv1.0/<group>/NCMD/<node>
std::string NodeCommandTopic(absl::string_view group, absl::string_view node);

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_TOPIC_H_
