// File: status_line.cc
#include "tests/testutil/status_line.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace historian::testing {

int64_t LastStatusValue(absl::string_view text, absl::string_view key) {
  const std::string needle = " " + std::string(key) + "=";
  const size_t at = text.rfind(needle);
  if (at == absl::string_view::npos) return -1;
  const size_t start = at + needle.size();
  const size_t end = text.find_first_of(" \n", start);
  int64_t v = -1;
  if (!absl::SimpleAtoi(text.substr(start, end - start), &v)) return -1;
  return v;
}

}  // namespace historian::testing
