// Frames that must not get past the data plane, sent for real into the fixture's interfaces (so
// that what the kernel does with a passed frame counts too), at XDP and at tc:
//   - a container's VLAN-tagged frames (the kernel would untag and route them past the source
//     check; at tc the kernel has moved the tag into the skb before the program runs);
//   - frames on the uplink for another host's MAC (the kernel drops PACKET_OTHERHOST; XDP runs
//     before that check);
// and at tc, what the program leaves to the kernel goes on down the filter chain (TC_ACT_UNSPEC),
// so that other tools' filters on the same hook still see it.
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "count_filter.skel.h"
#include "support/host_test.h"
#include "support/skip.h"
#include "testbed/host_fixture.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;

namespace {

using H = HostFixture;
using namespace std::chrono_literals;

constexpr uint16_t kPort = 47123;  // marks this test's frames among the namespaces' own traffic

const AttachMode kModes[] = {AttachMode::kNative, AttachMode::kTc};

std::unique_ptr<HostFixture> HostIn(AttachMode mode) {
  HostFixture::Options options;
  options.attach_mode = mode;
  auto host = MakeHostOrFail(options);
  REQUIRE(host->dp()
              .mappings()
              .Upsert({H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid})
              .ok());
  return host;
}

// Whether a frame of this test (UDP to kPort) arrives on `capture` within `wait`.
bool OneArrives(Capture& capture, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = capture.NextIpv6(100ms);
    if (!got || got->size() < kEthLen + kIpv6Len + 8 || (*got)[kEthLen + 6] != kProtoUdp) continue;
    const size_t udp = kEthLen + kIpv6Len;
    if (((*got)[udp + 2] << 8 | (*got)[udp + 3]) == kPort) return true;
  }
  return false;
}

Bytes UdpPacket(const Ipv6Address& src, const Ipv6Address& dst) {
  return Ipv6(src, dst, kProtoUdp, Udp(src, dst, 40000, kPort, {1, 2, 3, 4}));
}

// `ipv6` behind a VLAN tag of `tpid` (0x8100 802.1Q, 0x88a8 802.1ad) with tag control `tci`.
Bytes Tagged(const MacAddress& dst, const MacAddress& src, uint16_t tpid, uint16_t tci,
             const Bytes& ipv6) {
  Bytes payload(4 + ipv6.size());
  payload[0] = static_cast<uint8_t>(tci >> 8);
  payload[1] = static_cast<uint8_t>(tci);
  payload[2] = 0x86;
  payload[3] = 0xdd;
  std::copy(ipv6.begin(), ipv6.end(), payload.begin() + 4);
  return Ethernet(dst, src, tpid, payload);
}

uint64_t Moved(HostFixture& host, const Stats& before, CounterName name) {
  auto after = host.dp().ReadStats();
  REQUIRE(after.ok());
  return after->Since(before).Packets(name);
}

}  // namespace

TEST_CASE("a container's VLAN-tagged frames are dropped at XDP and at tc, however tagged") {
  ILA_SKIP_IF(HostTestSkipReason());
  struct Tag {
    const char* what;
    uint16_t tpid, tci;
    SirAddress source;
  };
  const Tag tags[] = {
      {"802.1Q VID 0, another container's source", 0x8100, 0x0000, H::C2()},
      {"802.1Q VID 0 priority 5, another container's source", 0x8100, 0xa000, H::C2()},
      {"802.1ad VID 0, another container's source", 0x88a8, 0x0000, H::C2()},
      {"802.1Q VID 0, its own source", 0x8100, 0x0000, H::C1()},
  };
  for (AttachMode mode : kModes) {
    auto host = HostIn(mode);
    for (const Tag& t : tags) {
      CAPTURE(ToString(mode), t.what);
      auto capture = Capture::Open(host->fabric_ns(), host->fabric_name());
      REQUIRE(capture.ok());
      auto before = host->dp().ReadStats();
      REQUIRE(before.ok());
      const Bytes frame = Tagged(host->C1hMac(), H::C1Mac(), t.tpid, t.tci,
                                 UdpPacket(t.source.address(), H::Remote().address()));
      REQUIRE(Inject(host->c1_ns(), host->c1_name(), frame).ok());
      // Untagged, the same packet with its own source leaves translated: the capture would see it.
      CHECK_FALSE(OneArrives(**capture, 700ms));
      CHECK(Moved(*host, *before, "drop_vlan_tagged") == 1);
      CHECK(Moved(*host, *before, "tx_remote") == 0);
    }
  }
}

