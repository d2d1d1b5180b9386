#include "client/cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace historian::cli {

Progress::Progress(std::ostream& out, std::string label, bool enabled,
                   std::chrono::milliseconds interval)
    : out_(out), label_(std::move(label)), enabled_(enabled), interval_(interval) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress Progress::ForStderr(std::ostream& err, std::string label) {
  return Progress(err, std::move(label), isatty(STDERR_FILENO) == 1);
}

void Progress::Update(uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < interval_) return;
  last_draw_ = now;
  Draw();
}

void Progress::Draw() {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  char line[160];
  std::snprintf(line, sizeof(line), "\r%s: %llu samples, %.0f samples/s, %.1f s   ",
                label_.c_str(), static_cast<unsigned long long>(done_),
                secs > 0 ? static_cast<double>(done_) / secs : 0.0, secs);
  out_ << line << std::flush;
  drawn_ = true;
}

void Progress::Finish() {
  if (!enabled_ || !drawn_) return;
  Draw();
  out_ << '\n' << std::flush;
  enabled_ = false;
}

}  // namespace historian::cli
