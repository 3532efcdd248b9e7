// Isolation between SIR prefixes (tenants), packet by packet through the real programs at XDP and
// tc (Run twins every container and uplink case through the tc flavour): a container's traffic
// stays within its SIR prefix on the way out (drop_cross_prefix: mapped, local or unmapped
// destinations alike; drop_ila_destination: one of this host's locators addressed directly) and
// on the way in (drop_cross_prefix_arrival), unless a PrefixRule links the two prefixes, both ways.
// And the rule table's API: what it refuses, and that it writes all of a rule or nothing.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ila/translation.h"
#include "support/host_test.h"
#include "support/skip.h"
#include "testbed/host_fixture.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;

namespace {

using H = HostFixture;

// The other tenant: its prefix, a container of it on c2h, one mapped elsewhere, and this host's
// locator for it.
const SirPrefix kOther(0x20010db800002222ull);  // 2001:db8:0:2222::/64
const SirAddress kOtherHere{kOther, Identifier(0x2)};
const SirAddress kOtherRemote{kOther, Identifier(0x99)};
const SirAddress kOtherUnmapped{kOther, Identifier(0x4242)};
const Locator kOtherL1(0x20010db8aaaa2222ull);
const Locator kOtherL2(0x20010db8bbbb2222ull);  // the remote host's locator for it
const MacAddress kOtherMac({0x02, 0, 0, 0, 0xc2, 0x22});

std::unique_ptr<HostFixture> TwoTenantHost() {
  auto host = MakeHostOrFail();
  Dataplane& dp = host->dp();
  REQUIRE(dp.sir_prefixes().Add(kOther).ok());
  REQUIRE(dp.locators().Add({kOtherL1, kOther, ChecksumMode::kAdjustTransport}).ok());
  REQUIRE(dp.endpoints().Add({host->c2h(), kOtherHere, kOtherMac}).ok());
  REQUIRE(dp.mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  REQUIRE(
      dp.mappings()
          .Upsert({kOtherRemote, kOtherL2, ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
          .ok());
  REQUIRE(host->host_ns()
              .Run("ip -6 route add " + Ipv6Address::FromHalves(kOtherL2.value(), 0).ToString() +
                   "/64 via " + H::FabricAddress().ToString() + " dev " + host->up_name())
              .ok());
  return host;
}

XdpRun Send(HostFixture& host, const SirAddress& from, InterfaceIndex on, const MacAddress& mac,
            const Ipv6Address& to) {
  const Ipv6Address s = from.address();
  const MacAddress host_side = on == host.c1h() ? host.C1hMac() : host.C2hMac();
  return Run(host, Role::kContainer,
             EthernetIpv6(host_side, mac, Ipv6(s, to, kProtoUdp, Udp(s, to, 4000, 5000, {1, 2}))),
             on);
}

XdpRun FromC1(HostFixture& host, const Ipv6Address& to) {
  return Send(host, H::C1(), host.c1h(), H::C1Mac(), to);
}

// A packet from `src` to `sir`, as the sender's host put it on the wire for locator `loc`
// (adj-transport), arriving on the uplink.
XdpRun Arrival(HostFixture& host, const Ipv6Address& src, const SirAddress& sir, Locator loc) {
  Bytes ip = Ipv6(src, sir.address(), kProtoUdp, Udp(src, sir.address(), 4000, 5000, {3, 4}));
  auto ila = SirToIla(sir, loc, ChecksumMode::kAdjustTransport);
  REQUIRE(ila.ok());
  REQUIRE(RewriteDestination(ip, ila->address(), ChecksumMode::kAdjustTransport).ok());
  return Run(host, Role::kUplink, EthernetIpv6(host.UplinkMac(), H::FabricMac(), ip),
             host.uplink());
}

}  // namespace

TEST_CASE("a container reaches no other SIR prefix: mapped or on this host or unmapped") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = TwoTenantHost();
  // Within its own prefix, as ever.
  RequireOnly(FromC1(*host, H::C2().address()), "tx_local");
  RequireOnly(FromC1(*host, H::Remote().address()), "tx_remote");
  // Across: whether the other tenant's address is mapped (its own mapping would translate it), a
  // container on this very host, or unmapped (which the ILA router would translate).
  for (const SirAddress& to : {kOtherRemote, kOtherHere, kOtherUnmapped}) {
    CAPTURE(to);
    XdpRun r = FromC1(*host, to.address());
    RequireVerdict(r, XDP_DROP);
    RequireOnly(r, "drop_cross_prefix");
  }
  // And the other way.
  RequireOnly(Send(*host, kOtherHere, host->c2h(), kOtherMac, H::C1().address()),
              "drop_cross_prefix");
  RequireOnly(Send(*host, kOtherHere, host->c2h(), kOtherMac, H::Remote().address()),
              "drop_cross_prefix");
  // What is outside every SIR prefix is not a tenant's: still passed to the kernel.
  RequireOnly(FromC1(*host, *Ipv6Address::Parse("2001:db8:ffff::1")), "pass_not_sir");
}

TEST_CASE("a container cannot address one of this host's locators directly") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = TwoTenantHost();
  // The ILA address of C2 (its own tenant, on this host) and of the other tenant's container.
  for (const IlaAddress& ila :
       {IlaAddress{H::L1(), H::C2().identifier}, IlaAddress{kOtherL1, kOtherHere.identifier}}) {
    CAPTURE(ila);
    XdpRun r = FromC1(*host, ila.address());
    RequireVerdict(r, XDP_DROP);
    RequireOnly(r, "drop_ila_destination");
  }
}

TEST_CASE("a container cannot address another host's locator from the cluster table") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = TwoTenantHost();
  const Ipv6Address remote_ila = IlaAddress{H::L2(), H::Remote().identifier}.address();
  // Not known as a locator: an address outside every SIR prefix, for the kernel to route (the far
  // host refuses it when it crosses tenants).
  RequireOnly(FromC1(*host, remote_ila), "pass_not_sir");
  REQUIRE(host->dp()
              .cluster_locators()
              .Upsert({H::L2(), H::Sir(), ChecksumMode::kAdjustTransport})
              .ok());
  XdpRun r = FromC1(*host, remote_ila);
  RequireVerdict(r, XDP_DROP);
  RequireOnly(r, "drop_ila_destination");
  // Re-forward locators too, on both sides; and what stays after another locator goes (the
  // programs' locator filter, abi.h, is rebuilt on removal and must keep every live one).
  const Locator l2_twin(0x20010db8bbbc0001ull), l1_twin(0x20010db8aaab0000ull),
      l3(0x20010db8cccc0003ull);
  REQUIRE(host->dp()
              .cluster_locators()
              .Upsert({H::L2(), H::Sir(), ChecksumMode::kAdjustTransport, l2_twin})
              .ok());
  REQUIRE(
      host->dp().cluster_locators().Upsert({l3, H::Sir(), ChecksumMode::kAdjustTransport}).ok());
  REQUIRE(host->dp()
              .locators()
              .Upsert({H::L1(), H::Sir(), ChecksumMode::kAdjustTransport, l1_twin})
              .ok());
  for (Locator l : {l2_twin, l1_twin, l3}) {
    CAPTURE(l);
    RequireOnly(FromC1(*host, IlaAddress{l, H::Remote().identifier}.address()),
                "drop_ila_destination");
  }
  REQUIRE(host->dp().cluster_locators().Remove(l3).ok());
  RequireOnly(FromC1(*host, IlaAddress{l3, H::Remote().identifier}.address()), "pass_not_sir");
  for (Locator l : {H::L2(), l2_twin, l1_twin, H::L1()}) {
    CAPTURE(l);
    RequireOnly(FromC1(*host, IlaAddress{l, H::Remote().identifier}.address()),
                "drop_ila_destination");
  }
}

