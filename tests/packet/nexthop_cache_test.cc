// The next-hop cache (DataplaneConfig::nexthop_cache): the programs store bpf_fib_lookup's answer
// per locator and reuse it. These tests hold it to "never wrong": the output with the cache is
// byte-identical to the output without it, every neighbour or route change retires stored answers
// before the next packet can use them (checked with periodic refresh off, so only notifications
// can do it), and routing a per-locator answer cannot represent switches the cache off.
#include <bpf/bpf.h>
#include <endian.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "abi.h"
#include "ila/translation.h"
#include "nexthop/nexthop_keeper.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;
using namespace std::chrono_literals;

namespace {

using H = HostFixture;

const MacAddress kOtherGatewayMac({0x02, 0, 0, 0, 0xfa, 0xb1});

HostFixture::Options CacheOptions(bool cache) {
  HostFixture::Options o;
  o.config.nexthop_cache = cache;
  o.config.nexthop_refresh = 0ms;  // only notifications retire stored answers
  return o;
}

// C1 -> Remote(), mapped behind L2 (routed via the fabric gateway fd00:ff::2), `payload` bytes
// of UDP.
Bytes RemoteFrame(HostFixture& host, size_t payload = 10) {
  Ipv6Address src = H::C1().address();
  Ipv6Address dst = H::Remote().address();
  Bytes udp = Segment(kProtoUdp, src, dst);
  udp.resize(8 + payload, 0x5a);
  udp[4] = static_cast<uint8_t>(udp.size() >> 8);
  udp[5] = static_cast<uint8_t>(udp.size());
  return EthernetIpv6(host.C1hMac(), H::C1Mac(), Ipv6(src, dst, kProtoUdp, udp));
}

void MapRemote(HostFixture& host) {
  REQUIRE(host.dp()
              .mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kNoAction, IdentifierType::kLuid})
              .ok());
}

MacAddress DstMac(const Bytes& frame) {
  std::array<uint8_t, 6> m{};
  std::copy(frame.begin(), frame.begin() + 6, m.begin());
  return MacAddress(m);
}

// Waits until the keeper has started an epoch after `before` (it read a notification).
void AwaitInvalidation(HostFixture& host, uint64_t before) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (host.dp().nexthop_cache().invalidations == before &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(host.dp().nexthop_cache().invalidations > before);
}

