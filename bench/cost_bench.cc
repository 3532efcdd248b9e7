// Per-packet cost of every path (BPF_PROG_TEST_RUN), the methodology checks behind it, and the
// cost against the size of the mapping table.
//
// Two methods, both giving every run a fresh frame:
//   call     one repetition per BPF_PROG_TEST_RUN call: the kernel copies the frame in, runs the
//            program once and reports that run's duration (ktime around it); the benchmark's time
//            is the mean of those durations. The syscall itself is outside the timed region.
//   refresh  repeat=N in one call, the program under test tail-called from bench_refresh, which
//            first restores the frame (and for the uniform runs writes the next destination). The
//            time includes bench_refresh and the tail call: compare with refresh->empty.
#include <linux/bpf.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench_support.h"
#include "benches.h"
#include "testbed/kernel.h"
#include "worlds.h"

namespace ila::bench {
namespace {

using testbed::HostFixture;

double Median(std::vector<uint32_t>& v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Times `prog_fd` one run per call over `frames` (cycled; the destination of `frame` is replaced
// by frames[i] when `dests` is non-empty).
void TimeCalls(benchmark::State& state, const std::string& name, int prog_fd, Bytes frame,
               InterfaceIndex ifindex, const std::vector<Ipv6Address>& dests) {
  std::vector<uint32_t> durations;
  durations.reserve(static_cast<size_t>(state.max_iterations));
  size_t i = 0;
  for (auto _ : state) {
    if (StopNow(state)) break;
    if (!dests.empty()) SetFrameDst(frame, dests[i++ % dests.size()]);
    auto r = RunOnce(prog_fd, frame, ifindex);
    if (!r.ok()) return Fail(state, r.status());
    state.SetIterationTime(r->duration_ns * 1e-9);
    durations.push_back(r->duration_ns);
  }
  double median = Median(durations);
  state.counters["median_ns"] = median;
  state.counters["packets"] = static_cast<double>(durations.size());
  Progress(name, absl::StrCat("median_ns=", median));
}

// Times refresh -> `prog_fd` with repeat; each benchmark iteration is one call, its time the
// kernel's mean per repetition.
void TimeRefresh(benchmark::State& state, const std::string& name, const BenchSkel& skel,
                 int prog_fd, const Bytes& frame, InterfaceIndex ifindex, uint32_t ndests) {
  if (absl::Status st = SetRefresh(skel, frame, prog_fd, ndests); !st.ok()) return Fail(state, st);
  uint32_t repeat = Pick(20000u, 5000u);
  double packets = 0;
  std::vector<uint32_t> means;
  for (auto _ : state) {
    if (StopNow(state)) break;
    auto r = RunRepeat(RefreshFd(skel), frame, ifindex, repeat);
    if (!r.ok()) return Fail(state, r.status());
    if (r->retval == XDP_ABORTED) return Fail(state, absl::InternalError("refresh aborted"));
    state.SetIterationTime(r->duration_ns * 1e-9);
    means.push_back(r->duration_ns);
    packets += repeat;
  }
  // The median over calls of each call's mean: robust against a call that another process or an
  // interrupt disturbed (the machine may be shared).
  double median = Median(means);
  state.counters["median_ns"] = median;
  state.counters["packets"] = packets;
  Progress(name, absl::StrCat("median_ns=", median));
}

int64_t CallIterations() { return Pick<int64_t>(50000, 20000); }
int64_t RefreshIterations() { return Pick<int64_t>(40, 10); }

void RegisterCost(const std::string& name) {
  benchmark::RegisterBenchmark(("cost/" + name + "/call").c_str(),
                               [name](benchmark::State& s) {
                                 if (StopNow(s)) return;
                                 auto w = GetPathsWorld();
                                 if (!w.ok()) return Fail(s, w.status());
                                 const PathCase& c = (*w)->cases.at(name);
                                 TimeCalls(s, "cost/" + name + "/call", c.prog_fd, c.frame,
                                           c.ingress_ifindex, {});
                               })
      ->UseManualTime()
      ->Iterations(CallIterations())
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark(("cost/" + name + "/refresh").c_str(),
                               [name](benchmark::State& s) {
                                 auto w = GetPathsWorld();
                                 if (!w.ok()) return Fail(s, w.status());
                                 const PathCase& c = (*w)->cases.at(name);
                                 // The refresh baseline is bench_empty (a tail call target of bench_refresh's prog array).
                                 int fd = name == "empty" ? EmptyFd((*w)->skel) : c.prog_fd;
                                 TimeRefresh(s, "cost/" + name + "/refresh", (*w)->skel, fd,
                                             c.frame, c.ingress_ifindex, 0);
                               })
      ->UseManualTime()
      ->Iterations(RefreshIterations())
      ->Unit(benchmark::kNanosecond);
}

// The data plane's counters around one call of `prog_fd` with `repeat` (non-live or live).
void CheckRepeat(benchmark::State& state, bool live, bool refresh) {
  if (live) {
    if (auto missing = testbed::FeatureMissingReason(KernelFeature::kTestRunLiveFrames)) {
      return Skip(state, *missing);
    }
  }
  auto w = GetPathsWorld();
  if (!w.ok()) return Fail(state, w.status());
  PathsWorld& pw = **w;
  HostFixture& h = *pw.host;
  const PathCase& c = pw.cases.at("from_container_remote/neutral-map-auto");
  if (live) {
    if (absl::Status st = pw.PrepareLive(); !st.ok()) return Fail(state, st);
  }
  uint32_t repeat = 10000;
  int fd = c.prog_fd;
  if (refresh) {
    if (absl::Status st = SetRefresh(pw.skel, c.frame, c.prog_fd); !st.ok()) return Fail(state, st);
    fd = RefreshFd(pw.skel);
  }
  for (auto _ : state) {
    auto before = h.dp().ReadStats();
    if (!before.ok()) return Fail(state, before.status());
    absl::Status st = absl::OkStatus();
    if (live) {
      auto r = RunLive(fd, c.frame, c.ingress_ifindex, repeat);
      st = r.status();
    } else {
      auto r = RunRepeat(fd, c.frame, c.ingress_ifindex, repeat);
      st = r.status();
    }
    if (!st.ok()) return Fail(state, st);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto after = h.dp().ReadStats();
    if (!after.ok()) return Fail(state, after.status());
    Stats d = after->Since(*before);
    state.counters["runs"] = repeat;
    state.counters["translated_tx_remote"] = static_cast<double>(d.Packets("tx_remote"));
    state.counters["pass_not_sir"] = static_cast<double>(d.Packets("pass_not_sir"));
    state.counters["pass_hop_limit"] = static_cast<double>(d.Packets("pass_hop_limit"));
    state.counters["fresh_fraction"] = static_cast<double>(d.Packets("tx_remote")) / repeat;
    Progress(absl::StrCat("check/", live ? "live" : "nonlive", refresh ? "+refresh" : ""),
             absl::StrCat("translated ", d.Packets("tx_remote"), " of ", repeat));
  }
}

void RegisterChecks() {
  // Non-live repeat runs the program again on the buffer the previous repetition rewrote.
  benchmark::RegisterBenchmark("check/nonlive_repeat_same_buffer", [](benchmark::State& s) {
    CheckRepeat(s, false, false);
  })->Iterations(1);
  benchmark::RegisterBenchmark("check/nonlive_repeat_with_refresh", [](benchmark::State& s) {
    CheckRepeat(s, false, true);
  })->Iterations(1);
  // Live frames: the page pool recycles pages without copying the frame in again.
  benchmark::RegisterBenchmark("check/live_frames_no_refresh", [](benchmark::State& s) {
    CheckRepeat(s, true, false);
  })->Iterations(1);
  benchmark::RegisterBenchmark("check/live_frames_with_refresh", [](benchmark::State& s) {
    CheckRepeat(s, true, true);
  })->Iterations(1);
}

// The scale world of `size` mappings, or nullptr with the benchmark stopped or failed.
ScaleWorld* ScaleWorldFor(benchmark::State& s, size_t size) {
  if (StopNow(s)) return nullptr;
  auto w = GetScaleWorld(size);
  if (!w.ok()) {
    Fail(s, w.status());
    return nullptr;
  }
  return *w;
}

void RegisterScale(size_t size) {
  for (bool uniform : {false, true}) {
    for (std::string prog : {"ila", "plain_hash", "slots", "empty"}) {
      std::string base = absl::StrCat("scale/", size, "/", uniform ? "uniform" : "hot", "/", prog);
      auto fd_of = [prog](ScaleWorld& w) {
        if (prog == "ila") return w.host->dp().program_fd(Role::kContainer);
        if (prog == "plain_hash") return PlainHashFd(w.skel);
        if (prog == "slots") return SlotsFd(w.skel);
        return EmptyFd(w.skel);
      };
      benchmark::RegisterBenchmark(
          (base + "/call").c_str(),
          [=](benchmark::State& s) {
            ScaleWorld* w = ScaleWorldFor(s, size);
            if (!w) return;
            ScaleWorld& sw = *w;
            Bytes frame = UdpFromC1(*sw.host, sw.hot.address());
            static const std::vector<Ipv6Address> none;
            TimeCalls(s, base + "/call", fd_of(sw), frame, sw.host->c1h(),
                      uniform ? sw.uniform : none);
            s.counters["mappings"] = static_cast<double>(size);
            s.counters["load_seconds"] = sw.load_seconds;
            if (prog == "slots") {
              s.counters["slots_max_probes"] = sw.slots.max_probes;
              s.counters["slots_mean_probes"] = static_cast<double>(sw.slots.total_probes) /
                                                static_cast<double>(sw.slots.mappings);
              s.counters["slots_bytes"] = static_cast<double>(sw.slots.bytes);
            }
          })
          ->UseManualTime()
          ->Iterations(Pick<int64_t>(100000, 20000))
          ->Unit(benchmark::kNanosecond);
      benchmark::RegisterBenchmark(
          (base + "/refresh").c_str(),
          [=](benchmark::State& s) {
            ScaleWorld* w = ScaleWorldFor(s, size);
            if (!w) return;
            ScaleWorld& sw = *w;
            Bytes frame = UdpFromC1(*sw.host, sw.hot.address());
            TimeRefresh(s, base + "/refresh", sw.skel, fd_of(sw), frame, sw.host->c1h(),
                        uniform ? static_cast<uint32_t>(sw.uniform.size()) : 0);
            s.counters["mappings"] = static_cast<double>(size);
          })
          ->UseManualTime()
          ->Iterations(Pick<int64_t>(30, 10))
          ->Unit(benchmark::kNanosecond);
    }
  }
}

}  // namespace

void RegisterCostBenchmarks() {
  RegisterChecks();
  RegisterCost("empty");
  RegisterCost("parse_only");
  for (ChecksumMode mode : kModes) RegisterCost("from_container_remote/" + ChecksumModeName(mode));
  RegisterCost("from_container_local");
  for (ChecksumMode mode : kModes) RegisterCost("from_uplink/" + ChecksumModeName(mode));
  RegisterCost("miss");
  RegisterCost("not_sir");
  RegisterCost("uplink_not_local");
  RegisterCost("not_ipv6");
  RegisterCost("component_fib_lookup");
  RegisterCost("component_redirect");
}

void RegisterScaleBenchmarks() {
  std::vector<size_t> sizes = {1, 1000, 100000, 1000000};
  if (Quick()) sizes = {1, 1000, 100000};
  for (size_t n : sizes) RegisterScale(n);
}

}  // namespace ila::bench
