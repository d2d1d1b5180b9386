// File: bench_emit.h
// Writes a DataSet in the import formats of other time-series databases, so
// they load exactly the samples historian-bench sends over gRPC:
//   influx-lp  InfluxDB line protocol, precision ms:
//              `plant,tag=<name> value=21.4 <ms>` (doubles), `count=12i`
//              (int64 counters), `state=true` (bools); one field key per
//              type so a measurement never mixes field types.
//   vm-jsonl   VictoriaMetrics /api/v1/import JSON lines, one line per tag
//              and block: {"metric":{"__name__":"plant","tag":"<name>"},
//              "values":[...],"timestamps":[<ms>...]}; bools as 0/1.
//   query-spec One JSON object naming the benchmark queries' tags and range
//              (what historian-bench queries), for bench/compare.sh.
// Samples appear in the DataSet's canonical order.
//
// Thread-safety: stateless functions.
#ifndef HISTORIAN_BENCH_BENCH_EMIT_H_
#define HISTORIAN_BENCH_BENCH_EMIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/bench_dataset.h"

namespace historian::bench {

enum class EmitFormat { kInfluxLp, kVmJsonl, kQuerySpec };

absl::StatusOr<EmitFormat> ParseEmitFormat(const std::string& name);

// The tags and time range of the benchmark queries (bench_queries.h).
struct QuerySpec {
  size_t one_tag = 0;                // a double tag
  std::vector<size_t> many_tags;     // up to 100 double tags
  int64_t start_ns = 0, end_ns = 0;  // 1 hour from the data set's start
};
QuerySpec MakeQuerySpec(const DataSet& data);

// Writes the data set to `out` ("-": stdout). With piece_samples > 0 the
// output is cut into files `<out>.000000`, `<out>.000001`, ... of about
// piece_samples samples each (whole lines), for batched HTTP loading.
// INVALID_ARGUMENT when timestamps are not whole milliseconds (rate must
// divide 1000 Hz) or pieces go to stdout; UNAVAILABLE on I/O errors.
absl::Status Emit(const DataSet& data, EmitFormat format, const std::string& out,
                  uint64_t piece_samples);

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_EMIT_H_
