// File: topic.cc
#include "client/sparkplug/topic.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace historian::sparkplug {

namespace {

struct TypeName {
  MessageType type;
  absl::string_view name;
  bool device;
};

constexpr TypeName kTypes[] = {
    {MessageType::kNBirth, "NBIRTH", false}, {MessageType::kNDeath, "NDEATH", false},
    {MessageType::kDBirth, "DBIRTH", true},  {MessageType::kDDeath, "DDEATH", true},
    {MessageType::kNData, "NDATA", false},   {MessageType::kDData, "DDATA", true},
    {MessageType::kNCmd, "NCMD", false},     {MessageType::kDCmd, "DCMD", true},
};

}  // namespace

absl::string_view MessageTypeName(MessageType type) {
  if (type == MessageType::kState) return "STATE";
  for (const TypeName& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return "?";
}

absl::StatusOr<Topic> ParseTopic(absl::string_view topic) {
  const std::vector<absl::string_view> parts = absl::StrSplit(topic, '/');
  if (parts.size() < 3 || parts[0] != kNamespace) {
    return absl::InvalidArgumentError(absl::StrCat("topic outside spBv1.0: ", topic));
  }
  for (absl::string_view p : parts) {
    if (p.empty()) return absl::InvalidArgumentError(absl::StrCat("empty topic level: ", topic));
  }
  Topic t;
  if (parts[1] == "STATE") {
    if (parts.size() != 3)
      return absl::InvalidArgumentError(absl::StrCat("bad STATE topic: ", topic));
    t.type = MessageType::kState;
    t.node = std::string(parts[2]);
    return t;
  }
  if (parts.size() > 5) {
    return absl::InvalidArgumentError(absl::StrCat("too many topic levels: ", topic));
  }
  for (const TypeName& type : kTypes) {
    if (parts[2] != type.name) continue;
    if (type.device != (parts.size() == 5)) {
      return absl::InvalidArgumentError(absl::StrCat(
          type.name, type.device ? " needs a device id: " : " takes no device id: ", topic));
    }
    t.type = type.type;
    t.group = std::string(parts[1]);
    if (parts.size() < 4)
      return absl::InvalidArgumentError(absl::StrCat("no edge node id: ", topic));
    t.node = std::string(parts[3]);
    if (type.device) t.device = std::string(parts[4]);
    return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown message type: ", topic));
}

std::string StateTopic(absl::string_view host_id) {
  return absl::StrCat(kNamespace, "/STATE/", host_id);
}

std::string NodeCommandTopic(absl::string_view group, absl::string_view node) {
  return absl::StrCat(kNamespace, "/", group, "/NCMD/", node);
}

}  // namespace historian::sparkplug
