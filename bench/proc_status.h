// File: proc_status.h
// One field of /proc/<pid>/status in KiB (VmRSS, VmHWM, ...), for the
// benchmarks' memory figures; 0 when the file or the field is missing.
#ifndef HISTORIAN_BENCH_PROC_STATUS_H_
#define HISTORIAN_BENCH_PROC_STATUS_H_

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace historian::bench {

// `status_path`: "/proc/self/status" or "/proc/<pid>/status"; `field`
// with its colon, e.g. "VmRSS:".
inline int64_t ProcStatusKb(const std::string& status_path, std::string_view field) {
  std::ifstream in(status_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size(), field) == 0) {
      return std::atoll(line.c_str() + field.size());
    }
  }
  return 0;
}

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_PROC_STATUS_H_
