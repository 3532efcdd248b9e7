// Packet-exact tests of every ILA packet path of DESIGN.md §3 beyond the plain translations of
// dataplane_test: identifier types, the C-bit, identifiers ending in 0x0000, hop limits, local
// delivery (also for real, through the devmap), both miss policies, a moved container, spoofed
// sources, ICMPv6 errors quoting a translated packet, and the router role.
//
// Each case asserts the verdict, the output frame (byte for byte against the C++ reference where
// the program rewrites, equal to the input where it passes or drops) and the counter deltas.
#include <linux/bpf.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "ila/kernel_probe.h"
#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;

namespace {

using H = HostFixture;

std::unique_ptr<HostFixture> MakeHost(const HostFixture::Options& options = {}) {
  return MakeHostOrFail(options);
}

// The frame XDP should emit after translating and forwarding: `frame` with its destination
// rewritten by the C++ reference, the hop limit decremented and the given MACs.
Bytes Forwarded(const Bytes& frame, const Ipv6Address& new_dst, ChecksumMode mode,
                const MacAddress& dst_mac, const MacAddress& src_mac) {
  Bytes ip = Ipv6Of(frame);
  REQUIRE(RewriteDestination(ip, new_dst, mode).ok());
  ip[7] -= 1;
  return EthernetIpv6(dst_mac, src_mac, ip);
}

// An IPv6 packet delivered after `hops` hops with the given MACs (no translation).
Bytes Delivered(Bytes ip, int hops, const MacAddress& dst_mac, const MacAddress& src_mac) {
  ip[7] = static_cast<uint8_t>(ip[7] - hops);
  return EthernetIpv6(dst_mac, src_mac, ip);
}

bool Contains(absl::string_view haystack, std::string_view needle) {
  return std::string(haystack).find(needle) != std::string::npos;
}

const ChecksumMode kModes[] = {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                               ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction,
                               ChecksumMode::kAdjustTransportLinuxCompat};

// Whether a packet translated in `mode` carries a valid transport checksum in transit: no-action
// leaves it for the pseudo-header's old address, and the Linux-compatible adj-transport applies
// Linux's wrong-signed delta on purpose.
bool ValidInTransit(ChecksumMode mode) {
  return mode != ChecksumMode::kNoAction && mode != ChecksumMode::kAdjustTransportLinuxCompat;
}

const uint8_t kProtos[] = {kProtoTcp, kProtoUdp, kProtoIcmpv6};

// A SIR packet from C1 to `dst`.
Bytes FromC1Packet(const Ipv6Address& dst, uint8_t proto, uint8_t hop = 64) {
  Ipv6Address src = H::C1().address();
  return Ipv6(src, dst, proto, Segment(proto, src, dst), hop);
}

// Sends C1's packet to `z` through from_container (mapped to `loc` in `mode`), checks the wire
// frame against the reference, then makes this host the owner of `loc` (locator in `mode`, `z` a
// local endpoint on c2h) and checks that from_uplink restores the original packet bit for bit.
void RoundTrip(HostFixture& host, const SirAddress& z, Locator loc, ChecksumMode mode,
               uint8_t proto) {
  CAPTURE(z, loc, mode, static_cast<int>(proto));
  // z is not on this host while it sends (a previous round registered it beside C2).
  if (z != H::C2()) (void)host.dp().endpoints().Remove(z);
  (void)host.dp().locators().Remove(loc);
  REQUIRE(host.dp().mappings().Upsert({z, loc, mode, IdentifierType::kLuid}).ok());

  Bytes original = FromC1Packet(z.address(), proto);
  Bytes in = EthernetIpv6(host.C1hMac(), H::C1Mac(), original);
  XdpRun out = Run(host, Role::kContainer, in, host.c1h());
  RequireVerdict(out, XDP_REDIRECT);
  auto ila = SirToIla(z, loc, mode);
  REQUIRE(ila.ok());
  CHECK(Hex(out.frame) ==
        Hex(Forwarded(in, ila->address(), mode, H::FabricMac(), host.UplinkMac())));
  CHECK(FrameTransportChecksumValid(out.frame));  // neutral: valid in transit too
  RequireOnly(out, "tx_remote");
  // The reference itself round-trips.
  CHECK(IlaToSir(*ila, H::Sir(), mode) == z);

  // The same frame arrives at the host that owns `loc`.
  REQUIRE(host.dp().locators().Upsert({loc, H::Sir(), mode}).ok());
  REQUIRE(host.dp().endpoints().Upsert({host.c2h(), z, H::C2Mac()}).ok());
  XdpRun back = Run(host, Role::kUplink, WithEthDst(out.frame, host.UplinkMac()), host.uplink());
  RequireVerdict(back, XDP_REDIRECT);
  CHECK(Hex(back.frame) == Hex(Delivered(original, 2, H::C2Mac(), host.C2hMac())));
  CHECK(FrameDst(back.frame) == z.address());
  RequireOnly(back, "rx_delivered");

  REQUIRE(host.dp().locators().Remove(loc).ok());
  REQUIRE(host.dp().endpoints().Upsert({host.c2h(), H::C2(), H::C2Mac()}).ok());
}

}  // namespace

