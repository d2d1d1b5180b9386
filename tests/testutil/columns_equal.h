// File: columns_equal.h
// ExpectSameColumns: gtest expectations that two ChunkColumns hold the same
// samples, doubles compared bit for bit (NaN payloads and -0 included).
#ifndef HISTORIAN_TESTS_TESTUTIL_COLUMNS_EQUAL_H_
#define HISTORIAN_TESTS_TESTUTIL_COLUMNS_EQUAL_H_

#include <bit>
#include <cstdint>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"

namespace historian::testing {

inline void ExpectSameColumns(const codec::ChunkColumns& a, const codec::ChunkColumns& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.timestamps, b.timestamps);
  EXPECT_EQ(a.qualities, b.qualities);
  EXPECT_EQ(a.versions, b.versions);
  ASSERT_EQ(a.doubles.size(), b.doubles.size());
  for (size_t k = 0; k < a.doubles.size(); ++k) {
    EXPECT_EQ(std::bit_cast<uint64_t>(a.doubles[k]), std::bit_cast<uint64_t>(b.doubles[k])) << k;
  }
  EXPECT_EQ(a.ints, b.ints);
  EXPECT_EQ(a.bools, b.bools);
  EXPECT_EQ(a.strings, b.strings);
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_COLUMNS_EQUAL_H_
