// A container moving to the other host: its traffic follows, running transfers survive, packets
// lost in flight are bounded, and arrivals at the old host are forwarded (or dropped) by policy.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "e2e/e2e_support.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::e2e;
using demo::MoveMode;
using demo::Topology;
using namespace std::chrono_literals;

namespace {

// What every host and the router should say about `name` once it lives on `host`.
void CheckPlacement(Topology& topo, const std::string& name, int host) {
  Topology::Container* c = topo.container(name);
  REQUIRE(c != nullptr);
  CHECK(c->host == host);
  const Locator want = topo.host(host).locator;
  for (int i = 0; i < Topology::kHosts; ++i) {
    CAPTURE(i);
    REQUIRE(topo.OnHost(i,
                        [&](Dataplane& dp) -> absl::Status {
                          auto m = dp.mappings().Get(c->sir);
                          if (!m.ok()) return m.status();
                          CHECK(m->locator == want);
                          auto ep = dp.endpoints().Get(c->sir);
                          CHECK(ep.ok() == (i == host));  // registered only where it runs
                          return absl::OkStatus();
                        })
                .ok());
  }
  REQUIRE(topo.OnRouter([&](Dataplane& dp) -> absl::Status {
                auto m = dp.mappings().Get(c->sir);
                if (!m.ok()) return m.status();
                CHECK(m->locator == want);
                return absl::OkStatus();
              })
              .ok());
}

}  // namespace

TEST_CASE("a container moved to the other host in a new namespace: its traffic follows") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  WarmUp(*topo);
  const std::string old_ns = topo->container("c1b")->ns->name();
  REQUIRE(topo->MoveContainer("c1b", 1, MoveMode::kNewNamespace).ok());
  CheckPlacement(*topo, "c1b", 1);
  const std::vector<std::string> left = testbed::NamespacesWithPrefix(old_ns);
  CHECK(std::find(left.begin(), left.end(), old_ns) == left.end());  // the old container is gone

  Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1);
  testbed::CommandResult r = Ping(*topo, "c1a", "c1b", 3);  // was on one host, now across
  INFO(r.output);
  CHECK(r.exit_code == 0);
  r = Ping(*topo, "c2a", "c1b", 3);  // was across, now on one host
  INFO(r.output);
  CHECK(r.exit_code == 0);
  Stats h1 = HostStats(*topo, 0).Since(h1_before);
  Stats h2 = HostStats(*topo, 1).Since(h2_before);
  CHECK(Packets(h1, "tx_local") == 0);
  CHECK(Packets(h1, "tx_remote") >= 3);
  CHECK(Packets(h2, "tx_local") >= 6);
  CHECK(Packets(h2, "rx_delivered") >= 3);
  CHECK(Packets(h1, "drop_unregistered_interface") == 0);
  TearDownAndCheck(topo);
}

TEST_CASE("a container moved during running TCP transfers: both complete intact") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  WarmUp(*topo);
  constexpr uint64_t kBytes = 300ull << 20;
  // c2a sends to the moving c1b (across hosts before, one host after); c1b sends to c1a (one
  // host before, across hosts after).
  std::atomic<uint64_t> to_mover{0}, from_mover{0};
  auto start = [&](const char* from, const char* to, uint16_t port, std::atomic<uint64_t>* p) {
    demo::TcpTransferOptions t;
    t.sender = topo->container(from)->ns.get();
    t.receiver = topo->container(to)->ns.get();
    t.to = topo->container(to)->sir.address();
    t.port = port;
    t.bytes = kBytes;
    t.seed = port;
    t.progress = p;
    t.timeout = testbed::Duration(90000);
    return std::async(std::launch::async, [t] { return demo::TcpTransfer(t); });
  };
  auto a = start("c2a", "c1b", 5201, &to_mover);
  auto b = start("c1b", "c1a", 5202, &from_mover);
  while (to_mover.load() < kBytes / 5 || from_mover.load() < kBytes / 5) {
    std::this_thread::sleep_for(5ms);
    REQUIRE(a.wait_for(0s) == std::future_status::timeout);  // still running
    REQUIRE(b.wait_for(0s) == std::future_status::timeout);
  }
  const uint64_t at_start[2] = {to_mover.load(), from_mover.load()};
  absl::Status moved = topo->MoveContainer("c1b", 1, MoveMode::kKeepNamespace);
  const uint64_t at_end[2] = {to_mover.load(), from_mover.load()};
  INFO(moved.ToString());
  CHECK(moved.ok());
  std::cout << "  move happened between " << (at_start[0] >> 20) << " and " << (at_end[0] >> 20)
            << " MiB into c2a -> c1b, " << (at_start[1] >> 20) << " and " << (at_end[1] >> 20)
            << " MiB into c1b -> c1a" << std::endl;
  // The move was over before either transfer ended.
  CHECK(at_end[0] < kBytes);
  CHECK(at_end[1] < kBytes);
  for (auto* f : {&a, &b}) {
    auto r = f->get();
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    std::cout << "  " << r->bytes_received << " bytes in " << r->seconds << " s, "
              << r->sender_retransmits << " segments (" << (r->sender_bytes_retransmitted >> 10)
              << " KiB) retransmitted, " << r->sender_dsack_dups << " reported as duplicates, "
              << r->sender_reordering_seen << " reorderings seen" << std::endl;
    CHECK(r->content_ok);
    CHECK(r->bytes_received == kBytes);
    // Bound: at most 16 MiB (about 5% of the transfer) retransmitted. When the moved container's
    // new path (one host) overtakes its old one (two hosts and the underlay), whatever was in
    // flight on the old path (up to a receive window, 6 MiB at Linux's default maximum) arrives
    // late and may be sent again once; nothing else is lost (the UDP test below counts losses).
    CHECK(r->sender_bytes_retransmitted <= (16ull << 20));
  }
  CheckPlacement(*topo, "c1b", 1);
  TearDownAndCheck(topo);
}