TEST_CASE(
    "identifier types: use-format with a luid type field translates, other types are refused") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const ChecksumMode mode = ChecksumMode::kAdjustTransport;

  // Top three bits 001: LUID.
  SirAddress luid{H::Sir(), Identifier(0x2000000000001234ull)};
  REQUIRE(luid.identifier.format_type() == IdentifierType::kLuid);
  Mapping m{luid, H::L2(), mode, IdentifierType::kUseFormat};
  REQUIRE(host->dp().mappings().Upsert(m).ok());
  auto stored = host->dp().mappings().Get(luid);
  REQUIRE(stored.ok());
  CHECK(*stored == m);
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(luid.address(), proto));
    XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(r, XDP_REDIRECT);
    auto ila = SirToIla(luid, H::L2(), mode);
    REQUIRE(ila.ok());
    CHECK(Hex(r.frame) ==
          Hex(Forwarded(in, ila->address(), mode, H::FabricMac(), host->UplinkMac())));
    CHECK(FrameTransportChecksumValid(r.frame));
    RequireOnly(r, "tx_remote");
  }

  struct Refused {
    SirAddress sir;
    IdentifierType type;
    std::string_view named;
  };
  const Refused refused[] = {
      {{H::Sir(), Identifier(0x0000000000001234ull)}, IdentifierType::kUseFormat, "iid"},
      {{H::Sir(), Identifier(0x4000000000001234ull)}, IdentifierType::kUseFormat, "virt-v4"},
      {{H::Sir(), Identifier(0x0000000000005678ull)}, IdentifierType::kIid, "iid"},
      {{H::Sir(), Identifier(0x2000000000005679ull)}, IdentifierType::kVirtV4, "virt-v4"},
  };
  for (const Refused& x : refused) {
    CAPTURE(x.sir, x.type);
    absl::Status st = host->dp().mappings().Upsert({x.sir, H::L2(), mode, x.type});
    INFO(st.ToString());
    CHECK(absl::IsInvalidArgument(st));
    CHECK(Contains(st.message(), std::string("identifier type ") + std::string(x.named)));
    CHECK(absl::IsNotFound(host->dp().mappings().Get(x.sir).status()));
    // Nothing reached the data plane: the destination is still a miss.
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(x.sir.address(), kProtoUdp));
    XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(r, XDP_PASS);
    CHECK(Hex(r.frame) == Hex(in));
    RequireOnly(r, "pass_miss");
  }
}

TEST_CASE("a SIR whose C-bit is set: neutral-map refused, neutral-map-auto works end to end") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  SirAddress cbit{H::Sir(), Identifier(0x1000000000000042ull)};
  REQUIRE(cbit.identifier.checksum_neutral());

  absl::Status st = host->dp().mappings().Upsert(
      {cbit, H::L2(), ChecksumMode::kNeutralMap, IdentifierType::kLuid});
  INFO(st.ToString());
  CHECK(absl::IsInvalidArgument(st));
  CHECK(Contains(st.message(), "C-bit"));
  CHECK(absl::IsNotFound(host->dp().mappings().Get(cbit).status()));

  for (uint8_t proto : kProtos) {
    RoundTrip(*host, cbit, H::L2(), ChecksumMode::kNeutralMapAuto, proto);
    // neutral-map-auto never touches the C-bit.
    auto ila = SirToIla(cbit, H::L2(), ChecksumMode::kNeutralMapAuto);
    REQUIRE(ila.ok());
    CHECK(ila->identifier.checksum_neutral());
  }
}

TEST_CASE("identifiers whose low 16 bits are 0x0000 round-trip exactly in the neutral modes") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  // Besides L2: a locator whose 16-bit sum equals the SIR prefix's (the neutral-map-auto
  // adjustment is one's-complement zero, 0xffff), and one whose sum is the prefix's minus 0x1000
  // (the same for neutral-map). Routed like L2.
  const Locator same_sum(0x20010db800010000ull);    // 2001:db8:1:0, sum 0x2dba like 2001:db8:0:1
  const Locator minus_cbit(0x10010db800000001ull);  // 1001:db8:0:1, sum 0x1dba
  REQUIRE(OnesComplementSum64(same_sum.value()) == OnesComplementSum64(H::Sir().value()));
  for (Locator l : {same_sum, minus_cbit}) {
    std::string prefix = Ipv6Address::FromHalves(l.value(), 0).ToString() + "/64";
    REQUIRE(host->host_ns()
                .Run("ip -6 route add " + prefix + " via fd00:ff::2 dev " + host->up_name())
                .ok());
  }
  const Identifier ids[] = {Identifier(0x0000000000010000ull), Identifier(0x00000000abcd0000ull),
                            Identifier(0x8000000000000000ull)};
  for (ChecksumMode mode : {ChecksumMode::kNeutralMap, ChecksumMode::kNeutralMapAuto}) {
    for (Locator loc : {H::L2(), same_sum, minus_cbit}) {
      for (Identifier id : ids) {
        SirAddress z{H::Sir(), id};
        REQUIRE(z.identifier.low16() == 0);
        RoundTrip(*host, z, loc, mode, kProtoUdp);
        RoundTrip(*host, z, loc, mode, kProtoTcp);
      }
    }
  }
  // The cases that fold to 0xffff really occur: the ILA identifier ends in 0xffff.
  auto auto_ffff = SirToIla({H::Sir(), ids[0]}, same_sum, ChecksumMode::kNeutralMapAuto);
  auto map_ffff = SirToIla({H::Sir(), ids[0]}, minus_cbit, ChecksumMode::kNeutralMap);
  REQUIRE(auto_ffff.ok());
  REQUIRE(map_ffff.ok());
  CHECK(auto_ffff->identifier.low16() == 0xffff);
  CHECK(map_ffff->identifier.low16() == 0xffff);
}

