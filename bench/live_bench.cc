// Live traffic: BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES as the packet generator (as
// xdp-trafficgen does), frames entering the host as if they arrived on a container's veth
// (from_container) or on the uplink (from_uplink), counted where they arrive by an XDP sink on the
// far end of the egress veth. On the same topology, in the same run:
//   ila             bench_refresh -> the data plane's program (translation, FIB, devmap redirect)
//   bare_redirect   bench_refresh -> bench_redirect (devmap redirect to the same egress, nothing
//                   else): the ceiling any XDP forwarder can reach here
//   kernel_forward  bench_refresh -> XDP_PASS of an already-translated frame: the kernel's IPv6
//                   forwarding (no XDP work) to the same egress
// bench_refresh restores the frame first in every case (pages are recycled with whatever the
// previous run left in them), so its cost is common to all three. The methods alternate in short
// bursts (rounds), and the ratios are taken within each round: the machine may be shared, and a
// slow phase must hit every method alike.
#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench_support.h"
#include "benches.h"
#include "ila/translation.h"
#include "worlds.h"

namespace ila::bench {
namespace {

using testing::HostFixture;

enum class Method { kIla, kBareRedirect, kKernelForward };
enum class Direction { kFromContainer, kFromUplink };

struct Contender {
  std::string name;  // "ila/<mode>", "bare_redirect", "kernel_forward"
  Method method;
  Bytes frame;
  int next_fd = -1;
  std::vector<double> pps;  // per round
  double delivered = 0, offered = 0, seconds = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Rounds of short bursts, every method once per round in rotating order, so that a slow phase of a
// shared machine hits all methods alike; ratios are taken within each round, then the median.
void LiveCompare(benchmark::State& state, const std::string& name, Direction dir) {
  if (StopNow(state)) return;
  auto w = GetPathsWorld();
  if (!w.ok()) return Fail(state, w.status());
  PathsWorld& pw = **w;
  HostFixture& h = *pw.host;
  if (absl::Status st = pw.PrepareLive(); !st.ok()) return Fail(state, st);

  bool out = dir == Direction::kFromContainer;
  int ingress = out ? h.c1h() : h.uplink();
  int egress = out ? h.uplink() : h.c1h();
  if (absl::Status st = SetRedirectTarget(pw.skel, egress); !st.ok()) return Fail(state, st);
  std::vector<ChecksumMode> modes = {ChecksumMode::kNeutralMapAuto};
  if (!Quick()) modes.push_back(ChecksumMode::kAdjustTransport);

  std::vector<Contender> cs;
  for (ChecksumMode mode : modes) {
    cs.push_back({"ila/" + ChecksumModeName(mode), Method::kIla,
                  out ? pw.ContainerFrame(mode) : pw.UplinkFrame(mode),
                  h.dp().program_fd(out ? Role::kContainer : Role::kUplink), {}});
  }
  ChecksumMode mode = ChecksumMode::kNeutralMapAuto;
  cs.push_back({"bare_redirect", Method::kBareRedirect,
                out ? pw.ContainerFrame(mode) : pw.UplinkFrame(mode), RedirectFd(pw.skel), {}});
  // Kernel forwarding gets the frame as the data plane would have left it (destination already
  // translated), addressed to the ingress interface so that the kernel takes it in and routes it.
  Ipv6Address dst = out ? SirToIla(pw.remote.at(mode), HostFixture::L2(), mode)->address()
                        : HostFixture::C1().address();
  cs.push_back({"kernel_forward", Method::kKernelForward,
                out ? UdpFromC1(h, dst) : UdpFromFabric(h, HostFixture::Remote().address(), dst),
                PassFd(pw.skel), {}});
  const size_t ila = 0, bare = cs.size() - 2, kernel = cs.size() - 1;

  uint32_t burst = Pick(1u << 19, 1u << 17);
  int rounds = Pick(15, 5);
  auto stats_before = h.dp().ReadStats();
  // Warm up every path: neighbour, route and page pool caches.
  for (Contender& c : cs) {
    if (absl::Status st = SetRefresh(pw.skel, c.frame, c.next_fd); !st.ok()) return Fail(state, st);
    if (auto r = RunLive(RefreshFd(pw.skel), c.frame, ingress, 1u << 14); !r.ok()) {
      return Fail(state, r.status());
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<double> of_ceiling, over_kernel;
  double total_seconds = 0;
  for (auto _ : state) {
    for (int round = 0; round < rounds; ++round) {
      if (StopNow(state)) break;
      for (size_t k = 0; k < cs.size(); ++k) {
        Contender& c = cs[(k + static_cast<size_t>(round)) % cs.size()];
        if (absl::Status st = SetRefresh(pw.skel, c.frame, c.next_fd); !st.ok()) {
          return Fail(state, st);
        }
        uint64_t before = SinkPackets(pw.skel);
        auto r = RunLive(RefreshFd(pw.skel), c.frame, ingress, burst);
        if (!r.ok()) return Fail(state, r.status());
        // Whatever the softirq still had queued lands within a moment; the time counted stays
        // the generator's.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        double got = static_cast<double>(SinkPackets(pw.skel) - before);
        c.pps.push_back(got / *r);
        c.delivered += got;
        c.offered += burst;
        c.seconds += *r;
        total_seconds += *r;
      }
      of_ceiling.push_back(cs[ila].pps.back() / cs[bare].pps.back());
      over_kernel.push_back(cs[ila].pps.back() / cs[kernel].pps.back());
    }
    state.SetIterationTime(total_seconds);
  }
  auto stats_after = h.dp().ReadStats();
  if (stats_before.ok() && stats_after.ok()) {
    // The data plane's own count of what it translated and redirected in the ILA bursts.
    Stats d = stats_after->Since(*stats_before);
    state.counters["translated"] =
        static_cast<double>(d.Packets(out ? "tx_remote" : "rx_delivered"));
  }
  std::string line;
  for (const Contender& c : cs) {
    double pps = Median(c.pps);
    state.counters["pps/" + c.name] = pps;
    state.counters["delivered_fraction/" + c.name] = c.delivered / std::max(c.offered, 1.0);
    state.counters["ns_per_packet/" + c.name] = pps > 0 ? 1e9 / pps : 0;
    absl::StrAppend(&line, " ", c.name, "=", static_cast<uint64_t>(pps));
    if (c.delivered < c.offered * 0.5) {
      return Fail(state, absl::InternalError(absl::StrCat(
                             c.name, ": only ", c.delivered, " of ", c.offered,
                             " frames reached the sink")));
    }
  }
  auto [omin, omax] = std::minmax_element(of_ceiling.begin(), of_ceiling.end());
  auto [kmin, kmax] = std::minmax_element(over_kernel.begin(), over_kernel.end());
  state.counters["of_ceiling"] = Median(of_ceiling);
  state.counters["of_ceiling_min"] = *omin;
  state.counters["of_ceiling_max"] = *omax;
  state.counters["over_kernel_forward"] = Median(over_kernel);
  state.counters["over_kernel_forward_min"] = *kmin;
  state.counters["over_kernel_forward_max"] = *kmax;
  state.counters["rounds"] = static_cast<double>(of_ceiling.size());
  state.counters["burst"] = burst;
  absl::StrAppend(&line, "  of_ceiling=", Median(of_ceiling), " over_kernel=", Median(over_kernel));
  Progress(name, line);
}

}  // namespace

void RegisterLiveBenchmarks() {
  for (Direction dir : {Direction::kFromContainer, Direction::kFromUplink}) {
    std::string name =
        std::string("live/") + (dir == Direction::kFromContainer ? "from_container" : "from_uplink");
    benchmark::RegisterBenchmark(name.c_str(), [name, dir](benchmark::State& s) {
      LiveCompare(s, name, dir);
    })->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  }
}

}  // namespace ila::bench
