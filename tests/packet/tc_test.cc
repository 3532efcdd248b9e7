// The container program at tc (AttachMode::kTc) against the XDP one, with the next-hop cache in the
// same state for both: for every path the two make the same decision, write the same bytes and
// move the same counters. (Beyond these, every from_container and from_uplink case of the packet
// tests runs through both hooks: see Run in host_test.h. What tc adds — GSO packets, checksum
// offload, delivery with bpf_redirect_peer — is exercised by real TCP in
// tests/e2e/transfer_test.cc.)
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;

namespace {

using H = HostFixture;

// Outcome counters (not bytes: a frame counts the same either way).
std::string Moved(const Stats& delta) {
  std::string s;
  for (const Counter& c : delta.counters)
    if (c.packets) s += std::string(c.name) + "=" + std::to_string(c.packets) + " ";
  return s;
}

// Runs `in` through both programs (XDP twice, so that the next-hop cache is in the same state for
// both) and requires the same verdict, bytes and counters (runs repeated while the namespaces'
// own background traffic lands in a delta: see RunQuiet).
void SameAsXdp(HostFixture& host, const Bytes& in, int expected_xdp_verdict,
               const std::string& expected_counter) {
  const int xdp = host.dp().program_fd(Role::kContainer);
  const int tc = host.dp().program_fd(Role::kContainer, AttachMode::kTc);
  REQUIRE(tc >= 0);
  (void)host.Run(xdp, in, host.c1h(), host.dp());
  XdpRun a = RunQuiet([&] { return host.Run(xdp, in, host.c1h(), host.dp()); });
  XdpRun b = RunQuiet([&] { return host.RunTc(tc, in, host.c1h()); });
  INFO("xdp moved: " << Moved(a.delta) << "\ntc moved: " << Moved(b.delta));
  REQUIRE(a.verdict == expected_xdp_verdict);
  CHECK(a.delta.Packets(CounterNamed(expected_counter)) == 1);
  CheckTcSameAsXdp(a, b);
  for (CounterName nexthop : {CounterName("nexthop_hit"), CounterName("nexthop_learned")})
    CHECK(b.delta.Packets(nexthop) == a.delta.Packets(nexthop));
}

Bytes FromC1(HostFixture& host, const Ipv6Address& dst, uint8_t proto, uint8_t hop = 64,
             const std::optional<Ipv6Address>& src = std::nullopt) {
  Ipv6Address s = src.value_or(H::C1().address());
  return EthernetIpv6(host.C1hMac(), H::C1Mac(), Ipv6(s, dst, proto, Segment(proto, s, dst), hop));
}

std::string InterfaceNameOf(InterfaceIndex ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(static_cast<unsigned>(ifindex.value()), name) ? name : "";
}

}  // namespace

// The tc program passes with TC_ACT_UNSPEC (-1): a run whose delta caught a namespace's own
// neighbour discovery or MLD report must be repeated like any other, not taken as a failed run.
TEST_CASE("a tc run that passes and caught background traffic is repeated until quiet") {
  auto run = [](uint64_t background) {
    XdpRun r;
    r.verdict = TC_ACT_UNSPEC;
    r.delta.counters = {{"pass_miss", CounterKind::kPassed, "", 1, 100},
                        {"pass_link_local", CounterKind::kPassed, "", background, 90}};
    return r;
  };
  int runs = 0;
  XdpRun r = RunQuiet([&] { return run(++runs == 1 ? 1 : 0); });
  CHECK(runs == 2);
  CHECK(OutcomesText(r.delta) == "pass_miss=1 ");

  runs = 0;
  XdpRun failed = RunQuiet([&] {
    ++runs;
    XdpRun f;
    f.error = EPERM;
    return f;
  });
  CHECK(runs == 1);
  CHECK(VerdictName(failed.verdict) == "not run");
}