TEST_CASE("hop limit 1 and 0 are handed to the kernel untouched on every path") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  auto c1_ila = SirToIla(H::C1(), H::L1(), ChecksumMode::kAdjustTransport);
  REQUIRE(c1_ila.ok());
  for (uint8_t hop : {uint8_t{1}, uint8_t{0}}) {
    for (uint8_t proto : kProtos) {
      CAPTURE(static_cast<int>(hop), static_cast<int>(proto));
      // from_container, remote mapped destination and local destination.
      for (const SirAddress& dst : {H::Remote(), H::C2()}) {
        CAPTURE(dst);
        Bytes in =
            EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(dst.address(), proto, hop));
        XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
        RequireVerdict(r, XDP_PASS);
        CHECK(Hex(r.frame) == Hex(in));
        RequireOnly(r, "pass_hop_limit");
      }
      // from_uplink, to C1 on this host's locator.
      Ipv6Address src = H::Remote().address();
      Bytes ip = Ipv6(src, H::C1().address(), proto, Segment(proto, src, H::C1().address()), hop);
      REQUIRE(RewriteDestination(ip, c1_ila->address(), ChecksumMode::kAdjustTransport).ok());
      Bytes in = EthernetIpv6(host->UplinkMac(), H::FabricMac(), ip);
      XdpRun r = Run(*host, Role::kUplink, in, host->uplink());
      RequireVerdict(r, XDP_PASS);
      CHECK(Hex(r.frame) == Hex(in));
      RequireOnly(r, "pass_hop_limit");
      // router.
      Bytes rin = host->FromFabric(src, H::Remote().address(), proto,
                                   Segment(proto, src, H::Remote().address()), hop);
      XdpRun rr = Run(*host, Role::kRouter, rin, host->uplink());
      RequireVerdict(rr, XDP_PASS);
      CHECK(Hex(rr.frame) == Hex(rin));
      RequireOnly(rr, "pass_hop_limit");
    }
  }
  // Hop limit 2 is still forwarded (the boundary is right).
  Bytes in =
      EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(H::C2().address(), kProtoUdp, 2));
  XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
  RequireVerdict(r, XDP_REDIRECT);
  CHECK(FrameHopLimit(r.frame) == 1);
  RequireOnly(r, "tx_local");
}

TEST_CASE("local delivery: c1 to C2 is redirected untranslated into c2's veth") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  // A mapping for C2 elsewhere must not win over the local endpoint.
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::C2(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    Bytes ip = FromC1Packet(H::C2().address(), proto);
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), ip);
    XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(r, XDP_REDIRECT);
    Bytes want = Delivered(ip, 1, H::C2Mac(), host->C2hMac());
    CHECK(Hex(r.frame) == Hex(want));
    CHECK(FrameDst(r.frame) == H::C2().address());
    CHECK(FrameTransportChecksumValid(r.frame));
    RequireOnly(r, "tx_local");
  }
}

// The frame c1 sends to C2 really leaves through the devmap out of c2h, and c2 receives exactly
// the redirected frame. `send` puts the frame into the data plane (as if it came from c1).
static void CheckLocalDeliveryForReal(HostFixture& host,
                                      const std::function<absl::Status(const Bytes&)>& send) {
  auto capture = Capture::Open(host.c2_ns(), host.c2_name());
  INFO(capture.status().ToString());
  REQUIRE(capture.ok());
  // A TCP reset: c2's kernel answers nothing, so the only tx_local is this frame's.
  const Ipv6Address c1 = H::C1().address(), c2 = H::C2().address();
  Bytes ip = Ipv6(c1, c2, kProtoTcp, Tcp(c1, c2, 40001, 81, 7, 0x04, {}));
  Bytes in = EthernetIpv6(host.C1hMac(), H::C1Mac(), ip);
  auto before = host.dp().ReadStats();
  REQUIRE(before.ok());
  absl::Status sent = send(in);
  INFO(sent.ToString());
  REQUIRE(sent.ok());
  Bytes want = Delivered(ip, 1, H::C2Mac(), host.C2hMac());
  std::optional<Bytes> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    got = (*capture)->NextIpv6(std::chrono::milliseconds(500));
    if (got && got->size() >= kEthLen + kIpv6Len && FrameSrc(*got) == H::C1().address()) break;
    got.reset();
  }
  REQUIRE(got.has_value());
  CHECK(Hex(*got) == Hex(want));
  auto after = host.dp().ReadStats();
  REQUIRE(after.ok());
  CHECK(after->Since(*before).Packets("tx_local") == 1);
}

TEST_CASE("local delivery for real: a frame c1 sends reaches c2 as redirected, at XDP and at tc") {
  ILA_SKIP_IF(HostTestSkipReason());
  for (AttachMode mode : {AttachMode::kNative, AttachMode::kTc}) {
    CAPTURE(ToString(mode));
    HostFixture::Options options;
    options.attach_mode = mode;
    auto host = MakeHost(options);
    REQUIRE(host->dp()
                .mappings()
                .Upsert({H::C2(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
                .ok());
    // Sent by c1's own interface: it crosses the veth into c1h and the attached program.
    CheckLocalDeliveryForReal(
        *host, [&](const Bytes& frame) { return Inject(host->c1_ns(), host->c1_name(), frame); });
  }
}

TEST_CASE("local delivery with live frames: BPF_PROG_TEST_RUN's redirect reaches c2") {
  ILA_SKIP_IF(HostTestSkipReason());
  ILA_SKIP_IF(FeatureMissingReason(KernelFeature::kTestRunLiveFrames));
  auto host = MakeHost();
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::C2(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  CheckLocalDeliveryForReal(*host, [&](const Bytes& frame) {
    return host->RunLive(Role::kContainer, frame, host->c1h());
  });
}

TEST_CASE("miss policy pass: a SIR destination without mapping goes untranslated to the kernel") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    SirAddress unmapped{H::Sir(), Identifier(0x77)};
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(unmapped.address(), proto));
    XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(r, XDP_PASS);
    CHECK(Hex(r.frame) == Hex(in));
    RequireOnly(r, "pass_miss");

    // Outside every SIR prefix: ordinary traffic.
    Ipv6Address other = Ipv6Address::FromHalves(0x20010db800000002ull, 5);
    Bytes out_of_sir = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(other, proto));
    XdpRun o = Run(*host, Role::kContainer, out_of_sir, host->c1h());
    RequireVerdict(o, XDP_PASS);
    CHECK(Hex(o.frame) == Hex(out_of_sir));
    RequireOnly(o, "pass_not_sir");
  }
}

TEST_CASE("miss policy drop: a SIR destination without mapping is dropped") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options opt;
  opt.config.miss_policy = MissPolicy::kDrop;
  auto host = MakeHost(opt);
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    SirAddress unmapped{H::Sir(), Identifier(0x77)};
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(unmapped.address(), proto));
    XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(r, XDP_DROP);
    CHECK(Hex(r.frame) == Hex(in));
    RequireOnly(r, "drop_miss");
    // Non-SIR traffic is still the kernel's.
    Ipv6Address other = Ipv6Address::FromHalves(0x20010db800000002ull, 5);
    Bytes out_of_sir = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(other, proto));
    XdpRun o = Run(*host, Role::kContainer, out_of_sir, host->c1h());
    RequireVerdict(o, XDP_PASS);
    CHECK(Hex(o.frame) == Hex(out_of_sir));
    RequireOnly(o, "pass_not_sir");
  }
}

