// File: catalog_sync.cc
#include "client/sparkplug/catalog_sync.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace historian::sparkplug {

namespace v1 = historian::v1;

namespace {

bool SameMeta(const TagInfo& a, const TagInfo& b) {
  return a.type == b.type && a.unit == b.unit && a.description == b.description &&
         a.eng_low == b.eng_low && a.eng_high == b.eng_high;
}

void FillTag(const TagInfo& info, v1::Tag* tag) {
  tag->set_name(info.tag);
  // Only what the BIRTH says; an operator's metadata is not cleared.
  if (!info.unit.empty()) tag->set_unit(info.unit);
  if (!info.description.empty()) tag->set_description(info.description);
  // The node wants both ends, in order.
  if (info.eng_low.has_value() && info.eng_high.has_value() && *info.eng_low < *info.eng_high) {
    tag->set_eng_low(*info.eng_low);
    tag->set_eng_high(*info.eng_high);
  }
}

}  // namespace

CatalogSync::CatalogSync(std::unique_ptr<historian::client::Client> client,
                         TypeConflict on_type_conflict)
    : client_(std::move(client)), on_type_conflict_(std::move(on_type_conflict)) {
  thread_ = std::thread([this] { Loop(); });
}

CatalogSync::~CatalogSync() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void CatalogSync::Submit(const TagInfo& info) {
  absl::MutexLock lock(&mu_);
  pending_[info.tag] = info;
}

size_t CatalogSync::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

void CatalogSync::Loop() {
  absl::Duration backoff = absl::Milliseconds(100);
  mu_.Lock();
  while (!stop_) {
    if (pending_.empty()) {
      mu_.Await(absl::Condition(this, &CatalogSync::WorkOrStop));
      continue;
    }
    const TagInfo info = pending_.begin()->second;
    mu_.Unlock();
    auto it = applied_.find(info.tag);
    absl::Status s = absl::OkStatus();
    if (it == applied_.end() || !SameMeta(it->second, info)) s = Apply(info);
    mu_.Lock();
    if (s.ok()) {
      applied_[info.tag] = info;
      // Unless a newer BIRTH replaced it meanwhile.
      auto p = pending_.find(info.tag);
      if (p != pending_.end() && SameMeta(p->second, info)) pending_.erase(p);
      backoff = absl::Milliseconds(100);
    } else {
      mu_.AwaitWithTimeout(absl::Condition(this, &CatalogSync::Stopping), backoff);
      backoff = std::min(backoff * 2, absl::Seconds(10));
    }
  }
  mu_.Unlock();
}

absl::Status CatalogSync::Apply(const TagInfo& info) {
  v1::GetTagRequest get;
  get.set_name(info.tag);
  absl::StatusOr<v1::Tag> existing = client_->GetTag(get);
  if (absl::IsNotFound(existing.status())) {
    v1::CreateTagRequest create;
    FillTag(info, create.mutable_tag());
    create.mutable_tag()->set_value_type(info.type);
    absl::StatusOr<v1::Tag> created = client_->CreateTag(create);
    if (created.ok()) return absl::OkStatus();
    // Created by a write meanwhile: update it on the next round.
    if (absl::IsAlreadyExists(created.status())) return absl::UnavailableError("retry");
    existing = created.status();
  }
  if (!existing.ok()) {
    if (absl::IsInvalidArgument(existing.status()) || absl::IsPermissionDenied(existing.status())) {
      std::fprintf(stderr, "historian-gateway: sparkplug: tag %s: %s\n", info.tag.c_str(),
                   existing.status().ToString().c_str());
      return absl::OkStatus();  // never applicable
    }
    return existing.status();
  }
  if (existing->value_type() != info.type) {
    // The recorder learns it before the line is logged (tests wait for it).
    if (on_type_conflict_) on_type_conflict_(info.tag, existing->value_type());
    std::fprintf(stderr,
                 "historian-gateway: sparkplug: tag %s has type %s at the node, its BIRTH says %s: "
                 "the metric is refused from its next BIRTH on\n",
                 info.tag.c_str(), v1::ValueType_Name(existing->value_type()).c_str(),
                 v1::ValueType_Name(info.type).c_str());
    return absl::OkStatus();
  }
  v1::Tag want = *existing;
  FillTag(info, &want);
  if (want.SerializeAsString() == existing->SerializeAsString()) return absl::OkStatus();
  v1::UpdateTagRequest update;
  *update.mutable_tag() = want;
  update.mutable_tag()->clear_value_type();
  absl::StatusOr<v1::Tag> updated = client_->UpdateTag(update);
  if (!updated.ok() && !absl::IsInvalidArgument(updated.status())) return updated.status();
  if (!updated.ok()) {
    std::fprintf(stderr, "historian-gateway: sparkplug: tag %s: %s\n", info.tag.c_str(),
                 updated.status().ToString().c_str());
  }
  return absl::OkStatus();
}

}  // namespace historian::sparkplug