TEST_CASE("UDP loss while a container moves is bounded") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  WarmUp(*topo);
  REQUIRE(Ping(*topo, "c1a", "c1b", 1).exit_code == 0);
  // 2000 packets per second each way between c1a and the moving c1b, for 3 seconds; the move
  // happens after one second.
  constexpr uint32_t kRate = 2000, kPackets = 6000;
  std::atomic<uint32_t> sent{0};
  auto stream = [&](const char* from, const char* to, uint16_t port, std::atomic<uint32_t>* p) {
    demo::UdpStreamOptions o;
    o.sender = topo->container(from)->ns.get();
    o.receiver = topo->container(to)->ns.get();
    o.to = topo->container(to)->sir.address();
    o.port = port;
    o.packets = kPackets;
    o.rate_pps = kRate;
    o.payload = 200;
    o.sent_progress = p;
    return std::async(std::launch::async, [o] { return demo::UdpStream(o); });
  };
  auto to_mover = stream("c1a", "c1b", 5301, &sent);
  auto from_mover = stream("c1b", "c1a", 5302, nullptr);
  while (sent.load() < kRate) std::this_thread::sleep_for(1ms);
  const uint32_t sent_at_start = sent.load();
  absl::Status moved = topo->MoveContainer("c1b", 1, MoveMode::kKeepNamespace);
  const uint32_t sent_at_end = sent.load();
  INFO(moved.ToString());
  CHECK(moved.ok());
  CHECK(sent_at_end < kPackets);  // the move finished while the streams ran
  std::cout << "  move took " << (sent_at_end - sent_at_start) * 1000 / kRate << " ms of the stream"
            << std::endl;
  // Bound: at most 20 packets (10 ms of the stream) lost per direction, none corrupted or
  // duplicated. The order of the move (attach on the new host, remap everywhere, switch the
  // container's route, detach on the old host) leaves no moment without a path.
  for (auto* f : {&to_mover, &from_mover}) {
    auto r = f->get();
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    std::cout << "  sent " << r->sent << ", received " << r->received << ", lost " << r->lost
              << " (longest run " << r->longest_gap << ")" << std::endl;
    CHECK(r->sent == kPackets);
    CHECK(r->lost <= 20);
    CHECK(r->corrupt == 0);
    CHECK(r->duplicates == 0);
  }
  TearDownAndCheck(topo);
}

TEST_CASE(
    "arrivals at the old host after a move are forwarded to the new one, or dropped, by policy") {
  ILA_SKIP_IF(SkipReason());
  for (MovedPolicy policy : {MovedPolicy::kForward, MovedPolicy::kDrop}) {
    CAPTURE(policy == MovedPolicy::kForward ? "forward" : "drop");
    demo::TopologyOptions o = Options();
    o.host_config.moved_policy = policy;
    auto topo = MakeTopology(o);
    WarmUp(*topo);
    const SirAddress c1b = topo->container("c1b")->sir;
    // The ILA destination c1b had on host1: what a sender with a stale mapping still uses.
    Mapping stale{.sir = c1b,
                  .locator = topo->host(0).locator,
                  .csum_mode = o.csum_mode,
                  .ident_type = IdentifierType::kLuid};
    auto old_ila = stale.IlaDestination();
    REQUIRE(old_ila.ok());
    REQUIRE(topo->MoveContainer("c1b", 1, MoveMode::kNewNamespace).ok());

    Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1);
    // Stragglers: echo requests from r2 to the old ILA address (c1b's replies, to r2's own
    // address, are not SIR: they leave host2 untranslated).
    auto r = topo->r2().Exec(
        {"ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", old_ila->ToString()});
    REQUIRE(r.ok());
    Stats h1 = HostStats(*topo, 0).Since(h1_before);
    Stats h2 = HostStats(*topo, 1).Since(h2_before);
    if (policy == MovedPolicy::kForward) {
      CHECK(Packets(h1, "rx_reforwarded") >= 3);
      CHECK(Packets(h2, "rx_delivered") >= 3);
      CHECK(Packets(h2, "pass_not_sir") >= 3);  // c1b answered
    } else {
      CHECK(Packets(h1, "drop_endpoint_gone") >= 3);
      CHECK(Packets(h1, "rx_reforwarded") == 0);
      CHECK(Packets(h2, "rx_delivered") == 0);
    }
    TearDownAndCheck(topo);
  }
}

