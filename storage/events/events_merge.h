// File: events_merge.h
// EventsMergeOperator: the RocksDB merge operator of the events column
// family: MergeEvents for "e" keys, NewerRule for "r" keys (event_record.h).
// Any other key keeps the newest operand (local state is written with Put).
//
// Thread-safety: stateless; RocksDB calls it from any thread.
#ifndef HISTORIAN_STORAGE_EVENTS_EVENTS_MERGE_H_
#define HISTORIAN_STORAGE_EVENTS_EVENTS_MERGE_H_

#include <memory>
#include <string>

#include "rocksdb/merge_operator.h"

namespace historian::events {

// The merge of two encoded values under `key` (what the operator does).
// A value that does not decode loses to one that does.
std::string MergeEventsValue(std::string_view key, std::string_view existing,
                             std::string_view operand);

std::shared_ptr<rocksdb::MergeOperator> NewEventsMergeOperator();

}  // namespace historian::events

#endif  // HISTORIAN_STORAGE_EVENTS_EVENTS_MERGE_H_
