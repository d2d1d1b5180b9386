// File: server/events/outlets/event_json.h
// What an event outlet sends for one change of the event feed
// (docs/events_outlets.md, "The body"): the change ("raised", "cleared" or
// "acked"), the node that sends it, and the event's merged state when read.
//
// Thread-safety: pure functions.
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_JSON_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_JSON_H_

#include <string>
#include <string_view>

#include "storage/events/event_record.h"

namespace historian::outlets {

// "raised", "cleared" or "acked": the fact the change's operand carried
// (a raise first when one operand carries several).
std::string_view EventChangeName(const events::FeedRecord& change);
// "<event id>-<change>", e.g. "00c0ffee00c0ffee-raised": the same change
// of the same event has the same key at every site and on every resend.
std::string EventChangeKey(const events::FeedRecord& change);
// One JSON object (no newline); `site` is the sending node's --site.
std::string EventChangeJson(const events::EventRecord& event, const events::FeedRecord& change,
                            std::string_view site);

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_JSON_H_
