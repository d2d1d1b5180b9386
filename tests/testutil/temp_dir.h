// File: temp_dir.h
// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with its
// contents when the object goes away.
#ifndef HISTORIAN_TESTS_TESTUTIL_TEMP_DIR_H_
#define HISTORIAN_TESTS_TESTUTIL_TEMP_DIR_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace historian::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/historian-test-XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  // HISTORIAN_KEEP_TEST_DIRS=1 keeps it (node logs for a failure's post-mortem).
  ~TempDir() {
    std::error_code ec;
    const char* keep = std::getenv("HISTORIAN_KEEP_TEST_DIRS");
    if (!path_.empty() && !(keep && *keep == '1')) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_TEMP_DIR_H_
