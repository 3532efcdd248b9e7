// Live traffic: BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES as the packet generator (as
// xdp-trafficgen does), frames entering the host as if they arrived on a container's veth
// (from_container) or on the uplink (from_uplink), counted where they arrive by an XDP sink on the
// far end of the egress veth (live_rounds.h). On the same topology, in the same run:
//   ila             bench_refresh -> the data plane's program (translation, FIB, devmap redirect)
//   ila_steered     (from_uplink) bench_refresh -> the uplink program with cpumap steering: locator
//                   check and flow hash here, translation and delivery on the other CPU
//   bare_redirect   bench_refresh -> bench_redirect (devmap redirect to the same egress, nothing
//                   else): the ceiling any XDP forwarder can reach here
//   kernel_forward  bench_refresh -> XDP_PASS of an already-translated frame: the kernel's IPv6
//                   forwarding (no XDP work) to the same egress
// bench_refresh restores the frame first in every case (pages are recycled with whatever the
// previous run left in them), so its cost is common to all of them.
//
// Where the kernel refuses live frames, the frames are real: a traffic generator (AF_XDP, else
// AF_PACKET) sends them from the far end of the ingress veth, each method's program is attached
// at the ingress in turn, and the ingress NAPI runs as a thread on the other CPU
// (RunTrafficRounds). The generator's own ceiling is measured beside the figures, and when it is
// under 1.5x the bare redirect every figure is the CPU time per packet of the path's thread at one
// fixed offered rate. The label names the generator and the basis; figures of different
// generators are never put in one ratio (one benchmark uses one generator).
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "benches.h"
#include "ila/translation.h"
#include "live_rounds.h"
#include "traffic_generator.h"
#include "testbed/kernel.h"

