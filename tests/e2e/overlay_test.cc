// End to end through real namespaces (examples/topology.h): two hosts behind two underlay
// routers, an ILA router, four containers. Pings, UDP, misses through the ILA router, spoofing,
// unmapped prefixes, and traffic that is none of ILA's business.
#include <catch2/catch.hpp>
#include <future>

#include "e2e/e2e_support.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::e2e;
using demo::Topology;

TEST_CASE("containers ping each other across hosts and on one host, both ways") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  WarmUp(*topo);
  struct Case {
    const char* from;
    const char* to;
  };
  for (Case c : {Case{"c1a", "c2a"}, Case{"c2a", "c1a"}, Case{"c1b", "c2b"}, Case{"c2b", "c1b"},
                 Case{"c1a", "c1b"}, Case{"c1b", "c1a"}, Case{"c2a", "c2b"}, Case{"c2b", "c2a"}}) {
    CAPTURE(c.from, c.to);
    const int src_host = topo->container(c.from)->host;
    const int dst_host = topo->container(c.to)->host;
    Stats src_before = HostStats(*topo, src_host), dst_before = HostStats(*topo, dst_host);
    testbed::CommandResult r = Ping(*topo, c.from, c.to, 3);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    Stats src = HostStats(*topo, src_host).Since(src_before);
    Stats dst = HostStats(*topo, dst_host).Since(dst_before);
    if (src_host != dst_host) {
      // 3 requests out of the source host, 3 replies delivered back into the source container.
      CHECK(Packets(src, "tx_remote") >= 3);
      CHECK(Packets(src, "rx_delivered") >= 3);
      CHECK(Packets(dst, "rx_delivered") >= 3);
      CHECK(Packets(dst, "tx_remote") >= 3);
      CHECK(Packets(src, "tx_local") == 0);
    } else {
      // Requests and replies both go veth to veth on the one host, untranslated.
      CHECK(Packets(src, "tx_local") >= 6);
      CHECK(Packets(src, "tx_remote") == 0);
      CHECK(Packets(src, "rx_delivered") == 0);
    }
    CHECK(src.TotalDropped() == 0);
    CHECK(dst.TotalDropped() == 0);
  }
  TearDownAndCheck(topo);
}

TEST_CASE("UDP flows both ways between containers on different hosts, at the same time") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  REQUIRE(Ping(*topo, "c1a", "c2a", 1).exit_code == 0);  // neighbours resolved
  Stats h1_before = HostStats(*topo, 0);
  auto stream = [&](const char* from, const char* to, uint16_t port) {
    demo::UdpStreamOptions o;
    o.sender = topo->container(from)->ns.get();
    o.receiver = topo->container(to)->ns.get();
    o.to = topo->container(to)->sir.address();
    o.port = port;
    o.packets = 2000;
    o.rate_pps = 4000;
    o.payload = 1200;
    return demo::UdpStream(o);
  };
  auto forward = std::async(std::launch::async, stream, "c1a", "c2a", 5301);
  auto backward = std::async(std::launch::async, stream, "c2a", "c1a", 5302);
  for (auto* f : {&forward, &backward}) {
    auto r = f->get();
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    CAPTURE(r->sent, r->received, r->lost, r->duplicates, r->corrupt);
    CHECK(r->sent == 2000);
    CHECK(r->received == 2000);  // no loss on an idle veth underlay
    CHECK(r->corrupt == 0);
    CHECK(r->duplicates == 0);
  }
  Stats h1 = HostStats(*topo, 0).Since(h1_before);
  CHECK(Packets(h1, "tx_remote") >= 2000);
  CHECK(Packets(h1, "rx_delivered") >= 2000);
  TearDownAndCheck(topo);
}

