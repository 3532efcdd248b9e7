// Large TCP transfers between containers on different hosts, their content verified byte for byte,
// in every checksum mode; and path MTU discovery across a narrower underlay link, whose ICMPv6
// Packet Too Big reaches the sender through the ILA router.
#include <catch2/catch.hpp>

#include "e2e/e2e_support.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::e2e;
using demo::Topology;

namespace {

constexpr uint64_t kBytes = 100ull << 20;  // 100 MiB
constexpr uint64_t kMinPackets = kBytes / 1500;

demo::TcpTransferResult Transfer(Topology& topo, const std::string& from, const std::string& to,
                                 uint64_t bytes, uint64_t seed) {
  demo::TcpTransferOptions t;
  t.sender = topo.container(from)->ns.get();
  t.receiver = topo.container(to)->ns.get();
  t.to = topo.container(to)->sir.address();
  t.bytes = bytes;
  t.seed = seed;
  t.timeout = testbed::Duration(60000);
  auto r = demo::TcpTransfer(t);
  INFO(from << " -> " << to << ": " << r.status().ToString());
  REQUIRE(r.ok());
  std::cout << "  TCP " << from << " -> " << to << ": " << r->bytes_received << " bytes in "
            << r->seconds << " s (" << r->MegabytesPerSecond() << " MB/s), "
            << r->sender_retransmits << " retransmissions, path MTU " << r->sender_pmtu
            << std::endl;
  return *r;
}

// Bytes a link has sent, from its statistics.
uint64_t TxBytes(demo::Topology& topo, const std::string& container) {
  const auto* c = topo.container(container);
  auto out = topo.host(c->host).ns->ExecChecked(
      {"cat", "/sys/class/net/" + c->host_veth + "/statistics/tx_bytes"});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return std::stoull(*out);
}

// Host1 -> host2 and back, each direction its own stream, content verified byte for byte.
// With `container_mode` kTc the containers keep TSO and checksum offload: the container program
// sees 64 KB GSO packets (adj-transport then moves a CHECKSUM_PARTIAL packet's pseudo-header sum,
// not a full checksum), counted once each with all their bytes. With `uplink_mode` kNative the
// uplinks' XDP programs see what the fabric segmented; with kTc too, the GSO packets stay whole to
// the receiving container, which the uplink program enters with bpf_redirect_peer (its host-side
// veth never transmits them).
void TransferEveryWay(ChecksumMode mode, AttachMode container_mode = AttachMode::kNative,
                      AttachMode uplink_mode = AttachMode::kNative) {
  demo::TopologyOptions o = Options();
  o.csum_mode = mode;
  o.container_attach_mode = container_mode;
  o.uplink_attach_mode = uplink_mode;
  const bool tc = container_mode == AttachMode::kTc;
  const bool tc_uplinks = uplink_mode == AttachMode::kTc;
  auto topo = MakeTopology(o);
  WarmUp(*topo);
  if (tc) {
    auto features =
        topo->container("c1a")->ns->ExecChecked({"ethtool", "-k", topo->container("c1a")->ifname});
    INFO(features.status().ToString());
    REQUIRE(features.ok());
    CHECK_THAT(*features, Catch::Contains("tcp-segmentation-offload: on"));
    CHECK_THAT(*features, Catch::Contains("tx-checksumming: on"));
  }
  Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1);
  const uint64_t c2a_veth_before = TxBytes(*topo, "c2a");

  demo::TcpTransferResult ab = Transfer(*topo, "c1a", "c2a", kBytes, 11);
  CHECK(ab.content_ok);
  CHECK(ab.bytes_received == kBytes);
  const uint64_t c2a_veth_sent = TxBytes(*topo, "c2a") - c2a_veth_before;
  demo::TcpTransferResult ba = Transfer(*topo, "c2b", "c1b", kBytes, 12);
  CHECK(ba.content_ok);
  CHECK(ba.bytes_received == kBytes);

