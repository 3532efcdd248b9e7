// The two-host ILA overlay, live, in network namespaces:
//
//   sudo ./build/examples/ila_demo [--csum-mode=adj-transport|neutral-map|neutral-map-auto|no-action]
//                                  [--bytes=N] [--library]
// By default the control plane is a real cluster's: etcd and one ila-agent per host and the ILA
// router (examples/cluster_control.h); --library drives the data planes through the library.
//
// Builds an underlay (two routers in series), an ILA router and two hosts with two containers
// each, attaches libila everywhere through the public API, and then shows: pings and TCP between
// containers, what the wire carries versus what containers see, the per-reason counters, and a
// container moving to the other host. Everything it created is removed at the end, on any failure
// and on Ctrl-C. See examples/topology.h for the picture.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ila/dataplane.h"
#include "topology.h"
#include "traffic.h"

namespace {

using ila::demo::Topology;
using ila::testbed::BackgroundProcess;
using ila::testbed::Duration;
using Clock = std::chrono::steady_clock;

Clock::time_point g_start;

std::string S(std::string_view v) { return std::string(v); }

std::string Elapsed() {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%5.1fs",
                std::chrono::duration<double>(Clock::now() - g_start).count());
  return buf;
}

void Step(int n, const std::string& title) {
  std::printf("\n[%s] Step %d: %s\n", Elapsed().c_str(), n, title.c_str());
  std::fflush(stdout);
}
void Say(const std::string& line) {
  std::printf("    %s\n", line.c_str());
  std::fflush(stdout);
}
void Indented(const std::string& text, const std::string& indent = "      ") {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) std::printf("%s%s\n", indent.c_str(), line.c_str());
  }
  std::fflush(stdout);
}

// Failures unwind to main as this exception; main's Topology goes out of scope and cleans up.
struct Failure {
  std::string what;
};

void Check(const absl::Status& st, const std::string& what) {
  if (!st.ok()) throw Failure{what + ": " + st.ToString()};
}
template <typename T>
T Check(absl::StatusOr<T> v, const std::string& what) {
  Check(v.status(), what);
  return *std::move(v);
}
void Expect(bool ok, const std::string& what) {
  if (!ok) throw Failure{what};
}

std::string Counters(const ila::Stats& s, const std::vector<ila::CounterName>& names) {
  std::string out;
  for (ila::CounterName n : names) {
    out += (out.empty() ? "" : "  ") + std::string(n.str()) + "=" + std::to_string(s.Packets(n));
  }
  return out;
}

// The last lines of ping's output: its summary.
std::string PingSummary(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("packets transmitted") != std::string::npos ||
        line.find("rtt ") != std::string::npos) {
      lines.push_back(line);
    }
  }
  std::string s;
  for (const std::string& l : lines) s += (s.empty() ? "" : "; ") + l;
  return s;
}

void Ping(Topology& topo, const std::string& from, const std::string& to, int count = 3) {
  Topology::Container* dst = topo.container(to);
  Expect(dst != nullptr, "no container " + to);
  auto r = Check(topo.Ping(from, dst->sir.address(), count), "ping");
  Say("ping " + from + " -> " + to + " (" + dst->sir.ToString() +
      "): " + (r.exit_code == 0 ? "OK  " : "FAILED  ") + PingSummary(r.output));
  if (r.exit_code != 0) Indented(r.output);
  Expect(r.exit_code == 0, "ping " + from + " -> " + to + " failed");
}

// Captures on `ns`/`ifname` while `traffic` runs; returns tcpdump's packet lines.
std::vector<std::string> CaptureLines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("IP6 ") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

