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
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include "support/kernel.h"
#include "bench_support.h"
#include "benches.h"
#include "live_rounds.h"
#include "support/netns.h"
#include "worlds.h"

extern char** environ;

namespace ila::bench {
namespace {

using testing::Netns;
using testing::NetnsEntered;
using testing::VethPair;

constexpr ChecksumMode kMode = ChecksumMode::kNeutralMapAuto;
const char* const kMethods[] = {"ila",   "ila_tc",     "plain",         "plain_no_offload",
                                "vxlan", "srv6_encap", "srv6_encap_red"};

// The kernel features a method needs (the others need only veths and routing).
std::vector<KernelFeature> FeaturesOf(const std::string& method) {
  if (method == "vxlan") return {KernelFeature::kVxlan};
  if (method.starts_with("srv6")) return {KernelFeature::kSeg6, KernelFeature::kSeg6Local};
  return {};
}

// libila's methods: every program at XDP (native), or at tc (AttachMode::kTc: container and uplink
// programs), which keeps the containers' offloads and GSO packets whole end to end.
bool IsIla(const std::string& method) { return method == "ila" || method == "ila_tc"; }

SirPrefix Sir() { return SirPrefix(0x20010db800000001ull); }

struct Side {
  std::string tag;            // "a", "b"
  std::optional<Netns> c, h;  // container, host
  std::string eth, vc, up;    // container's interface, host's container veth, host's uplink
  SirAddress sir;
  MacAddress mac;
  Locator locator;
  std::string up_addr, fabric_addr, sid, vx_mac;
  std::unique_ptr<Dataplane> dp;  // created once; attached only while the method is ila
};

struct TcpWorld : World {
  std::optional<Netns> fab;
  Side side[2];
  std::optional<VethPair> links[4];  // after the namespaces: destroyed first
  std::string attached;              // the method currently applied ("" none)
  ~TcpWorld() override {
    for (Side& s : side) {
      if (!s.dp || !s.h) continue;
      if (auto in = NetnsEntered::Enter(*s.h); in.ok()) s.dp.reset();
    }
  }
  // Runs `cmd` (sh) in a namespace, the error saying where.
  static absl::Status Sh(const Netns& ns, const std::string& cmd) {
    absl::Status st = ns.Run(cmd);
    if (st.ok()) return st;
    return absl::Status(st.code(), absl::StrCat("in ", ns.name(), ": ", st.message()));
  }
  absl::Status Apply(const std::string& method);
  absl::Status Remove(const std::string& method);
};

// 1500 minus the outer headers: IPv6 + UDP + VXLAN + Ethernet (70), IPv6 + SRH of one segment
// (64), IPv6 (40).
int EncapMtu(const std::string& method) {
  return method == "vxlan" ? 1430 : method == "srv6_encap" ? 1436 : 1460;
}

absl::StatusOr<TcpWorld*> Build() {
  if (auto* w = dynamic_cast<TcpWorld*>(CurrentWorld())) return w;
  SetWorld(nullptr);
  auto w = std::make_unique<TcpWorld>();
  auto fab = Netns::Create("tfab");
  if (!fab.ok()) return fab.status();
  w->fab.emplace(std::move(*fab));
  for (int i = 0; i < 2; ++i) {
    Side& s = w->side[i];
    s.tag = i == 0 ? "a" : "b";
    for (auto [slot, prefix] : {std::pair{&s.c, "tc"}, std::pair{&s.h, "th"}}) {
      auto ns = Netns::Create(prefix + s.tag);
      if (!ns.ok()) return ns.status();
      slot->emplace(std::move(*ns));
    }
    s.eth = testing::UniqueIfName("eth");
    s.vc = testing::UniqueIfName("vc");
    s.up = testing::UniqueIfName("up");
    s.sir = {Sir(), Identifier(0xa + static_cast<uint64_t>(i))};
    s.mac = MacAddress({0x02, 0, 0, 0, static_cast<uint8_t>(0xa + i), 0x01});
    s.locator = Locator(i == 0 ? 0x20010db8aaaa0001ull : 0x20010db8bbbb0002ull);
    std::string n = std::to_string(i + 1);
    s.up_addr = "fd00:" + n + "::1";
    s.fabric_addr = "fd00:" + n + "::2";
    s.sid = "fd00:5" + n + "::1";
    s.vx_mac = "02:00:00:00:" + std::string(i == 0 ? "a" : "b") + "e:01";
    auto c = VethPair::Create({&*s.h, s.vc, "", {"fe80::1/64"}},
                              {&*s.c, s.eth, s.mac.ToString(), {s.sir.ToString() + "/128"}});
    if (!c.ok()) return c.status();
    w->links[2 * i].emplace(std::move(*c));
    auto up = VethPair::Create(
        {&*s.h, s.up, "", {s.up_addr + "/64"}},
        {&*w->fab, testing::UniqueIfName("f" + s.tag), "", {s.fabric_addr + "/64"}});
    if (!up.ok()) return up.status();
    w->links[2 * i + 1].emplace(std::move(*up));
  }
  for (int i = 0; i < 2; ++i) {
    Side& s = w->side[i];
    Side& o = w->side[1 - i];
    if (absl::Status st = TcpWorld::Sh(*s.c, "ip -6 route add default via fe80::1 dev " + s.eth);
        !st.ok()) {
      return st;
    }
    std::string host = absl::StrCat(
        "ip -6 route add default via ", s.fabric_addr, " dev ", s.up, " && ip -6 route add ",
        s.sir.ToString(), "/128 dev ", s.vc,
        " && sysctl -qw net.ipv6.conf.all.seg6_enabled=1 net.ipv6.conf.", s.up, ".seg6_enabled=1");
    if (absl::Status st = TcpWorld::Sh(*s.h, host); !st.ok()) return st;
    if (absl::Status st = s.h->EnableForwarding(); !st.ok()) return st;
    std::string loc = Ipv6Address::FromHalves(s.locator.value(), 0).ToString();
    std::string sidnet = "fd00:5" + std::to_string(i + 1) + "::";
    if (absl::Status st = TcpWorld::Sh(
            *w->fab, absl::StrCat("ip -6 route add ", loc, "/64 via ", s.up_addr,
                                  " && ip -6 route add ", sidnet, "/64 via ", s.up_addr));
        !st.ok()) {
      return st;
    }
    // libila on this host, every table filled; attached only while the method is ila.
    auto in = NetnsEntered::Enter(*s.h);
    if (!in.ok()) return in.status();
    auto dp = Dataplane::Create({});
    if (!dp.ok()) return dp.status();
    s.dp = std::move(*dp);
    if (absl::Status st = s.dp->sir_prefixes().Add(Sir()); !st.ok()) return st;
    if (absl::Status st = s.dp->locators().Upsert({s.locator, Sir(), kMode}); !st.ok()) return st;
    for (const Side* x : {&s, &o}) {
      if (absl::Status st = s.dp->mappings().Upsert({x->sir, x->locator, kMode}); !st.ok()) {
        return st;
      }
    }
  }
  if (absl::Status st = w->fab->EnableForwarding(); !st.ok()) return st;
  // Addresses usable at once (no DAD); the veth carriers take a moment to reach IPv6.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return static_cast<TcpWorld*>(SetWorld(std::move(w)));
}

absl::Status TcpWorld::Apply(const std::string& method) {
  if (!attached.empty()) {
    if (absl::Status st = Remove(attached); !st.ok()) return st;
  }
  for (int i = 0; i < 2; ++i) {
    Side& s = side[i];
    Side& o = side[1 - i];
    // No path MTU learnt under another method may linger.
    for (const Netns* ns : {&*s.c, &*s.h}) {
      if (absl::Status st = Sh(*ns, "ip -6 route flush cache"); !st.ok()) return st;
    }
    if (IsIla(method)) {
      const bool tc = method == "ila_tc";
      if (tc) {  // the veth's defaults, which an earlier ila run turned off
        if (absl::Status st = Sh(*s.c, "ethtool -K " + s.eth + " tx on sg on tso on gso on");
            !st.ok()) {
          return st;
        }
      }
      auto in = NetnsEntered::Enter(*s.h);
      if (!in.ok()) return in.status();
      if (auto a = s.dp->AttachUplink({s.up, tc ? AttachMode::kTc : AttachMode::kNative, {}});
          !a.ok()) {
        return a.status();
      }
      if (auto a = s.dp->AttachContainer(
              {s.vc, s.sir, s.mac, tc ? AttachMode::kTc : AttachMode::kNative});
          !a.ok()) {
        return a.status();
      }
      continue;
    }
    // AttachUplink turned the uplink's transmit checksum offload off (a veth uplink checksums in
    // software for the far host's XDP): the other methods get the veth's defaults back.
    if (absl::Status st = Sh(*s.h, "ethtool -K " + s.up + " tx on sg on tso on gso on"); !st.ok()) {
      return st;
    }
    // libila turned the container's transmit checksum offload (and with it TSO) off; the other
    // methods get the veth's defaults back, but for plain_no_offload, which has them as under ila.
    std::string features =
        method == "plain_no_offload" ? "tx off tso off gso off" : "tx on sg on tso on gso on";
    if (absl::Status offload = Sh(*s.c, "ethtool -K " + s.eth + " " + features); !offload.ok()) {
      return offload;
    }
    std::string cmd;
    if (method == "plain" || method == "plain_no_offload") {
      if (i == 0) {
        cmd = absl::StrCat("ip -6 route add ", side[0].sir.ToString(), "/128 via ", side[0].up_addr,
                           " && ip -6 route add ", side[1].sir.ToString(), "/128 via ",
                           side[1].up_addr);
        if (absl::Status st = Sh(*fab, cmd); !st.ok()) return st;
      }
      continue;
    }
    if (method == "vxlan") {
      cmd = absl::StrCat(
          "ip link add bvx type vxlan id 42 local ", s.up_addr, " remote ", o.up_addr,
          " dstport 4789 dev ", s.up, " nolearning && ip link set bvx address ", s.vx_mac,
          " up && ip -6 route add ", o.sir.ToString(), "/128 dev bvx && ip -6 neigh replace ",
          o.sir.ToString(), " lladdr ", o.vx_mac, " dev bvx nud permanent");
    } else if (method == "srv6_encap" || method == "srv6_encap_red") {
      cmd = absl::StrCat("ip -6 route add ", o.sir.ToString(), "/128 encap seg6 mode ",
                         method == "srv6_encap" ? "encap" : "encap.red", " segs ", o.sid, " dev ",
                         s.up, " && ip -6 route add ", s.sid,
                         "/128 encap seg6local action End.DX6 nh6 :: dev ", s.vc);
    } else {
      return absl::InvalidArgumentError("unknown method " + method);
    }
    // The container's route MTU leaves room for the outer headers, as a VXLAN or SRv6 network
    // would configure it: SRv6 encapsulation on the forwarding path reports "packet too big" to
    // the outer source (the host itself), not to the container, so path MTU discovery cannot.
    if (absl::Status st = Sh(*s.c, absl::StrCat("ip -6 route replace default via fe80::1 dev ",
                                                s.eth, " mtu ", EncapMtu(method)));
        !st.ok()) {
      return st;
    }
    if (absl::Status st = Sh(*s.h, cmd); !st.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          method, " is not available in this kernel (",
          method == "vxlan" ? "VXLAN over IPv6" : "SRv6 seg6 / seg6local lightweight tunnels",
          "): ", st.message()));
    }
  }
  attached = method;
  return absl::OkStatus();
}

