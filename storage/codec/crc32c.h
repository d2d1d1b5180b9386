// File: crc32c.h
// CRC-32C (Castagnoli), the chunk checksum. Uses the SSE4.2 instruction when
// the CPU has it and a table otherwise; both give the same value.
#ifndef HISTORIAN_STORAGE_CODEC_CRC32C_H_
#define HISTORIAN_STORAGE_CODEC_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace historian::codec {

// Returns the CRC-32C of data[0, n), e.g. Crc32c("123456789", 9) == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n);

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_CRC32C_H_