// Step 1 of the demo.
std::unique_ptr<Topology> BuildAndShow(ila::ChecksumMode mode, bool agents) {
  Step(1, agents ? "build the underlay, etcd, an ila-agent per host and the ILA router, and four "
                   "containers attached through the agents"
                 : "build the underlay, the ILA router, two hosts and four containers");
  ila::demo::TopologyOptions options;
  options.tag = "ilademo";
  options.csum_mode = mode;
  if (agents) options.agent_path = ILA_AGENT_PATH;
  options.log = [](const std::string& line) { Say("- " + line); };
  auto topo = Check(Topology::Create(options), "building the topology");
  Say("");
  Say("  host1 --- r1 === r2 --- host2        ILA router 'ilr' hangs off r1");
  Say("   c1a c1b   |                c2a c2b");
  Say("            ilr");
  for (int i = 0; i < Topology::kHosts; ++i) {
    Topology::Host& h = topo->host(i);
    Say(h.name + ": namespace " + h.ns->name() + ", uplink " + h.address.ToString() + ", locator " +
        h.locator.ToString() + "::/64, uplink program at " +
        S(ila::ToString(h.uplink_attachment.mode)));
  }
  Say("ilr:   namespace " + topo->ila_router().ns->name() + ", " +
      topo->ila_router().address.ToString() + ", router program at " +
      S(ila::ToString(topo->ila_router().attachment.mode)));
  for (const std::string& name : topo->container_names()) {
    Topology::Container* c = topo->container(name);
    Say(name + ":   SIR " + c->sir.ToString() + " on " + topo->host(c->host).name + " (veth " +
        c->host_veth + ", container program at " + S(ila::ToString(c->attachment.mode)) +
        (c->attachment.peer_napi_attached ? ", peer given a pass-through XDP program" : "") + ")");
  }

  return topo;
}

// Step 2 of the demo.
void ShowMappings(Topology& topo, ila::ChecksumMode mode) {
  Step(2, "the mapping table (identical on both hosts and the ILA router)");
  std::vector<ila::Mapping> mappings;
  Check(topo.OnRouter([&](ila::Dataplane& dp) -> absl::Status {
    auto list = dp.mappings().List();
    if (!list.ok()) return list.status();
    mappings = *list;
    return absl::OkStatus();
  }),
        "listing the router's mappings");
  Say("SIR address                 -> locator            ILA destination on the wire");
  for (const ila::Mapping& m : mappings) {
    auto ila_dst = Check(m.IlaDestination(), "ILA destination");
    char line[160];
    std::snprintf(line, sizeof(line), "%-27s -> %-18s %s", m.sir.ToString().c_str(),
                  m.locator.ToString().c_str(), ila_dst.ToString().c_str());
    Say(line);
  }
  if (mode == ila::ChecksumMode::kNeutralMap || mode == ila::ChecksumMode::kNeutralMapAuto) {
    Say("(" + S(ila::ToString(mode)) + " folds the locator's checksum difference into the");
    Say(" identifier's last 16 bits, so no TCP/UDP/ICMPv6 checksum has to change.)");
  } else if (mode == ila::ChecksumMode::kAdjustTransport) {
    Say("(adj-transport keeps the identifier and adjusts each TCP/UDP/ICMPv6 checksum instead.)");
  }
}

// Step 3 of the demo.
void PingAcross(Topology& topo) {
  Step(3, "ping between containers: across hosts (translated) and on one host (veth to veth)");
  auto h1_before = Check(topo.HostStats(0), "stats");
  auto h2_before = Check(topo.HostStats(1), "stats");
  Ping(topo, "c1a", "c2a");
  Ping(topo, "c2b", "c1a");
  Ping(topo, "c1a", "c1b");
  auto h1_delta = Check(topo.HostStats(0), "stats").Since(h1_before);
  auto h2_delta = Check(topo.HostStats(1), "stats").Since(h2_before);
  const std::vector<ila::CounterName> moved = {"tx_remote", "rx_delivered", "tx_local",
                                               "pass_no_neighbour"};
  Say("host1 counters moved: " + Counters(h1_delta, moved));
  Say("host2 counters moved: " + Counters(h2_delta, moved));
  Say("=> tx_remote: translated and sent to the other host; rx_delivered: translated back and");
  Say("   handed to a container; tx_local: container to container on one host. The first packet");
  Say("   toward a next hop not yet resolved goes through the kernel (pass_no_neighbour).");
  Expect(h1_delta.Packets("tx_remote") > 0 && h1_delta.Packets("rx_delivered") > 0 &&
             h1_delta.Packets("tx_local") > 0,
         "host1's counters did not move as expected");
}

