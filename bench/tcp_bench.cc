// Container to container over two hosts: TCP throughput (iperf3) and ping round trips, with the
// hosts carrying the traffic in each of the ways a user could pick, on one topology:
//
//   ns ca: eth <-> vc  ns ha  up <-> fa  ns fab  fb <-> up  ns hb  vc <-> eth  ns cb
//   SIR 2001:db8:0:1::a  fd00:1::1/64  fd00:1::2     fd00:2::2  fd00:2::1/64   SIR ...::b
//   (every <-> is a veth pair)
//
// Containers have their SIR address /128 and a default route via fe80::1 (the host side of their
// veth); hosts route everything else to the fabric, which routes each host's locator /64 and SRv6
// SID /64 to it. Every link is a veth with MTU 1500. Methods, applied and removed in turn:
//   ila             libila on both hosts at XDP (from_container on vc, from_uplink on up;
//                   neutral-map-auto)
//   ila_tc          the same programs at tc (AttachMode::kTc on vc and up): no XDP on any veth,
//                   so the containers keep TSO and the GSO packets stay whole to the receiver
//   plain           no XDP: the fabric routes each container's SIR /128 to its host
//   plain_no_offload  the same with the containers' transmit checksum offload, TSO and GSO off, as
//                   libila's attachment leaves them (XDP on a veth turns GSO off on its peer, and
//                   libila turns checksum offload off): what the ila runs' senders work with
//   vxlan           a VXLAN device per host (IPv6 underlay between the uplinks, port 4789) and a
//                   route for the other container through it
//   srv6_encap      `encap seg6 mode encap` to the other host's SID, End.DX6 there (SRH)
//   srv6_encap_red  the same with `mode encap.red` (one segment, no SRH: ip6ip6-like)
// The encapsulations get a container route MTU of 1500 minus their outer headers (EncapMtu), as
// such networks are configured; ILA and plain routing carry 1500-byte packets.
// Every repetition runs every method once, in rotating order; figures are medians over the
// repetitions, and ratios to plain routing are taken within each repetition. The iperf3 and ping
// processes may use every CPU (the benchmark thread's one-CPU pinning is lifted meanwhile).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench_support.h"
#include "benches.h"
#include "live_rounds.h"
#include "tcp_world.h"
#include "testbed/kernel.h"
#include "testbed/netns.h"
#include "testbed/process.h"
#include "worlds.h"

