// RunTrafficRounds (live_rounds.h): the live measurement with real frames from a traffic
// generator instead of BPF_PROG_TEST_RUN live frames.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ila/owned_fd.h"
#include "live_rounds.h"
#include "traffic_generator.h"

namespace ila::bench {
namespace {

// Attaches `prog_fd` at XDP (driver mode) on `ifindex` of the calling thread's namespace, in
// place of whatever runs there (one atomic swap).
absl::Status AttachAtIngress(InterfaceIndex ifindex, int prog_fd) {
  int err = bpf_xdp_attach(ifindex.value(), prog_fd, XDP_FLAGS_DRV_MODE, nullptr);
  if (err) return absl::InternalError(absl::StrCat("attaching at the ingress: ", strerror(-err)));
  return absl::OkStatus();
}

// Puts the ingress's original program back when the rounds end, however they end.
class RestoreIngress {
 public:
  explicit RestoreIngress(InterfaceIndex ifindex) : ifindex_(ifindex) {
    uint32_t id = 0;
    if (bpf_xdp_query_id(ifindex.value(), XDP_FLAGS_DRV_MODE, &id) == 0 && id != 0) {
      fd_ = OwnedFd(bpf_prog_get_fd_by_id(id));
    }
  }
  ~RestoreIngress() {
    if (fd_.valid()) (void)AttachAtIngress(ifindex_, fd_.get());
  }
  bool ok() const { return fd_.valid(); }

