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
// Thread-safety: thread-safe; Submit and pending may be called from any
// thread. mu_ guards pending_ and stop_ (never held during an RPC); applied_
// and client_ belong to the loop thread.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_CATALOG_SYNC_H_
#define HISTORIAN_CLIENT_SPARKPLUG_CATALOG_SYNC_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
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
  // Await conditions (mu_ is held when absl calls them).
  bool WorkOrStop() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || !pending_.empty(); }
  bool Stopping() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; }
  // OK when applied (or refused for good); UNAVAILABLE-like errors retry.
  absl::Status Apply(const TagInfo& info);

  std::unique_ptr<historian::client::Client> client_;
  const TypeConflict on_type_conflict_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, TagInfo> pending_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, TagInfo> applied_;  // loop thread only
  std::thread thread_;
};

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_CATALOG_SYNC_H_