namespace {
// An arrival from the fabric for (Sir, 7), which is not on this host (locator L1, adj-transport).
struct MovedArrival {
  Bytes original;  // the SIR packet the remote sender sent
  Bytes in;        // the frame on the uplink
  Bytes restored;  // `in` with its destination translated back to SIR (nothing else changed)
};
MovedArrival Moved(const HostFixture& host, uint8_t proto) {
  SirAddress s7{H::Sir(), Identifier(0x7)};
  Ipv6Address src = H::Remote().address();
  MovedArrival a;
  a.original = Ipv6(src, s7.address(), proto, Segment(proto, src, s7.address()));
  Bytes wire = a.original;
  auto ila = SirToIla(s7, H::L1(), ChecksumMode::kAdjustTransport);
  REQUIRE(ila.ok());
  REQUIRE(RewriteDestination(wire, ila->address(), ChecksumMode::kAdjustTransport).ok());
  a.in = EthernetIpv6(host.UplinkMac(), H::FabricMac(), wire);
  a.restored = EthernetIpv6(host.UplinkMac(), H::FabricMac(), a.original);
  return a;
}
}  // namespace

TEST_CASE("a moved container: arrivals are re-translated to the new locator, or dropped") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  SirAddress s7{H::Sir(), Identifier(0x7)};
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    MovedArrival a = Moved(*host, proto);
    // No mapping to forward it with. (The program restored the SIR destination before finding
    // that out; the dropped frame shows it.)
    XdpRun gone = Run(*host, Role::kUplink, a.in, host->uplink());
    RequireVerdict(gone, XDP_DROP);
    CHECK(Hex(gone.frame) == Hex(a.restored));
    RequireOnly(gone, "drop_endpoint_gone");

    for (ChecksumMode mode : kModes) {
      CAPTURE(mode);
      REQUIRE(host->dp().mappings().Upsert({s7, H::L2(), mode, IdentifierType::kLuid}).ok());
      XdpRun r = Run(*host, Role::kUplink, a.in, host->uplink());
      RequireVerdict(r, XDP_REDIRECT);
      auto ila = SirToIla(s7, H::L2(), mode);
      REQUIRE(ila.ok());
      Bytes want = Forwarded(a.restored, ila->address(), mode, H::FabricMac(), host->UplinkMac());
      CHECK(Hex(r.frame) == Hex(want));
      CHECK(FrameTransportChecksumValid(r.frame) == ValidInTransit(mode));
      RequireOnly(r, "rx_reforwarded");
    }
    REQUIRE(host->dp().mappings().Remove(s7).ok());
  }
}