TEST_CASE("an arrival from another SIR prefix is not delivered") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = TwoTenantHost();
  // C2's own tenant, from elsewhere: delivered.
  RequireOnly(Arrival(*host, H::Remote().address(), H::C2(), H::L1()), "rx_delivered");
  // The other tenant's container writing C2's ILA address itself (its host passes what is not
  // SIR; the underlay routes it here), or any other path around its host's check.
  XdpRun r = Arrival(*host, kOtherRemote.address(), H::C2(), H::L1());
  RequireVerdict(r, XDP_DROP);
  RequireOnly(r, "drop_cross_prefix_arrival");
  RequireOnly(Arrival(*host, H::Remote().address(), kOtherHere, kOtherL1),
              "drop_cross_prefix_arrival");
  // A source in no SIR prefix (a host, a client outside the overlay) is no tenant's.
  RequireOnly(Arrival(*host, *Ipv6Address::Parse("2001:db8:ffff::1"), H::C2(), H::L1()),
              "rx_delivered");
}

TEST_CASE("a prefix rule lets two SIR prefixes reach each other both ways until it is removed") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = TwoTenantHost();
  Dataplane& dp = host->dp();
  REQUIRE(dp.prefix_rules().Add({kOther, H::Sir()}).ok());
  RequireOnly(FromC1(*host, kOtherRemote.address()), "tx_remote");
  RequireOnly(FromC1(*host, kOtherHere.address()), "tx_local");
  RequireOnly(FromC1(*host, kOtherUnmapped.address()), "pass_miss");
  RequireOnly(Send(*host, kOtherHere, host->c2h(), kOtherMac, H::C1().address()), "tx_local");
  RequireOnly(Arrival(*host, kOtherRemote.address(), H::C2(), H::L1()), "rx_delivered");
  RequireOnly(Arrival(*host, H::Remote().address(), kOtherHere, kOtherL1), "rx_delivered");
  // Locators stay off limits: a rule links prefixes, not ILA addresses.
  RequireOnly(FromC1(*host, IlaAddress{kOtherL1, kOtherHere.identifier}.address()),
              "drop_ila_destination");

  // A third prefix is linked to neither.
  const SirPrefix third(0x20010db800003333ull);
  REQUIRE(dp.sir_prefixes().Add(third).ok());
  RequireOnly(FromC1(*host, SirAddress{third, Identifier(5)}.address()), "drop_cross_prefix");

  REQUIRE(dp.prefix_rules().Remove({H::Sir(), kOther}).ok());  // either way round
  RequireOnly(FromC1(*host, kOtherRemote.address()), "drop_cross_prefix");
  RequireOnly(Arrival(*host, kOtherRemote.address(), H::C2(), H::L1()),
              "drop_cross_prefix_arrival");
}