 private:
  InterfaceIndex ifindex_;
  OwnedFd fd_;
};

struct Sample {
  double delivered = 0, kind = 0, seconds = 0, cpu_ns = 0;
};

// One burst of `c`'s frame through `prog_fd`, counted at the sink; with `napi`, the path thread's
// CPU time too.
absl::StatusOr<Sample> Burst(PathsWorld& pw, const TrafficPath& path, TrafficGenerator& gen,
                             const Contender& c, int prog_fd, uint64_t count, double rate,
                             const ThreadedNapi* napi) {
  if (absl::Status st = AttachAtIngress(path.ingress_ifindex, prog_fd); !st.ok()) return st;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  SinkCount before = ReadSink(pw.skel);
  uint64_t cpu_before = 0;
  if (napi) {
    auto ns = napi->CpuNanoseconds();
    if (!ns.ok()) return ns.status();
    cpu_before = *ns;
  }
  auto seconds = gen.Send(c.frame, count, rate);
  if (!seconds.ok()) return seconds.status();
  // What the path thread and the sink still had queued lands within a moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  SinkCount after = ReadSink(pw.skel);
  Sample s;
  s.seconds = *seconds;
  s.delivered = static_cast<double>(after.packets - before.packets);
  s.kind = static_cast<double>(after.kind[c.expect_kind] - before.kind[c.expect_kind]);
  if (napi) {
    auto ns = napi->CpuNanoseconds();
    if (!ns.ok()) return ns.status();
    s.cpu_ns = static_cast<double>(*ns - cpu_before) / std::max(s.delivered, 1.0);
  }
  return s;
}

// `st` with the contender's name in front of its message.
absl::Status Named(const Contender& c, const absl::Status& st) {
  return absl::Status(st.code(), absl::StrCat(c.name, ": ", st.message()));
}

// One small burst per contender, not counted: neighbours, routes, page pools.
absl::Status WarmUp(PathsWorld& pw, const TrafficPath& path, TrafficGenerator& gen,
                    const std::vector<Contender>& cs) {
  for (const Contender& c : cs) {
    auto s = Burst(pw, path, gen, c, c.next_fd, 1u << 12, 0, nullptr);
    if (!s.ok()) return Named(c, s.status());
  }
  return absl::OkStatus();
}

// `rounds` rounds of one unpaced `burst` per contender in rotating order, each round after one of
// the generator's own ceiling (run->ceiling_pps): each contender's throughput_pps, pps and sums.
absl::Status ThroughputRounds(benchmark::State& state, PathsWorld& pw, const TrafficPath& path,
                              TrafficGenerator& gen, std::vector<Contender>& cs, uint32_t burst,
                              int rounds, TrafficRun* run) {
  // The generator's own ceiling: its frames dropped by bench_sink at the ingress.
  Contender ceiling("generator_ceiling", cs.at(0).frame, SinkFd(pw.skel), cs.at(0).expect_kind);
  for (int round = 0; round < rounds; ++round) {
    if (StopNow(state)) return absl::CancelledError("interrupted");
    auto top = Burst(pw, path, gen, ceiling, SinkFd(pw.skel), burst, 0, nullptr);
    if (!top.ok()) return top.status();
    run->ceiling_pps.push_back(top->delivered / top->seconds);
    for (size_t k = 0; k < cs.size(); ++k) {
      Contender& c = cs[(k + static_cast<size_t>(round)) % cs.size()];
      auto s = Burst(pw, path, gen, c, c.next_fd, burst, 0, nullptr);
      if (!s.ok()) return Named(c, s.status());
      c.throughput_pps.push_back(s->delivered / s->seconds);
      c.pps.push_back(s->delivered / s->seconds);
      c.delivered += s->delivered;
      c.of_expected_kind += s->kind;
      c.offered += burst;
      c.seconds += s->seconds;
    }
  }
  return absl::OkStatus();
}

// The fixed offered rate of the cost rounds, 30% of what the slowest method carried (so every
// method keeps up and processes all of it), and whether their CPU time per packet is the figure
// (the generator cannot outrun the bare redirect by 1.5x): run->offered_pps, run->cpu_basis.
// Returns the frames each of those bursts sends.
uint64_t ChooseFixedRate(const std::vector<Contender>& cs, TrafficRun* run) {
  double bare = 0, slowest = 0;
  for (const Contender& c : cs) {
    double m = Median(c.throughput_pps);
    if (c.name == "bare_redirect") bare = m;
    slowest = slowest == 0 ? m : std::min(slowest, m);
  }
  run->cpu_basis = Median(run->ceiling_pps) < 1.5 * bare;
  run->offered_pps = 0.3 * slowest;
  return std::max<uint64_t>(2000, static_cast<uint64_t>(run->offered_pps * Pick(0.5, 0.15)));
}

// `rounds` rounds of `paced` frames per contender at run->offered_pps, in rotating order: the CPU
// time per packet of the path's thread (cpu_ns). An error when a contender does not keep up.
absl::Status CostRounds(benchmark::State& state, PathsWorld& pw, const TrafficPath& path,
                        TrafficGenerator& gen, const ThreadedNapi& napi, std::vector<Contender>& cs,
                        uint64_t paced, int rounds, const TrafficRun& run) {
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < cs.size(); ++k) {
      if (StopNow(state)) return absl::CancelledError("interrupted");
      Contender& c = cs[(k + static_cast<size_t>(round)) % cs.size()];
      auto s = Burst(pw, path, gen, c, c.next_fd, paced, run.offered_pps, &napi);
      if (!s.ok()) return Named(c, s.status());
      if (s->delivered < 0.9 * static_cast<double>(paced)) {
        return absl::InternalError(
            absl::StrCat(c.name, ": at ", static_cast<uint64_t>(run.offered_pps), " frames/s only ",
                         s->delivered, " of ", paced, " reached the sink"));
      }
      c.cpu_ns.push_back(s->cpu_ns);
    }
  }
  return absl::OkStatus();
}

// On the cpu basis each round's pps is packets per second of the path's core: 1e9 / cpu_ns.
void UseCpuBasis(std::vector<Contender>& cs) {
  for (Contender& c : cs) {
    c.pps.clear();
    for (double ns : c.cpu_ns) c.pps.push_back(ns > 0 ? 1e9 / ns : 0);
  }
}

}  // namespace