TEST_CASE("a container gone whose mapping still names this host is dropped, not sent back here") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  SirAddress s7{H::Sir(), Identifier(0x7)};
  // The mapping was made while s7 had its endpoint here (a mapping to this host's own locator is
  // refused otherwise); then the container went away and left the mapping behind.
  REQUIRE(host->dp().endpoints().Upsert({host->c2h(), s7, H::C2Mac()}).ok());
  REQUIRE(host->dp()
              .mappings()
              .Upsert({s7, H::L1(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  REQUIRE(host->dp().endpoints().Remove(s7).ok());
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    MovedArrival a = Moved(*host, proto);
    XdpRun r = Run(*host, Role::kUplink, a.in, host->uplink());
    RequireVerdict(r, XDP_DROP);
    RequireOnly(r, "drop_loop");
  }
}

// Two hosts whose mappings disagree (each maps a container to the other) would bounce its packets
// until their hop limit ran out. A host re-forwards to the new host's re-forward locator (the
// cluster table names it; same one's-complement sum, so the mapping's checksum deltas hold), and
// what arrives on this host's own re-forward locator is delivered or dropped, never forwarded.
TEST_CASE("re-forwarded packets go to the re-forward locator and are never forwarded again") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const Locator r1(0x20010db8aaab0000ull);  // L1's sum: one word up, the next down
  const Locator r2(0x20010db8bbbc0001ull);  // L2's
  REQUIRE(
      host->dp().locators().Upsert({H::L1(), H::Sir(), ChecksumMode::kAdjustTransport, r1}).ok());
  REQUIRE(host->host_ns()
              .Run("ip -6 route add " + Ipv6Address::FromHalves(r2.value(), 0).ToString() +
                   "/64 via fd00:ff::2 dev " + host->up_name())
              .ok());
  SirAddress s7{H::Sir(), Identifier(0x7)};
  // `sir`'s packet from the remote sender as it arrives under `locator` (adj-transport, L1's).
  auto arriving = [&](const SirAddress& sir, Locator locator, uint8_t proto) {
    const Ipv6Address src = H::Remote().address();
    Bytes original = Ipv6(src, sir.address(), proto, Segment(proto, src, sir.address()));
    Bytes wire = original;
    auto ila = SirToIla(sir, locator, ChecksumMode::kAdjustTransport);
    REQUIRE(ila.ok());
    REQUIRE(RewriteDestination(wire, ila->address(), ChecksumMode::kAdjustTransport).ok());
    return std::pair{original, EthernetIpv6(host->UplinkMac(), H::FabricMac(), wire)};
  };
  for (ChecksumMode mode : kModes) {
    REQUIRE(host->dp().cluster_locators().Upsert({H::L2(), H::Sir(), mode, r2}).ok());
    REQUIRE(host->dp().mappings().Upsert({s7, H::L2(), mode, IdentifierType::kLuid}).ok());
    for (uint8_t proto : kProtos) {
      CAPTURE(mode, static_cast<int>(proto));
      // Arrived on L1, its container moved to L2's host: to L2's re-forward locator.
      auto [original, in] = arriving(s7, H::L1(), proto);
      XdpRun r = Run(*host, Role::kUplink, in, host->uplink());
      RequireVerdict(r, XDP_REDIRECT);
      auto via = SirToIla(s7, r2, mode);
      REQUIRE(via.ok());
      const Bytes restored = EthernetIpv6(host->UplinkMac(), H::FabricMac(), original);
      CHECK(Hex(r.frame) ==
            Hex(Forwarded(restored, via->address(), mode, H::FabricMac(), host->UplinkMac())));
      CHECK(FrameTransportChecksumValid(r.frame) == ValidInTransit(mode));
      RequireOnly(r, "rx_reforwarded");

      // Arrived on R1 (another host re-forwarded it here), the container not here: dropped.
      auto [original_r, in_r] = arriving(s7, r1, proto);
      XdpRun again = Run(*host, Role::kUplink, in_r, host->uplink());
      RequireVerdict(again, XDP_DROP);
      RequireOnly(again, "drop_reforward_loop");

      // Arrived on R1 for a container that is here: delivered as from L1.
      auto [to_c1, in_c1] = arriving(H::C1(), r1, proto);
      XdpRun delivered = Run(*host, Role::kUplink, in_c1, host->uplink());
      RequireVerdict(delivered, XDP_REDIRECT);
      CHECK(Hex(delivered.frame) == Hex(Delivered(to_c1, 1, H::C1Mac(), host->C1hMac())));
      CHECK(FrameTransportChecksumValid(delivered.frame));
      RequireOnly(delivered, "rx_delivered");
    }
  }
  // Without a re-forward locator for L2, re-forwarded packets go to L2 itself (as before).
  REQUIRE(host->dp().cluster_locators().Upsert({H::L2(), H::Sir(), ChecksumMode::kNoAction}).ok());
  REQUIRE(host->dp()
              .mappings()
              .Upsert({s7, H::L2(), ChecksumMode::kNoAction, IdentifierType::kLuid})
              .ok());
  auto [original, in] = arriving(s7, H::L1(), kProtoUdp);
  XdpRun r = Run(*host, Role::kUplink, in, host->uplink());
  RequireVerdict(r, XDP_REDIRECT);
  CHECK(Hex(r.frame) == Hex(Forwarded(EthernetIpv6(host->UplinkMac(), H::FabricMac(), original),
                                      Ipv6Address::FromHalves(H::L2().value(), 7),
                                      ChecksumMode::kNoAction, H::FabricMac(), host->UplinkMac())));
  RequireOnly(r, "rx_reforwarded");
}

TEST_CASE("a moved container with moved policy drop is dropped even with a mapping") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options opt;
  opt.config.moved_policy = MovedPolicy::kDrop;
  auto host = MakeHost(opt);
  SirAddress s7{H::Sir(), Identifier(0x7)};
  REQUIRE(host->dp()
              .mappings()
              .Upsert({s7, H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    MovedArrival a = Moved(*host, proto);
    XdpRun r = Run(*host, Role::kUplink, a.in, host->uplink());
    RequireVerdict(r, XDP_DROP);
    CHECK(Hex(r.frame) == Hex(a.restored));
    RequireOnly(r, "drop_endpoint_gone");
    // A container that is here is still delivered.
    Ipv6Address src = H::Remote().address();
    Bytes original = Ipv6(src, H::C1().address(), proto, Segment(proto, src, H::C1().address()));
    Bytes wire = original;
    REQUIRE(RewriteDestination(
                wire, SirToIla(H::C1(), H::L1(), ChecksumMode::kAdjustTransport)->address(),
                ChecksumMode::kAdjustTransport)
                .ok());
    XdpRun d = Run(*host, Role::kUplink, EthernetIpv6(host->UplinkMac(), H::FabricMac(), wire),
                   host->uplink());
    RequireVerdict(d, XDP_REDIRECT);
    CHECK(Hex(d.frame) == Hex(Delivered(original, 1, H::C1Mac(), host->C1hMac())));
    RequireOnly(d, "rx_delivered");
  }
}

TEST_CASE(
    "a spoofed source is dropped, and a container interface without endpoint drops everything") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  const Ipv6Address spoofed[] = {H::C2().address(),
                                 SirAddress{H::Sir(), Identifier(0x1234)}.address(),
                                 Ipv6Address::FromHalves(0x20010db800000002ull, 1)};
  for (uint8_t proto : kProtos) {
    for (const Ipv6Address& src : spoofed) {
      for (const SirAddress& dst : {H::Remote(), H::C2()}) {
        CAPTURE(static_cast<int>(proto), src, dst);
        Bytes in =
            EthernetIpv6(host->C1hMac(), H::C1Mac(),
                         Ipv6(src, dst.address(), proto, Segment(proto, src, dst.address())));
        XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
        RequireVerdict(r, XDP_DROP);
        CHECK(Hex(r.frame) == Hex(in));
        RequireOnly(r, "drop_spoofed_source");
      }
    }
    // C1's own frame, but arriving on an interface that has no endpoint (the uplink).
    CAPTURE(static_cast<int>(proto));
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), FromC1Packet(H::Remote().address(), proto));
    XdpRun u = Run(*host, Role::kContainer, in, host->uplink());
    RequireVerdict(u, XDP_DROP);
    CHECK(Hex(u.frame) == Hex(in));
    RequireOnly(u, "drop_unregistered_interface");
    // ... and the same frame on c1h is translated (the check is what dropped it).
    XdpRun ok = Run(*host, Role::kContainer, in, host->c1h());
    RequireVerdict(ok, XDP_REDIRECT);
    RequireOnly(ok, "tx_remote");
  }
}

