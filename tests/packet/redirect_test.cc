// Real redirects: the programs attached in native mode to real veths, frames sent by the
// container and by the fabric as real hosts would, and captured where XDP redirected them.
#include <linux/bpf.h>

#include <catch2/catch.hpp>

#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<HostFixture> MakeHost(ChecksumMode mode) {
  HostFixture::Options opt;
  opt.locator_mode = mode;
  opt.attach_mode = AttachMode::kNative;
  auto f = MakeHostOrFail(opt);
  for (const Attachment& a : f->dp().attachments()) {
    CAPTURE(a.interface);
    CHECK(a.mode == AttachMode::kNative);
  }
  return f;
}

}  // namespace

TEST_CASE("a container's frame is translated and leaves through the uplink by a real redirect") {
  ILA_SKIP_IF(HostTestSkipReason());
  for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMapAuto}) {
    CAPTURE(mode);
    auto host = MakeHost(mode);
    REQUIRE(host->dp().mappings().Upsert({HostFixture::Remote(), HostFixture::L2(), mode}).ok());
    auto capture = Capture::Open(host->fabric_ns(), host->fabric_name());
    REQUIRE(capture.ok());

    Ipv6Address dst = HostFixture::Remote().address();
    Bytes sent = host->FromC1(dst, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), dst));
    auto before = host->dp().ReadStats();
    REQUIRE(Inject(host->c1_ns(), host->c1_name(), sent).ok());
    std::optional<Bytes> got = (*capture)->NextIpv6(2000ms);
    REQUIRE(got.has_value());

    Bytes want_ip = Ipv6Of(sent);
    IlaAddress ila = *SirToIla(HostFixture::Remote(), HostFixture::L2(), mode);
    REQUIRE(RewriteDestination(want_ip, ila.address(), mode).ok());
    want_ip[7] -= 1;
    CHECK(Hex(*got) == Hex(EthernetIpv6(HostFixture::FabricMac(), host->UplinkMac(), want_ip)));
    CHECK(FrameTransportChecksumValid(*got));
    auto after = host->dp().ReadStats();
    CHECK(after->Since(*before).Packets("tx_remote") == 1);
  }
}

TEST_CASE(
    "an ILA frame from the fabric is restored and delivered into the container by a real "
    "redirect") {
  ILA_SKIP_IF(HostTestSkipReason());
  for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap}) {
    CAPTURE(mode);
    auto host = MakeHost(mode);
    auto capture = Capture::Open(host->c1_ns(), host->c1_name());
    REQUIRE(capture.ok());

    Ipv6Address src = HostFixture::Remote().address();
    Ipv6Address c1 = HostFixture::C1().address();
    Bytes original = Ipv6(src, c1, kProtoTcp, Segment(kProtoTcp, src, c1));
    Bytes wire = original;
    REQUIRE(RewriteDestination(
                wire, SirToIla(HostFixture::C1(), HostFixture::L1(), mode)->address(), mode)
                .ok());
    auto before = host->dp().ReadStats();
    REQUIRE(Inject(host->fabric_ns(), host->fabric_name(),
                   EthernetIpv6(host->UplinkMac(), HostFixture::FabricMac(), wire))
                .ok());
    std::optional<Bytes> got = (*capture)->NextIpv6(2000ms);
    REQUIRE(got.has_value());
    Bytes want = original;
    want[7] -= 1;
    CHECK(Hex(*got) == Hex(EthernetIpv6(HostFixture::C1Mac(), host->C1hMac(), want)));
    auto after = host->dp().ReadStats();
    CHECK(after->Since(*before).Packets("rx_delivered") == 1);
  }
}

