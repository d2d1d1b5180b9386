// File: nab_data_test.cc
// Round trip of the real sensor series of the Numenta Anomaly Benchmark,
// read at test time from HISTORIAN_NAB_DIR (default
// /work/shared/real_data/nab), in chunks of 1024; prints bytes/sample.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"
#include "tests/codec/codec_test_util.h"

namespace historian::codec {
namespace {

namespace fs = std::filesystem;

fs::path NabDir() {
  const char* env = std::getenv("HISTORIAN_NAB_DIR");
  return env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/work/shared/real_data/nab");
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Series {
  std::vector<int64_t> t;
  std::vector<double> v;
};

// Parses "YYYY-MM-DD HH:MM:SS,value" lines after the header.
bool ReadSeries(const fs::path& path, Series* s) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  while (std::getline(in, line)) {
    int y, mo, d, h, mi, sec;
    char value[64];
    if (std::sscanf(line.c_str(), "%d-%d-%d %d:%d:%d,%63s", &y, &mo, &d, &h, &mi, &sec, value) !=
        7) {
      return false;
    }
    const int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    s->t.push_back(secs * testing::kSecond);
    s->v.push_back(std::strtod(value, nullptr));
  }
  return !s->t.empty();
}

TEST(NabDataTest, RoundTripsInChunksOf1024) {
  const fs::path dir = NabDir();
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no NAB data at " << dir;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) GTEST_SKIP() << "no CSV files under " << dir;

  size_t total_bytes = 0, total_samples = 0;
  for (const fs::path& f : files) {
    Series s;
    ASSERT_TRUE(ReadSeries(f, &s)) << f;
    size_t bytes = 0, samples = 0;
    for (size_t start = 0; start < s.t.size(); start += 1024) {
      const size_t end = std::min(s.t.size(), start + 1024);
      ChunkColumns c;
      c.type = ValueType::kDouble;
      // A few NAB files repeat or reorder timestamps; the engine would split
      // those into separate chunks, so keep only the increasing ones here.
      for (size_t i = start; i < end; ++i) {
        if (!c.timestamps.empty() && s.t[i] <= c.timestamps.back()) continue;
        c.timestamps.push_back(s.t[i]);
        c.doubles.push_back(s.v[i]);
      }
      testing::FillLiveMeta(&c);
      SCOPED_TRACE(::testing::Message() << f << " chunk at " << start);
      bytes += testing::RoundTrip(c);
      samples += c.size();
    }
    std::printf("%-48s %7zu samples %6.3f bytes/sample\n", f.filename().c_str(), samples,
                static_cast<double>(bytes) / samples);
    total_bytes += bytes;
    total_samples += samples;
  }
  std::printf("NAB total: %zu samples, %.3f bytes/sample\n", total_samples,
              static_cast<double>(total_bytes) / total_samples);
}

// The store's hour cut gives 5-minute tags 12 samples a chunk; chunks cut by
// count hold up to 16,384. Both round-trip bit for bit.
TEST(NabDataTest, RoundTripsInShortAndLongChunks) {
  const fs::path dir = NabDir();
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no NAB data at " << dir;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) GTEST_SKIP() << "no CSV files under " << dir;
  for (size_t chunk : {size_t{12}, size_t{16384}}) {
    size_t total_bytes = 0, total_samples = 0;
    for (const fs::path& f : files) {
      Series s;
      ASSERT_TRUE(ReadSeries(f, &s)) << f;
      for (size_t start = 0; start < s.t.size(); start += chunk) {
        const size_t end = std::min(s.t.size(), start + chunk);
        ChunkColumns c;
        c.type = ValueType::kDouble;
        for (size_t i = start; i < end; ++i) {
          if (!c.timestamps.empty() && s.t[i] <= c.timestamps.back()) continue;
          c.timestamps.push_back(s.t[i]);
          c.doubles.push_back(s.v[i]);
        }
        testing::FillLiveMeta(&c);
        SCOPED_TRACE(::testing::Message() << f << " chunk at " << start << " of " << chunk);
        total_bytes += testing::RoundTrip(c);
        total_samples += c.size();
      }
    }
    std::printf("NAB in chunks of %zu: %zu samples, %.3f bytes/sample\n", chunk, total_samples,
                static_cast<double>(total_bytes) / total_samples);
  }
}

}  // namespace
}  // namespace historian::codec