TEST_CASE("an ICMPv6 Packet Too Big quoting a translated packet reaches the sender as it sent it") {
  ILA_SKIP_IF(HostTestSkipReason());
  const Ipv6Address fab = H::FabricAddress();
  for (ChecksumMode mode : kModes) {
    HostFixture::Options opt;
    opt.locator_mode = mode;
    auto host = MakeHost(opt);
    REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
    auto remote_ila = SirToIla(H::Remote(), H::L2(), mode);
    auto c1_ila = SirToIla(H::C1(), H::L1(), mode);
    REQUIRE(remote_ila.ok());
    REQUIRE(c1_ila.ok());
    for (uint8_t proto : kProtos) {
      CAPTURE(mode, static_cast<int>(proto));
      // What c1 sent, and what its host put on the wire.
      Bytes p = FromC1Packet(H::Remote().address(), proto);
      Bytes p_wire = p;
      REQUIRE(RewriteDestination(p_wire, remote_ila->address(), mode).ok());
      REQUIRE(p_wire != p);
      // An underlay router answers C1's SIR address; an ILA router translates the outer
      // destination on the way (the whole ICMPv6 packet, as the reference does).
      Bytes ptb = Ipv6(fab, H::C1().address(), kProtoIcmpv6,
                       IcmpError(fab, H::C1().address(), 2, 0, 1280, p_wire));
      REQUIRE(RewriteDestination(ptb, c1_ila->address(), mode).ok());
      Bytes in = EthernetIpv6(host->UplinkMac(), H::FabricMac(), ptb);

      XdpRun r = Run(*host, Role::kUplink, in, host->uplink());
      RequireVerdict(r, XDP_REDIRECT);
      Bytes want = EthernetIpv6(H::C1Mac(), host->C1hMac(),
                                Ipv6(fab, H::C1().address(), kProtoIcmpv6,
                                     IcmpError(fab, H::C1().address(), 2, 0, 1280, p), 63));
      CHECK(Hex(r.frame) == Hex(want));
      CHECK(FrameTransportChecksumValid(r.frame));
      RequireOnly(r, "rx_delivered", {"icmp_inner_translated"});
    }

    // An error quoting an ILA destination nobody maps: delivered, the quote left as it is.
    for (uint8_t proto : kProtos) {
      CAPTURE(mode, static_cast<int>(proto));
      Ipv6Address unknown = Ipv6Address::FromHalves(H::L2().value(), 0x5555);
      Bytes quoted = FromC1Packet(unknown, proto);
      Bytes original = Ipv6(fab, H::C1().address(), kProtoIcmpv6,
                            IcmpError(fab, H::C1().address(), 1, 0, 0, quoted));
      Bytes wire = original;
      REQUIRE(RewriteDestination(wire, c1_ila->address(), mode).ok());
      XdpRun r = Run(*host, Role::kUplink, EthernetIpv6(host->UplinkMac(), H::FabricMac(), wire),
                     host->uplink());
      RequireVerdict(r, XDP_REDIRECT);
      CHECK(Hex(r.frame) == Hex(Delivered(original, 1, H::C1Mac(), host->C1hMac())));
      CHECK(FrameTransportChecksumValid(r.frame));
      RequireOnly(r, "rx_delivered", {"icmp_inner_unknown"});
    }
  }
}

// The host has no mapping for where c1 sent (it passed the miss; the ILA router translated it),
// so no reverse entry: the cluster's locator table says how to translate the quoted destination
// back, in the locator's checksum mode, and PMTU discovery keeps working. Without the table the
// quote stays ILA (icmp_inner_unknown): the sender's socket never hears of the smaller MTU.
TEST_CASE("a Packet Too Big about a packet the ILA router translated reaches the sender as sent") {
  ILA_SKIP_IF(HostTestSkipReason());
  const Ipv6Address fab = H::FabricAddress();
  for (ChecksumMode mode : kModes) {
    HostFixture::Options opt;
    opt.locator_mode = mode;
    auto host = MakeHost(opt);
    auto remote_ila = SirToIla(H::Remote(), H::L2(), mode);
    auto c1_ila = SirToIla(H::C1(), H::L1(), mode);
    REQUIRE(remote_ila.ok());
    REQUIRE(c1_ila.ok());
    for (bool known : {false, true}) {
      if (known) REQUIRE(host->dp().cluster_locators().Upsert({H::L2(), H::Sir(), mode}).ok());
      for (uint8_t proto : kProtos) {
        CAPTURE(mode, known, static_cast<int>(proto));
        Bytes p = FromC1Packet(H::Remote().address(), proto);
        Bytes p_wire = p;  // as the ILA router put it on the wire
        REQUIRE(RewriteDestination(p_wire, remote_ila->address(), mode).ok());
        Bytes ptb = Ipv6(fab, H::C1().address(), kProtoIcmpv6,
                         IcmpError(fab, H::C1().address(), 2, 0, 1280, p_wire));
        Bytes wire = ptb;
        REQUIRE(RewriteDestination(wire, c1_ila->address(), mode).ok());
        XdpRun r = Run(*host, Role::kUplink, EthernetIpv6(host->UplinkMac(), H::FabricMac(), wire),
                       host->uplink());
        RequireVerdict(r, XDP_REDIRECT);
        CHECK(FrameTransportChecksumValid(r.frame));
        if (!known) {
          CHECK(Hex(r.frame) == Hex(Delivered(ptb, 1, H::C1Mac(), host->C1hMac())));
          RequireOnly(r, "rx_delivered", {"icmp_inner_unknown"});
          continue;
        }
        Bytes want = EthernetIpv6(H::C1Mac(), host->C1hMac(),
                                  Ipv6(fab, H::C1().address(), kProtoIcmpv6,
                                       IcmpError(fab, H::C1().address(), 2, 0, 1280, p), 63));
        CHECK(Hex(r.frame) == Hex(want));
        RequireOnly(r, "rx_delivered", {"icmp_inner_translated"});
      }
    }
  }
}

