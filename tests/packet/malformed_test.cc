// What the ILA programs do with frames they must not translate, or must translate carefully:
// other EtherTypes, neighbour discovery and other link-scoped traffic, extension headers and
// fragments (translated, transport untouched in adj-transport, as Linux does), and frames
// truncated at every length up to the end of the transport header (never translated, never
// redirected, always counted with one reason). A transport header that is short but whole by its
// payload length is translated with the transport left alone, as Linux does (kernel vector 30).
//
// The verifier already guarantees that no program reads outside the frame; these tests pin down
// the behaviour at every length.
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <span>
#include <string>

#include <catch2/catch.hpp>

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

uint64_t Observations(const Stats& delta) {
  uint64_t n = 0;
  for (const Counter& c : delta.counters)
    if (c.kind == CounterKind::kObservation) n += c.packets;
  return n;
}

void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

const uint8_t kProtos[] = {kProtoTcp, kProtoUdp, kProtoIcmpv6};
constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoFragment = 44;

// A program under test and the interface its frames arrive on.
struct Path {
  Role role;
  InterfaceIndex ingress;
  std::string_view name;
};
std::vector<Path> AllPaths(const HostFixture& host) {
  return {{Role::kContainer, host.c1h(), "from_container"},
          {Role::kUplink, host.uplink(), "from_uplink"},
          {Role::kRouter, host.uplink(), "router"}};
}

// An ICMPv6 message of `type` with `body` after the 4-byte type/code/checksum, checksummed.
Bytes Icmp(const Ipv6Address& src, const Ipv6Address& dst, uint8_t type, const Bytes& body) {
  Bytes seg = {type, 0, 0, 0};
  seg.insert(seg.end(), body.begin(), body.end());
  Put16(seg, 2, ComputeTransportChecksum(src, dst, kProtoIcmpv6, seg));
  REQUIRE(TransportChecksumValid(src, dst, kProtoIcmpv6, seg));
  return seg;
}

// A Neighbour Solicitation for `target` (RFC 4861 §4.3) from `src` to `dst`, hop limit 255.
Bytes NeighbourSolicitation(const Ipv6Address& src, const Ipv6Address& dst,
                            const Ipv6Address& target, const MacAddress& lladdr) {
  Bytes body = {0, 0, 0, 0};  // reserved
  body.insert(body.end(), target.bytes().begin(), target.bytes().end());
  body.push_back(1);  // source link-layer address option
  body.push_back(1);
  body.insert(body.end(), lladdr.bytes().begin(), lladdr.bytes().end());
  return Ipv6(src, dst, kProtoIcmpv6, Icmp(src, dst, 135, body), 255);
}

Ipv6Address SolicitedNode(const Ipv6Address& a) {
  return Ipv6Address::FromHalves(0xff02000000000000ull,
                                 0x00000001ff000000ull | (a.low64() & 0xffffff));
}

Ipv6Address LinkLocal(uint64_t low) { return Ipv6Address::FromHalves(0xfe80000000000000ull, low); }

// `transport` (a TCP/UDP segment, checksummed for src -> dst) behind one extension header:
// hop-by-hop (8 bytes, PadN) or a first fragment with more to come.
Bytes WithExtensionHeader(uint8_t ext, uint8_t transport_proto, const Bytes& transport) {
  Bytes h;
  if (ext == kProtoHopByHop) {
    h = {transport_proto, 0, 1, 4, 0, 0, 0, 0};  // next, length 0 (8 bytes), PadN of 4
  } else {
    h = {transport_proto, 0, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78};  // offset 0, M=1, id
  }
  h.insert(h.end(), transport.begin(), transport.end());
  return h;
}

// Whether the transport after an 8-byte extension header has a valid checksum for the frame's
// addresses.
bool ChecksumAfterExtensionValid(const Bytes& frame, uint8_t transport_proto) {
  std::span<const uint8_t> seg(frame.data() + kEthLen + kIpv6Len + 8,
                               frame.size() - kEthLen - kIpv6Len - 8);
  return TransportChecksumValid(FrameSrc(frame), FrameDst(frame), transport_proto, seg);
}

}  // namespace

