// File: bench/rule_evaluator_bench.cc
// Cost of the alarm rule evaluator per sample (issue 19: 10,000 limit rules
// on 10,000 tags must cost <= 10% of ingest throughput at the full preset).
// One thread, no store: OnSamples over batches shaped like ingest's, with
// runs of `--run` samples per tag (1: every sample a different tag, the
// worst case for the tag lookup). Values wander around the limits so some
// alarms raise and clear (the transitions are counted and reported).
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "storage/events/rule_evaluator.h"

ABSL_FLAG(int, tags, 10000, "tags, one high limit rule each");
ABSL_FLAG(int, rules_per_tag, 1, "limit rules per tag (high, low, high-high, low-low)");
ABSL_FLAG(int, run, 1, "samples of one tag in a row within a batch");
ABSL_FLAG(int, batch, 10000, "samples per OnSamples call");
ABSL_FLAG(int64_t, samples, 50'000'000, "samples in all");

namespace ev = historian::events;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int tags = absl::GetFlag(FLAGS_tags);
  const int per_tag = absl::GetFlag(FLAGS_rules_per_tag);
  const int run = absl::GetFlag(FLAGS_run);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int64_t total = absl::GetFlag(FLAGS_samples);

  std::vector<std::string> names;
  std::vector<ev::RuleSpec> rules;
  const ev::RuleKind kinds[] = {ev::RuleKind::kHigh, ev::RuleKind::kLow, ev::RuleKind::kHighHigh,
                                ev::RuleKind::kLowLow};
  const double limits[] = {95, 5, 99, 1};
  for (int i = 0; i < tags; ++i) {
    names.push_back("plant.us.line" + std::to_string(i % 20) + ".sensor" + std::to_string(i));
    for (int k = 0; k < per_tag; ++k) {
      ev::RuleSpec r;
      r.rule_id = static_cast<uint64_t>(i) * 4 + static_cast<uint64_t>(k);
      r.kind = kinds[k % 4];
      r.tag = names.back();
      r.home_site = "us";
      r.limit = limits[k % 4];
      r.deadband = 1;
      r.on_delay_ns = k == 0 ? 0 : 5'000'000'000;
      rules.push_back(r);
    }
  }
  auto evaluator = ev::RuleEvaluator::Create("us");
  if (!evaluator->SetRules(rules).ok()) return 1;

  // Precomputed batches (values 0..100 as a random walk per tag).
  std::mt19937_64 rng(1);
  std::vector<double> value(static_cast<size_t>(tags), 50);
  std::vector<std::vector<ev::SampleView>> batches(64);
  int64_t ts = 1'000'000'000'000'000'000;
  int tag = 0;
  for (auto& b : batches) {
    for (int i = 0; i < batch; ++i) {
      if (i % run == 0 && i > 0) tag = (tag + 1) % tags;
      double& v = value[static_cast<size_t>(tag)];
      v += static_cast<double>(static_cast<int>(rng() % 9) - 4);
      v = v < 0 ? 0 : v > 100 ? 100 : v;
      b.push_back({names[static_cast<size_t>(tag)], ts, v, 0});
      ts += 1000;
    }
  }
  // Timestamps must grow across the repeated batches: shift them per round.
  std::vector<ev::Transition> out;
  int64_t done = 0, transitions = 0;
  const int64_t span = ts - 1'000'000'000'000'000'000;
  auto start = std::chrono::steady_clock::now();
  for (int64_t round = 0; done < total; ++round) {
    for (auto& b : batches) {
      if (round > 0) {
        for (auto& s : b) s.ts_ns += span;
      }
      evaluator->OnSamples(b, &out);
      transitions += static_cast<int64_t>(out.size());
      out.clear();
      done += static_cast<int64_t>(b.size());
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The shift loop above is part of the timing: measure it alone and subtract.
  auto shift_start = std::chrono::steady_clock::now();
  for (int64_t n = 0; n < done;) {
    for (auto& b : batches) {
      for (auto& s : b) s.ts_ns += span;
      n += static_cast<int64_t>(b.size());
    }
  }
  double shift_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - shift_start).count();
  std::printf(
      "tags=%d rules=%zu run=%d batch=%d samples=%lld transitions=%lld: %.2f ns/sample "
      "(%.1f M samples/s; shifting timestamps %.2f ns/sample subtracted)\n",
      tags, rules.size(), run, batch, static_cast<long long>(done),
      static_cast<long long>(transitions), (secs - shift_secs) * 1e9 / static_cast<double>(done),
      static_cast<double>(done) / (secs - shift_secs) / 1e6,
      shift_secs * 1e9 / static_cast<double>(done));
  return 0;
}
