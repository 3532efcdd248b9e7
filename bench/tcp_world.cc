#include "tcp_world.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench_support.h"
#include "testbed/netns.h"
#include "worlds.h"

namespace ila::bench::tcp {

std::vector<KernelFeature> FeaturesOf(const std::string& method) {
  if (method == "vxlan") return {KernelFeature::kVxlan};
  if (method.starts_with("srv6")) return {KernelFeature::kSeg6, KernelFeature::kSeg6Local};
  return {};
}

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
    s.eth = testbed::UniqueIfName("eth");
    s.vc = testbed::UniqueIfName("vc");
    s.up = testbed::UniqueIfName("up");
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
        {&*w->fab, testbed::UniqueIfName("f" + s.tag), "", {s.fabric_addr + "/64"}});
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
    // The other host's container: its own is delivered by its endpoint (a mapping to a host's own
    // locator is for an address whose endpoint is there already).
    if (absl::Status st = s.dp->mappings().Upsert({o.sir, o.locator, kMode}); !st.ok()) return st;
  }
  if (absl::Status st = w->fab->EnableForwarding(); !st.ok()) return st;
  // Addresses usable at once (no DAD); the veth carriers take a moment to reach IPv6.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return static_cast<TcpWorld*>(SetWorld(std::move(w)));
}

namespace {

// No path MTU learnt under another method may linger.
absl::Status FlushRouteCaches(const Side& s) {
  for (const Netns* ns : {&*s.c, &*s.h}) {
    if (absl::Status st = TcpWorld::Sh(*ns, "ip -6 route flush cache"); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// ila, ila_tc: the side's data plane attached at its uplink and its container's veth, at XDP
// (native) or at tc.
absl::Status AttachIla(Side& s, const std::string& method) {
  const bool tc = method == "ila_tc";
  if (tc) {  // the veth's defaults, which an earlier ila run turned off
    if (absl::Status st = TcpWorld::Sh(*s.c, "ethtool -K " + s.eth + " tx on sg on tso on gso on");
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
  if (auto a =
          s.dp->AttachContainer({s.vc, s.sir, s.mac, tc ? AttachMode::kTc : AttachMode::kNative});
      !a.ok()) {
    return a.status();
  }
  return absl::OkStatus();
}

// The transmit offloads of the side's veths as the kernel's methods run with them.
absl::Status RestoreOffloads(const Side& s, const std::string& method) {
  // AttachUplink turned the uplink's transmit checksum offload off (a veth uplink checksums in
  // software for the far host's XDP): the other methods get the veth's defaults back.
  if (absl::Status st = TcpWorld::Sh(*s.h, "ethtool -K " + s.up + " tx on sg on tso on gso on");
      !st.ok()) {
    return st;
  }
  // libila turned the container's transmit checksum offload (and with it TSO) off; the other
  // methods get the veth's defaults back, but for plain_no_offload, which has them as under ila.
  std::string features =
      method == "plain_no_offload" ? "tx off tso off gso off" : "tx on sg on tso on gso on";
  return TcpWorld::Sh(*s.c, "ethtool -K " + s.eth + " " + features);
}

// plain, plain_no_offload: the fabric routes each container's address to its host.
absl::Status AddFabricRoutes(const Netns& fab, const Side (&side)[2]) {
  return TcpWorld::Sh(fab, absl::StrCat("ip -6 route add ", side[0].sir.ToString(), "/128 via ",
                                        side[0].up_addr, " && ip -6 route add ",
                                        side[1].sir.ToString(), "/128 via ", side[1].up_addr));
}

// vxlan, srv6_encap, srv6_encap_red: the command that sets the tunnel up on `s`'s host, towards
// `o`.
absl::StatusOr<std::string> TunnelCommand(const Side& s, const Side& o, const std::string& method) {
  if (method == "vxlan") {
    return absl::StrCat("ip link add bvx type vxlan id 42 local ", s.up_addr, " remote ", o.up_addr,
                        " dstport 4789 dev ", s.up, " nolearning && ip link set bvx address ",
                        s.vx_mac, " up && ip -6 route add ", o.sir.ToString(),
                        "/128 dev bvx && ip -6 neigh replace ", o.sir.ToString(), " lladdr ",
                        o.vx_mac, " dev bvx nud permanent");
  }
  if (method == "srv6_encap" || method == "srv6_encap_red") {
    return absl::StrCat("ip -6 route add ", o.sir.ToString(), "/128 encap seg6 mode ",
                        method == "srv6_encap" ? "encap" : "encap.red", " segs ", o.sid, " dev ",
                        s.up, " && ip -6 route add ", s.sid,
                        "/128 encap seg6local action End.DX6 nh6 :: dev ", s.vc);
  }
  return absl::InvalidArgumentError("unknown method " + method);
}

// The tunnel of `method` from `s` to `o`, and the route MTU of `s`'s container under it.
absl::Status AddTunnel(const Side& s, const Side& o, const std::string& method) {
  auto cmd = TunnelCommand(s, o, method);
  if (!cmd.ok()) return cmd.status();
  // The container's route MTU leaves room for the outer headers, as a VXLAN or SRv6 network
  // would configure it: SRv6 encapsulation on the forwarding path reports "packet too big" to
  // the outer source (the host itself), not to the container, so path MTU discovery cannot.
  if (absl::Status st =
          TcpWorld::Sh(*s.c, absl::StrCat("ip -6 route replace default via fe80::1 dev ", s.eth,
                                          " mtu ", EncapMtu(method)));
      !st.ok()) {
    return st;
  }
  if (absl::Status st = TcpWorld::Sh(*s.h, *cmd); !st.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        method, " is not available in this kernel (",
        method == "vxlan" ? "VXLAN over IPv6" : "SRv6 seg6 / seg6local lightweight tunnels",
        "): ", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TcpWorld::Apply(const std::string& method) {
  if (!attached.empty()) {
    if (absl::Status st = Remove(attached); !st.ok()) return st;
  }
  for (int i = 0; i < 2; ++i) {
    Side& s = side[i];
    const Side& o = side[1 - i];
    if (absl::Status st = FlushRouteCaches(s); !st.ok()) return st;
    if (IsIla(method)) {
      if (absl::Status st = AttachIla(s, method); !st.ok()) return st;
      continue;
    }
    if (absl::Status st = RestoreOffloads(s, method); !st.ok()) return st;
    if (method == "plain" || method == "plain_no_offload") {
      if (i == 0) {  // the fabric's routes, for both sides at once
        if (absl::Status st = AddFabricRoutes(*fab, side); !st.ok()) return st;
      }
      continue;
    }
    if (absl::Status st = AddTunnel(s, o, method); !st.ok()) return st;
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

}  // namespace ila::bench::tcp
