// What a user would pick instead of ILA, live, on the same topology and in the same rounds as the
// ILA program and its references (live_rounds.h), from_container direction: frames from c1 to a
// remote container, counted by the sink on the fabric's end of the uplink.
//   ila/neutral-map-auto, bare_redirect, kernel_forward   as in live/from_container
//   vxlan            the untranslated (SIR-addressed) frame, XDP_PASS into the host's kernel, whose
//                    route for that destination is a VXLAN device with an IPv6 underlay (local: the
//                    uplink's address, remote: an address behind the remote locator, port 4789)
//   srv6_encap       the same, route `encap seg6 mode encap segs <remote host>`: outer IPv6 + SRH
//   srv6_encap_red   the same, `mode encap.red` (one segment: no SRH, outer IPv6 + inner IPv6; the
//                    stand-in for ip6ip6, which these kernels do not have)
// The sink checks that what arrives is the encapsulation under test (UDP 4789, SRH, IPv6-in-IPv6),
// and plain UDP for the others. A method the kernel lacks (ila::ProbeKernelFeature) is left out
// and named in the label with the reason; the others are still measured.
#include <net/if.h>

#include "absl/strings/str_cat.h"
#include "benches.h"
#include "ila/translation.h"
#include "live_rounds.h"
#include "testbed/kernel.h"

namespace ila::bench {
namespace {

using testbed::HostFixture;

struct Encap {
  std::string name;
  Identifier id;          // the destination container (Sir() + id), routed by this method
  int kind;               // what the sink must see
  KernelFeature feature;  // what the kernel must have
  std::string setup;      // ip commands in the host namespace; %D = destination, %U = uplink
};

std::string Expand(std::string s, const std::string& dst, const std::string& up) {
  for (auto [key, value] : {std::pair{"%D", dst}, std::pair{"%U", up}}) {
    for (size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, 2, value);
  }
  return s;
}

// Remote endpoints of the encapsulations: addresses behind the remote locator L2, so the outer
// packets take the same route (via the fabric) as ILA's translated ones.
const std::vector<Encap>& Encaps() {
  static const std::vector<Encap> e = {
      {"vxlan", Identifier(0x200), BENCH_KIND_VXLAN, KernelFeature::kVxlan,
       "ip link show bvx0 >/dev/null 2>&1 || ip link add bvx0 type vxlan id 42 local fd00:ff::1 "
       "remote 2001:db8:bbbb:2::1 dstport 4789 dev %U nolearning && ip link set bvx0 up && "
       "ip -6 route replace %D/128 dev bvx0 && "
       "ip -6 neigh replace %D lladdr 02:00:00:00:be:01 dev bvx0 nud permanent"},
      {"srv6_encap", Identifier(0x201), BENCH_KIND_SRH, KernelFeature::kSeg6,
       "ip -6 route replace %D/128 encap seg6 mode encap segs 2001:db8:bbbb:2::5 dev %U"},
      {"srv6_encap_red", Identifier(0x202), BENCH_KIND_IP6IP6, KernelFeature::kSeg6,
       "ip -6 route replace %D/128 encap seg6 mode encap.red segs 2001:db8:bbbb:2::6 dev %U"},
  };
  return e;
}

void Compare(benchmark::State& state, const std::string& name) {
  if (StopNow(state)) return;
  auto w = GetPathsWorld();
  if (!w.ok()) return Fail(state, w.status());
  PathsWorld& pw = **w;
  HostFixture& h = *pw.host;
  if (absl::Status st = pw.PrepareLive(); !st.ok()) return Fail(state, st);
  if (absl::Status st = SetRedirectTarget(pw.skel, h.uplink()); !st.ok()) return Fail(state, st);

  ChecksumMode mode = ChecksumMode::kNeutralMapAuto;
  std::vector<Contender> cs;
  cs.push_back({"ila/" + ChecksumModeName(mode), pw.ContainerFrame(mode),
                h.dp().program_fd(Role::kContainer)});
  cs.push_back({"bare_redirect", pw.ContainerFrame(mode), RedirectFd(pw.skel)});
  Ipv6Address translated = SirToIla(pw.remote.at(mode), HostFixture::L2(), mode)->address();
  cs.push_back({"kernel_forward", UdpFromC1(h, translated), PassFd(pw.skel)});
  std::vector<std::string> skipped;
  for (const Encap& e : Encaps()) {
    if (auto missing = testbed::FeatureMissingReason(e.feature)) {
      skipped.push_back(absl::StrCat(e.name, " (", *missing, ")"));
      continue;
    }
    Ipv6Address dst = SirAddress{HostFixture::Sir(), e.id}.address();
    if (absl::Status st = h.host_ns().Run(Expand(e.setup, dst.ToString(), h.up_name())); !st.ok()) {
      return Fail(state, absl::Status(st.code(), absl::StrCat(e.name, ": ", st.message())));
    }
    cs.push_back({e.name, UdpFromC1(h, dst), PassFd(pw.skel), e.kind});
  }

  const bool live_frames = !testbed::FeatureMissingReason(KernelFeature::kTestRunLiveFrames);
  uint32_t burst = live_frames ? Pick(1u << 18, 1u << 16) : Pick(1u << 17, 1u << 15);
  int rounds = live_frames ? Pick(12, 4) : Pick(9, 3);
  TrafficPath path;
  path.sender_ns = &h.c1_ns();
  path.sender_ifname = h.c1_name();
  path.ingress_ns = &h.host_ns();
  char c1h[IF_NAMESIZE] = {};
  path.ingress_ifname = if_indextoname(static_cast<unsigned>(h.c1h().value()), c1h) ? c1h : "";
  path.ingress_ifindex = h.c1h();
  path.sink_ns = &h.fabric_ns();
  path.sink_ifname = h.fabric_name();
  TrafficRun run;
  for (auto _ : state) {
    absl::Status st = live_frames ? RunRounds(state, pw, h.c1h(), cs, burst, rounds)
                                  : RunTrafficRounds(state, pw, path, cs, burst, rounds, &run);
    if (absl::IsCancelled(st)) return;
    if (!st.ok()) return Fail(state, st);
    double seconds = 0;
    for (const Contender& c : cs) seconds += c.seconds;
    state.SetIterationTime(seconds);
  }
  std::string line;
  if (absl::Status st = ReportContenders(state, cs, &line); !st.ok()) return Fail(state, st);
  absl::StrAppend(&line, " ");
  for (size_t i = 1; i < cs.size(); ++i) {
    const std::string key = cs[i].name == "bare_redirect" ? "of_ceiling" : "ila_over_" + cs[i].name;
    double r = ReportRatio(state, key, cs[0], cs[i]);
    absl::StrAppend(&line, " ", key, "=", r);
  }
  state.counters["rounds"] = rounds;
  state.counters["burst"] = burst;
  ReportGenerator(state, live_frames ? nullptr : &run, cs, skipped, &line);
  Progress(name, line);
}

}  // namespace

void RegisterCompareBenchmarks() {
  std::string name = "compare/from_container";
  benchmark::RegisterBenchmark(name.c_str(), [name](benchmark::State& s) { Compare(s, name); })
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace ila::bench
