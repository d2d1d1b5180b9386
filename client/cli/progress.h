// File: progress.h
// Progress: a one-line progress indicator for long imports and exports. It
// draws on stderr only when stderr is a terminal (so piped or logged output
// stays plain), at most five times a second, and ends its line on Finish().
//
// Thread-safety: not thread-safe; one command thread uses it.
#ifndef HISTORIAN_CLIENT_CLI_PROGRESS_H_
#define HISTORIAN_CLIENT_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace historian::cli {

class Progress {
 public:
  // `enabled` false draws nothing (pipes). Redraws at most every
  // `interval`; a command that ends sooner prints no progress at all.
  Progress(std::ostream& out, std::string label, bool enabled,
           std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  // A Progress drawing on stderr when stderr is a terminal.
  static Progress ForStderr(std::ostream& err, std::string label);
  ~Progress() { Finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  Progress(Progress&&) = default;

  // `done` samples so far.
  void Update(uint64_t done);
  void Finish();

 private:
  void Draw();

  std::ostream& out_;
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::milliseconds interval_;
  uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace historian::cli

#endif  // HISTORIAN_CLIENT_CLI_PROGRESS_H_