// Step 4 of the demo.
void CaptureBoth(Topology& topo) {
  Step(4, "what the wire carries vs. what containers see (ping c1a -> c2a, captured twice)");
  const char* filter = "icmp6 and (ip6[40] == 128 or ip6[40] == 129)";  // echo request/reply
  Topology::Container* c2a = topo.container("c2a");
  auto wire = Check(BackgroundProcess::Start({"ip", "netns", "exec", topo.r1().name(), "tcpdump",
                                              "-l", "-n", "-t", "-i", "to-r2", "-c", "4", filter}),
                    "starting tcpdump on r1");
  auto inside =
      Check(BackgroundProcess::Start({"ip", "netns", "exec", c2a->ns->name(), "tcpdump", "-l", "-n",
                                      "-t", "-i", c2a->ifname, "-c", "4", filter}),
            "starting tcpdump in c2a");
  Expect(wire->WaitForOutput("listening on", Duration(5000)) &&
             inside->WaitForOutput("listening on", Duration(5000)),
         "tcpdump did not start");
  Ping(topo, "c1a", "c2a", 2);
  auto wire_out = wire->Finish(Duration(3000));
  auto inside_out = inside->Finish(Duration(3000));
  Say("on the underlay link r1 -> r2 (tcpdump -i to-r2 in r1): locators, no SIR destination");
  for (const std::string& l : CaptureLines(wire_out.output)) Say("  " + l);
  Say("inside container c2a (tcpdump -i eth0): only SIR addresses");
  for (const std::string& l : CaptureLines(inside_out.output)) Say("  " + l);
  bool wire_has_locator = false, wire_has_sir_dst = false, inside_has_locator = false;
  for (const std::string& l : CaptureLines(wire_out.output)) {
    if (l.find("> 2001:db8:aaaa:1:") != std::string::npos ||
        l.find("> 2001:db8:bbbb:2:") != std::string::npos) {
      wire_has_locator = true;
    }
    if (l.find("> 2001:db8:0:1:") != std::string::npos) wire_has_sir_dst = true;
  }
  for (const std::string& l : CaptureLines(inside_out.output)) {
    if (l.find("2001:db8:aaaa:") != std::string::npos ||
        l.find("2001:db8:bbbb:") != std::string::npos) {
      inside_has_locator = true;
    }
  }
  Expect(wire_has_locator && !wire_has_sir_dst, "the underlay capture did not show ILA addresses");
  Expect(!CaptureLines(inside_out.output).empty() && !inside_has_locator,
         "the container capture did not show SIR addresses only");
  Say("=> the source stays SIR (ILA translates only the destination); the destination carries the");
  Say("   locator on the wire and is the SIR address again inside the container.");
}

// Step 5 of the demo.
void TcpStreams(Topology& topo, uint64_t bytes) {
  Step(5, "TCP: " + std::to_string(bytes >> 20) +
              " MiB of a pseudo-random stream, verified byte for byte by the receiver");
  uint16_t port = 5201;
  for (auto [from, to] :
       {std::pair{"c1a", "c2a"}, std::pair{"c2b", "c1b"}, std::pair{"c1a", "c1b"}}) {
    Topology::Container* src = topo.container(from);
    Topology::Container* dst = topo.container(to);
    ila::demo::TcpTransferOptions t;
    t.sender = src->ns.get();
    t.receiver = dst->ns.get();
    t.to = dst->sir.address();
    t.port = port++;
    t.bytes = bytes;
    t.seed = port;
    t.timeout = Duration(30000);
    auto r = Check(ila::demo::TcpTransfer(t), std::string("TCP ") + from + " -> " + to);
    char line[200];
    std::snprintf(line, sizeof(line),
                  "TCP %s -> %s (%s): %llu bytes in %.2f s = %.0f MB/s, content %s, "
                  "%u retransmissions",
                  from, to, src->host == dst->host ? "same host" : "across hosts",
                  static_cast<unsigned long long>(r.bytes_received), r.seconds,
                  r.MegabytesPerSecond(), r.content_ok ? "verified" : "CORRUPT",
                  r.sender_retransmits);
    Say(line);
    Expect(r.content_ok, std::string("TCP ") + from + " -> " + to + " arrived corrupted");
  }
}

