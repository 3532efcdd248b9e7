// The differential fuzzer's runner: every generated frame (generator.h) goes through the real
// program, at XDP and at tc (BPF_PROG_TEST_RUN through HostFixture::Run and RunTc), and through
// the reference model (model.h); verdict, output bytes and counters must agree. Translated packets
// that leave with a checksum their mode promises valid are checked from scratch. The run covers
// two worlds (world.h), one per set of load-time policies: A (miss pass, moved forward) and
// B (miss drop, moved drop), so that every outcome is reachable.
#ifndef ILA_TESTS_FUZZ_RUNNER_H_
#define ILA_TESTS_FUZZ_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fuzz/model.h"

namespace ila::fuzz {

struct FuzzOptions {
  uint64_t frames = 60000;  // over both worlds: three quarters in A, the rest in B
  uint64_t seed = 1;
  // The model the programs are held to; a mutant (model.h) shows what a bug looks like.
  ModelVariant model = ModelVariant::kCorrect;
  // Also hold every frame's results to each mutant model (cheap: no more program runs).
  bool mutants = true;
  size_t max_reports = 5;  // mismatches and invalid checksums described in full
  bool progress = false;   // a line to stderr every 10000 frames
};

struct Report {
  uint64_t frames = 0;
  uint64_t xdp_runs = 0, tc_runs = 0;
  std::map<std::string, uint64_t> xdp_verdicts, tc_verdicts;  // "refused": the test run refused
  std::map<std::string, uint64_t> counters;                   // what moved, XDP and tc runs
  std::map<std::string, bool> observation;                    // counter name -> is observation
  std::map<ChecksumMode, uint64_t> mapped, restored;          // SIR->ILA, ILA->SIR by mode
  std::map<IdentifierType, uint64_t> ident_types;             // of the mappings translated with
  uint64_t mismatches = 0;
  std::vector<std::string> reports;  // the first max_reports mismatches and invalid checksums
  std::map<ModelVariant, uint64_t> mutant_mismatches;
  std::map<ModelVariant, std::string> mutant_first;  // the first frame each mutant disagreed on
  uint64_t checksums_checked = 0, checksums_invalid = 0;
  double run_seconds = 0, setup_seconds = 0;

  // What the run should have reached and did not: verdicts, outcome and translation counters
  // (all but the state-dependent ones), checksum modes both ways, identifier types. Empty when
  // everything was covered.
  std::vector<std::string> Uncovered() const;
  std::string Summary() const;
};

// Observations that depend on time or on what ran before, or on a program the fuzzer does not
// run: counted and reported, but neither compared with the model nor required by the coverage
// check. With the reason, for the report.
bool StateDependent(std::string_view name);
inline constexpr std::pair<std::string_view, std::string_view> kStateDependent[] = {
    {"nexthop_learned, nexthop_hit", "what the next-hop cache holds from earlier frames"},
    {"miss_event, miss_event_lost, miss_event_limited",
     "the per-destination and per-interface rate limits (time), the ring buffer nobody drains "
     "here"},
    {"steered",
     "counted only by ila_uplink_steer (cpumap steering), which the fuzzer does not run"},
};

absl::StatusOr<Report> RunFuzz(const FuzzOptions& options);

}  // namespace ila::fuzz

#endif  // ILA_TESTS_FUZZ_RUNNER_H_
