// libFuzzer target: the CSV parser and the import format reader on arbitrary
// text. Neither may crash; a syntax error skips to the next line, so reading
// always ends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "client/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    std::istringstream in(text);
    historian::client::CsvReader reader(&in);
    historian::client::CsvRecord record;
    for (size_t records = 0;; ++records) {
      if (records > size + 1) std::abort();  // no progress: would loop forever
      auto more = reader.Next(&record);
      if (more.ok() && !*more) break;
      for (const auto& field : record) {
        // Escaping then parsing gives the field back.
        std::istringstream one(historian::client::CsvEscape(field.text) + "\n");
        historian::client::CsvReader again(&one);
        historian::client::CsvRecord back;
        auto ok = again.Next(&back);
        if (!field.text.empty() &&
            (!ok.ok() || !*ok || back.size() != 1 || back[0].text != field.text)) {
          std::abort();
        }
      }
    }
  }
  std::istringstream in(text);
  historian::client::ImportReader import(&in);
  if (!import.ReadHeader().ok()) return 0;
  historian::client::ImportRow row;
  for (size_t rows = 0;; ++rows) {
    if (rows > size + 1) std::abort();
    auto more = import.Next(&row);
    if (more.ok() && !*more) break;
  }
  return 0;
}