TEST_CASE("non-IPv6 frames are the kernel's on every program, but a container may not tag") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  const MacAddress broadcast({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  // ARP request who-has 10.0.0.2 tell 10.0.0.1.
  Bytes arp = {0, 1, 0x08, 0x00, 6, 4, 0, 1};
  const MacAddress c1_mac = H::C1Mac();
  arp.insert(arp.end(), c1_mac.bytes().begin(), c1_mac.bytes().end());
  for (int b : {10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}) arp.push_back(static_cast<uint8_t>(b));
  // IPv4 + UDP (checksums are irrelevant here).
  Bytes ipv4 = {0x45, 0, 0,  28, 0, 0, 0x40, 0,    64,   17,   0, 0, 10, 0,
                0,    1, 10, 0,  0, 2, 0x03, 0xe8, 0x07, 0xd0, 0, 8, 0,  0};
  // An 802.1Q-tagged IPv6 packet to a mapped destination: not translated; the uplink's and the
  // router's VLAN devices are the kernel's, a container may not tag.
  Bytes tagged = {0x00, 0x64, 0x86, 0xdd};
  Bytes inner = Ipv6(H::C1().address(), H::Remote().address(), kProtoUdp,
                     Segment(kProtoUdp, H::C1().address(), H::Remote().address()));
  tagged.insert(tagged.end(), inner.begin(), inner.end());
  // An IPv6 packet under EtherType IPv4.
  Bytes mislabelled = inner;

  const std::pair<uint16_t, Bytes> frames[] = {
      {0x0806, arp}, {0x0800, ipv4}, {0x8100, tagged}, {0x0800, mislabelled}};
  for (const Path& p : AllPaths(*host)) {
    for (const auto& [ethertype, payload] : frames) {
      CAPTURE(p.name, ethertype);
      Bytes in = Ethernet(ethertype == 0x0806 ? broadcast : host->C1hMac(), H::C1Mac(), ethertype,
                          payload);
      XdpRun r = Run(*host, p.role, in, p.ingress);
      CHECK(Hex(r.frame) == Hex(in));
      if (ethertype == 0x8100 && p.role == Role::kContainer) {
        // A container's tagged frame: the kernel would untag and route it (drop_vlan_tagged).
        RequireVerdict(r, XDP_DROP);
        RequireOnly(r, "drop_vlan_tagged");
      } else {
        RequireVerdict(r, XDP_PASS);
        RequireOnly(r, "pass_not_ipv6");
      }
    }
  }
}

TEST_CASE("neighbour discovery and link-local traffic are the kernel's on every program") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  const Ipv6Address ll1 = LinkLocal(0x000000fffe00c101ull);
  const Ipv6Address ll2 = LinkLocal(0x000000fffe00c201ull);
  const Ipv6Address c1 = H::C1().address();
  struct Case {
    std::string_view what;
    Bytes ip;
  };
  const Case cases[] = {
      // Address resolution of C2's SIR address, as c1's kernel sends it.
      {"NS to the solicited-node group",
       NeighbourSolicitation(ll1, SolicitedNode(H::C2().address()), H::C2().address(), H::C1Mac())},
      // Duplicate address detection: unspecified source.
      {"DAD NS", NeighbourSolicitation(Ipv6Address(), SolicitedNode(c1), c1, H::C1Mac())},
      // Unicast NS (reachability confirmation), link-local to link-local.
      {"NS link-local to link-local", NeighbourSolicitation(ll1, ll2, ll2, H::C1Mac())},
      {"echo link-local to link-local",
       Ipv6(ll1, ll2, kProtoIcmpv6, IcmpEcho(ll1, ll2, 1, 1, {'x'}))},
      // A SIR source to a link-local or multicast destination.
      {"SIR source to link-local", Ipv6(c1, ll2, kProtoUdp, Segment(kProtoUdp, c1, ll2))},
      {"SIR source to multicast",
       Ipv6(c1, SolicitedNode(H::Remote().address()), kProtoUdp,
            Segment(kProtoUdp, c1, SolicitedNode(H::Remote().address())))},
  };
  for (const Path& p : AllPaths(*host)) {
    for (const Case& c : cases) {
      CAPTURE(p.name, c.what);
      Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), c.ip);
      XdpRun r = Run(*host, p.role, in, p.ingress);
      RequireVerdict(r, XDP_PASS);
      CHECK(Hex(r.frame) == Hex(in));
      RequireOnly(r, "pass_link_local");
    }
  }
  // from_container also leaves link-local *sources* to the kernel (a router solicitation to a
  // global address would otherwise be a spoofed source).
  Ipv6Address remote = H::Remote().address();
  Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(),
                          Ipv6(ll1, remote, kProtoUdp, Segment(kProtoUdp, ll1, remote)));
  XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
  RequireVerdict(r, XDP_PASS);
  CHECK(Hex(r.frame) == Hex(in));
  RequireOnly(r, "pass_link_local");
}

