#include "storage/engine/logger.h"

#include <cstdio>
#include <string>

namespace historian {

void LogToStderr(LogSeverity /*severity*/, std::string_view message) {
  std::string line = "historian: ";
  line.append(message);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace historian