TEST_CASE("container to container on one host goes veth to veth without translation") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost(ChecksumMode::kNeutralMapAuto);
  auto capture = Capture::Open(host->c2_ns(), host->c2_name());
  REQUIRE(capture.ok());
  Ipv6Address c2 = HostFixture::C2().address();
  Bytes sent =
      host->FromC1(c2, kProtoIcmpv6, Segment(kProtoIcmpv6, HostFixture::C1().address(), c2));
  REQUIRE(Inject(host->c1_ns(), host->c1_name(), sent).ok());
  std::optional<Bytes> got = (*capture)->NextIpv6(2000ms);
  REQUIRE(got.has_value());
  Bytes want = Ipv6Of(sent);
  want[7] -= 1;
  CHECK(Hex(*got) == Hex(EthernetIpv6(HostFixture::C2Mac(), host->C2hMac(), want)));
}

TEST_CASE(
    "two hosts joined by one veth can both attach: the second takes over the pass-through "
    "program") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto a_ns = Netns::Create("pa");
  auto b_ns = Netns::Create("pb");
  REQUIRE(a_ns.ok());
  REQUIRE(b_ns.ok());
  std::string a_name = UniqueIfName("va"), b_name = UniqueIfName("vb");
  auto link = VethPair::Create({&*a_ns, a_name, "", {}}, {&*b_ns, b_name, "", {}});
  REQUIRE(link.ok());
  std::unique_ptr<Dataplane> a, b;
  {
    auto in = NetnsEntered::Enter(*a_ns);
    REQUIRE(in.ok());
    auto dp = Dataplane::Create({});
    REQUIRE(dp.ok());
    a = std::move(*dp);
    auto att = a->AttachUplink({a_name, AttachMode::kNative, {}});
    INFO(att.status().ToString());
    REQUIRE(att.ok());
    CHECK(att->peer_napi_attached);
  }
  {
    auto in = NetnsEntered::Enter(*b_ns);
    REQUIRE(in.ok());
    auto dp = Dataplane::Create({});
    REQUIRE(dp.ok());
    b = std::move(*dp);
    auto att = b->AttachUplink({b_name, AttachMode::kNative, {}});
    INFO(att.status().ToString());
    REQUIRE(att.ok());
    CHECK(att->mode == AttachMode::kNative);
    CHECK_THAT(att->mode_reason, Catch::Contains("took over"));
    auto shown = b_ns->RunOutput("ip -d link show " + b_name);
    REQUIRE(shown.ok());
    CHECK_THAT(*shown, Catch::Contains("ila_from_uplink"));
    CHECK(b->Detach(b_name).ok());
    b.reset();
  }
  {
    auto in = NetnsEntered::Enter(*a_ns);
    REQUIRE(in.ok());
    CHECK(a->Detach(a_name).ok());
    a.reset();
  }
}

TEST_CASE("a Dataplane acts in its own network namespace whatever thread namespace calls it") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto ns = Netns::Create("own");
  REQUIRE(ns.ok());
  std::string a_name = UniqueIfName("oa"), b_name = UniqueIfName("ob");
  auto link = VethPair::Create({&*ns, a_name, "", {}}, {&*ns, b_name, "", {}});
  REQUIRE(link.ok());
  std::unique_ptr<Dataplane> dp;
  {
    auto in = NetnsEntered::Enter(*ns);
    REQUIRE(in.ok());
    auto created = Dataplane::Create({});
    REQUIRE(created.ok());
    dp = std::move(*created);
  }
  // Called from the test's own namespace, where a_name does not exist: still attaches there.
  auto att = dp->AttachUplink({a_name, AttachMode::kNative, {}});
  INFO(att.status().ToString());
  REQUIRE(att.ok());
  CHECK_THAT(*ns->RunOutput("ip -d link show " + a_name), Catch::Contains("ila_from_uplink"));
  CHECK_THAT(*ns->RunOutput("ip -d link show " + b_name), Catch::Contains("ila_peer_napi"));
  REQUIRE(dp->DetachAll().ok());
  CHECK_THAT(*ns->RunOutput("ip -d link show " + a_name), !Catch::Contains("prog/xdp"));
  CHECK_THAT(*ns->RunOutput("ip -d link show " + b_name), !Catch::Contains("prog/xdp"));
}
