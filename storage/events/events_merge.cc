#include "storage/events/events_merge.h"

#include "storage/events/event_record.h"

namespace historian::events {
namespace {

class EventsMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    if (existing_value == nullptr) {
      new_value->assign(value.data(), value.size());
      return true;
    }
    *new_value = MergeEventsValue(std::string_view(key.data(), key.size()),
                                  std::string_view(existing_value->data(), existing_value->size()),
                                  std::string_view(value.data(), value.size()));
    return true;
  }
  const char* Name() const override { return "historian.EventsMerge"; }
};

}  // namespace

std::string MergeEventsValue(std::string_view key, std::string_view existing,
                             std::string_view operand) {
  if (!key.empty() && key[0] == kEventKeyPrefix) {
    absl::StatusOr<EventRecord> a = DecodeEvent(existing);
    absl::StatusOr<EventRecord> b = DecodeEvent(operand);
    if (!a.ok()) return std::string(operand);
    if (!b.ok()) return std::string(existing);
    return EncodeEvent(MergeEvents(*a, *b));
  }
  if (!key.empty() && key[0] == kRuleKeyPrefix) {
    absl::StatusOr<RuleRecord> a = DecodeRule(existing);
    absl::StatusOr<RuleRecord> b = DecodeRule(operand);
    if (!a.ok()) return std::string(operand);
    if (!b.ok()) return std::string(existing);
    return EncodeRule(NewerRule(*a, *b));
  }
  return std::string(operand);
}

std::shared_ptr<rocksdb::MergeOperator> NewEventsMergeOperator() {
  return std::make_shared<EventsMergeOperator>();
}

}  // namespace historian::events