namespace ila::bench {
namespace {

using namespace tcp;  // NOLINT: this file measures the tcp world's methods

struct Sample {
  double gbps = 0;
  double retransmits = 0;
  double veth_drops = 0;
  std::vector<double> rtt_us;
};

// Sum of the drop and error counters (`ethtool -S`: rx_queue_0_drops, ..._xdp_drops,
// xdp_xmit_errors, ...) of every veth of the hosts and the fabric.
double VethDrops(const TcpWorld& w) {
  double sum = 0;
  for (const Netns* ns : {&*w.fab, &*w.side[0].h, &*w.side[1].h}) {
    auto out = ns->RunOutput(
        "for d in $(ip -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1); do "
        "ethtool -S $d; done | awk '/drops|errors/ {s += $2} END {print s + 0}'");
    if (out.ok()) sum += std::atof(out->c_str());
  }
  return sum;
}

// The data planes' counters summed over both hosts (the ila runs must be carried by them).
Stats IlaStats(const TcpWorld& w) {
  Stats total;
  for (const Side& s : w.side) {
    auto st = s.dp->ReadStats();
    if (!st.ok()) continue;
    if (total.counters.empty()) {
      total = *st;
      continue;
    }
    for (size_t i = 0; i < total.counters.size() && i < st->counters.size(); ++i) {
      total.counters[i].packets += st->counters[i].packets;
    }
  }
  return total;
}

// One iperf3 run from side a's container to side b's, `seconds` long after `omit` seconds of
// warm-up that are not counted.
absl::StatusOr<Sample> Iperf(TcpWorld& w, int port, int seconds, int omit) {
  const Side& a = w.side[0];
  const Side& b = w.side[1];
  auto server = testbed::BackgroundProcess::Start(
      {"ip", "netns", "exec", b.c->name(), "iperf3", "-s", "-1", "-p", std::to_string(port)});
  if (!server.ok()) return server.status();
  std::string listening = absl::StrCat("ss -Hltn sport = :", port, " | grep -q .");
  for (int i = 0;; ++i) {
    if (b.c->Run(listening).ok()) break;
    if (i == 100) return absl::DeadlineExceededError("iperf3 -s did not start listening in 5 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto out = a.c->ExecChecked(
      {"iperf3", "-c", b.sir.ToString(), "-p", std::to_string(port), "-t", std::to_string(seconds),
       "-O", std::to_string(omit), "-J", "--connect-timeout", "3000"},
      testbed::Duration(1000 * (seconds + omit) + 30000));
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("iperf3: ", out.status().message().substr(0, 400)));
  }
  // "sum_received": {..., "bits_per_second": X, ...} and "sum_sent": {..., "retransmits": N, ...}
  static const std::regex received(
      R"re("sum_received":\s*\{[^}]*"bits_per_second":\s*([0-9.eE+]+))re");
  static const std::regex retrans(R"re("sum_sent":\s*\{[^}]*"retransmits":\s*([0-9]+))re");
  std::smatch m;
  Sample s;
  if (!std::regex_search(*out, m, received)) {
    return absl::InternalError("iperf3 -J gave no sum_received: " + out->substr(0, 300));
  }
  s.gbps = std::stod(m[1]) / 1e9;
  if (std::regex_search(*out, m, retrans)) s.retransmits = std::stod(m[1]);
  return s;
}

// `count` pings at 10 ms from a's container to b's; the round trips in microseconds.
absl::StatusOr<std::vector<double>> Ping(TcpWorld& w, int count) {
  auto out = w.side[0].c->ExecChecked({"ping", "-6", "-n", "-c", std::to_string(count), "-i",
                                       "0.01", "-W", "1", w.side[1].sir.ToString()},
                                      testbed::Duration(20 * count + 30000));
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("ping: ", out.status().message().substr(0, 400)));
  }
  static const std::regex time(R"(time=([0-9.]+) ms)");
  std::vector<double> rtt;
  for (std::sregex_iterator it(out->begin(), out->end(), time), end; it != end; ++it) {
    rtt.push_back(std::stod((*it)[1]) * 1e3);
  }
  if (rtt.size() < static_cast<size_t>(count) * 9 / 10) {
    return absl::InternalError(absl::StrCat("ping: only ", rtt.size(), " of ", count, " replies"));
  }
  return rtt;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Whether TCP segmentation offload is on for the sending container's interface now.
bool TsoOn(const TcpWorld& w) {
  auto out = w.side[0].c->RunOutput("ethtool -k " + w.side[0].eth);
  return out.ok() && out->find("tcp-segmentation-offload: on") != std::string::npos;
}

// The methods of kMethods this kernel can do; the others go to `skipped`, each with the reason.
std::vector<std::string> MeasurableMethods(std::vector<std::string>* skipped) {
  std::vector<std::string> methods;
  for (const char* m : kMethods) {
    std::optional<std::string> missing;
    for (KernelFeature f : FeaturesOf(m))
      if (!missing) missing = testbed::FeatureMissingReason(f);
    if (missing)
      skipped->push_back(absl::StrCat(m, " (", *missing, ")"));
    else
      methods.push_back(m);
  }
  return methods;
}

// How long each run is, and how many pings follow it.
struct RunShape {
  int seconds = 0, omit = 0, pings = 0;
};

// What the data planes did during the ila runs: translated towards the other host, translated
// back and delivered, and left to the kernel (XDP_PASS).
struct IlaCounts {
  double translated = 0, delivered = 0, passed = 0;
};

// One run of `method`: applied, measured (iperf3 on `port`, then pings), removed again. The ila
// method's counters are added to *ila (ila_tc's are not: it counts GSO packets, not segments).
absl::StatusOr<Sample> RunMethod(TcpWorld& w, const std::string& method, int port,
                                 const RunShape& shape, bool* tso, IlaCounts* ila) {
  if (absl::Status st = w.Apply(method); !st.ok()) return st;
  *tso = TsoOn(w);
  const double drops_before = VethDrops(w);
  const Stats ila_before = IlaStats(w);
  auto s = Iperf(w, port, shape.seconds, shape.omit);
  absl::StatusOr<std::vector<double>> rtt =
      s.ok() ? Ping(w, shape.pings) : absl::StatusOr<std::vector<double>>(s.status());
  absl::Status removed = w.Remove(method);
  if (!rtt.ok()) {
    return absl::Status(rtt.status().code(), absl::StrCat(method, ": ", rtt.status().message()));
  }
  if (!removed.ok()) return removed;
  s->rtt_us = std::move(*rtt);
  s->veth_drops = VethDrops(w) - drops_before;
  if (method == "ila") {
    Stats d = IlaStats(w).Since(ila_before);
    ila->translated += static_cast<double>(d.Packets("tx_remote"));
    ila->delivered += static_cast<double>(d.Packets("rx_delivered"));
    for (const Counter& c : d.counters) {
      if (c.name.starts_with("pass_")) ila->passed += static_cast<double>(c.packets);
    }
  }
  return s;
}