// Waits until the cache is on, or off for a reason containing `reason`; returns its state. (After
// a change the keeper may be off briefly while it re-reads the routing configuration.)
NexthopCacheState AwaitEnabled(HostFixture& host, bool enabled, const std::string& reason = "") {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  auto settled = [&](const NexthopCacheState& s) {
    return s.enabled == enabled && s.reason.find(reason) != std::string::npos;
  };
  while (!settled(host.dp().nexthop_cache()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  NexthopCacheState s = host.dp().nexthop_cache();
  INFO("reason: " << s.reason);
  REQUIRE(s.enabled == enabled);
  CHECK_THAT(s.reason, Catch::Contains(reason));
  return s;
}

// Sends `in` twice: both are forwarded to the remote host by a FIB lookup each, the cache neither
// used nor filled. Returns the frame sent.
Bytes ForwardedWithoutCache(HostFixture& host, const Bytes& in) {
  Bytes frame;
  for (int i = 0; i < 2; ++i) {
    XdpRun out = Run(host, Role::kContainer, in, host.c1h());
    RequireVerdict(out, XDP_REDIRECT);
    RequireOnly(out, "tx_remote");
    CHECK(out.delta.Packets("nexthop_learned") == 0);
    CHECK(out.delta.Packets("nexthop_hit") == 0);
    frame = out.frame;
  }
  return frame;
}

// Retires every stored answer (a neighbour change, different each time) and waits until the
// notifications have settled, so that what a test sends next starts from an empty cache.
void StartFreshEpoch(HostFixture& host) {
  static int changes = 0;
  const uint64_t before = host.dp().nexthop_cache().invalidations;
  REQUIRE(host.host_ns()
              .Run("ip -6 neigh replace fd00:ff::9 lladdr 02:00:00:00:fa:" +
                   std::to_string(10 + ++changes % 80) + " nud permanent dev " + host.up_name())
              .ok());
  AwaitInvalidation(host, before);
  for (uint64_t settled = 0; settled != host.dp().nexthop_cache().invalidations;) {
    settled = host.dp().nexthop_cache().invalidations;
    std::this_thread::sleep_for(50ms);
  }
}

// Runs `steps` (which sends packets and returns its findings) until no rtnetlink notification
// retired stored answers while it ran: the namespaces' own neighbour traffic (ND, MLD) can start
// a new epoch at any moment, and an answer retired mid-way is taken again from the FIB, rightly.
template <typename Steps>
auto WithoutInvalidation(HostFixture& host, Steps steps) {
  for (int attempt = 1;; ++attempt) {
    const uint64_t before = host.dp().nexthop_cache().invalidations;
    auto found = steps();
    if (host.dp().nexthop_cache().invalidations == before || attempt == 5) return found;
  }
}

}  // namespace

TEST_CASE("a stored FIB answer gives exactly the frame a FIB lookup gives") {
  ILA_SKIP_IF(HostTestSkipReason());
  Bytes without;
  {
    auto host = MakeHostOrFail(CacheOptions(false));
    CHECK_FALSE(host->dp().nexthop_cache().kept);
    MapRemote(*host);
    Bytes in = RemoteFrame(*host);
    without = ForwardedWithoutCache(*host, in);
  }
  auto host = MakeHostOrFail(CacheOptions(true));
  REQUIRE(host->dp().nexthop_cache().kept);
  AwaitEnabled(*host, true);
  MapRemote(*host);
  Bytes in = RemoteFrame(*host);
  XdpRun first = Run(*host, Role::kContainer, in, host->c1h());
  RequireVerdict(first, XDP_REDIRECT);
  RequireOnly(first, "tx_remote");
  CHECK(first.delta.Packets("nexthop_learned") == 1);
  CHECK(first.delta.Packets("nexthop_hit") == 0);
  XdpRun second = Run(*host, Role::kContainer, in, host->c1h());
  RequireVerdict(second, XDP_REDIRECT);
  RequireOnly(second, "tx_remote");
  CHECK(second.delta.Packets("nexthop_learned") == 0);
  CHECK(second.delta.Packets("nexthop_hit") == 1);
  // The host MACs differ between the two fixtures' links; everything else must not.
  CHECK(Hex(Bytes(first.frame.begin() + 12, first.frame.end())) ==
        Hex(Bytes(without.begin() + 12, without.end())));
  CHECK(Hex(second.frame) == Hex(first.frame));
  CHECK(DstMac(second.frame) == H::FabricMac());
}

TEST_CASE("a neighbour or route change retires stored answers before the next packet uses them") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail(CacheOptions(true));
  AwaitEnabled(*host, true);
  MapRemote(*host);
  Bytes in = RemoteFrame(*host);
  XdpRun out = Run(*host, Role::kContainer, in, host->c1h());
  REQUIRE(DstMac(out.frame) == H::FabricMac());
  out = Run(*host, Role::kContainer, in, host->c1h());
  REQUIRE(out.delta.Packets("nexthop_hit") == 1);

  SECTION("the gateway's MAC changes") {
    uint64_t before = host->dp().nexthop_cache().invalidations;
    REQUIRE(host->host_ns()
                .Run("ip -6 neigh replace fd00:ff::2 lladdr " + kOtherGatewayMac.ToString() +
                     " nud permanent dev " + host->up_name())
                .ok());
    AwaitInvalidation(*host, before);
    out = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(out, XDP_REDIRECT);
    CHECK(out.delta.Packets("nexthop_hit") == 0);
    CHECK(out.delta.Packets("nexthop_learned") == 1);
    CHECK(DstMac(out.frame) == kOtherGatewayMac);
  }
  SECTION("the locator's route moves to another gateway") {
    REQUIRE(host->host_ns()
                .Run("ip -6 neigh replace fd00:ff::3 lladdr " + kOtherGatewayMac.ToString() +
                     " nud permanent dev " + host->up_name())
                .ok());
    AwaitEnabled(*host, true);
    uint64_t before = host->dp().nexthop_cache().invalidations;
    REQUIRE(host->host_ns()
                .Run("ip -6 route replace " +
                     Ipv6Address::FromHalves(H::L2().value(), 0).ToString() +
                     "/64 via fd00:ff::3 dev " + host->up_name())
                .ok());
    AwaitInvalidation(*host, before);
    out = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(out, XDP_REDIRECT);
    CHECK(out.delta.Packets("nexthop_hit") == 0);
    CHECK(DstMac(out.frame) == kOtherGatewayMac);
  }
  SECTION("the locator's route goes away") {
    uint64_t before = host->dp().nexthop_cache().invalidations;
    REQUIRE(host->host_ns()
                .Run("ip -6 route del " + Ipv6Address::FromHalves(H::L2().value(), 0).ToString() +
                     "/64")
                .ok());
    AwaitInvalidation(*host, before);
    out = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(out, XDP_PASS);
    RequireOnly(out, "pass_fib");
    CHECK(out.delta.Packets("nexthop_hit") == 0);
  }
  SECTION("forwarding is switched off on the container's interface") {
    auto name = host->host_ns().RunOutput(
        "ip -o link show | awk -F': ' '$1==" + host->c1h().ToString() + " {print $2}'");
    REQUIRE(name.ok());
    std::string ifname = name->substr(0, name->find_first_of("@\n"));
    REQUIRE(host->host_ns().Run("sysctl -qw net.ipv6.conf." + ifname + ".forwarding=0").ok());
    AwaitEnabled(*host, false, "forwarding is off on " + ifname);
    out = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(out, XDP_PASS);  // the FIB refuses, as the kernel would
    RequireOnly(out, "pass_fib");
    REQUIRE(host->host_ns().Run("sysctl -qw net.ipv6.conf." + ifname + ".forwarding=1").ok());
    AwaitEnabled(*host, true);
  }
}