  Stats h1 = HostStats(*topo, 0).Since(h1_before);
  Stats h2 = HostStats(*topo, 1).Since(h2_before);
  INFO("host1:\n" << h1.ToText() << "host2:\n" << h2.ToText());
  // Every byte was translated on the way out and back on the way in.
  for (const Stats* s : {&h1, &h2}) {
    if (tc) {
      CHECK(s->Get("tx_remote").bytes >= kBytes);
    } else {
      CHECK(Packets(*s, "tx_remote") >= kMinPackets);
    }
    if (tc_uplinks) {
      CHECK(s->Get("rx_delivered").bytes >= kBytes);
      // Whole GSO packets, not the ~70k segments 100 MB makes at MTU 1500.
      CHECK(Packets(*s, "rx_delivered") < kMinPackets / 2);
    } else {
      CHECK(Packets(*s, "rx_delivered") >= kMinPackets);
    }
    CHECK(s->TotalDropped() == 0);
    CHECK(Packets(*s, "transport_not_adjusted") == 0);
  }
  if (tc_uplinks) {
    // Delivered into c2a's namespace directly: its host-side veth did not carry the stream.
    CHECK(c2a_veth_sent < kBytes / 100);
  } else {
    CHECK(c2a_veth_sent >= kBytes);
  }
  TearDownAndCheck(topo);
}

}  // namespace

TEST_CASE("100 MB over TCP both ways, content verified: adj-transport") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kAdjustTransport);
}

TEST_CASE("100 MB over TCP both ways, content verified: neutral-map") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kNeutralMap);
}

TEST_CASE("100 MB over TCP both ways, content verified: neutral-map-auto") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kNeutralMapAuto);
}

TEST_CASE("100 MB over TCP both ways, content verified: no-action") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kNoAction);
}

TEST_CASE("100 MB over TCP both ways from containers attached at tc: adj-transport") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kAdjustTransport, AttachMode::kTc);
}

TEST_CASE("100 MB over TCP both ways with containers and uplinks at tc: adj-transport") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kAdjustTransport, AttachMode::kTc, AttachMode::kTc);
}

TEST_CASE("100 MB over TCP both ways with containers and uplinks at tc: neutral-map-auto") {
  ILA_SKIP_IF(SkipReason());
  TransferEveryWay(ChecksumMode::kNeutralMapAuto, AttachMode::kTc, AttachMode::kTc);
}

// BIG TCP (gso_max_size above 64 KiB) at tc: the sending container's GSO packets are longer than
// an IPv6 payload length can say, which then reads 0 behind a jumbo hop-by-hop header;
// adj-transport must still move their (partial) checksums. r1 finishes segmentation and checksums
// in software on its way to r2, as a NIC would on the wire, and host2's uplink has receive
// checksumming off, so that c2a's stack checks every segment (a veth otherwise marks what it
// passes on as checked): a packet whose checksum was left for the SIR address arrives wrong, and
// host2's translation back cannot make it right.
// Over an underlay that carries 1280 bytes, with no mapping on the sender's host: its packets go
// to the ILA router, which translates them; r1's Packet Too Big quotes the ILA destination the
// router wrote. The sender's host translates the quote back with the cluster's locator table, and
// the sender's TCP and UDP adapt. (Without the table the quote stays ILA and every large packet
// is lost: the black hole this closes.)
TEST_CASE("path MTU over a 1280-byte underlay with no mapping on the sender's host: TCP and UDP") {
  ILA_SKIP_IF(SkipReason());
  for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMapAuto}) {
    CAPTURE(mode);
    demo::TopologyOptions o = Options();
    o.csum_mode = mode;
    o.underlay_mtu = 1280;
    auto topo = MakeTopology(o);
    for (const char* name : {"c2a", "c2b"}) {
      REQUIRE(topo->OnHost(0,
                           [&](Dataplane& dp) {
                             return dp.mappings().Remove(topo->container(name)->sir);
                           })
                  .ok());
    }
    WarmUp(*topo);
    Stats h1_before = HostStats(*topo, 0), r_before = RouterStats(*topo);
    demo::TcpTransferResult tcp = Transfer(*topo, "c1a", "c2a", 20ull << 20, 23);
    CHECK(tcp.content_ok);
    CHECK(tcp.sender_pmtu <= 1280);

    demo::UdpStreamOptions u;
    u.sender = topo->container("c1b")->ns.get();
    u.receiver = topo->container("c2b")->ns.get();
    u.to = topo->container("c2b")->sir.address();
    u.packets = 300;
    u.rate_pps = 300;
    u.payload = 1400;  // above the path MTU: fragmented by the sender once it knows
    auto udp = demo::UdpStream(u);
    INFO(udp.status().ToString());
    REQUIRE(udp.ok());
    INFO("UDP: sent " << udp->sent << ", received " << udp->received << ", longest gap "
                      << udp->longest_gap);
    CHECK(udp->corrupt == 0);
    CHECK(udp->received + 10 >= udp->sent);  // only what left before the Packet Too Big came back

    Stats h1 = HostStats(*topo, 0).Since(h1_before);
    INFO(h1.ToText());
    CHECK(Packets(h1, "pass_miss") > 0);
    CHECK(Packets(RouterStats(*topo).Since(r_before), "router_forwarded") > 0);
    CHECK(Packets(h1, "icmp_inner_translated") > 0);
    CHECK(Packets(h1, "icmp_inner_unknown") == 0);
    TearDownAndCheck(topo);
  }
}