// Two hosts whose mappings disagree about an address on neither (host1 says host2, host2 says
// host1) would bounce its packets between them until their hop limit ran out. With re-forward
// locators (each host's twin, on it and in the other's cluster table, routed by the underlay), a
// packet is re-forwarded once and then dropped where it lands: at XDP and at tc.
TEST_CASE("hosts whose mappings disagree re-forward a packet once and then drop it") {
  ILA_SKIP_IF(SkipReason());
  for (AttachMode mode : {AttachMode::kTc, AttachMode::kNative}) {
    CAPTURE(mode == AttachMode::kTc ? "tc" : "xdp");
    demo::TopologyOptions o = Options();
    o.host_config.moved_policy = MovedPolicy::kForward;
    o.container_attach_mode = mode;
    o.uplink_attach_mode = mode;
    auto topo = MakeTopology(o);
    WarmUp(*topo);
    // Each host's twin: its locator's sum (one word up, the next down), in another /48, which r1
    // and r2 route to the host as they route its locator.
    const Locator twin[Topology::kHosts] = {Locator(0x20010db8aaab0000ull),
                                            Locator(0x20010db8bbbc0001ull)};
    for (int i = 0; i < Topology::kHosts; ++i) {
      const Locator own = topo->host(i).locator;
      for (const testbed::Netns* router : {&topo->r1(), &topo->r2()}) {
        auto via = router->Exec(
            {"ip", "-6", "-o", "route", "get", Ipv6Address::FromHalves(own.value(), 1).ToString()});
        REQUIRE(via.ok());
        REQUIRE(via->exit_code == 0);
        // "... via ADDR dev DEV ..." (or "dev DEV" alone, on the host's own link)
        std::vector<std::string> words = absl::StrSplit(via->output, ' ', absl::SkipWhitespace());
        std::vector<std::string> argv = {
            "ip", "-6", "route", "add",
            Ipv6Address::FromHalves(twin[i].value(), 0).ToString() + "/64"};
        for (size_t w = 0; w + 1 < words.size(); ++w) {
          if (words[w] == "via" || words[w] == "dev") {
            argv.push_back(words[w]);
            argv.push_back(words[w + 1]);
          }
        }
        auto added = router->Exec(argv);
        REQUIRE(added.ok());
        INFO(added->output);
        REQUIRE(added->exit_code == 0);
      }
      REQUIRE(topo->OnHost(
                      i,
                      [&](Dataplane& dp) -> absl::Status {
                        if (absl::Status st =
                                dp.locators().Upsert({own, Topology::Sir(), o.csum_mode, twin[i]});
                            !st.ok()) {
                          return st;
                        }
                        const int other = 1 - i;
                        return dp.cluster_locators().Upsert(
                            {topo->host(other).locator, Topology::Sir(), o.csum_mode, twin[other]});
                      })
                  .ok());
    }
    // An address on neither host, each host mapping it to the other.
    const SirAddress ghost{Topology::Sir(), Identifier(0x77)};
    for (int i = 0; i < Topology::kHosts; ++i) {
      REQUIRE(topo->OnHost(i,
                           [&](Dataplane& dp) {
                             return dp.mappings().Upsert({.sir = ghost,
                                                          .locator = topo->host(1 - i).locator,
                                                          .csum_mode = o.csum_mode,
                                                          .ident_type = IdentifierType::kLuid});
                           })
                  .ok());
    }
    Mapping at_host1{.sir = ghost,
                     .locator = topo->host(0).locator,
                     .csum_mode = o.csum_mode,
                     .ident_type = IdentifierType::kLuid};
    auto dst = at_host1.IlaDestination();
    REQUIRE(dst.ok());
    Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1);
    auto r =
        topo->r2().Exec({"ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", dst->ToString()});
    REQUIRE(r.ok());
    CHECK(r->exit_code != 0);  // nobody answers
    Stats h1 = HostStats(*topo, 0).Since(h1_before);
    Stats h2 = HostStats(*topo, 1).Since(h2_before);
    // host1 re-forwarded each once, to host2's twin; host2 dropped them there.
    CHECK(Packets(h1, "rx_reforwarded") == 3);
    CHECK(Packets(h2, "drop_reforward_loop") == 3);
    CHECK(Packets(h2, "rx_reforwarded") == 0);
    CHECK(Packets(h1, "drop_reforward_loop") == 0);
    TearDownAndCheck(topo);
  }
}
