// File: crc32c.h
// CRC-32C (Castagnoli), software table; used to detect torn or corrupt
// records in the gateway's disk queue. (The client may not depend on
// storage/, which has its own.) Pure and thread-safe.
#ifndef HISTORIAN_CLIENT_CRC32C_H_
#define HISTORIAN_CLIENT_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace historian::client {

// Extends `crc` (0 for a fresh checksum) with `n` bytes at `data`.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_CRC32C_H_
