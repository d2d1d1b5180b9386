// File: storage/own_log/restore_epoch.h
// How a restored backup is recognised, and how many own sequences its first
// open skips (OwnLog::StartRestoreEpoch, Store::Backup).
#ifndef HISTORIAN_STORAGE_OWN_LOG_RESTORE_EPOCH_H_
#define HISTORIAN_STORAGE_OWN_LOG_RESTORE_EPOCH_H_

#include <cstdint>

namespace historian {

// A backup directory holds this file; the first open of it (a restore) skips
// kRestoreSequenceGap own log sequences, so writes after the restore never
// reuse numbers the original node gave to writes after the backup (which
// peers may have applied), and removes the file.
inline constexpr char kRestoreMarkerFile[] = "HISTORIAN_BACKUP";
inline constexpr uint64_t kRestoreSequenceGap = uint64_t{1} << 40;

}  // namespace historian

#endif  // HISTORIAN_STORAGE_OWN_LOG_RESTORE_EPOCH_H_
