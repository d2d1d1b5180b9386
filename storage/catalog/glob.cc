#include "storage/catalog/glob.h"

namespace historian {

bool GlobMatch(std::string_view glob, std::string_view name) {
  // Greedy, backtracking only to the last `*` (a later `*` makes earlier
  // choices final): O(|glob| * |name|) at worst, never exponential. A run of
  // `*` is one `*`; a trailing one matches the rest at once.
  constexpr size_t kNone = std::string_view::npos;
  size_t g = 0, n = 0, resume = kNone, mark = 0;
  while (n < name.size()) {
    if (g < glob.size() && glob[g] == '*') {
      while (g < glob.size() && glob[g] == '*') ++g;
      if (g == glob.size()) return true;
      resume = g;
      mark = n;
    } else if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
      ++g;
      ++n;
    } else if (resume != kNone) {
      g = resume;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

}  // namespace historian