absl::Status RunTrafficRounds(benchmark::State& state, PathsWorld& pw, const TrafficPath& path,
                              std::vector<Contender>& cs, uint32_t burst, int rounds,
                              TrafficRun* run) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 2) {
    return absl::FailedPreconditionError(
        "real-traffic rounds need two CPUs (the generator and the path under test)");
  }
  run->generator_cpu = static_cast<int>(ncpu - 1);  // main.cc pins the benchmark thread there
  run->path_cpu = 0;
  auto gen = MakeTrafficGenerator(*path.sender_ns, path.sender_ifname);
  if (!gen.ok()) return gen.status();
  run->generator = (*gen)->name();
  RestoreIngress restore(path.ingress_ifindex);
  if (!restore.ok()) return absl::FailedPreconditionError("no XDP program on the ingress");
  auto napi = ThreadedNapi::Start(*path.ingress_ns, path.ingress_ifname, run->path_cpu);
  if (!napi.ok()) return napi.status();
  auto sink_napi = ThreadedNapi::Start(*path.sink_ns, path.sink_ifname, run->generator_cpu);
  if (!sink_napi.ok()) return sink_napi.status();

  if (absl::Status st = WarmUp(pw, path, **gen, cs); !st.ok()) return st;
  if (absl::Status st = ThroughputRounds(state, pw, path, **gen, cs, burst, rounds, run);
      !st.ok()) {
    return st;
  }
  // Offered faster than a path can take, the veth's queue drops the rest before the path sees it
  // (as a NIC's ring would): what arrives per second is the figure, only a trickle is wrong.
  for (Contender& c : cs) c.min_delivered = std::min(c.min_delivered, 0.05);

  // The cost of each path at one fixed offered rate: CPU time of the path's thread per packet.
  // It is the figure when the generator cannot outrun the bare redirect by 1.5x, and is reported
  // beside the throughput otherwise.
  uint64_t paced = ChooseFixedRate(cs, run);
  if (absl::Status st = CostRounds(state, pw, path, **gen, *napi, cs, paced, rounds, *run);
      !st.ok()) {
    return st;
  }
  if (run->cpu_basis) UseCpuBasis(cs);
  return absl::OkStatus();
}

void ReportGenerator(benchmark::State& state, const TrafficRun* run,
                     const std::vector<Contender>& cs, const std::vector<std::string>& skipped,
                     std::string* line) {
  std::string label = "generator=live_frames basis=throughput";
  if (run) {
    double ceiling = Median(run->ceiling_pps);
    state.counters["generator_ceiling_pps"] = ceiling;
    state.counters["cpu_basis"] = run->cpu_basis ? 1 : 0;
    state.counters["offered_pps"] = run->offered_pps;
    for (const Contender& c : cs) {
      state.counters["throughput_pps/" + c.name] = Median(c.throughput_pps);
      state.counters["cpu_ns_per_packet/" + c.name] = Median(c.cpu_ns);
      // Per round, this contender's cost over the first one's (the throughput ratio the costs
      // imply): cpu_ratio/bare_redirect is ILA's fraction of the ceiling on the cpu basis.
      std::vector<double> r;
      for (size_t i = 0; i < c.cpu_ns.size() && i < cs[0].cpu_ns.size(); ++i) {
        if (cs[0].cpu_ns[i] > 0) r.push_back(c.cpu_ns[i] / cs[0].cpu_ns[i]);
      }
      if (&c != &cs.front()) state.counters["cpu_ratio/" + c.name] = Median(r);
    }
    label = absl::StrCat("generator=", run->generator,
                         " basis=", run->cpu_basis ? "cpu_time_at_fixed_rate" : "throughput");
    absl::StrAppend(line, absl::StrFormat("  %s ceiling=%.0f cpu_ns@%.0f/s:", label, ceiling,
                                          run->offered_pps));
    for (const Contender& c : cs) {
      absl::StrAppend(line, absl::StrFormat(" %s=%.0f", c.name, Median(c.cpu_ns)));
    }
  } else {
    absl::StrAppend(line, "  ", label);
  }
  if (!skipped.empty()) {
    absl::StrAppend(&label, " ", NotMeasuredLabel(skipped));
    absl::StrAppend(line, "  ", NotMeasuredLabel(skipped));
  }
  state.SetLabel(label);
}

}  // namespace ila::bench