absl::Status TcpWorld::Remove(const std::string& method) {
  attached.clear();
  for (int i = 0; i < 2; ++i) {
    Side& s = side[i];
    Side& o = side[1 - i];
    absl::Status st;
    if (IsIla(method)) {
      auto in = NetnsEntered::Enter(*s.h);
      if (!in.ok()) return in.status();
      st = s.dp->DetachAll();
    } else if (method == "plain" || method == "plain_no_offload") {
      if (i == 0) {
        st = Sh(*fab, absl::StrCat("ip -6 route del ", side[0].sir.ToString(),
                                   "/128 && ip -6 route del ", side[1].sir.ToString(), "/128"));
      }
    } else {
      st = method == "vxlan" ? Sh(*s.h, "ip link del bvx")
                             : Sh(*s.h, absl::StrCat("ip -6 route del ", o.sir.ToString(),
                                                     "/128 && ip -6 route del ", s.sid, "/128"));
      if (st.ok()) st = Sh(*s.c, "ip -6 route replace default via fe80::1 dev " + s.eth);
    }
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// A child process (no shell) whose output is discarded; terminated and reaped on destruction.
class Child {
 public:
  static absl::StatusOr<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int err = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
      return absl::InternalError(absl::StrCat("starting ", argv[0], ": ", std::strerror(err)));
    }
    return std::unique_ptr<Child>(new Child(pid));
  }
  ~Child() {
    if (waitpid(pid_, nullptr, WNOHANG) == 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

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
  auto server = Child::Start(
      {"ip", "netns", "exec", b.c->name(), "iperf3", "-s", "-1", "-p", std::to_string(port)});
  if (!server.ok()) return server.status();
  std::string listening = absl::StrCat("ss -Hltn sport = :", port, " | grep -q .");
  for (int i = 0;; ++i) {
    if (b.c->Run(listening).ok()) break;
    if (i == 100) return absl::DeadlineExceededError("iperf3 -s did not start listening in 5 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto out =
      testing::RunCommand({"ip", "netns", "exec", a.c->name(), "iperf3", "-c", b.sir.ToString(),
                           "-p", std::to_string(port), "-t", std::to_string(seconds), "-O",
                           std::to_string(omit), "-J", "--connect-timeout", "3000"});
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
  auto out = testing::RunCommand({"ip", "netns", "exec", w.side[0].c->name(), "ping", "-6", "-n",
                                  "-c", std::to_string(count), "-i", "0.01", "-W", "1",
                                  w.side[1].sir.ToString()});
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

// The benchmark thread is pinned to one CPU (main.cc), and children inherit that: lift it while
// the tools run, restore it after.

void TcpCompare(benchmark::State& state, const std::string& name) {
  if (StopNow(state)) return;
  auto built = Build();
  if (!built.ok()) return Fail(state, built.status());
  TcpWorld& w = **built;
  AllCpus all_cpus;
  const int reps = Pick(5, 1), seconds = Pick(4, 1), omit = Pick(1, 0), pings = Pick(200, 50);
  // Methods this kernel cannot do are left out, each named with the reason; the rest are measured.
  std::vector<std::string> methods, skipped;
  for (const char* m : kMethods) {
    std::optional<std::string> missing;
    for (KernelFeature f : FeaturesOf(m))
      if (!missing) missing = testing::FeatureMissingReason(f);
    if (missing)
      skipped.push_back(absl::StrCat(m, " (", *missing, ")"));
    else
      methods.push_back(m);
  }
  std::map<std::string, std::vector<Sample>> samples;
  std::map<std::string, bool> tso;
  int port = 5201;
  double ila_translated = 0, ila_delivered = 0, ila_passed = 0;
  double total = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    for (int rep = 0; rep < reps; ++rep) {
      for (size_t k = 0; k < methods.size(); ++k) {
        if (StopNow(state)) return;
        std::string method = methods[(k + static_cast<size_t>(rep)) % methods.size()];
        if (absl::Status st = w.Apply(method); !st.ok()) return Fail(state, st);
        tso[method] = TsoOn(w);
        double drops_before = VethDrops(w);
        Stats ila_before = IlaStats(w);
        auto s = Iperf(w, port++, seconds, omit);
        absl::StatusOr<std::vector<double>> rtt =
            s.ok() ? Ping(w, pings) : absl::StatusOr<std::vector<double>>(s.status());
        absl::Status removed = w.Remove(method);
        if (StopNow(state)) return;
        if (!rtt.ok()) {
          return Fail(state, absl::Status(rtt.status().code(),
                                          absl::StrCat(method, ": ", rtt.status().message())));
        }
        if (!removed.ok()) return Fail(state, removed);
        s->rtt_us = std::move(*rtt);
        s->veth_drops = VethDrops(w) - drops_before;
        if (method == "ila") {  // (ila_tc counts GSO packets, not segments)
          Stats d = IlaStats(w).Since(ila_before);
          ila_translated += static_cast<double>(d.Packets("tx_remote"));
          ila_delivered += static_cast<double>(d.Packets("rx_delivered"));
          for (const Counter& c : d.counters) {
            if (c.name.starts_with("pass_")) ila_passed += static_cast<double>(c.packets);
          }
        }
        samples[method].push_back(std::move(*s));
      }
    }
    total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(total);
  }
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
    std::string k(m);
    state.counters["gbps/" + k] = Median(gbps);
    state.counters["gbps_min/" + k] = *std::min_element(gbps.begin(), gbps.end());
    state.counters["gbps_max/" + k] = *std::max_element(gbps.begin(), gbps.end());
    state.counters["of_plain/" + k] = Median(of_plain);
    state.counters["of_plain_min/" + k] = *std::min_element(of_plain.begin(), of_plain.end());
    state.counters["of_plain_max/" + k] = *std::max_element(of_plain.begin(), of_plain.end());
    state.counters["rtt_us_p50/" + k] = Percentile(rtt, 0.5);
    state.counters["rtt_us_p99/" + k] = Percentile(rtt, 0.99);
    state.counters["retransmits/" + k] = Median(retrans);
    state.counters["veth_drops/" + k] = Median(drops);
    state.counters["sender_tso/" + k] = tso[k] ? 1 : 0;
    absl::StrAppend(&line,
                    absl::StrFormat(" %s=%.2fGb/s,%.0fus", k, Median(gbps), Percentile(rtt, 0.5)));
  }
  // What the data planes did during the ila runs: translated towards the other host, translated
  // back and delivered, and left to the kernel (XDP_PASS).
  state.counters["ila_tx_remote"] = ila_translated;
  state.counters["ila_rx_delivered"] = ila_delivered;
  state.counters["ila_passed"] = ila_passed;
  state.counters["runs_per_method"] = reps;
  state.counters["seconds_per_run"] = seconds;
  state.counters["pings_per_run"] = pings;
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