TEST_CASE("extension headers and fragments: address translated, transport left as Linux does") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const Ipv6Address c1 = H::C1().address();
  const Ipv6Address remote = H::Remote().address();
  for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                            ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction}) {
    REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
    auto ila = SirToIla(H::Remote(), H::L2(), mode);
    REQUIRE(ila.ok());
    for (uint8_t ext : {kProtoHopByHop, kProtoFragment}) {
      for (uint8_t proto : {kProtoUdp, kProtoTcp}) {
        CAPTURE(mode, static_cast<int>(ext), static_cast<int>(proto));
        Bytes original =
            Ipv6(c1, remote, ext, WithExtensionHeader(ext, proto, Segment(proto, c1, remote)));
        Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(), original);
        REQUIRE(ChecksumAfterExtensionValid(in, proto));

        XdpRun r = Run(*host, Role::kContainer, in, host->c1h());
        RequireVerdict(r, XDP_REDIRECT);
        Bytes ip = original;
        auto outcome = RewriteDestination(ip, ila->address(), mode);
        REQUIRE(outcome.ok());
        bool adjust = mode == ChecksumMode::kAdjustTransport;
        CHECK(*outcome ==
              (adjust ? RewriteOutcome::kTransportNotAdjustable : RewriteOutcome::kTranslated));
        ip[7] -= 1;
        CHECK(Hex(r.frame) == Hex(EthernetIpv6(H::FabricMac(), host->UplinkMac(), ip)));
        CHECK(FrameDst(r.frame) == ila->address());
        // The transport bytes are exactly what the container sent.
        CHECK(Hex(Bytes(r.frame.begin() + kEthLen + kIpv6Len, r.frame.end())) ==
              Hex(Bytes(original.begin() + kIpv6Len, original.end())));
        if (adjust) {
          RequireOnly(r, "tx_remote", {"transport_not_adjusted"});
        } else {
          RequireOnly(r, "tx_remote");
        }
        // Checksum-neutral modes keep it valid in transit; the others need the receiver.
        bool neutral = mode == ChecksumMode::kNeutralMap || mode == ChecksumMode::kNeutralMapAuto;
        CHECK(ChecksumAfterExtensionValid(r.frame, proto) == neutral);

        // The receiver (this host made the owner of L2, Remote a local endpoint) restores the
        // sender's packet exactly, so the checksum is valid again.
        REQUIRE(host->dp().locators().Upsert({H::L2(), H::Sir(), mode}).ok());
        REQUIRE(host->dp().endpoints().Upsert({host->c2h(), H::Remote(), H::C2Mac()}).ok());
        XdpRun back =
            Run(*host, Role::kUplink, WithEthDst(r.frame, host->UplinkMac()), host->uplink());
        RequireVerdict(back, XDP_REDIRECT);
        Bytes want = original;
        want[7] -= 2;
        CHECK(Hex(back.frame) == Hex(EthernetIpv6(H::C2Mac(), host->C2hMac(), want)));
        CHECK(ChecksumAfterExtensionValid(back.frame, proto));
        if (adjust) {
          RequireOnly(back, "rx_delivered", {"transport_not_adjusted"});
        } else {
          RequireOnly(back, "rx_delivered");
        }
        REQUIRE(host->dp().locators().Remove(H::L2()).ok());
        REQUIRE(host->dp().endpoints().Remove(H::Remote()).ok());  // Remote is remote again
      }
    }
  }
}

