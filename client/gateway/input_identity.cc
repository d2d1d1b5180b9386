// File: input_identity.cc
#include "client/gateway/input_identity.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "api/core/status_macros.h"

namespace historian::client {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

absl::Status Rewind(std::istream& in) {
  in.clear();
  in.seekg(0);
  if (!in) return absl::InternalError("cannot seek back to the start of the input");
  return absl::OkStatus();
}

}  // namespace

InputIdentity NamedInput(std::string name, bool resumable) {
  InputIdentity identity;
  identity.name = std::move(name);
  identity.resumable = resumable;
  return identity;
}

absl::StatusOr<uint64_t> HashHead(std::istream& in, uint64_t n) {
  uint64_t hash = kFnvOffset;
  char buf[8192];
  while (n > 0) {
    in.read(buf, static_cast<std::streamsize>(std::min<uint64_t>(n, sizeof(buf))));
    const auto got = static_cast<uint64_t>(in.gcount());
    for (uint64_t i = 0; i < got; ++i) {
      hash = (hash ^ static_cast<unsigned char>(buf[i])) * kFnvPrime;
    }
    n -= got;
    if (got == 0 || !in) break;
  }
  if (in.bad()) return absl::InternalError("cannot read the head of the input");
  RETURN_IF_ERROR(Rewind(in));
  return hash;
}

absl::StatusOr<InputIdentity> IdentifyFile(std::string name, std::istream& in) {
  InputIdentity identity = NamedInput(std::move(name), true);
  identity.regular_file = true;
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (!in || end < 0) return absl::InternalError("cannot find the size of the input");
  identity.size = static_cast<uint64_t>(end);
  identity.head_bytes = std::min(identity.size, kInputHeadBytes);
  RETURN_IF_ERROR(Rewind(in));
  ASSIGN_OR_RETURN(identity.head_hash, HashHead(in, identity.head_bytes));
  return identity;
}

std::string FormatInputRecord(const InputRecord& record) {
  const InputIdentity& id = record.identity;
  std::string text = absl::StrCat("input=", id.name, "\nresumable=", id.resumable ? 1 : 0,
                                  "\nfirst_sequence=", record.first_sequence, "\n");
  if (id.regular_file) {
    absl::StrAppend(&text, "size=", id.size, "\nhead_bytes=", id.head_bytes,
                    "\nhead_fnv1a64=", absl::Hex(id.head_hash, absl::kZeroPad16), "\n");
  }
  return text;
}

std::optional<InputRecord> ParseInputRecord(absl::string_view text) {
  InputRecord record;
  InputIdentity& id = record.identity;
  bool have_name = false, have_resumable = false, have_first = false;
  int file_fields = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) return std::nullopt;
    const absl::string_view key = line.substr(0, eq);
    const absl::string_view value = line.substr(eq + 1);
    bool ok = true;
    if (key == "input") {
      id.name = std::string(value);
      have_name = true;
    } else if (key == "resumable") {
      ok = value == "0" || value == "1";
      id.resumable = value == "1";
      have_resumable = true;
    } else if (key == "first_sequence") {
      ok = absl::SimpleAtoi(value, &record.first_sequence);
      have_first = true;
    } else if (key == "size") {
      ok = absl::SimpleAtoi(value, &id.size);
      ++file_fields;
    } else if (key == "head_bytes") {
      ok = absl::SimpleAtoi(value, &id.head_bytes);
      ++file_fields;
    } else if (key == "head_fnv1a64") {
      ok = absl::SimpleHexAtoi(value, &id.head_hash);
      ++file_fields;
    }
    if (!ok) return std::nullopt;
  }
  if (!have_name || !have_resumable || !have_first || (file_fields != 0 && file_fields != 3)) {
    return std::nullopt;
  }
  id.regular_file = file_fields == 3;
  return record;
}

bool CanResume(const InputRecord& stored, uint64_t position_sequence, const InputIdentity& current,
               uint64_t current_head_hash) {
  const InputIdentity& old = stored.identity;
  // A position stored before this input's first batch is another input's.
  if (position_sequence == 0 || position_sequence < stored.first_sequence) return false;
  if (!old.resumable || !current.resumable || old.name != current.name) return false;
  if (old.regular_file != current.regular_file) return false;
  if (!old.regular_file) return true;
  return current.size >= old.size && old.head_bytes <= old.size &&
         current_head_hash == old.head_hash;
}

}  // namespace historian::client
