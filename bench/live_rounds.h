// The live-traffic measurement shared by the live and compare groups: BPF_PROG_RUN with
// BPF_F_TEST_XDP_LIVE_FRAMES injects frames at one interface of the PathsWorld host
// (bench_refresh restores each frame and tail-calls the method's program), and bench_sink on the
// far end of the egress veth counts what arrives, and of which kind. The methods alternate in
// bursts, every method once per round in rotating order, so that a slow phase of a shared machine
// hits all of them alike; ratios are taken within each round.
#ifndef ILA_BENCH_LIVE_ROUNDS_H_
#define ILA_BENCH_LIVE_ROUNDS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "bench_support.h"
#include "worlds.h"

namespace ila::bench {

struct Contender {
  Contender(std::string name_, Bytes frame_, int next_fd_, int expect_kind_ = BENCH_KIND_UDP)
      : name(std::move(name_)), frame(std::move(frame_)), next_fd(next_fd_),
        expect_kind(expect_kind_) {}
  std::string name;  // "ila/neutral-map-auto", "bare_redirect", "vxlan", ...
  Bytes frame;       // what the generator injects
  int next_fd = -1;  // the program bench_refresh tail-calls
  int expect_kind = BENCH_KIND_UDP;  // what must arrive at the sink (bench_abi.h)
  // Below this fraction delivered the method counts as broken. A pipeline over several CPUs
  // (cpumap steering) drops what its queue cannot take when the generator outpaces it, as a NIC
  // ring would: there the figure is what gets through, and only a trickle is an error.
  double min_delivered = 0.5;
  // Results, summed over the rounds (pps: one figure per round).
  std::vector<double> pps;
  double delivered = 0, offered = 0, seconds = 0, of_expected_kind = 0;
};

double Median(std::vector<double> v);

// Warms every contender up, then runs `rounds` rounds of one `burst` per contender injected at
// `ingress`. CANCELLED when interrupted (the benchmark is then already marked).
absl::Status RunRounds(benchmark::State& state, PathsWorld& pw, int ingress,
                       std::vector<Contender>& cs, uint32_t burst, int rounds);

// Sets pps/<name>, ns_per_packet/<name>, delivered_fraction/<name> and expected_kind/<name> (the
// fraction of arrivals of the expected kind) and appends "name=pps" to `line`. An error when a
// method delivered less than its min_delivered of what it was offered, or delivered something
// else than it should (under 99% of the expected kind).
absl::Status ReportContenders(benchmark::State& state, const std::vector<Contender>& cs,
                              std::string* line);

// The ratio a/b of packets/s taken within each round: counters `key`, `key`_min, `key`_max (median
// and range); returns the median.
double ReportRatio(benchmark::State& state, const std::string& key, const Contender& a,
                   const Contender& b);

}  // namespace ila::bench

#endif  // ILA_BENCH_LIVE_ROUNDS_H_