TEST_CASE("routing a per-locator answer cannot represent switches the cache off, and back on") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail(CacheOptions(true));
  AwaitEnabled(*host, true);
  MapRemote(*host);
  Bytes in = RemoteFrame(*host);

  struct Obstacle {
    std::string add, del, reason;
  };
  const std::string up = host->up_name();
  const Obstacle obstacles[] = {
      {"ip -6 rule add from 2001:db8::/32 table 100 priority 100",
       "ip -6 rule del from 2001:db8::/32 table 100 priority 100", "policy rule (priority 100"},
      {"ip -6 neigh replace fd00:ff::3 lladdr 02:00:00:00:fa:b1 nud permanent dev " + up +
           " && ip -6 route add 2001:db8:cccc::/64 nexthop via fd00:ff::2 dev " + up +
           " nexthop via fd00:ff::3 dev " + up,
       "ip -6 route del 2001:db8:cccc::/64", "multipath route 2001:db8:cccc::/64"},
  };
  for (const Obstacle& o : obstacles) {
    CAPTURE(o.add);
    REQUIRE(host->host_ns().Run(o.add).ok());
    AwaitEnabled(*host, false, o.reason);
    (void)ForwardedWithoutCache(*host, in);
    REQUIRE(host->host_ns().Run(o.del).ok());
    AwaitEnabled(*host, true);
    // The keeper reports itself enabled as it writes the state the programs read; on a loaded
    // machine (the sanitized run) a packet can come between the two and find the cache still off:
    // it is then forwarded without it (nothing stored, nothing reused), and a later one learns.
    XdpRun out;
    for (int attempt = 0; attempt < 20; ++attempt) {
      out = Run(*host, Role::kContainer, in, host->c1h());
      CHECK(out.delta.Packets("nexthop_hit") == 0);  // never a stale answer from before
      if (out.delta.Packets("nexthop_learned") == 1) break;
      std::this_thread::sleep_for(50ms);
    }
    CHECK(out.delta.Packets("nexthop_learned") == 1);
  }
}

