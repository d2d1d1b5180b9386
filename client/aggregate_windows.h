// File: aggregate_windows.h
// The windows of an Aggregate response series, whichever form the node sent:
// AggregateWindow messages, or the columns form asked for with
// AggregateRequest.columns (cheaper for both ends when there are many).
#ifndef HISTORIAN_CLIENT_AGGREGATE_WINDOWS_H_
#define HISTORIAN_CLIENT_AGGREGATE_WINDOWS_H_

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "historian/v1/query.pb.h"

namespace historian::client {

// The windows of `series` (one of the answers to `request`). The messages
// themselves when the series has them; else the columns unpacked into
// *scratch (cleared first). Errors: DataLoss when the columns do not fit the
// request (counts and values of different lengths, or a window start that
// overflows).
absl::StatusOr<const google::protobuf::RepeatedPtrField<historian::v1::AggregateWindow>*>
SeriesWindows(const historian::v1::AggregateRequest& request,
              const historian::v1::AggregateSeries& series,
              google::protobuf::RepeatedPtrField<historian::v1::AggregateWindow>* scratch);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_AGGREGATE_WINDOWS_H_