TEST_CASE("tc from_container translates and forwards exactly as XDP does, in every mode") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  for (ChecksumMode mode :
       {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap, ChecksumMode::kNeutralMapAuto,
        ChecksumMode::kNoAction, ChecksumMode::kAdjustTransportLinuxCompat}) {
    for (uint8_t proto : {kProtoTcp, kProtoUdp, kProtoIcmpv6}) {
      CAPTURE(mode, static_cast<int>(proto));
      REQUIRE(
          host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
      Bytes in = FromC1(*host, H::Remote().address(), proto);
      SameAsXdp(*host, in, XDP_REDIRECT, "tx_remote");
      // And the tc output is the C++ reference's translation.
      XdpRun b =
          host->RunTc(host->dp().program_fd(Role::kContainer, AttachMode::kTc), in, host->c1h());
      auto ila = SirToIla(H::Remote(), H::L2(), mode);
      REQUIRE(ila.ok());
      CHECK(FrameDst(b.frame) == ila->address());
    }
  }
}

TEST_CASE("tc from_container: local delivery, misses, spoofing, hop limits and non-ILA as XDP") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  SECTION("to a container on this host") {
    SameAsXdp(*host, FromC1(*host, H::C2().address(), kProtoUdp), XDP_REDIRECT, "tx_local");
  }
  SECTION("to an unmapped SIR address") {
    SameAsXdp(*host, FromC1(*host, SirAddress{H::Sir(), Identifier(0x4242)}.address(), kProtoUdp),
              XDP_PASS, "pass_miss");
  }
  SECTION("to a non-SIR address") {
    SameAsXdp(*host, FromC1(*host, *Ipv6Address::Parse("2001:db8:ffff::1"), kProtoUdp), XDP_PASS,
              "pass_not_sir");
  }
  SECTION("from a source the interface does not own") {
    SameAsXdp(
        *host,
        FromC1(*host, H::C2().address(), kProtoUdp, 64, *Ipv6Address::Parse("2001:db8:0:1::66")),
        XDP_DROP, "drop_spoofed_source");
  }
  SECTION("with hop limit 1") {
    REQUIRE(
        host->dp()
            .mappings()
            .Upsert({H::Remote(), H::L2(), ChecksumMode::kNeutralMapAuto, IdentifierType::kLuid})
            .ok());
    SameAsXdp(*host, FromC1(*host, H::Remote().address(), kProtoUdp, 1), XDP_PASS,
              "pass_hop_limit");
  }
  SECTION("a payload length beyond the frame") {
    Bytes in = FromC1(*host, H::C2().address(), kProtoUdp);
    in[14 + 4] = 0x05;  // payload length 0x05xx
    SameAsXdp(*host, in, XDP_DROP, "drop_bad_length");
  }
}

TEST_CASE("a checksum of 0xffff that meets a zero delta becomes 0x0000 at XDP and at tc alike") {
  // One's complement has two zeros. A mapping to a locator whose 16-bit sum is the SIR prefix's
  // has a zero delta; Linux-compat stored it as 0x0000, and XDP's plain RFC 1624 formula kept a
  // TCP or ICMPv6 checksum of 0xffff (-0) as it was while tc's helper (and Linux) wrote 0x0000, as
  // a computation from scratch does. Found by the differential fuzzer (tests/fuzz).
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  const Locator same_sum(0x20010db800010000ull);  // 2001:db8:1:0, sum 0x2dba like 2001:db8:0:1
  REQUIRE(OnesComplementSum64(same_sum.value()) == OnesComplementSum64(H::Sir().value()));
  REQUIRE(host->host_ns()
              .Run("ip -6 route add " + Ipv6Address::FromHalves(same_sum.value(), 0).ToString() +
                   "/64 via fd00:ff::2 dev " + host->up_name())
              .ok());
  const int tc = host->dp().program_fd(Role::kContainer, AttachMode::kTc);
  for (ChecksumMode mode :
       {ChecksumMode::kAdjustTransport, ChecksumMode::kAdjustTransportLinuxCompat}) {
    REQUIRE(
        host->dp().mappings().Upsert({H::Remote(), same_sum, mode, IdentifierType::kLuid}).ok());
    for (uint8_t proto : {kProtoTcp, kProtoIcmpv6}) {
      CAPTURE(mode, static_cast<int>(proto));
      Bytes in = FromC1(*host, H::Remote().address(), proto);
      const size_t field = kEthLen + kIpv6Len + static_cast<size_t>(TransportChecksumOffset(proto));
      in[field] = in[field + 1] = 0xff;
      SameAsXdp(*host, in, XDP_REDIRECT, "tx_remote");
      XdpRun r = host->RunTc(tc, in, host->c1h());
      CHECK(r.frame.at(field) == 0);
      CHECK(r.frame.at(field + 1) == 0);
      CHECK(FrameTransportChecksumValid(r.frame) == FrameTransportChecksumValid(in));
    }
  }
}

