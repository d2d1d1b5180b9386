// File: input_identity.h
// What a gateway input is, and when a restart may resume it.
//
// The disk queue stores, with every batch, the input position after it. A
// position means something only for the input it was read from, so the
// queue directory also holds `input`: the identity of the input (its name;
// for a regular file also its size and a hash of its head) and the first
// queue sequence appended while reading it. It is written durably before
// any row of that input is queued, so a queued position belongs to it if
// and only if its batch's sequence is at or above that first sequence; an
// older position (the previous input's) can never be paired with it.
//
// A restart resumes only when that holds and the input is the same: the same
// name, a regular file (or the simulator), at least as large as recorded and
// with the same bytes at its head (a file that grew by appending resumes).
// Stdin, FIFOs and other non-regular inputs never resume. When in doubt the
// gateway resends from the start (the node keeps one value per tag and
// timestamp); it never skips.
//
// Pure functions over the file system; thread-safe.
#ifndef HISTORIAN_CLIENT_GATEWAY_INPUT_IDENTITY_H_
#define HISTORIAN_CLIENT_GATEWAY_INPUT_IDENTITY_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace historian::client {

// Bytes of a regular file's head that are hashed.
inline constexpr uint64_t kInputHeadBytes = 64 * 1024;

struct InputIdentity {
  // "csv /abs/path", "fifo /abs/path", "stdin", "simulate ...".
  std::string name;
  // Regular files and the simulator; never stdin or a FIFO.
  bool resumable = false;
  // Regular files: size when the input was opened, and the FNV-1a 64 hash of
  // its first `head_bytes` = min(size, kInputHeadBytes) bytes.
  bool regular_file = false;
  uint64_t size = 0;
  uint64_t head_bytes = 0;
  uint64_t head_hash = 0;
};

// The content of the queue directory's `input` file.
struct InputRecord {
  InputIdentity identity;
  // The first queue sequence appended while reading this input.
  uint64_t first_sequence = 0;
};

// An input without a position to check (the simulator: `resumable`; stdin:
// not).
InputIdentity NamedInput(std::string name, bool resumable);

// Identifies a regular file from `in`, an open stream of it (read from its
// start; left at its start). `name` is what the identity is called.
absl::StatusOr<InputIdentity> IdentifyFile(std::string name, std::istream& in);

// The FNV-1a 64 hash of the first `n` bytes of `in` (fewer at its end);
// leaves `in` at its start.
absl::StatusOr<uint64_t> HashHead(std::istream& in, uint64_t n);

std::string FormatInputRecord(const InputRecord& record);
// nullopt for text that is not a record (e.g. the one-line `input` file of
// an older gateway): such a record matches no input.
std::optional<InputRecord> ParseInputRecord(absl::string_view text);

// Whether `stored` (whose positions start at `first_sequence`) may be resumed
// by `current`: both resumable, the same name, and for a regular file
// `current` is at least as large and `current_head_hash` (the hash of the
// current file's first stored.identity.head_bytes bytes) equals the stored
// hash. `position_sequence` is the queue sequence the resume position was
// stored with (0: none).
bool CanResume(const InputRecord& stored, uint64_t position_sequence, const InputIdentity& current,
               uint64_t current_head_hash);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_GATEWAY_INPUT_IDENTITY_H_