TEST_CASE("an ICMPv6 error quoting a packet whose transport the sender could not adjust") {
  // A packet whose TCP/UDP/ICMPv6 header is shorter than its fixed size (by its payload length)
  // is translated with the transport left alone (kernel vector 30). An error quoting it must get
  // the quoted destination back and nothing else: the quoted checksum was never adjusted.
  ILA_SKIP_IF(HostTestSkipReason());
  const Ipv6Address fab = H::FabricAddress();
  const Ipv6Address c1 = H::C1().address();
  const Ipv6Address remote = H::Remote().address();
  for (ChecksumMode mode :
       {ChecksumMode::kAdjustTransport, ChecksumMode::kAdjustTransportLinuxCompat}) {
    HostFixture::Options opt;
    opt.locator_mode = mode;
    auto host = MakeHost(opt);
    REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
    auto remote_ila = SirToIla(H::Remote(), H::L2(), mode);
    auto c1_ila = SirToIla(H::C1(), H::L1(), mode);
    REQUIRE(remote_ila.ok());
    REQUIRE(c1_ila.ok());
    // TCP with 18 and 19 header bytes (the checksum field is there), ICMPv6 with 4 to 7.
    const std::pair<uint8_t, size_t> shorts[] = {
        {kProtoTcp, 18}, {kProtoTcp, 19}, {kProtoIcmpv6, 4}, {kProtoIcmpv6, 6}, {kProtoIcmpv6, 7}};
    for (auto [proto, have] : shorts) {
      CAPTURE(mode, static_cast<int>(proto), have);
      Bytes seg = Segment(proto, c1, remote);
      seg.resize(have);
      Bytes p = Ipv6(c1, remote, proto, seg);
      // What c1's host sends: the address translated, the transport as c1 wrote it.
      Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), p);
      XdpRun sent = Run(*host, Role::kContainer, in, host->c1h());
      RequireVerdict(sent, XDP_REDIRECT);
      Bytes p_wire = p;
      auto outcome = RewriteDestination(p_wire, remote_ila->address(), mode);
      REQUIRE(outcome.ok());
      REQUIRE(*outcome == RewriteOutcome::kTransportNotAdjustable);
      CHECK(Hex(sent.frame) == Hex(Delivered(p_wire, 1, H::FabricMac(), host->UplinkMac())));
      RequireOnly(sent, "tx_remote", {"transport_not_adjusted"});

      Bytes err = Ipv6(fab, c1, kProtoIcmpv6, IcmpError(fab, c1, 2, 0, 1280, p_wire));
      REQUIRE(RewriteDestination(err, c1_ila->address(), mode).ok());
      XdpRun r = Run(*host, Role::kUplink, EthernetIpv6(host->UplinkMac(), H::FabricMac(), err),
                     host->uplink());
      RequireVerdict(r, XDP_REDIRECT);
      Bytes want = Ipv6(fab, c1, kProtoIcmpv6, IcmpError(fab, c1, 2, 0, 1280, p), 63);
      CHECK(Hex(r.frame) == Hex(EthernetIpv6(H::C1Mac(), host->C1hMac(), want)));
      CHECK(FrameTransportChecksumValid(r.frame));
      RequireOnly(r, "rx_delivered", {"icmp_inner_translated"});
    }
  }
}

TEST_CASE("an ICMPv6 error padded past its payload length: only the message is translated") {
  // The quote ends inside the quoted TCP header (before its checksum, and in the middle of it) and
  // the link padded the frame: the quoted checksum's place lies in the padding, outside the
  // message. Found by the differential
  // fuzzer (tests/fuzz): the padding was "restored" and the ICMPv6 checksum balanced for it, so the
  // message arrived with a wrong checksum.
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const ChecksumMode mode = ChecksumMode::kAdjustTransport;
  const Ipv6Address fab = H::FabricAddress();
  const Ipv6Address c1 = H::C1().address();
  REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
  auto remote_ila = SirToIla(H::Remote(), H::L2(), mode);
  auto c1_ila = SirToIla(H::C1(), H::L1(), mode);
  REQUIRE(remote_ila.ok());
  REQUIRE(c1_ila.ok());
  const Bytes p = FromC1Packet(H::Remote().address(), kProtoTcp);
  Bytes p_wire = p;
  REQUIRE(RewriteDestination(p_wire, remote_ila->address(), mode).ok());
  const Bytes padding(24, 0x5a);
  for (size_t quoted : {kIpv6Len + 3, kIpv6Len + 17}) {
    CAPTURE(quoted);
    const Bytes quote(p_wire.begin(), p_wire.begin() + static_cast<long>(quoted));
    Bytes err = Ipv6(fab, c1, kProtoIcmpv6, IcmpError(fab, c1, 2, 0, 1280, quote));
    REQUIRE(RewriteDestination(err, c1_ila->address(), mode).ok());
    Bytes in = EthernetIpv6(host->UplinkMac(), H::FabricMac(), err);
    in.insert(in.end(), padding.begin(), padding.end());
    XdpRun r = Run(*host, Role::kUplink, in, host->uplink());
    RequireVerdict(r, XDP_REDIRECT);
    // The quoted destination goes back to what c1 sent; the quoted checksum, not whole in the
    // message, stays as c1's host wrote it.
    Bytes sent = quote;
    std::copy(p.begin() + 24, p.begin() + 40, sent.begin() + 24);
    Bytes want =
        EthernetIpv6(H::C1Mac(), host->C1hMac(),
                     Ipv6(fab, c1, kProtoIcmpv6, IcmpError(fab, c1, 2, 0, 1280, sent), 63));
    want.insert(want.end(), padding.begin(), padding.end());
    CHECK(Hex(r.frame) == Hex(want));
    CHECK(FrameTransportChecksumValid(r.frame));
    RequireOnly(r, "rx_delivered", {"icmp_inner_translated"});
  }
}