TEST_CASE("answers that hold for one destination only, or for shorter packets, are not reused") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail(CacheOptions(true));
  AwaitEnabled(*host, true);
  MapRemote(*host);

  SECTION("a locator reached on-link has a neighbour per destination") {
    // No-action: the ILA address is L2 with Remote's identifier.
    const std::string ila = Ipv6Address::FromHalves(H::L2().value(), 0x99).ToString();
    REQUIRE(host->host_ns()
                .Run("ip -6 route replace " +
                     Ipv6Address::FromHalves(H::L2().value(), 0).ToString() + "/64 dev " +
                     host->up_name() + " && ip -6 neigh replace " + ila + " lladdr " +
                     kOtherGatewayMac.ToString() + " nud permanent dev " + host->up_name())
                .ok());
    AwaitEnabled(*host, true);
    Bytes in = RemoteFrame(*host);
    for (int i = 0; i < 2; ++i) {
      XdpRun out = Run(*host, Role::kContainer, in, host->c1h());
      RequireVerdict(out, XDP_REDIRECT);
      CHECK(DstMac(out.frame) == kOtherGatewayMac);
      CHECK(out.delta.Packets("nexthop_learned") == 0);
      CHECK(out.delta.Packets("nexthop_hit") == 0);
    }
  }
  SECTION("a longer packet than any the FIB accepted takes the FIB again") {
    struct Seen {
      XdpRun first, longer, shorter;
    };
    const Seen seen = WithoutInvalidation(*host, [&] {
      StartFreshEpoch(*host);
      Seen s;
      s.first = Run(*host, Role::kContainer, RemoteFrame(*host, 10), host->c1h());
      s.longer = Run(*host, Role::kContainer, RemoteFrame(*host, 1000), host->c1h());
      s.shorter = Run(*host, Role::kContainer, RemoteFrame(*host, 500), host->c1h());
      return s;
    });
    CHECK(seen.first.delta.Packets("nexthop_learned") == 1);
    RequireVerdict(seen.longer, XDP_REDIRECT);
    CHECK(seen.longer.delta.Packets("nexthop_hit") == 0);
    CHECK(seen.longer.delta.Packets("nexthop_learned") == 1);
    CHECK(seen.shorter.delta.Packets("nexthop_hit") == 1);
    XdpRun out;
    // Beyond the uplink's 1500-byte MTU: the FIB says so, and the packet goes to the kernel as
    // the container sent it, so that the kernel's Packet Too Big quotes its SIR destination.
    const Bytes big = RemoteFrame(*host, 1600);
    out = Run(*host, Role::kContainer, big, host->c1h());
    RequireVerdict(out, XDP_PASS);
    RequireOnly(out, "pass_too_big");
    CHECK(Hex(out.frame) == Hex(big));
    CHECK(out.delta.Packets("nexthop_hit") == 0);
  }
}