namespace {

// Attaches `role` at tc on `ifindex` and checks the filter names the program.
Attachment AttachAtTc(HostFixture& host, Role role, InterfaceIndex ifindex,
                      const std::string& program) {
  absl::StatusOr<Attachment> att =
      role == Role::kContainer
          ? host.dp().AttachContainer({ifindex, H::C2(), H::C2Mac(), AttachMode::kTc})
          : host.dp().AttachUplink({ifindex, AttachMode::kTc, {}});
  INFO(att.status().ToString());
  REQUIRE(att.ok());
  CHECK(att->mode == AttachMode::kTc);
  auto out =
      host.host_ns().RunOutput("tc filter show dev " + InterfaceNameOf(ifindex) + " ingress");
  REQUIRE(out.ok());
  CHECK_THAT(*out,
             Catch::Contains(program) && Catch::Contains("id " + std::to_string(att->program_id)));
  return *att;
}

uint32_t AttachedProgram(const Dataplane& dp, InterfaceIndex ifindex) {
  for (const Attachment& a : dp.attachments())
    if (a.ifindex == ifindex) return a.program_id;
  return 0;
}

}  // namespace

TEST_CASE("tc attachments of containers and uplinks: attach, upgrade, adoption by Open, detach") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o;
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  const InterfaceIndex c2h = host->c2h();
  const InterfaceIndex up = host->uplink();
  auto filter = [&](InterfaceIndex ifindex) -> std::string {
    auto out =
        host->host_ns().RunOutput("tc filter show dev " + InterfaceNameOf(ifindex) + " ingress");
    REQUIRE(out.ok());
    return *out;
  };
  REQUIRE(host->dp().Detach(c2h).ok());
  REQUIRE(host->dp().Detach(up).ok());
  const Attachment container = AttachAtTc(*host, Role::kContainer, c2h, "ila_tc_from_con");
  const Attachment uplink = AttachAtTc(*host, Role::kUplink, up, "ila_tc_from_upl");
  // A veth uplink at tc keeps its transmit checksum offload (its segments are not checksummed in
  // software for a far XDP program).
  auto features = host->host_ns().RunOutput("ethtool -k " + host->up_name());
  REQUIRE(features.ok());
  CHECK_THAT(*features, Catch::Contains("tx-checksumming: on"));

  // Traffic from c2 now goes through tc: to c1, delivered.
  Bytes in = EthernetIpv6(host->C2hMac(), H::C2Mac(),
                          Ipv6(H::C2().address(), H::C1().address(), kProtoUdp,
                               Segment(kProtoUdp, H::C2().address(), H::C1().address())));
  XdpRun r = host->RunTc(host->dp().program_fd(Role::kContainer, AttachMode::kTc), in, c2h);
  CHECK(r.verdict == TC_ACT_REDIRECT);
  CHECK(r.delta.Packets("tx_local") == 1);

  REQUIRE(host->dp().Upgrade().ok());
  const uint32_t upgraded_container = AttachedProgram(host->dp(), c2h);
  const uint32_t upgraded_uplink = AttachedProgram(host->dp(), up);
  CHECK(upgraded_container != container.program_id);
  CHECK(upgraded_uplink != uplink.program_id);
  CHECK_THAT(filter(c2h), Catch::Contains("id " + std::to_string(upgraded_container)));
  CHECK_THAT(filter(up), Catch::Contains("ila_tc_from_upl") &&
                             Catch::Contains("id " + std::to_string(upgraded_uplink)));

  // Another process adopts them and sees tc attachments.
  host->DropDataplane();
  auto adopted = Dataplane::Open(host->pin_location());
  REQUIRE(adopted.ok());
  int seen = 0;
  for (const Attachment& a : (*adopted)->attachments()) {
    if (a.ifindex != c2h && a.ifindex != up) continue;
    ++seen;
    CHECK(a.mode == AttachMode::kTc);
    CHECK(a.role == (a.ifindex == up ? Role::kUplink : Role::kContainer));
    CHECK(a.program_id == (a.ifindex == up ? upgraded_uplink : upgraded_container));
  }
  CHECK(seen == 2);
  host->SetDataplane(std::move(*adopted));
  // The adopted instance upgrades them too.
  REQUIRE(host->dp().Upgrade().ok());
  CHECK(AttachedProgram(host->dp(), up) != upgraded_uplink);
  REQUIRE(host->dp().Detach(c2h).ok());
  REQUIRE(host->dp().Detach(up).ok());
  CHECK_THAT(filter(c2h), !Catch::Contains("ila_tc_from_con"));
  CHECK_THAT(filter(up), !Catch::Contains("ila_tc_from_upl"));
}