TEST_CASE("prefix rules: what is refused and what is listed") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options options;
  options.config.max_prefix_rules = 1;
  auto host = MakeHostOrFail(options);
  Dataplane& dp = host->dp();
  PrefixRuleTable& rules = dp.prefix_rules();
  const SirPrefix b(0x20010db800002222ull), c(0x20010db800003333ull);

  absl::Status same = rules.Add({H::Sir(), H::Sir()});
  CHECK(absl::IsInvalidArgument(same));
  CHECK(same.message().find("always reaches itself") != absl::string_view::npos);
  absl::Status unregistered = rules.Add({H::Sir(), b});
  CHECK(absl::IsFailedPrecondition(unregistered));
  CHECK(unregistered.message().find(b.ToString() + " is not registered") !=
        absl::string_view::npos);

  REQUIRE(dp.sir_prefixes().Add(b).ok());
  REQUIRE(dp.sir_prefixes().Add(c).ok());
  REQUIRE(rules.Add({b, H::Sir()}).ok());
  CHECK(absl::IsAlreadyExists(rules.Add({H::Sir(), b})));
  CHECK(rules.Upsert({H::Sir(), b}).ok());
  // The table holds one rule: a second is refused as such, and leaves nothing behind.
  absl::Status full = rules.Add({H::Sir(), c});
  CHECK(absl::IsResourceExhausted(full));
  INFO(full.ToString());
  auto listed = rules.List();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].a == H::Sir());  // a < b
  CHECK((*listed)[0].b == b);
  CHECK((*listed)[0] == PrefixRule{b, H::Sir()});

  // A linked prefix cannot go; unlinked, it can.
  absl::Status in_use = dp.sir_prefixes().Remove(b);
  CHECK(absl::IsFailedPrecondition(in_use));
  CHECK(in_use.message().find("prefix rule") != absl::string_view::npos);
  CHECK(absl::IsNotFound(rules.Remove({H::Sir(), c})));
  REQUIRE(rules.Remove({H::Sir(), b}).ok());
  CHECK(absl::IsNotFound(rules.Remove({H::Sir(), b})));
  CHECK(dp.sir_prefixes().Remove(b).ok());
  auto none = rules.List();
  REQUIRE(none.ok());
  CHECK(none->empty());
}
