// Packet-exact tests of the ILA host programs: real compiled XDP object, real kernel,
// BPF_PROG_TEST_RUN, map state installed through the public API.
#include <linux/bpf.h>

#include <catch2/catch.hpp>

#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;

namespace {

std::unique_ptr<HostFixture> MakeHost(const HostFixture::Options& options = {}) {
  return MakeHostOrFail(options);
}

// The frame XDP should emit: `frame` with its destination rewritten by the C++ reference, the hop
// limit decremented and the given MACs.
Bytes Expected(const Bytes& frame, const Ipv6Address& new_dst, ChecksumMode mode,
               const MacAddress& dst_mac, const MacAddress& src_mac) {
  Bytes ip = Ipv6Of(frame);
  REQUIRE(RewriteDestination(ip, new_dst, mode).ok());
  ip[7] -= 1;
  return EthernetIpv6(dst_mac, src_mac, ip);
}

const ChecksumMode kModes[] = {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                               ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction};
const uint8_t kProtos[] = {kProtoTcp, kProtoUdp, kProtoIcmpv6};

}  // namespace

TEST_CASE("from_container translates SIR->ILA in every checksum mode and redirects to the uplink") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost();
  for (ChecksumMode mode : kModes) {
    for (uint8_t proto : kProtos) {
      CAPTURE(mode, static_cast<int>(proto));
      Mapping m{HostFixture::Remote(), HostFixture::L2(), mode, IdentifierType::kLuid};
      REQUIRE(host->dp().mappings().Upsert(m).ok());
      Ipv6Address sir = HostFixture::Remote().address();
      Bytes in = host->FromC1(sir, proto, Segment(proto, HostFixture::C1().address(), sir));
      XdpRun r = host->Run(Role::kContainer, in, host->c1h());
      REQUIRE(VerdictName(r.verdict) == VerdictName(XDP_REDIRECT));
      IlaAddress ila = *SirToIla(HostFixture::Remote(), HostFixture::L2(), mode);
      Bytes want = Expected(in, ila.address(), mode, HostFixture::FabricMac(), host->UplinkMac());
      CHECK(Hex(r.frame) == Hex(want));
      CHECK(FrameDst(r.frame) == ila.address());
      // Every mode but no-action keeps the transport checksum valid in transit.
      CHECK(FrameTransportChecksumValid(r.frame) == (mode != ChecksumMode::kNoAction));
      CHECK(r.delta.Packets("tx_remote") == 1);
      CHECK(r.delta.TotalDropped() == 0);
    }
  }
}

TEST_CASE("from_uplink restores the exact SIR packet in every checksum mode and delivers it") {
  ILA_SKIP_IF(HostTestSkipReason());
  for (ChecksumMode mode : kModes) {
    HostFixture::Options opt;
    opt.locator_mode = mode;
    auto host = MakeHost(opt);
    for (uint8_t proto : kProtos) {
      CAPTURE(mode, static_cast<int>(proto));
      Ipv6Address src = HostFixture::Remote().address();
      Ipv6Address c1 = HostFixture::C1().address();
      Bytes original = Ipv6(src, c1, proto, Segment(proto, src, c1));
      // What the remote host's from_container (the C++ reference) puts on the wire.
      Bytes wire = original;
      IlaAddress ila = *SirToIla(HostFixture::C1(), HostFixture::L1(), mode);
      REQUIRE(RewriteDestination(wire, ila.address(), mode).ok());
      Bytes in = EthernetIpv6(host->UplinkMac(), HostFixture::FabricMac(), wire);
      XdpRun r = host->Run(Role::kUplink, in, host->uplink());
      REQUIRE(VerdictName(r.verdict) == VerdictName(XDP_REDIRECT));
      Bytes want = original;
      want[7] -= 1;
      CHECK(Hex(r.frame) == Hex(EthernetIpv6(HostFixture::C1Mac(), host->C1hMac(), want)));
      CHECK(FrameTransportChecksumValid(r.frame));
      CHECK(r.delta.Packets("rx_delivered") == 1);
    }
  }
}