// Each method's figures as counters of `state` (medians over the runs, ratios to plain routing
// taken run by run), and a line of them for the progress display.
std::string ReportMethods(benchmark::State& state, const std::vector<std::string>& methods,
                          std::map<std::string, std::vector<Sample>>& samples,
                          std::map<std::string, bool>& tso) {
  std::string line;
  for (const std::string& m : methods) {
    const std::vector<Sample>& v = samples[m];
    std::vector<double> gbps, rtt, of_plain, retrans, drops;
    for (size_t i = 0; i < v.size(); ++i) {
      gbps.push_back(v[i].gbps);
      retrans.push_back(v[i].retransmits);
      drops.push_back(v[i].veth_drops);
      rtt.insert(rtt.end(), v[i].rtt_us.begin(), v[i].rtt_us.end());
      of_plain.push_back(v[i].gbps / samples["plain"][i].gbps);
    }
    state.counters["gbps/" + m] = Median(gbps);
    state.counters["gbps_min/" + m] = *std::min_element(gbps.begin(), gbps.end());
    state.counters["gbps_max/" + m] = *std::max_element(gbps.begin(), gbps.end());
    state.counters["of_plain/" + m] = Median(of_plain);
    state.counters["of_plain_min/" + m] = *std::min_element(of_plain.begin(), of_plain.end());
    state.counters["of_plain_max/" + m] = *std::max_element(of_plain.begin(), of_plain.end());
    state.counters["rtt_us_p50/" + m] = Percentile(rtt, 0.5);
    state.counters["rtt_us_p99/" + m] = Percentile(rtt, 0.99);
    state.counters["retransmits/" + m] = Median(retrans);
    state.counters["veth_drops/" + m] = Median(drops);
    state.counters["sender_tso/" + m] = tso[m] ? 1 : 0;
    absl::StrAppend(&line,
                    absl::StrFormat(" %s=%.2fGb/s,%.0fus", m, Median(gbps), Percentile(rtt, 0.5)));
  }
  return line;
}

void TcpCompare(benchmark::State& state, const std::string& name) {
  if (StopNow(state)) return;
  auto built = Build();
  if (!built.ok()) return Fail(state, built.status());
  TcpWorld& w = **built;
  // The benchmark thread is pinned to one CPU (main.cc), and children inherit that: lifted while
  // the tools run, restored after.
  AllCpus all_cpus;
  const int reps = Pick(5, 1);
  const RunShape shape{.seconds = Pick(4, 1), .omit = Pick(1, 0), .pings = Pick(200, 50)};
  std::vector<std::string> skipped;
  const std::vector<std::string> methods = MeasurableMethods(&skipped);
  std::map<std::string, std::vector<Sample>> samples;
  std::map<std::string, bool> tso;
  IlaCounts ila;
  int port = 5201;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    // Every repetition runs every method once, in rotating order.
    for (int rep = 0; rep < reps; ++rep) {
      for (size_t k = 0; k < methods.size(); ++k) {
        if (StopNow(state)) return;
        const std::string& method = methods[(k + static_cast<size_t>(rep)) % methods.size()];
        auto s = RunMethod(w, method, port++, shape, &tso[method], &ila);
        if (StopNow(state)) return;
        if (!s.ok()) return Fail(state, s.status());
        samples[method].push_back(std::move(*s));
      }
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::string line = ReportMethods(state, methods, samples, tso);
  state.counters["ila_tx_remote"] = ila.translated;
  state.counters["ila_rx_delivered"] = ila.delivered;
  state.counters["ila_passed"] = ila.passed;
  state.counters["runs_per_method"] = reps;
  state.counters["seconds_per_run"] = shape.seconds;
  state.counters["pings_per_run"] = shape.pings;
  if (!skipped.empty()) {
    state.SetLabel(NotMeasuredLabel(skipped));
    absl::StrAppend(&line, "  not measured: ", absl::StrJoin(skipped, "; "));
  }
  Progress(name, line);
}

}  // namespace

void RegisterTcpBenchmarks() {
  std::string name = "tcp/container_to_container";
  benchmark::RegisterBenchmark(name.c_str(), [name](benchmark::State& s) { TcpCompare(s, name); })
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kSecond);
}

}  // namespace ila::bench
