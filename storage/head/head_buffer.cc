#include "storage/head/head_buffer.h"

#include <algorithm>

namespace historian {

void NoteOriginSeq(OriginSeqRanges* ranges, const std::string* origin, uint64_t seq) {
  for (auto& r : *ranges) {
    if (r.origin == origin) {
      r.min_seq = std::min(r.min_seq, seq);
      r.max_seq = std::max(r.max_seq, seq);
      return;
    }
  }
  ranges->push_back({origin, seq, seq});
}

}  // namespace historian
