// File: catalog_sync.h
// CatalogSync: applies the tag metadata of Sparkplug BIRTHs (type, unit,
// description, engineering range) to the node's catalog, in the background:
// CreateTag when the tag does not exist, UpdateTag when its metadata
// differs. A tag that exists with another type is reported through
// `on_type_conflict` (the recorder then refuses that metric's later BIRTHs)
// and logged. While no node answers, requests wait and are retried; only the
// latest metadata of each tag is kept.
//
// Samples do not wait for this: the node creates a tag on its first write
// (historiand --implicit_tags, the default) with the type of its value,
// which is the type the BIRTH maps to.
//
// Thread-safety: thread-safe; Submit may be called from any thread.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_CATALOG_SYNC_H_
#define HISTORIAN_CLIENT_SPARKPLUG_CATALOG_SYNC_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "client/historian_client.h"
#include "client/sparkplug/recorder.h"

namespace historian::sparkplug {

class CatalogSync {
 public:
  using TypeConflict = std::function<void(const std::string& tag, historian::v1::ValueType type)>;
  CatalogSync(std::unique_ptr<historian::client::Client> client, TypeConflict on_type_conflict);
  ~CatalogSync();
  CatalogSync(const CatalogSync&) = delete;
  CatalogSync& operator=(const CatalogSync&) = delete;

  void Submit(const TagInfo& info);
  // Tags whose metadata is not applied yet.
  size_t pending() const;

 private:
  void Loop();
  // OK when applied (or refused for good); UNAVAILABLE-like errors retry.
  absl::Status Apply(const TagInfo& info);

  std::unique_ptr<historian::client::Client> client_;
  const TypeConflict on_type_conflict_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  absl::flat_hash_map<std::string, TagInfo> pending_;  // guarded by mu_
  absl::flat_hash_map<std::string, TagInfo> applied_;  // loop thread only
  bool stop_ = false;                                  // guarded by mu_
  std::thread thread_;
};

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_CATALOG_SYNC_H_