namespace ila::bench {
namespace {

using testbed::HostFixture;

enum class Direction { kFromContainer, kFromUplink };

std::string InterfaceNameOf(InterfaceIndex ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(static_cast<unsigned>(ifindex.value()), name) ? name : "";
}

// rx_delivered counted on CPUs other than the benchmark's (the last one, PinToLastCpu).
double OffGeneratorCpu(const Dataplane& dp) {
  auto per_cpu = dp.ReadCounterPerCpu("rx_delivered");
  if (!per_cpu.ok() || per_cpu->empty()) return 0;
  double off = 0;
  for (size_t cpu = 0; cpu + 1 < per_cpu->size(); ++cpu) {
    off += static_cast<double>((*per_cpu)[cpu]);
  }
  return off;
}

// What LiveCompare measures in one direction, and how.
struct LivePlan {
  bool out = false;          // from_container (else from_uplink)
  bool live_frames = false;  // BPF_PROG_RUN live frames (else real traffic, RunTrafficRounds)
  InterfaceIndex ingress;
  // ila per checksum mode, then ila_steered (when steered()), bare_redirect, kernel_forward.
  std::vector<Contender> cs;
  size_t ila_count = 0;       // the ila contenders, first in cs
  std::vector<int> steer_to;  // the steered contender's CPUs
  std::vector<std::string> skipped;
  uint32_t burst = 0;
  int rounds = 0;
  bool steered() const { return !out && live_frames; }
  const Contender& ila() const { return cs[0]; }
  const Contender& bare() const { return cs[cs.size() - 2]; }
  const Contender& kernel() const { return cs[cs.size() - 1]; }
};

// The data plane's program, once per checksum mode (neutral-map-auto; adjust-transport too when
// not quick).
void AddIlaContenders(PathsWorld& pw, LivePlan& plan) {
  HostFixture& h = *pw.host;
  std::vector<ChecksumMode> modes = {ChecksumMode::kNeutralMapAuto};
  if (!Quick()) modes.push_back(ChecksumMode::kAdjustTransport);
  for (ChecksumMode mode : modes) {
    plan.cs.push_back({"ila/" + ChecksumModeName(mode),
                       plan.out ? pw.ContainerFrame(mode) : pw.UplinkFrame(mode),
                       h.dp().program_fd(plan.out ? Role::kContainer : Role::kUplink)});
  }
  plan.ila_count = plan.cs.size();
}

// from_uplink: cpumap steering on the uplink, to the CPUs other than the one generating (with 2
// CPUs: the other one), so that translation and delivery leave the generator's CPU. With real
// traffic, left out (and said so).
absl::Status AddSteeredContender(PathsWorld& pw, LivePlan& plan) {
  if (!plan.live_frames) {
    plan.skipped.push_back(
        "ila_steered (with real traffic the generator and the path already use "
        "both CPUs; cpumap steering is measured with live frames)");
    return absl::OkStatus();
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  for (int cpu = 0; cpu + 1 < ncpu; ++cpu) plan.steer_to.push_back(cpu);
  if (plan.steer_to.empty()) {
    return absl::FailedPreconditionError(
        "cpumap steering needs at least two CPUs; this machine has one");
  }
  auto steered = pw.SteeredUplinkFd(plan.steer_to);
  if (!steered.ok()) return steered.status();
  const ChecksumMode mode = ChecksumMode::kNeutralMapAuto;
  plan.cs.push_back({"ila_steered/" + ChecksumModeName(mode), pw.UplinkFrame(mode), *steered});
  plan.cs.back().min_delivered = 0.05;
  return absl::OkStatus();
}

// What ila is measured against: bare_redirect (the ceiling) and kernel_forward, the last two.
void AddReferenceContenders(PathsWorld& pw, LivePlan& plan) {
  HostFixture& h = *pw.host;
  const bool out = plan.out;
  const ChecksumMode mode = ChecksumMode::kNeutralMapAuto;
  plan.cs.push_back(
      {"bare_redirect", out ? pw.ContainerFrame(mode) : pw.UplinkFrame(mode), RedirectFd(pw.skel)});
  // Kernel forwarding gets the frame as the data plane would have left it (destination already
  // translated), addressed to the ingress interface so that the kernel takes it in and routes it.
  Ipv6Address dst = out ? SirToIla(pw.remote.at(mode), HostFixture::L2(), mode)->address()
                        : HostFixture::C1().address();
  plan.cs.push_back(
      {"kernel_forward",
       out ? UdpFromC1(h, dst) : UdpFromFabric(h, HostFixture::Remote().address(), dst),
       PassFd(pw.skel)});
}

// The direction's ingress and egress (the redirect target set to it), the contenders, and how
// they run.
absl::StatusOr<LivePlan> PlanLive(PathsWorld& pw, Direction dir) {
  HostFixture& h = *pw.host;
  LivePlan plan;
  plan.out = dir == Direction::kFromContainer;
  plan.ingress = plan.out ? h.c1h() : h.uplink();
  InterfaceIndex egress = plan.out ? h.uplink() : h.c1h();
  if (absl::Status st = SetRedirectTarget(pw.skel, egress); !st.ok()) return st;
  AddIlaContenders(pw, plan);
  // Live frames where the kernel allows them; else real traffic from the veth's far end
  // (traffic_generator.h), whose pipeline already spans both CPUs of a two-CPU machine.
  plan.live_frames = !testbed::FeatureMissingReason(KernelFeature::kTestRunLiveFrames);
  if (!plan.out) {
    if (absl::Status st = AddSteeredContender(pw, plan); !st.ok()) return st;
  }
  AddReferenceContenders(pw, plan);
  plan.burst = plan.live_frames ? Pick(1u << 19, 1u << 17) : Pick(1u << 17, 1u << 15);
  plan.rounds = plan.live_frames ? Pick(15, 5) : Pick(9, 3);
  return plan;
}

// Where real traffic is sent from, enters and is counted in the direction.
TrafficPath TrafficPathOf(HostFixture& h, const LivePlan& plan) {
  const bool out = plan.out;
  TrafficPath path;
  path.sender_ns = out ? &h.c1_ns() : &h.fabric_ns();
  path.sender_ifname = out ? h.c1_name() : h.fabric_name();
  path.ingress_ns = &h.host_ns();
  path.ingress_ifname = out ? InterfaceNameOf(h.c1h()) : h.up_name();
  path.ingress_ifindex = plan.ingress;
  path.sink_ns = out ? &h.fabric_ns() : &h.c1_ns();
  path.sink_ifname = out ? h.fabric_name() : h.c1_name();
  return path;
}

// The rounds (live frames, else real traffic); the iteration's time is theirs. False when the
// benchmark stopped there: failed (and marked so) or interrupted.
bool MeasureLive(benchmark::State& state, PathsWorld& pw, const TrafficPath& path, LivePlan& plan,
                 TrafficRun* run) {
  for (auto _ : state) {
    absl::Status st =
        plan.live_frames ? RunRounds(state, pw, plan.ingress, plan.cs, plan.burst, plan.rounds)
                         : RunTrafficRounds(state, pw, path, plan.cs, plan.burst, plan.rounds, run);
    if (absl::IsCancelled(st)) return false;
    if (!st.ok()) {
      Fail(state, st);
      return false;
    }
    double seconds = 0;
    for (const Contender& c : plan.cs) seconds += c.seconds;
    state.SetIterationTime(seconds);
  }
  return true;
}

// The data plane's counters over the rounds: translated, steered and, with steering,
// translated_off_generator_cpu.
void ReportDataplaneCounts(benchmark::State& state, const Dataplane& dp,
                           const absl::StatusOr<Stats>& stats_before, double off_cpu_before,
                           const LivePlan& plan) {
  auto stats_after = dp.ReadStats();
  if (stats_before.ok() && stats_after.ok()) {
    // The data plane's own count of what it translated and redirected in the ILA bursts.
    Stats d = stats_after->Since(*stats_before);
    state.counters["translated"] =
        static_cast<double>(plan.out ? d.Packets("tx_remote") : d.Packets("rx_delivered"));
    if (!plan.out) state.counters["steered"] = static_cast<double>(d.Packets("steered"));
  }
  if (plan.steered()) {
    // Where the uplink's deliveries were translated: the steered ones on the other CPU(s), so
    // this is what the steered contender delivered (the direct ones run on the generator's CPU).
    state.counters["translated_off_generator_cpu"] = OffGeneratorCpu(dp) - off_cpu_before;
  }
}

// Every contender's figures, ila's ratios to the ceiling, to kernel forwarding and (steered) of
// steering, how the figures were made; then the progress line.
absl::Status ReportLive(benchmark::State& state, const std::string& name, const LivePlan& plan,
                        const TrafficRun& run) {
  std::string line;
  if (absl::Status st = ReportContenders(state, plan.cs, &line); !st.ok()) return st;
  double of_ceiling = ReportRatio(state, "of_ceiling", plan.ila(), plan.bare());
  double over_kernel = ReportRatio(state, "over_kernel_forward", plan.ila(), plan.kernel());
  absl::StrAppend(&line, "  of_ceiling=", of_ceiling, " over_kernel=", over_kernel);
  if (plan.steered()) {
    double r = ReportRatio(state, "steered_over_direct", plan.cs[plan.ila_count], plan.ila());
    state.counters["steer_cpus"] = static_cast<double>(plan.steer_to.size());
    absl::StrAppend(&line, " steered/direct=", r);
  }
  state.counters["rounds"] = static_cast<double>(plan.ila().pps.size());
  state.counters["burst"] = plan.burst;
  ReportGenerator(state, plan.live_frames ? nullptr : &run, plan.cs, plan.skipped, &line);
  Progress(name, line);
  return absl::OkStatus();
}

void LiveCompare(benchmark::State& state, const std::string& name, Direction dir) {
  if (StopNow(state)) return;
  auto w = GetPathsWorld();
  if (!w.ok()) return Fail(state, w.status());
  PathsWorld& pw = **w;
  HostFixture& h = *pw.host;
  if (absl::Status st = pw.PrepareLive(); !st.ok()) return Fail(state, st);
  auto plan = PlanLive(pw, dir);
  if (!plan.ok()) return Fail(state, plan.status());
  TrafficPath path = TrafficPathOf(h, *plan);
  TrafficRun run;

  auto stats_before = h.dp().ReadStats();
  double off_cpu_before = OffGeneratorCpu(h.dp());
  if (!MeasureLive(state, pw, path, *plan, &run)) return;
  ReportDataplaneCounts(state, h.dp(), stats_before, off_cpu_before, *plan);
  if (absl::Status st = ReportLive(state, name, *plan, run); !st.ok()) return Fail(state, st);
}

// The generator with two senders: a veth pair of two queues between two namespaces, bench_sink on
// the far end. Every frame sent at a paced rate must arrive, through both of the far end's receive
// queues; then the unpaced rate of the two senders together.
void CheckGeneratorQueues(benchmark::State& state) {
  if (StopNow(state)) return;
  auto a = testbed::Netns::Create("gqa");
  auto b = testbed::Netns::Create("gqb");
  if (!a.ok() || !b.ok()) return Fail(state, a.ok() ? b.status() : a.status());
  const std::string ea = testbed::UniqueIfName("gqa"), eb = testbed::UniqueIfName("gqb");
  if (absl::Status st = a->Run(absl::StrCat(
          "ip link add ", ea, " numtxqueues 2 numrxqueues 2 type veth peer name ", eb,
          " numtxqueues 2 numrxqueues 2 netns ", b->name(), " && ip link set ", ea, " up"));
      !st.ok()) {
    return Fail(state, st);
  }
  if (absl::Status st = b->Run("ip link set " + eb + " up"); !st.ok()) return Fail(state, st);
  auto skel = LoadBenchSkel(1, 1);
  if (!skel.ok()) return Fail(state, skel.status());
  {
    auto in_b = testbed::NetnsEntered::Enter(*b);
    if (!in_b.ok()) return Fail(state, in_b.status());
    int err = bpf_xdp_attach(static_cast<int>(if_nametoindex(eb.c_str())), SinkFd(*skel),
                             XDP_FLAGS_DRV_MODE, nullptr);
    if (err) return Fail(state, absl::InternalError(absl::StrCat("sink: ", strerror(-err))));
  }
  GeneratorOptions options;
  options.queues = 2;
  auto gen = MakeTrafficGenerator(*a, ea, options);
  if (!gen.ok()) return Fail(state, gen.status());
  const Ipv6Address src = HostFixture::C1().address(), dst = HostFixture::C2().address();
  Bytes frame = testbed::EthernetIpv6(
      HostFixture::C2Mac(), HostFixture::C1Mac(),
      testbed::Ipv6(src, dst, kProtoUdp, testbed::Udp(src, dst, 1000, 2000, {1, 2})));
  const uint64_t paced = 20000;
  for (auto _ : state) {
    SinkCount before = ReadSink(*skel);
    auto sent = (*gen)->Send(frame, paced, 100000);
    if (!sent.ok()) return Fail(state, sent.status());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    double arrived = static_cast<double>(ReadSink(*skel).packets - before.packets);
    auto stats = b->RunOutput("ethtool -S " + eb);
    if (!stats.ok()) return Fail(state, stats.status());
    for (const char* q : {"rx_queue_0_xdp_packets: ", "rx_queue_1_xdp_packets: "}) {
      size_t at = stats->find(q);
      if (at == std::string::npos || std::stoull(stats->substr(at + strlen(q))) == 0) {
        return Fail(state, absl::InternalError(absl::StrCat("no frame arrived through ", q,
                                                            "of the far end:\n", *stats)));
      }
    }
    if (arrived < 0.99 * static_cast<double>(paced)) {
      return Fail(state, absl::InternalError(absl::StrCat("paced at 100k frames/s, ", arrived,
                                                          " of ", paced, " frames arrived")));
    }
    before = ReadSink(*skel);
    auto fast = (*gen)->Send(frame, paced * 5, 0);
    if (!fast.ok()) return Fail(state, fast.status());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    state.counters["arrived_paced"] = arrived;
    state.counters["sent_paced"] = static_cast<double>(paced);
    state.counters["unpaced_pps"] =
        static_cast<double>(ReadSink(*skel).packets - before.packets) / *fast;
  }
  state.SetLabel("generator=" + (*gen)->name());
  Progress("check/generator_queues", absl::StrCat((*gen)->name(), ": ", paced, " of ", paced,
                                                  " paced frames arrived through both queues"));
}

}  // namespace

void RegisterLiveBenchmarks() {
  benchmark::RegisterBenchmark("check/generator_queues", CheckGeneratorQueues)->Iterations(1);
  for (Direction dir : {Direction::kFromContainer, Direction::kFromUplink}) {
    std::string name = std::string("live/") +
                       (dir == Direction::kFromContainer ? "from_container" : "from_uplink");
    benchmark::RegisterBenchmark(name.c_str(),
                                 [name, dir](benchmark::State& s) { LiveCompare(s, name, dir); })
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace ila::bench