namespace {

// Runs every prefix of `full` (0 .. `upto` bytes) through one program and checks that nothing is
// ever translated or redirected and that each run moved exactly the one expected outcome counter.
// `reason(len)` names it.
template <typename Reason>
void EveryPrefix(HostFixture& host, const Path& p, const Bytes& full, size_t upto, Reason reason) {
  for (size_t len = 0; len <= upto; ++len) {
    CAPTURE(p.name, len);
    Bytes in(full.begin(), full.begin() + static_cast<long>(len));
    if (len < kEthLen) {
      // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header: the program never
      // sees them, and no counter moves (repeated while background traffic moves one).
      Stats moved;
      int error = 0;
      for (int attempt = 0; attempt < 20; ++attempt) {
        auto before = host.dp().ReadStats();
        REQUIRE(before.ok());
        error = host.Run(p.role, in, p.ingress).error;
        auto after = host.dp().ReadStats();
        REQUIRE(after.ok());
        moved = after->Since(*before);
        if (Outcomes(moved) == 0 && Observations(moved) == 0) break;
      }
      CHECK(error == EINVAL);
      CHECK(Outcomes(moved) == 0);
      CHECK(Observations(moved) == 0);
      continue;
    }
    XdpRun r = Run(host, p.role, in, p.ingress);
    std::string_view why = reason(len);
    CAPTURE(why);
    CHECK((r.verdict == XDP_DROP || r.verdict == XDP_PASS));
    CHECK(VerdictName(r.verdict) == VerdictName(XDP_DROP));
    CHECK(Hex(r.frame) == Hex(in));
    RequireOnly(r, CounterNamed(why));
  }
}

}  // namespace