TEST_CASE(
    "a host without a mapping delivers through the ILA router (pass_miss, router_forwarded)") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();  // hosts: MissPolicy::kPassToRouter
  const SirAddress c2a = topo->container("c2a")->sir;
  REQUIRE(topo->OnHost(0, [&](Dataplane& dp) { return dp.mappings().Remove(c2a); }).ok());
  REQUIRE(Ping(*topo, "c1a", "c2a", 1).exit_code == 0);  // resolves the router's neighbours

  Stats h1_before = HostStats(*topo, 0), r_before = RouterStats(*topo);
  testbed::CommandResult r = Ping(*topo, "c1a", "c2a", 3);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  Stats h1 = HostStats(*topo, 0).Since(h1_before);
  Stats router = RouterStats(*topo).Since(r_before);
  CHECK(Packets(h1, "pass_miss") >= 3);
  CHECK(Packets(h1, "tx_remote") == 0);
  CHECK(Packets(router, "router_forwarded") >= 3);
  CHECK(Packets(h1, "rx_delivered") >= 3);  // the replies come straight back (host2 has c1a)

  // TCP through the router's translation too.
  h1_before = HostStats(*topo, 0);
  r_before = RouterStats(*topo);
  demo::TcpTransferOptions t;
  t.sender = topo->container("c1a")->ns.get();
  t.receiver = topo->container("c2a")->ns.get();
  t.to = c2a.address();
  t.bytes = 20ull << 20;
  auto tr = demo::TcpTransfer(t);
  INFO(tr.status().ToString());
  REQUIRE(tr.ok());
  CHECK(tr->content_ok);
  CHECK(Packets(RouterStats(*topo).Since(r_before), "router_forwarded") >= (20u << 20) / 1500);
  CHECK(Packets(HostStats(*topo, 0).Since(h1_before), "pass_miss") >= (20u << 20) / 1500);
  TearDownAndCheck(topo);
}

TEST_CASE("a container that spoofs its source is dropped and counted") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  Topology::Container* c1a = topo->container("c1a");
  const std::string c2a = topo->container("c2a")->sir.ToString();
  const std::string c2b = topo->container("c2b")->sir.ToString();
  // Another SIR address of the prefix, another container's address, and a non-SIR address.
  for (const std::string& spoofed :
       {std::string("2001:db8:0:1::dead"), c2b, std::string("fd00:99::1")}) {
    CAPTURE(spoofed);
    REQUIRE(c1a->ns->Ip({"-6", "addr", "add", spoofed + "/128", "dev", c1a->ifname, "nodad"}).ok());
    Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1);
    auto r =
        c1a->ns->Exec({"ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-I", spoofed, c2a});
    REQUIRE(r.ok());
    INFO(r->output);
    CHECK(r->exit_code != 0);
    Stats h1 = HostStats(*topo, 0).Since(h1_before);
    CHECK(Packets(h1, "drop_spoofed_source") >= 3);
    CHECK(Packets(h1, "tx_remote") == 0);
    CHECK(Packets(HostStats(*topo, 1).Since(h2_before), "rx_delivered") == 0);
    REQUIRE(c1a->ns->Ip({"-6", "addr", "del", spoofed + "/128", "dev", c1a->ifname}).ok());
  }
  // Its own address still works.
  CHECK(Ping(*topo, "c1a", "c2a", 1).exit_code == 0);
  TearDownAndCheck(topo);
}