// The FIB never forwards a packet from a link-local, multicast or loopback source (the kernel's
// rule, RFC 4291 2.5.6); an answer stored for another packet to the same locator must not either.
// (Found by the differential fuzzer, tests/fuzz: with the answer stored, such packets were
// forwarded; without it, passed.) Both ways a packet is forwarded from the underlay: the router,
// and the uplink re-translating for a container that moved.
TEST_CASE("a stored answer forwards nothing the FIB refuses: link-local, multicast, loopback") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail(CacheOptions(true));
  AwaitEnabled(*host, true);
  MapRemote(*host);
  const SirAddress moved{H::Sir(), Identifier(0x7)};
  REQUIRE(host->dp()
              .mappings()
              .Upsert({moved, H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  const ChecksumMode mode = ChecksumMode::kAdjustTransport;  // the fixture's L1
  auto to_router = [&](const Ipv6Address& src) {
    const Ipv6Address dst = H::Remote().address();
    return host->FromFabric(src, dst, kProtoUdp, Segment(kProtoUdp, src, dst));
  };
  auto to_moved = [&](const Ipv6Address& src) {
    Bytes ip = Ipv6(src, moved.address(), kProtoUdp, Segment(kProtoUdp, src, moved.address()));
    REQUIRE(RewriteDestination(ip, SirToIla(moved, H::L1(), mode)->address(), mode).ok());
    return EthernetIpv6(host->UplinkMac(), H::FabricMac(), ip);
  };
  const Ipv6Address refused[] = {Ipv6Address::FromHalves(0xfe80000000000000ull, 0x1234),
                                 Ipv6Address::FromHalves(0xff02000000000000ull, 1),
                                 Ipv6Address::FromHalves(0, 1)};
  const Ipv6Address fine = H::C2().address();
  for (const Ipv6Address& src : refused) {
    for (Role role : {Role::kRouter, Role::kUplink}) {
      CAPTURE(src, ToString(role));
      auto frame = [&](const Ipv6Address& from) {
        return role == Role::kRouter ? to_router(from) : to_moved(from);
      };
      struct Seen {
        XdpRun stored, refused;
      };
      const Seen seen = WithoutInvalidation(*host, [&] {
        Seen s;
        s.stored = Run(*host, role, frame(fine), host->uplink());  // stores the answer, or uses it
        s.refused = Run(*host, role, frame(src), host->uplink());
        return s;
      });
      RequireVerdict(seen.stored, XDP_REDIRECT);
      CHECK(seen.stored.delta.Packets("nexthop_learned") +
                seen.stored.delta.Packets("nexthop_hit") ==
            1);
      RequireVerdict(seen.refused, XDP_PASS);
      RequireOnly(seen.refused, "pass_fib");
      CHECK(seen.refused.delta.Packets("nexthop_hit") == 0);
    }
  }
}

// The shared entry of ila_nexthop_epoch (abi.h) as the programs read it, from the pinned map.
ila::abi::ila_nexthop_lease SharedLease(HostFixture& host) {
  const std::string path = host.bpffs_dir() + "/test/maps/ila_nexthop_epoch";
  int fd = bpf_obj_get(path.c_str());
  REQUIRE(fd >= 0);
  uint32_t key = 0;
  ila::abi::ila_nexthop_lease value{};
  const int rc = bpf_map_lookup_elem(fd, &key, &value);
  close(fd);
  REQUIRE(rc == 0);
  return value;
}

// Whether the programs use the cache: a remote packet stores its FIB answer or uses a stored one.
bool ProgramsUseCache(HostFixture& host) {
  XdpRun out = Run(host, Role::kContainer, RemoteFrame(host), host.c1h());
  RequireVerdict(out, XDP_REDIRECT);
  return out.delta.Packets("nexthop_learned") + out.delta.Packets("nexthop_hit") > 0;
}

TEST_CASE("the cache is off while no Dataplane keeps it") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o = CacheOptions(true);
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  AwaitEnabled(*host, true);
  MapRemote(*host);
  CHECK(SharedLease(*host).epoch != 0);
  CHECK(ProgramsUseCache(*host));
  // The controlling process goes away; the pinned programs run on, with the cache off at once.
  host->DropDataplane();
  CHECK(SharedLease(*host).epoch == 0);
  auto again = Dataplane::Open(host->pin_location());
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK((*again)->nexthop_cache().enabled);
  CHECK(SharedLease(*host).epoch != 0);
  host->SetDataplane(std::move(*again));
}

// Two processes (here: two handles) keep the cache; the first to stop gives back its own lease
// only: the cache stays on, kept by the other, until that one stops too.
TEST_CASE("the first of two keepers to stop leaves the cache on and the last switches it off") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o = CacheOptions(true);
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  AwaitEnabled(*host, true);
  MapRemote(*host);
  auto second = Dataplane::Open(host->pin_location());
  INFO(second.status().ToString());
  REQUIRE(second.ok());
  REQUIRE((*second)->nexthop_cache().kept);
  second->reset();
  CHECK(SharedLease(*host).epoch != 0);
  CHECK(host->dp().nexthop_cache().enabled);
  CHECK(ProgramsUseCache(*host));
  CHECK(ProgramsUseCache(*host));
  // The last one: off at once, without waiting for its lease to run out.
  auto watcher = Dataplane::Open(host->pin_location(), {.keep_nexthop_cache = false});
  REQUIRE(watcher.ok());
  host->DropDataplane();
  CHECK(SharedLease(*host).epoch == 0);
  host->SetDataplane(std::move(*watcher));
  CHECK_FALSE(host->dp().nexthop_cache().enabled);
  CHECK_FALSE(ProgramsUseCache(*host));
}

