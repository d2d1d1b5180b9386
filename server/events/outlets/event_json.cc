// File: server/events/outlets/event_json.cc
#include "server/events/outlets/event_json.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace historian::outlets {
namespace {

void AppendString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");  // JSON has no NaN or infinity
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  out->append(buf);
}

const char* Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string_view EventChangeName(const events::FeedRecord& change) {
  if (change.raised) return "raised";
  if (change.cleared) return "cleared";
  if (change.acked) return "acked";
  return "changed";
}

std::string EventChangeKey(const events::FeedRecord& change) {
  return absl::StrCat(events::EventIdToString(change.event_id), "-",
                      std::string(EventChangeName(change)));
}

std::string EventChangeJson(const events::EventRecord& e, const events::FeedRecord& change,
                            std::string_view site) {
  std::string out = "{\"id\":";
  AppendString(events::EventIdToString(e.id), &out);
  out.append(",\"change\":");
  AppendString(EventChangeName(change), &out);
  out.append(",\"site\":");
  AppendString(site, &out);
  out.append(",\"rule\":");
  AppendString(e.rule, &out);
  out.append(",\"tag\":");
  AppendString(e.tag, &out);
  absl::StrAppend(&out, ",\"active\":", Bool(e.active()), ",\"raised\":", Bool(e.raised),
                  ",\"raised_unix_ns\":", e.raised_ns, ",\"value\":");
  AppendDouble(e.value, &out);
  absl::StrAppend(&out, ",\"late\":", Bool(e.late), ",\"origin_site\":");
  AppendString(e.origin_site, &out);
  absl::StrAppend(&out, ",\"cleared\":", Bool(e.cleared), ",\"cleared_unix_ns\":", e.cleared_ns,
                  ",\"acked\":", Bool(e.acked), ",\"acked_unix_ns\":", e.acked_ns,
                  ",\"ack_user\":");
  AppendString(e.ack_user, &out);
  out.append(",\"ack_comment\":");
  AppendString(e.ack_comment, &out);
  out.push_back('}');
  return out;
}

}  // namespace historian::outlets