TEST_CASE("BIG TCP at tc: GSO packets above 64 KiB are translated with right checksums") {
  ILA_SKIP_IF(SkipReason());
  demo::TopologyOptions o = Options();
  o.csum_mode = ChecksumMode::kAdjustTransport;
  o.container_attach_mode = AttachMode::kTc;
  o.uplink_attach_mode = AttachMode::kTc;
  auto topo = MakeTopology(o);
  constexpr int kBig = 185000;
  const auto* c1a = topo->container("c1a");
  absl::Status big = c1a->ns->Ip({"link", "set", "dev", c1a->ifname, "gso_max_size",
                                  std::to_string(kBig), "gro_max_size", std::to_string(kBig)});
  if (!big.ok()) {
    TearDownAndCheck(topo);
    ILA_SKIP_IF(std::optional<std::string>("this kernel's veth has no BIG TCP: " + big.ToString()));
  }
  REQUIRE(topo->r1().Run("ethtool -K to-r2 tx off >/dev/null").ok());
  REQUIRE(topo->host(1).ns->Run("ethtool -K up rx off >/dev/null").ok());
  WarmUp(*topo);
  Stats h1_before = HostStats(*topo, 0);
  demo::TcpTransferResult r = Transfer(*topo, "c1a", "c2a", kBytes, 14);
  CHECK(r.content_ok);
  CHECK(r.bytes_received == kBytes);
  Stats h1 = HostStats(*topo, 0).Since(h1_before);
  INFO(h1.ToText());
  // Packets above 64 KiB went through the program, and every one was adjusted.
  const Counter& tx = h1.Get("tx_remote");
  REQUIRE(tx.packets > 0);
  CHECK(tx.bytes / tx.packets > 65536);
  CHECK(Packets(h1, "transport_not_adjusted") == 0);
  TearDownAndCheck(topo);
}

TEST_CASE("100 MB over TCP between containers of one host, content verified") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  Stats before = HostStats(*topo, 0);
  demo::TcpTransferResult r = Transfer(*topo, "c1a", "c1b", kBytes, 13);
  CHECK(r.content_ok);
  Stats h1 = HostStats(*topo, 0).Since(before);
  CHECK(Packets(h1, "tx_local") >= kMinPackets);
  CHECK(Packets(h1, "tx_remote") == 0);
  TearDownAndCheck(topo);
}

TEST_CASE(
    "path MTU: Packet Too Big from an underlay router reaches the sender through the ILA router") {
  ILA_SKIP_IF(SkipReason());
  // r1 - r2 carries at most 1400 bytes; containers send 1500-byte packets until told otherwise.
  for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMapAuto}) {
    CAPTURE(mode);
    demo::TopologyOptions o = Options();
    o.csum_mode = mode;
    o.underlay_mtu = 1400;
    auto topo = MakeTopology(o);
    WarmUp(*topo);  // small packets: fit
    Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1),
          r_before = RouterStats(*topo);
    // r1 answers c1a's first big segments with Packet Too Big to c1a's SIR address, which r1
    // routes to the ILA router; the router translates it to host1's locator; host1 translates the
    // outer destination and the quoted one back to SIR and delivers it to c1a, whose TCP lowers
    // its MSS for c2a. The same happens the other way at r2.
    demo::TcpTransferResult ab = Transfer(*topo, "c1a", "c2a", 50ull << 20, 21);
    CHECK(ab.content_ok);
    CHECK(ab.sender_pmtu <= 1400);
    demo::TcpTransferResult ba = Transfer(*topo, "c2b", "c1b", 50ull << 20, 22);
    CHECK(ba.content_ok);
    CHECK(ba.sender_pmtu <= 1400);
    Stats h1 = HostStats(*topo, 0).Since(h1_before);
    Stats h2 = HostStats(*topo, 1).Since(h2_before);
    Stats router = RouterStats(*topo).Since(r_before);
    CHECK(Packets(h1, "icmp_inner_translated") > 0);
    CHECK(Packets(h2, "icmp_inner_translated") > 0);
    CHECK(Packets(h1, "icmp_inner_unknown") == 0);
    CHECK(Packets(h2, "icmp_inner_unknown") == 0);
    CHECK(Packets(router, "router_forwarded") >= 2);  // at least one Packet Too Big each way
    TearDownAndCheck(topo);
  }
}