TEST_CASE("router role: translates and forwards, drops a SIR miss, passes non-SIR traffic") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const Ipv6Address src = SirAddress{H::Sir(), Identifier(0x55)}.address();
  for (ChecksumMode mode : kModes) {
    REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
    auto ila = SirToIla(H::Remote(), H::L2(), mode);
    REQUIRE(ila.ok());
    for (uint8_t proto : kProtos) {
      CAPTURE(mode, static_cast<int>(proto));
      Bytes in = host->FromFabric(src, H::Remote().address(), proto,
                                  Segment(proto, src, H::Remote().address()));
      XdpRun r = Run(*host, Role::kRouter, in, host->uplink());
      RequireVerdict(r, XDP_REDIRECT);
      CHECK(Hex(r.frame) ==
            Hex(Forwarded(in, ila->address(), mode, H::FabricMac(), host->UplinkMac())));
      CHECK(FrameTransportChecksumValid(r.frame) == ValidInTransit(mode));
      RequireOnly(r, "router_forwarded");
    }
  }
  for (uint8_t proto : kProtos) {
    CAPTURE(static_cast<int>(proto));
    Ipv6Address miss = SirAddress{H::Sir(), Identifier(0x56)}.address();
    Bytes in = host->FromFabric(src, miss, proto, Segment(proto, src, miss));
    XdpRun r = Run(*host, Role::kRouter, in, host->uplink());
    RequireVerdict(r, XDP_DROP);
    CHECK(Hex(r.frame) == Hex(in));
    RequireOnly(r, "drop_router_miss");

    Ipv6Address other = Ipv6Address::FromHalves(0x20010db800000002ull, 5);
    Bytes o_in = host->FromFabric(src, other, proto, Segment(proto, src, other));
    XdpRun o = Run(*host, Role::kRouter, o_in, host->uplink());
    RequireVerdict(o, XDP_PASS);
    CHECK(Hex(o.frame) == Hex(o_in));
    RequireOnly(o, "pass_not_sir");
  }
}

TEST_CASE("AttachContainer in auto mode on a veth attaches at tc, says why, and keeps the reason") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options opt;
  opt.attach_mode = AttachMode::kAuto;
  opt.pinned = true;
  auto host = MakeHost(opt);
  auto check = [&](const std::vector<Attachment>& all) {
    int containers = 0;
    for (const Attachment& a : all) {
      CAPTURE(a.interface, ToString(a.role), a.mode_reason, a.libxdp_note);
      CHECK(ToString(a.mode) == ToString(AttachMode::kTc));  // uplinks on veth too
      CHECK(Contains(absl::string_view(a.mode_reason), "tc: a veth"));
      CHECK(Contains(absl::string_view(a.mode_reason), "TSO"));
      if (a.role != Role::kContainer) continue;
      ++containers;
      CHECK((a.ifindex == host->c1h() || a.ifindex == host->c2h()));
      CHECK_FALSE(a.multiprog);
      CHECK_FALSE(a.peer_napi_attached);  // nothing at XDP: the container side needs no program
    }
    CHECK(containers == 2);
  };
  check(host->dp().attachments());
  // The container side carries no XDP program, so its TSO stays on.
  for (const auto& [ns, name] :
       {std::pair{&host->c1_ns(), host->c1_name()}, std::pair{&host->c2_ns(), host->c2_name()}}) {
    auto link = ns->RunOutput("ip link show dev " + name);
    REQUIRE(link.ok());
    CAPTURE(*link);
    CHECK_FALSE(Contains(absl::string_view(*link), "xdp"));
    auto offloads = ns->RunOutput("ethtool -k " + name);
    REQUIRE(offloads.ok());
    CHECK(Contains(absl::string_view(*offloads), "tcp-segmentation-offload: on"));
  }
  // Another process adopting the instance sees the same reasons.
  host->DropDataplane();
  auto reopened = Dataplane::Open(host->pin_location());
  INFO(reopened.status().ToString());
  REQUIRE(reopened.ok());
  host->SetDataplane(std::move(*reopened));
  check(host->dp().attachments());
}

TEST_CASE("native attachments use libxdp's dispatcher exactly where the probe finds it") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto probe = ProbeKernelFeature(KernelFeature::kLibxdpMultiprog);
  REQUIRE(probe.ok());
  CAPTURE(probe->detail);
  auto host = MakeHost();
  for (const Attachment& a : host->dp().attachments()) {
    CAPTURE(a.interface, a.libxdp_note);
    CHECK(ToString(a.mode) == ToString(AttachMode::kNative));
    // Without the dispatcher, libila attaches alone and says why; with it, it may still attach
    // alone (a program handed over by fd), but never claims a dispatcher the kernel refuses.
    if (!probe->available) CHECK_FALSE(a.multiprog);
    if (!a.multiprog) CHECK_FALSE(a.libxdp_note.empty());
  }
}

TEST_CASE("a container interface serves several SIR addresses: each may send, others may not") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  Dataplane& dp = host->dp();
  const SirAddress c3{H::Sir(), Identifier(0x3)}, c4{H::Sir(), Identifier(0x4)};
  // C1 is registered on c1h by the fixture's attach; a second address joins it.
  REQUIRE(dp.endpoints().Add({host->c1h(), c3, H::C1Mac()}).ok());
  REQUIRE(dp.endpoints().Get(H::C1()).ok());  // the first one stays
  auto from = [&](const SirAddress& src) {
    const Ipv6Address s = src.address(), d = H::C2().address();
    Bytes in =
        EthernetIpv6(host->C1hMac(), H::C1Mac(), Ipv6(s, d, kProtoUdp, Udp(s, d, 7, 9, {1})));
    return Run(*host, Role::kContainer, in, host->c1h());
  };
  for (const SirAddress& own : {H::C1(), c3}) {
    CAPTURE(own);
    XdpRun r = from(own);
    RequireVerdict(r, XDP_REDIRECT);
    RequireOnly(r, "tx_local");
  }
  RequireOnly(from(c4), "drop_spoofed_source");

  // Removing one address leaves the other.
  REQUIRE(dp.endpoints().Remove(H::C1()).ok());
  RequireOnly(from(H::C1()), "drop_spoofed_source");
  RequireOnly(from(c3), "tx_local");
  // Detaching the interface removes every address it had.
  REQUIRE(dp.endpoints().Add({host->c1h(), H::C1(), H::C1Mac()}).ok());
  REQUIRE(dp.Detach(host->c1h()).ok());
  CHECK(absl::IsNotFound(dp.endpoints().Get(H::C1()).status()));
  CHECK(absl::IsNotFound(dp.endpoints().Get(c3).status()));
  RequireOnly(from(c3), "drop_unregistered_interface");
}
