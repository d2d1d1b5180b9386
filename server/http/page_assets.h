// File: page_assets.h
// The trend page's files (server/http/page/ and Debian's dygraphs), embedded
// into the binary at build time by embed_assets.cmake (the generated
// page_assets.cc lives in the build tree).
//
// Thread-safety: constant data.
#ifndef HISTORIAN_SERVER_HTTP_PAGE_ASSETS_H_
#define HISTORIAN_SERVER_HTTP_PAGE_ASSETS_H_

#include <cstddef>

namespace historian::server::http {

struct PageAsset {
  const char* path;  // URL path, e.g. "/trend.js"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

extern const PageAsset kPageAssets[];
extern const size_t kPageAssetCount;

}  // namespace historian::server::http

#endif  // HISTORIAN_SERVER_HTTP_PAGE_ASSETS_H_
