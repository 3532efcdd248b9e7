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
#include "testbed/netns.h"
#include "worlds.h"

namespace ila::bench {

struct Contender {
  Contender(std::string name_, Bytes frame_, int next_fd_, int expect_kind_ = BENCH_KIND_UDP)
      : name(std::move(name_)),
        frame(std::move(frame_)),
        next_fd(next_fd_),
        expect_kind(expect_kind_) {}
  std::string name;                  // "ila/neutral-map-auto", "bare_redirect", "vxlan", ...
  Bytes frame;                       // what the generator injects
  int next_fd = -1;                  // the program bench_refresh tail-calls
  int expect_kind = BENCH_KIND_UDP;  // what must arrive at the sink (bench_abi.h)
  // Below this fraction delivered the method counts as broken. A pipeline over several CPUs
  // (cpumap steering) drops what its queue cannot take when the generator outpaces it, as a NIC
  // ring would: there the figure is what gets through, and only a trickle is an error.
  double min_delivered = 0.5;
  // Results, summed over the rounds (pps: one figure per round). With real traffic at a fixed
  // offered rate (TrafficRun::cpu_basis), pps is 1e9 / cpu_ns: packets per second of the core
  // that runs the path, so that ratios of pps are ratios of cost whichever basis was used.
  std::vector<double> pps;
  std::vector<double> throughput_pps;  // real traffic: what reached the sink per second sent
  std::vector<double> cpu_ns;          // real traffic, cpu basis: ns of the path's core a packet
  double delivered = 0, offered = 0, seconds = 0, of_expected_kind = 0;
};

double Median(std::vector<double> v);

// Warms every contender up, then runs `rounds` rounds of one `burst` per contender injected at
// `ingress`. CANCELLED when interrupted (the benchmark is then already marked).
absl::Status RunRounds(benchmark::State& state, PathsWorld& pw, InterfaceIndex ingress,
                       std::vector<Contender>& cs, uint32_t burst, int rounds);

// Where real traffic enters and is counted (RunTrafficRounds).
struct TrafficPath {
  const testbed::Netns* sender_ns = nullptr;  // frames leave from here...
  std::string sender_ifname;
  const testbed::Netns* ingress_ns = nullptr;  // ...and arrive here, where each contender's
  std::string ingress_ifname;                  //    program is attached at XDP in turn
  InterfaceIndex ingress_ifindex;
  int restore_fd = -1;                      // the program put back on the ingress afterwards
  const testbed::Netns* sink_ns = nullptr;  // the egress veth's far end, running bench_sink
  std::string sink_ifname;
};

// What a run with real traffic used and found.
struct TrafficRun {
  std::string generator;            // traffic_generator.h name
  std::vector<double> ceiling_pps;  // per round: generator -> bench_sink at the ingress
  bool cpu_basis = false;           // the ceiling was under 1.5x the bare redirect: costs measured
  double offered_pps = 0;           // the fixed rate of the cpu-basis rounds
  int path_cpu = 0, generator_cpu = 0;
};

// The same measurement as RunRounds with real traffic, for kernels that refuse live frames: each
// contender's program (next_fd) is attached at XDP on the ingress in turn and `burst` frames are
// sent from the veth's other end (traffic_generator.h); the ingress NAPI runs as a thread on
// another CPU than the generator. Then every contender runs again at one fixed offered rate and
// the CPU time per packet of the path's thread is measured (Contender::cpu_ns); when the
// generator's own ceiling is below 1.5x the bare redirect's rate, that is the figure (see
// Contender::pps).
absl::Status RunTrafficRounds(benchmark::State& state, PathsWorld& pw, const TrafficPath& path,
                              std::vector<Contender>& cs, uint32_t burst, int rounds,
                              TrafficRun* run);

// Says which generator made the figures: the label "generator=NAME basis=..." (then
// NotMeasuredLabel(skipped) when methods were left out), appended to `line` too. With `run` (real
// traffic) also generator_ceiling_pps, cpu_basis, offered_pps and each method's throughput and CPU
// time; without, the figures came from live frames.
void ReportGenerator(benchmark::State& state, const TrafficRun* run,
                     const std::vector<Contender>& cs, const std::vector<std::string>& skipped,
                     std::string* line);

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
