// File: sample_columns.h
// Builds TagSamples in the columns form (SampleColumns), the compact wire form
// the node parses fastest, falling back to the per-sample form for a series
// whose samples do not share one value kind.
#ifndef HISTORIAN_CLIENT_SAMPLE_COLUMNS_H_
#define HISTORIAN_CLIENT_SAMPLE_COLUMNS_H_

#include <cstdint>

#include "historian/v1/ingest.pb.h"
#include "historian/v1/query.pb.h"

namespace historian::client {

// Appends `sample` to `series`: to its columns while every sample so far has
// the same value kind, else (mixed kinds, or a value not set) the series
// moves to the samples form, where the node judges each sample on its own.
// Sample indexes are the same in both forms. `last_timestamp_ns` is the
// series' last timestamp; start it at 0 for an empty series.
void AppendSample(historian::v1::Sample sample, int64_t* last_timestamp_ns,
                  historian::v1::TagSamples* series);

// Shortens the qualities column when every sample has the same quality (to
// nothing when all are Good). Call once the series is complete.
void FinishSeries(historian::v1::TagSamples* series);

// Appends the samples held in `columns` to `out`, one message each.
void ColumnsToSamples(const historian::v1::SampleColumns& columns,
                      google::protobuf::RepeatedPtrField<historian::v1::Sample>* out);

// The samples of a Read response, whichever form it carries: its `samples`,
// or its `columns` unpacked into *scratch (cleared first).
const google::protobuf::RepeatedPtrField<historian::v1::Sample>& ResponseSamples(
    const historian::v1::ReadResponse& response,
    google::protobuf::RepeatedPtrField<historian::v1::Sample>* scratch);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_SAMPLE_COLUMNS_H_