// Step 6 of the demo.
void MissThroughRouter(Topology& topo) {
  Step(6, "a miss: host1 forgets c2b's mapping; its traffic goes untranslated to the ILA router");
  const ila::SirAddress c2b_sir = topo.container("c2b")->sir;
  ila::Mapping c2b_mapping;
  Check(topo.OnHost(0,
                    [&](ila::Dataplane& dp) -> absl::Status {
                      auto m = dp.mappings().Get(c2b_sir);
                      if (!m.ok()) return m.status();
                      c2b_mapping = *m;
                      return dp.mappings().Remove(c2b_sir);
                    }),
        "removing c2b's mapping on host1");
  Say("host1: mappings().Remove(" + c2b_sir.ToString() + ")");
  auto h1_before = Check(topo.HostStats(0), "stats");
  auto router_before = Check(topo.RouterStats(), "stats");
  Ping(topo, "c1a", "c2b");
  auto h1_delta = Check(topo.HostStats(0), "stats").Since(h1_before);
  auto router_delta = Check(topo.RouterStats(), "stats").Since(router_before);
  Say("host1 counters moved:  " + Counters(h1_delta, {"pass_miss", "tx_remote"}));
  Say("router counters moved: " +
      Counters(router_delta, {"router_forwarded", "pass_no_neighbour"}));
  Say("=> host1 handed the requests to its kernel untranslated; the underlay routes the SIR "
      "prefix");
  Say("   to the ILA router, whose full table translated them to host2's locator.");
  Expect(h1_delta.Packets("pass_miss") > 0 && router_delta.Packets("router_forwarded") > 0,
         "the miss did not go through the ILA router");
  Check(topo.OnHost(0, [&](ila::Dataplane& dp) { return dp.mappings().Upsert(c2b_mapping); }),
        "restoring c2b's mapping on host1");
  Say("host1: mappings().Upsert(" + c2b_sir.ToString() + " -> " + c2b_mapping.locator.ToString() +
      ") again");
}

// Step 7 of the demo.
void ShowCounters(Topology& topo) {
  Step(7, "per-reason counters (Stats::ToText(), summed over CPUs)");
  for (int i = 0; i < Topology::kHosts; ++i) {
    Say(topo.host(i).name + ":");
    Indented(Check(topo.HostStats(i), "stats").ToText());
  }
  Say("ILA router:");
  Indented(Check(topo.RouterStats(), "stats").ToText());
}

// Step 8 of the demo (agents): how fast what one agent publishes reaches every data plane.
void Convergence(Topology& topo) {
  Step(8,
       "convergence: containers attached through an agent, measured until every data plane "
       "has them");
  std::vector<long> took;
  for (int k = 0; k < 5; ++k) {
    const std::string name = "c2" + std::string(1, static_cast<char>('c' + k));
    Topology::Container* c =
        Check(topo.AddContainer(name, 1, ila::Identifier(0xc2c + static_cast<uint64_t>(k))),
              "adding " + name);
    took.push_back(static_cast<long>(c->converged.count()));
  }
  std::sort(took.begin(), took.end());
  Say("5 containers on host2: `ila-agent attach` (a process, the local API, the claim in etcd)");
  Say("  -> every other agent's watch -> every data plane: median " + std::to_string(took[2]) +
      " ms, worst " + std::to_string(took.back()) + " ms");
  Ping(topo, "c1a", "c2c");
  auto status = Check(topo.cluster()->AgentCommand("host1", "status", {}), "ila-agent status");
  Say("host1's agent (`ila-agent status`, excerpt):");
  std::istringstream lines(status);
  std::string line;
  while (std::getline(lines, line)) {
    for (const char* key : {"\"revision\"", "\"mappings\"", "\"resyncs\"", "\"events\"",
                            "\"writes\"", "\"lease\"", "\"leader\""}) {
      if (line.find(key) != std::string::npos) Say("  " + line);
    }
  }
}

// Step 8 (9 with agents) of the demo.
void MoveContainer(Topology& topo, int step) {
  Step(step, "move container c1b from host1 to host2 (same SIR address, new namespace and veth)");
  Check(topo.MoveContainer("c1b", 1, ila::demo::MoveMode::kNewNamespace), "moving c1b");
  auto h1_before = Check(topo.HostStats(0), "stats");
  auto h2_before = Check(topo.HostStats(1), "stats");
  Ping(topo, "c1a", "c1b");  // was local to host1, now across hosts
  Ping(topo, "c2a", "c1b");  // was across hosts, now local to host2
  auto h1_delta = Check(topo.HostStats(0), "stats").Since(h1_before);
  auto h2_delta = Check(topo.HostStats(1), "stats").Since(h2_before);
  Say("host1 counters moved: " + Counters(h1_delta, {"tx_remote", "rx_delivered", "tx_local"}));
  Say("host2 counters moved: " + Counters(h2_delta, {"tx_remote", "rx_delivered", "tx_local"}));
  Say("=> c1a -> c1b is now translated to host2's locator; c2a -> c1b goes veth to veth on host2.");
  Expect(h1_delta.Packets("tx_local") == 0 && h1_delta.Packets("tx_remote") > 0 &&
             h2_delta.Packets("tx_local") > 0,
         "traffic did not follow the moved container");
}