// A keeper killed without a word stops renewing its lease: the programs stop using the cache
// within the lease (nobody would retire answers that later routing changes make stale).
TEST_CASE("a keeper killed by SIGKILL leaves the cache on no longer than its lease") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o = CacheOptions(true);
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  MapRemote(*host);
  // This process only watches; a child keeps the cache.
  host->DropDataplane();
  auto watcher = Dataplane::Open(host->pin_location(), {.keep_nexthop_cache = false});
  REQUIRE(watcher.ok());
  host->SetDataplane(std::move(*watcher));
  CHECK_FALSE(ProgramsUseCache(*host));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t keeper = fork();
  REQUIRE(keeper >= 0);
  if (keeper == 0) {
    auto kept = Dataplane::Open(host->pin_location());
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (kept.ok() && !(*kept)->nexthop_cache().enabled &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    const char state = kept.ok() && (*kept)->nexthop_cache().enabled ? 'y' : 'n';
    (void)!write(ready[1], &state, 1);
    for (;;) pause();
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{keeper};
  close(ready[1]);
  char state = 0;
  REQUIRE(read(ready[0], &state, 1) == 1);
  close(ready[0]);
  REQUIRE(state == 'y');
  CHECK(host->dp().nexthop_cache().enabled);
  CHECK(ProgramsUseCache(*host));

  REQUIRE(kill(keeper, SIGKILL) == 0);
  const auto killed = std::chrono::steady_clock::now();
  const auto give_up = killed + 4 * ila::internal::NexthopKeeper::kLease;
  while (ProgramsUseCache(*host) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  const auto off_after = std::chrono::steady_clock::now() - killed;
  INFO("off after " << std::chrono::duration_cast<std::chrono::milliseconds>(off_after).count()
                    << " ms");
  CHECK_FALSE(ProgramsUseCache(*host));
  CHECK(off_after <= ila::internal::NexthopKeeper::kLease + 300ms);
  CHECK_FALSE(host->dp().nexthop_cache().enabled);
  CHECK(SharedLease(*host).epoch != 0);  // what a dead keeper left: the lease alone turns it off
}

// The cache is direct-mapped (abi.h, ila_nexthop_cache): with max_nexthops = 1 it has two
// entries, so of three locators two share one. They take turns in it (each turn a FIB walk) and
// never get each other's next hop, while the third keeps its entry.
TEST_CASE("locators that share a cache entry take turns and never get each other's next hop") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o = CacheOptions(true);
  o.config.max_nexthops = 1;
  auto host = MakeHostOrFail(o);
  AwaitEnabled(*host, true);

  const uint32_t bits = 1;  // two entries: the next power of two >= 2 * max_nexthops
  auto entry_of = [&](Locator l) { return ila::abi::ila_nexthop_index(htobe64(l.value()), bits); };
  // L2 is the fixture's; find one locator in L2's entry and one in the other.
  Locator same = H::L2(), other = H::L2();
  for (uint64_t v = H::L2().value() + 1; same == H::L2() || other == H::L2(); ++v) {
    Locator l(v);
    if (entry_of(l) == entry_of(H::L2()) && same == H::L2()) same = l;
    if (entry_of(l) != entry_of(H::L2()) && other == H::L2()) other = l;
  }
  const MacAddress kThirdGatewayMac({0x02, 0, 0, 0, 0xfa, 0xb2});
  const std::string up = host->up_name();
  auto prefix = [](Locator l) { return Ipv6Address::FromHalves(l.value(), 0).ToString() + "/64"; };
  REQUIRE(host->host_ns()
              .Run("ip -6 neigh replace fd00:ff::3 lladdr " + kOtherGatewayMac.ToString() +
                   " nud permanent dev " + up + " && ip -6 neigh replace fd00:ff::4 lladdr " +
                   kThirdGatewayMac.ToString() + " nud permanent dev " + up +
                   " && ip -6 route replace " + prefix(same) + " via fd00:ff::3 dev " + up +
                   " && ip -6 route replace " + prefix(other) + " via fd00:ff::4 dev " + up)
              .ok());
  AwaitEnabled(*host, true);

  struct Peer {
    SirAddress sir;
    Locator locator;
    MacAddress gateway;
  };
  const Peer peers[] = {{H::Remote(), H::L2(), H::FabricMac()},
                        {{H::Sir(), Identifier(0x9a)}, same, kOtherGatewayMac},
                        {{H::Sir(), Identifier(0x9b)}, other, kThirdGatewayMac}};
  for (const Peer& p : peers) {
    REQUIRE(host->dp()
                .mappings()
                .Upsert({p.sir, p.locator, ChecksumMode::kNoAction, IdentifierType::kLuid})
                .ok());
  }
  auto frame_to = [&](const SirAddress& dst) {
    Bytes udp = Segment(kProtoUdp, H::C1().address(), dst.address());
    return EthernetIpv6(host->C1hMac(), H::C1Mac(),
                        Ipv6(H::C1().address(), dst.address(), kProtoUdp, udp));
  };
  const std::vector<XdpRun> runs = WithoutInvalidation(*host, [&] {
    StartFreshEpoch(*host);
    std::vector<XdpRun> out;
    for (int round = 0; round < 4; ++round)
      for (const Peer& p : peers)
        out.push_back(Run(*host, Role::kContainer, frame_to(p.sir), host->c1h()));
    return out;
  });
  for (size_t n = 0; n < runs.size(); ++n) {
    const size_t i = n % 3, round = n / 3;
    CAPTURE(round, i);
    RequireVerdict(runs[n], XDP_REDIRECT);
    CHECK(DstMac(runs[n].frame) == peers[i].gateway);
    const bool alone = i == 2;
    // The two sharing an entry find the other's locator there every time: a FIB walk each.
    CHECK(runs[n].delta.Packets("nexthop_hit") == (alone && round > 0 ? 1u : 0u));
    CHECK(runs[n].delta.Packets("nexthop_learned") == (alone && round > 0 ? 0u : 1u));
  }
}

// Two CPUs learning and using one entry at once: two locators share it, so nearly every packet
// replaces the other's answer, on both CPUs. The entry's seqcount and compare-and-swap must keep
// every packet's next hop whole: the MACs of its own locator's gateway, never a mix.
TEST_CASE("two CPUs writing and reading one cache entry never send a packet to a torn next hop") {
  ILA_SKIP_IF(HostTestSkipReason());
  cpu_set_t online;
  ILA_SKIP_IF(sched_getaffinity(0, sizeof(online), &online) != 0 || CPU_COUNT(&online) < 2
                  ? std::optional<std::string>("needs two CPUs to run the data plane on at once")
                  : std::nullopt);
  HostFixture::Options o = CacheOptions(true);
  o.config.max_nexthops = 1;
  auto host = MakeHostOrFail(o);
  AwaitEnabled(*host, true);
  Locator same = H::L2();
  for (uint64_t v = H::L2().value() + 1; same == H::L2(); ++v) {
    if (ila::abi::ila_nexthop_index(htobe64(v), 1) ==
        ila::abi::ila_nexthop_index(htobe64(H::L2().value()), 1))
      same = Locator(v);
  }
  const std::string up = host->up_name();
  REQUIRE(host->host_ns()
              .Run("ip -6 neigh replace fd00:ff::3 lladdr " + kOtherGatewayMac.ToString() +
                   " nud permanent dev " + up + " && ip -6 route replace " +
                   Ipv6Address::FromHalves(same.value(), 0).ToString() + "/64 via fd00:ff::3 dev " +
                   up)
              .ok());
  AwaitEnabled(*host, true);
  const SirAddress other{H::Sir(), Identifier(0x9a)};
  MapRemote(*host);
  REQUIRE(host->dp()
              .mappings()
              .Upsert({other, same, ChecksumMode::kNoAction, IdentifierType::kLuid})
              .ok());
  const Bytes frames[2] = {
      RemoteFrame(*host),
      EthernetIpv6(host->C1hMac(), H::C1Mac(),
                   Ipv6(H::C1().address(), other.address(), kProtoUdp,
                        Segment(kProtoUdp, H::C1().address(), other.address())))};
  // Each frame's Ethernet header as the FIB makes it (the gateway's MAC, the uplink's).
  Bytes want[2];
  for (int i = 0; i < 2; ++i) {
    XdpRun r = Run(*host, Role::kContainer, frames[i], host->c1h());
    RequireVerdict(r, XDP_REDIRECT);
    want[i] = Bytes(r.frame.begin(), r.frame.begin() + 12);
  }
  REQUIRE(DstMac(want[0]) == H::FabricMac());
  REQUIRE(DstMac(want[1]) == kOtherGatewayMac);
  const int prog = host->dp().program_fd(Role::kContainer);
  auto before = host->dp().ReadStats();
  REQUIRE(before.ok());

  std::atomic<int> failed_runs{0}, torn{0};
  auto sender = [&](int cpu, int first) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0) ++failed_runs;
    for (int i = 0; i < 20000; ++i) {
      const int which = (i + first) % 2;
      Bytes data = frames[which];
      Bytes out(data.size() + 64);
      xdp_md ctx{};
      ctx.ingress_ifindex = static_cast<uint32_t>(host->c1h().value());
      ctx.data_end = static_cast<uint32_t>(data.size());
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_out = out.data(),
                  .data_size_in = static_cast<uint32_t>(data.size()),
                  .data_size_out = static_cast<uint32_t>(out.size()), .ctx_in = &ctx,
                  .ctx_size_in = sizeof(ctx));
      if (bpf_prog_test_run_opts(prog, &opts) != 0 || opts.retval != XDP_REDIRECT) {
        ++failed_runs;
        continue;
      }
      out.resize(opts.data_size_out);
      if (!std::equal(want[which].begin(), want[which].end(), out.begin())) ++torn;
    }
  };
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &online)) cpus.push_back(c);
  // Hits need the two senders to run at the same time; on a loaded machine (other tests in
  // parallel) one round may not overlap enough, so rounds repeat until both paths ran many times.
  auto after = host->dp().ReadStats();
  for (int round = 0; round < 5; ++round) {
    std::thread a(sender, cpus[0], 0), b(sender, cpus[1], 1);
    a.join();
    b.join();
    after = host->dp().ReadStats();
    REQUIRE(after.ok());
    const auto so_far = after->Since(*before);
    if (so_far.Packets("nexthop_learned") > 1000 && so_far.Packets("nexthop_hit") > 100) break;
  }
  const auto delta = after->Since(*before);
  INFO("learned " << delta.Packets("nexthop_learned") << ", hits " << delta.Packets("nexthop_hit"));
  CHECK(failed_runs == 0);
  CHECK(torn == 0);
  // Both paths ran many times: answers stored (the entry changing hands) and used.
  CHECK(delta.Packets("nexthop_learned") > 1000);
  CHECK(delta.Packets("nexthop_hit") > 100);
}
