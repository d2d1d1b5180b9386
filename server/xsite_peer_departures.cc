#include "server/xsite_peer_departures.h"

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/durable_file.h"
#include "server/logging.h"

namespace historian::server {

PeerDepartures::PeerDepartures(std::string file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::ifstream in(file_);
  if (!in) return;
  std::map<std::string, uint64_t> counts;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    uint64_t count = 0;
    if (fields.size() != 2 || fields[0].empty() || !absl::SimpleAtoi(fields[1], &count)) {
      // Unknown: every peer site's count differs, so each runs its pass.
      LogWarning("replicator", "peer departures file unreadable; a full range sync with each peer",
                 {{"file", file_}, {"line", line}});
      return;
    }
    counts[fields[0]] = count;
  }
  absl::MutexLock l(&mu_);
  counts_ = std::move(counts);
}

std::optional<uint64_t> PeerDepartures::Get(const std::string& site) const {
  absl::MutexLock l(&mu_);
  auto it = counts_.find(site);
  if (it == counts_.end()) return std::nullopt;
  return it->second;
}

absl::Status PeerDepartures::Record(const std::string& site, uint64_t count) {
  absl::MutexLock l(&mu_);
  std::map<std::string, uint64_t> next = counts_;
  next[site] = count;
  if (!file_.empty()) {
    std::string text;
    for (const auto& [s, c] : next) absl::StrAppend(&text, s, " ", c, "\n");
    if (absl::Status s = ReplaceFileDurably(file_, text); !s.ok()) return s;
  }
  counts_ = std::move(next);
  return absl::OkStatus();
}

}  // namespace historian::server