TEST_CASE("tc mode is refused for a router and with steering CPUs, with nothing applied") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  const InterfaceIndex up = host->uplink();
  REQUIRE(host->dp().Detach(up).ok());
  auto router = host->dp().AttachRouter({up, AttachMode::kTc, {}});
  REQUIRE_FALSE(router.ok());
  CHECK(absl::IsInvalidArgument(router.status()));
  CHECK_THAT(std::string(router.status().message()),
             Catch::Contains("router program runs at XDP only"));
  auto steered = host->dp().AttachUplink({up, AttachMode::kTc, {0}});
  REQUIRE_FALSE(steered.ok());
  CHECK(absl::IsInvalidArgument(steered.status()));
  CHECK_THAT(std::string(steered.status().message()),
             Catch::Contains("cpumap steering is an XDP feature"));
  CHECK(AttachedProgram(host->dp(), up) == 0);
  auto filters = host->host_ns().RunOutput("tc filter show dev " + host->up_name() + " ingress");
  REQUIRE(filters.ok());
  CHECK(*filters == "");
}

TEST_CASE(
    "with tc programs only no veth gets a pass-through program, until any handle attaches XDP") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o;
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  REQUIRE(host->dp().DetachAll().ok());
  auto has_xdp = [](const Netns& ns) {
    auto out = ns.RunOutput("ip -o link show");
    REQUIRE(out.ok());
    return out->find("prog/xdp") != std::string::npos;
  };
  REQUIRE(host->dp().AttachUplink({host->uplink(), AttachMode::kTc, {}}).ok());
  CHECK_FALSE(has_xdp(host->fabric_ns()));  // the uplink's peer keeps its offloads
  // Another process's handle on the same instance attaches a container at XDP: the targets there
  // now need pass-through programs for its redirects.
  auto other = Dataplane::Open(host->pin_location());
  REQUIRE(other.ok());
  auto c1 = (*other)->AttachContainer({host->c1h(), H::C1(), H::C1Mac(), AttachMode::kNative});
  INFO(c1.status().ToString());
  REQUIRE(c1.ok());
  CHECK(has_xdp(host->fabric_ns()));
  // This handle attaches a container at tc afterwards: it sees the other's XDP attachment and
  // gives the new target's peer a pass-through program too.
  CHECK_FALSE(has_xdp(host->c2_ns()));
  REQUIRE(host->dp().AttachContainer({host->c2h(), H::C2(), H::C2Mac(), AttachMode::kTc}).ok());
  CHECK(has_xdp(host->c2_ns()));
  REQUIRE((*other)->Detach(host->c1h()).ok());
}
