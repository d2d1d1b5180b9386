// File: storage/catalog/glob.h
// Tag-name globs: `*` (any run of characters) and `?` (one character).
#ifndef HISTORIAN_STORAGE_CATALOG_GLOB_H_
#define HISTORIAN_STORAGE_CATALOG_GLOB_H_

#include <string_view>

namespace historian {

// True when `name` matches `glob` as a whole. O(|glob| * |name|) at worst.
// (Also declared in storage/store.h, the public API.)
bool GlobMatch(std::string_view glob, std::string_view name);

}  // namespace historian

#endif  // HISTORIAN_STORAGE_CATALOG_GLOB_H_