// The last step of the demo.
void TearDown(Topology& topo, int step) {
  Step(step, "tear down: detach and unload every data plane, delete every namespace");
  std::vector<std::string> names = topo.namespace_names();
  std::string prefix = topo.name_prefix();
  Check(topo.Teardown(), "teardown");
  Say("removed " + std::to_string(names.size()) + " namespaces (and with them every veth)");
  Expect(ila::testbed::NamespacesWithPrefix(prefix).empty(), "namespaces left behind");
}

int Run(const ila::ChecksumMode mode, uint64_t bytes, bool agents) {
  std::printf(
      "libila two-host demo: an encapsulation-free IPv6 overlay (ILA) in network namespaces.\n"
      "Containers keep one SIR address wherever they run; XDP on each host rewrites the\n"
      "destination's upper 64 bits to the locator of the host that holds it, and back.\n"
      "%s"
      "Checksum mode: %s. Everything created here is removed at the end (also on Ctrl-C).\n",
      agents ? "The cluster state is in etcd; an ila-agent per host and the ILA router keeps each\n"
               "data plane equal to it (--library: the library drives the data planes itself).\n"
             : "",
      S(ila::ToString(mode)).c_str());

  auto topo = BuildAndShow(mode, agents);
  ShowMappings(*topo, mode);
  PingAcross(*topo);
  CaptureBoth(*topo);
  TcpStreams(*topo, bytes);
  MissThroughRouter(*topo);
  ShowCounters(*topo);
  int step = 8;
  if (agents) {
    Convergence(*topo);
    ++step;
  }
  MoveContainer(*topo, step++);
  TearDown(*topo, step);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  g_start = Clock::now();
  ila::ChecksumMode mode = ila::ChecksumMode::kAdjustTransport;
  uint64_t bytes = 100ull << 20;
  bool agents = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--csum-mode=", 0) == 0) {
      auto m = ila::ParseChecksumMode(arg.substr(12));
      if (!m.ok()) {
        std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
        return 2;
      }
      mode = *m;
    } else if (arg.rfind("--bytes=", 0) == 0) {
      bytes = std::strtoull(arg.c_str() + 8, nullptr, 10);
    } else if (arg == "--library") {
      agents = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--csum-mode=adj-transport|neutral-map|neutral-map-auto|no-action] "
                   "[--bytes=N] [--library]\n",
                   argv[0]);
      return 2;
    }
  }
  // Before anything is created (the probe namespace below included): a Ctrl-C from here on is
  // noted, and everything made so far is removed before the demo exits.
  ila::testbed::InstallStopSignalHandlers();
  // Exit status 77 means "cannot run here" (ctest reports the demo test as skipped).
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "ila_demo loads XDP programs and creates network namespaces: run it as root\n");
    return 77;
  }
  if (auto probe = ila::Dataplane::Create({});
      !probe.ok() &&
      (absl::IsPermissionDenied(probe.status()) || absl::IsFailedPrecondition(probe.status()))) {
    std::fprintf(stderr, "ila_demo cannot load the XDP programs here: %s\n",
                 probe.status().ToString().c_str());
    return 77;
  }
  if (auto ns = ila::testbed::Netns::CreateNamed("ilademo-" + std::to_string(getpid()) + "-probe");
      !ns.ok() && !ila::testbed::StopRequested()) {
    std::fprintf(stderr, "ila_demo cannot create network namespaces here: %s\n",
                 ns.status().ToString().c_str());
    return 77;
  }
  if (ila::testbed::StopRequested()) {
    std::fprintf(stderr, "\n[%s] interrupted: everything created has been removed\n",
                 Elapsed().c_str());
    return 130;
  }
  int rc = 1;
  try {
    rc = Run(mode, bytes, agents);
  } catch (const Failure& f) {
    if (!ila::testbed::StopRequested()) {
      std::fprintf(stderr, "\n[%s] FAILED: %s\n", Elapsed().c_str(), f.what.c_str());
    }
    rc = 1;
  }
  // Run's Topology has been destroyed (and with it every namespace) by now.
  if (ila::testbed::StopRequested()) {
    std::fprintf(stderr, "\n[%s] interrupted: everything created has been removed\n",
                 Elapsed().c_str());
    return 130;
  }
  std::printf("\n[%s] %s\n", Elapsed().c_str(),
              rc == 0 ? "demo finished: all steps passed" : "demo failed");
  return rc;
}
