#include "storage/catalog/catalog_entry.h"

#include <cstring>

namespace historian {

std::string_view NameArena::Add(std::string_view name) {
  if (name.size() > kBlockBytes) {
    big_.push_back(std::make_unique<char[]>(name.size()));
    big_bytes_ += name.size();
    std::memcpy(big_.back().get(), name.data(), name.size());
    return std::string_view(big_.back().get(), name.size());
  }
  if (kBlockBytes - used_ < name.size()) {
    blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
    used_ = 0;
  }
  char* out = blocks_.back().get() + used_;
  std::memcpy(out, name.data(), name.size());
  used_ += name.size();
  return std::string_view(out, name.size());
}

void CatalogEntry::Assign(const engine::TagInfo& info, std::string_view stored_name,
                          const std::string* origin) {
  name_ = stored_name.data();
  name_size_ = static_cast<uint32_t>(stored_name.size());
  origin_site_ = origin;
  id_ = info.id;
  type_ = info.type;
  version_ = info.version;
  created_ns_ = info.created_ns;
  const bool plain = info.unit.empty() && info.description.empty() && info.attributes.empty() &&
                     info.retention_ns == 0 && info.deadband == 0 && !info.eng_low.has_value() &&
                     !info.eng_high.has_value() && info.stale_after_ns == 0;
  if (plain) {
    extras_.reset();
    return;
  }
  extras_ = std::make_unique<Extras>(Extras{info.unit, info.description, info.attributes,
                                            info.retention_ns, info.deadband, info.eng_low,
                                            info.eng_high, info.stale_after_ns});
}

engine::TagInfo CatalogEntry::Info() const {
  engine::TagInfo info;
  info.name = std::string(name());
  info.id = id_;
  info.type = type_;
  if (origin_site_ != nullptr) info.origin_site = *origin_site_;
  info.created_ns = created_ns_;
  info.version = version_;
  if (extras_ != nullptr) {
    info.unit = extras_->unit;
    info.description = extras_->description;
    info.attributes = extras_->attributes;
    info.retention_ns = extras_->retention_ns;
    info.deadband = extras_->deadband;
    info.eng_low = extras_->eng_low;
    info.eng_high = extras_->eng_high;
    info.stale_after_ns = extras_->stale_after_ns;
  }
  return info;
}

size_t CatalogEntry::HeapBytes() const {
  if (extras_ == nullptr) return 0;
  size_t bytes = sizeof(Extras);
  auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  bytes += heap(extras_->unit) + heap(extras_->description);
  for (const auto& [k, v] : extras_->attributes) bytes += 64 + heap(k) + heap(v);  // map node
  return bytes;
}

}  // namespace historian