TEST_CASE(
    "frames truncated at every length are never translated and always counted, short transport "
    "headers are translated untouched") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const ChecksumMode mode = ChecksumMode::kAdjustTransport;
  REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
  const Ipv6Address c1 = H::C1().address();
  const Ipv6Address remote = H::Remote().address();
  auto c1_ila = SirToIla(H::C1(), H::L1(), mode);
  REQUIRE(c1_ila.ok());

  // The whole frames, each of which the program translates and redirects; where to, and with which
  // MACs.
  Bytes to_remote = host->FromC1(remote, kProtoTcp, Segment(kProtoTcp, c1, remote));
  Bytes ip = Ipv6(remote, c1, kProtoTcp, Segment(kProtoTcp, remote, c1));
  REQUIRE(RewriteDestination(ip, c1_ila->address(), mode).ok());
  Bytes to_c1 = EthernetIpv6(host->UplinkMac(), H::FabricMac(), ip);
  Bytes routed = host->FromFabric(c1, remote, kProtoTcp, Segment(kProtoTcp, c1, remote));
  auto remote_ila = SirToIla(H::Remote(), H::L2(), mode);
  REQUIRE(remote_ila.ok());
  struct Case {
    Path path;
    Bytes full;
    std::string_view whole_outcome;
    Ipv6Address new_dst;
    MacAddress dst_mac, src_mac;
  };
  const Case cases[] = {{{Role::kContainer, host->c1h(), "from_container"},
                         to_remote,
                         "tx_remote",
                         remote_ila->address(),
                         H::FabricMac(),
                         host->UplinkMac()},
                        {{Role::kUplink, host->uplink(), "from_uplink"},
                         to_c1,
                         "rx_delivered",
                         c1,
                         H::C1Mac(),
                         host->C1hMac()},
                        {{Role::kRouter, host->uplink(), "router"},
                         routed,
                         "router_forwarded",
                         remote_ila->address(),
                         H::FabricMac(),
                         host->UplinkMac()}};
  const size_t kTcpEnd = kEthLen + kIpv6Len + 20;
  for (const Case& c : cases) {
    // The whole frame is translated: what is refused below is refused for being short.
    XdpRun whole = Run(*host, c.path.role, c.full, c.path.ingress);
    RequireVerdict(whole, XDP_REDIRECT);
    RequireOnly(whole, CounterNamed(c.whole_outcome));
    REQUIRE(c.full.size() > kTcpEnd);

    // Cut anywhere up to the end of the TCP header, the payload length still claiming it all.
    EveryPrefix(*host, c.path, c.full, kTcpEnd, [](size_t len) -> std::string_view {
      return len < kEthLen + kIpv6Len ? "drop_truncated" : "drop_bad_length";
    });

    // Cut the same way but with a payload length that tells the truth: a TCP, UDP or ICMPv6
    // header shorter than its fixed size. As Linux does (kernel vector 30), the address is
    // translated and the transport left alone (RewriteDestination: kTransportNotAdjustable);
    // nothing past the frame is touched.
    for (auto [proto, fixed] :
         {std::pair<uint8_t, size_t>{kProtoTcp, 20}, {kProtoUdp, 8}, {kProtoIcmpv6, 8}}) {
      for (size_t have = 0; have < fixed; ++have) {
        CAPTURE(c.path.name, static_cast<int>(proto), have);
        Bytes in(c.full.begin(), c.full.begin() + static_cast<long>(kEthLen + kIpv6Len + have));
        Put16(in, kEthLen + 4, static_cast<uint16_t>(have));
        in[kEthLen + 6] = proto;
        XdpRun r = Run(*host, c.path.role, in, c.path.ingress);
        RequireVerdict(r, XDP_REDIRECT);
        Bytes want = Ipv6Of(in);
        auto outcome = RewriteDestination(want, c.new_dst, mode);
        REQUIRE(outcome.ok());
        CHECK(*outcome == RewriteOutcome::kTransportNotAdjustable);
        want[7] -= 1;
        CHECK(Hex(r.frame) == Hex(EthernetIpv6(c.dst_mac, c.src_mac, want)));
        CHECK(Hex(Bytes(r.frame.begin() + kEthLen + kIpv6Len, r.frame.end())) ==
              Hex(Bytes(in.begin() + kEthLen + kIpv6Len, in.end())));
        RequireOnly(r, CounterNamed(c.whole_outcome), {"transport_not_adjusted"});
      }
    }

    // Version 4 in an IPv6 EtherType frame (whole, and cut to just the fixed header).
    for (size_t len : {c.full.size(), kEthLen + kIpv6Len}) {
      CAPTURE(c.path.name, len);
      Bytes in(c.full.begin(), c.full.begin() + static_cast<long>(len));
      in[kEthLen] = static_cast<uint8_t>(0x40 | (in[kEthLen] & 0x0f));
      XdpRun r = Run(*host, c.path.role, in, c.path.ingress);
      RequireVerdict(r, XDP_DROP);
      CHECK(Hex(r.frame) == Hex(in));
      RequireOnly(r, "drop_bad_version");
    }
  }
}

TEST_CASE("a payload length shorter than the frame is not a truncation") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  const ChecksumMode mode = ChecksumMode::kAdjustTransport;
  REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), mode, IdentifierType::kLuid}).ok());
  const Ipv6Address c1 = H::C1().address();
  const Ipv6Address remote = H::Remote().address();
  // A minimum-size UDP frame padded by the link to 60 bytes... and more.
  Bytes udp = Udp(c1, remote, 1000, 2000, {});
  Bytes in = host->FromC1(remote, kProtoUdp, udp);
  Bytes padded = in;
  padded.resize(in.size() + 6, 0);
  XdpRun r = Run(*host, Role::kContainer, padded, host->c1h());
  RequireVerdict(r, XDP_REDIRECT);
  auto ila = SirToIla(H::Remote(), H::L2(), mode);
  REQUIRE(ila.ok());
  Bytes ip = Ipv6Of(in);
  REQUIRE(RewriteDestination(ip, ila->address(), mode).ok());
  ip[7] -= 1;
  Bytes want = EthernetIpv6(H::FabricMac(), host->UplinkMac(), ip);
  want.resize(padded.size(), 0);
  CHECK(Hex(r.frame) == Hex(want));
  CHECK(FrameTransportChecksumValid(r.frame));
  RequireOnly(r, "tx_remote");
}
