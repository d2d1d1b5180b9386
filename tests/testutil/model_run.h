// File: model_run.h
// What the model tests (random operations against a reference, e.g.
// tests/server/node_model_test.cc, tests/server/cluster/cluster_model_test.cc)
// share: which seeds to run, and the end of a node's log for a failure's
// message. Header only.
//
//   for (uint64_t seed : ModelSeeds(/*ci_count=*/2)) { ... }
//
// HISTORIAN_MODEL_SEEDS=N runs seeds 1..N (default `ci_count`, what CI
// runs); HISTORIAN_MODEL_SEED=S runs seed S alone.
#ifndef HISTORIAN_TESTS_TESTUTIL_MODEL_RUN_H_
#define HISTORIAN_TESTS_TESTUTIL_MODEL_RUN_H_

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace historian::testing {

inline std::vector<uint64_t> ModelSeeds(int ci_count) {
  if (const char* one = std::getenv("HISTORIAN_MODEL_SEED"); one != nullptr && *one != 0) {
    return {std::strtoull(one, nullptr, 10)};
  }
  int n = ci_count;
  if (const char* many = std::getenv("HISTORIAN_MODEL_SEEDS"); many != nullptr && *many != 0) {
    n = std::atoi(many);
  }
  std::vector<uint64_t> seeds;
  for (int i = 1; i <= n; ++i) seeds.push_back(static_cast<uint64_t>(i));
  return seeds;
}

// The last `max_bytes` of the file at `path` ("..." first when cut).
inline std::string LogTail(const std::string& path, size_t max_bytes = 3000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > max_bytes ? "..." + text.substr(text.size() - max_bytes) : text;
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_MODEL_RUN_H_