TEST_CASE("a container cannot reach a SIR prefix it has no mapping for") {
  ILA_SKIP_IF(SkipReason());
  const SirPrefix other(0x20010db800000002ull);  // 2001:db8:0:2::/64, registered, nothing mapped
  const Ipv6Address target = Ipv6Address::FromHalves(other.value(), 0x5);
  // Linked to the containers' prefix, so that isolation between prefixes is not what stops it.
  demo::TopologyOptions linked = Options();
  linked.extra_sir_prefixes = {other};
  linked.prefix_rules = {{Topology::Sir(), other}};

  SECTION("hosts pass misses to the ILA router, which has no mapping either and drops them") {
    auto topo = MakeTopology(linked);
    Stats h1_before = HostStats(*topo, 0), r_before = RouterStats(*topo);
    auto r = topo->Ping("c1a", target, 3);
    REQUIRE(r.ok());
    INFO(r->output);
    CHECK(r->exit_code != 0);
    CHECK(Packets(HostStats(*topo, 0).Since(h1_before), "pass_miss") >= 3);
    Stats router = RouterStats(*topo).Since(r_before);
    CHECK(Packets(router, "drop_router_miss") >= 3);
    CHECK(Packets(router, "router_forwarded") == 0);
    TearDownAndCheck(topo);
  }
  SECTION("hosts with MissPolicy::kDrop drop them themselves") {
    demo::TopologyOptions o = linked;
    o.host_config.miss_policy = MissPolicy::kDrop;
    auto topo = MakeTopology(o);
    Stats h1_before = HostStats(*topo, 0), r_before = RouterStats(*topo);
    auto r = topo->Ping("c1a", target, 3);
    REQUIRE(r.ok());
    INFO(r->output);
    CHECK(r->exit_code != 0);
    CHECK(Packets(HostStats(*topo, 0).Since(h1_before), "drop_miss") >= 3);
    CHECK(Packets(RouterStats(*topo).Since(r_before), "drop_router_miss") == 0);
    TearDownAndCheck(topo);
  }
  SECTION("without a rule linking the prefixes the host drops them as another tenant's") {
    demo::TopologyOptions o = Options();
    o.extra_sir_prefixes = {other};
    auto topo = MakeTopology(o);
    Stats h1_before = HostStats(*topo, 0), r_before = RouterStats(*topo);
    auto r = topo->Ping("c1a", target, 3);
    REQUIRE(r.ok());
    INFO(r->output);
    CHECK(r->exit_code != 0);
    CHECK(Packets(HostStats(*topo, 0).Since(h1_before), "drop_cross_prefix") >= 3);
    CHECK(Packets(RouterStats(*topo).Since(r_before), "drop_router_miss") == 0);
    TearDownAndCheck(topo);
  }
}

TEST_CASE(
    "traffic that is not ILA passes untouched: host to host, neighbour discovery, link-local") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTopology();
  auto translated = [](const Stats& s) {
    return Packets(s, "tx_remote") + Packets(s, "tx_local") + Packets(s, "rx_delivered") +
           Packets(s, "rx_reforwarded") + Packets(s, "router_forwarded") + s.TotalDropped();
  };
  Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1),
        r_before = RouterStats(*topo);

  // host1 -> host2 over the underlay: the uplink programs see it and pass it.
  auto host_ping = topo->host(0).ns->Exec(
      {"ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", topo->host(1).address.ToString()});
  REQUIRE(host_ping.ok());
  INFO(host_ping->output);
  CHECK(host_ping->exit_code == 0);
  // The ILA router's own traffic: its program passes it.
  auto router_ping = topo->ila_router().ns->Exec(
      {"ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", topo->host(0).address.ToString()});
  REQUIRE(router_ping.ok());
  INFO(router_ping->output);
  CHECK(router_ping->exit_code == 0);
  // A container to its host's link-local address, after forgetting its neighbours (so that
  // neighbour discovery runs again).
  Topology::Container* c1a = topo->container("c1a");
  REQUIRE(c1a->ns->Ip({"neigh", "flush", "dev", c1a->ifname}).ok());
  auto ll_ping = c1a->ns->Exec(
      {"ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "1", "fe80::1%" + c1a->ifname});
  REQUIRE(ll_ping.ok());
  INFO(ll_ping->output);
  CHECK(ll_ping->exit_code == 0);

  Stats h1 = HostStats(*topo, 0).Since(h1_before);
  Stats h2 = HostStats(*topo, 1).Since(h2_before);
  Stats router = RouterStats(*topo).Since(r_before);
  CHECK(translated(h1) == 0);
  CHECK(translated(h2) == 0);
  CHECK(translated(router) == 0);
  CHECK(Packets(h1, "pass_not_local_locator") >= 6);  // host2's replies + the router's requests
  CHECK(Packets(h2, "pass_not_local_locator") >= 3);  // host1's requests
  CHECK(Packets(h1, "pass_link_local") >= 3);         // c1a's link-local pings (and its ND)
  CHECK(Packets(router, "pass_not_sir") >= 3);        // host1's replies to the router
  TearDownAndCheck(topo);
}