TEST_CASE("the uplink neither translates nor delivers a frame sent to another host's MAC") {
  ILA_SKIP_IF(HostTestSkipReason());
  const MacAddress other_host({0x02, 0, 0, 0, 0x99, 0x99});
  for (AttachMode mode : kModes) {
    auto host = HostIn(mode);
    REQUIRE(host->dp().locators().Upsert({H::L1(), H::Sir(), ChecksumMode::kAdjustTransport}).ok());
    auto ila = SirToIla(H::C1(), H::L1(), ChecksumMode::kAdjustTransport);
    REQUIRE(ila.ok());
    const Ipv6Address from = H::Remote().address();
    for (bool to_us : {false, true}) {
      CAPTURE(ToString(mode), to_us);
      auto capture = Capture::Open(host->c1_ns(), host->c1_name());
      REQUIRE(capture.ok());
      auto before = host->dp().ReadStats();
      REQUIRE(before.ok());
      const Bytes frame = EthernetIpv6(to_us ? host->UplinkMac() : other_host, H::FabricMac(),
                                       UdpPacket(from, ila->address()));
      REQUIRE(Inject(host->fabric_ns(), host->fabric_name(), frame).ok());
      // The same frame to this host's MAC is delivered: the test can tell the two apart.
      CHECK(OneArrives(**capture, to_us ? 3000ms : 700ms) == to_us);
      CHECK(Moved(*host, *before, "rx_delivered") == (to_us ? 1u : 0u));
      CHECK(Moved(*host, *before, "pass_not_for_this_host") == (to_us ? 0u : 1u));
    }
  }
}

TEST_CASE("at tc, what the data plane leaves to the kernel goes on to the next filter") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = HostIn(AttachMode::kTc);
  auto* skel = count_filter__open_and_load();
  REQUIRE(skel != nullptr);
  std::unique_ptr<count_filter, void (*)(count_filter*)> owned(skel, count_filter__destroy);
  // After the data plane's filter (priority 1) on c1h's clsact ingress; removed with the fixture's
  // namespaces.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = host->c1h().value(), .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(skel->progs.count_filter),
              .handle = 0x77, .priority = 100);
  REQUIRE(bpf_tc_attach(&hook, &opts) == 0);
  auto seen = [&] {
    uint32_t zero = 0;
    uint64_t n = 0;
    REQUIRE(bpf_map__lookup_elem(skel->maps.seen, &zero, sizeof(zero), &n, sizeof(n), 0) == 0);
    return n;
  };

  // To a destination outside every SIR prefix: ordinary traffic, the kernel's.
  const Ipv6Address outside = *Ipv6Address::Parse("2001:db8:ffff::1");
  auto before = host->dp().ReadStats();
  REQUIRE(before.ok());
  const uint64_t seen_before = seen();
  constexpr int kFrames = 7;
  for (int i = 0; i < kFrames; ++i) {
    REQUIRE(Inject(host->c1_ns(), host->c1_name(),
                   EthernetIpv6(host->C1hMac(), H::C1Mac(), UdpPacket(H::C1().address(), outside)))
                .ok());
  }
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (seen() - seen_before < kFrames && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(Moved(*host, *before, "pass_not_sir") >= kFrames);
  // Every one of them (and perhaps the namespaces' own neighbour discovery) reached our filter.
  CHECK(seen() - seen_before >= kFrames);
}
