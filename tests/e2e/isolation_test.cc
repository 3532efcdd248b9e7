// Isolation between tenants (SIR prefixes) across the two-host overlay, with real traffic (issue
// 16 item 4's acceptance matrix): tenants A (Sir(): c1a, c1b on host1, c2a, c2b on host2) and B
// (2001:db8:0:2::/64: b1 on host1, b2 and b3 on host2), each direction, each path, each kind of
// destination, with the containers and uplinks at XDP and at tc:
//
//   path \ destination   its SIR address                    its ILA address (locator + identifier)
//   same host            host1 drop_cross_prefix            host1 drop_ila_destination
//   remote host          host1 drop_cross_prefix            host1 drop_ila_destination (host2's
//   the ILA router       host1 drop_cross_prefix (the       locators are in host1's cluster
//   (host1 has no        router never sees it)              table; ILA addresses are routed by
//    mapping for it)                                        locator, never through the router)
//
// and, without the cluster table (a host that does not know the others' locators), the ILA
// addresses of remote containers are refused by host2 on arrival (drop_cross_prefix_arrival);
// plus a path around host1's container check altogether: host1's own packet with a tenant A
// source to a B address it has no mapping for, translated by the ILA router, is refused by host2.
// With a rule linking A and B the same pairs carry TCP both ways, on every path.
#include <catch2/catch.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "e2e_support.h"
#include "ila/translation.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::e2e;
using demo::Topology;

namespace {

const SirPrefix kTenantB(0x20010db800000002ull);  // 2001:db8:0:2::/64

demo::TopologyOptions TwoTenants(AttachMode mode, bool linked, bool cluster = true) {
  demo::TopologyOptions o = Options();
  o.cluster_locators = cluster;
  o.container_attach_mode = mode;
  o.uplink_attach_mode = mode;
  o.tenant_prefixes = {kTenantB};
  if (linked) o.prefix_rules = {{Topology::Sir(), kTenantB}};
  return o;
}

// B's containers, and host1 without the mappings of b3 and c2b: traffic from host1 to those two
// goes the ILA router's way.
std::unique_ptr<Topology> MakeTwoTenants(AttachMode mode, bool linked, bool cluster = true) {
  auto topo = MakeTopology(TwoTenants(mode, linked, cluster));
  REQUIRE(topo->AddContainer("b1", 0, Identifier(0xb1), kTenantB).ok());
  REQUIRE(topo->AddContainer("b2", 1, Identifier(0xb2), kTenantB).ok());
  REQUIRE(topo->AddContainer("b3", 1, Identifier(0xb3), kTenantB).ok());
  for (const char* unmapped : {"b3", "c2b"}) {
    REQUIRE(topo->OnHost(0,
                         [&](Dataplane& dp) {
                           return dp.mappings().Remove(topo->container(unmapped)->sir);
                         })
                .ok());
  }
  return topo;
}

Ipv6Address IlaOf(Topology& topo, const std::string& name) {
  const Topology::Container* c = topo.container(name);
  return IlaAddress{topo.LocatorFor(c->host, c->sir.prefix), c->sir.identifier}.address();
}

struct Cell {
  std::string from, to;  // containers
  bool ila;              // to the ILA address (else the SIR address)
  int dropping_host;     // whose counter says so
  std::string reason;
};

// Every cross pair of the matrix above, both directions.
std::vector<Cell> CrossCells() {
  std::vector<Cell> cells;
  // {sender, same host, remote host, through the router}
  const std::string pairs[2][4] = {{"c1a", "b1", "b2", "b3"}, {"b1", "c1b", "c2a", "c2b"}};
  for (const auto& p : pairs) {
    cells.push_back({p[0], p[1], false, 0, "drop_cross_prefix"});
    cells.push_back({p[0], p[2], false, 0, "drop_cross_prefix"});
    cells.push_back({p[0], p[3], false, 0, "drop_cross_prefix"});
    cells.push_back({p[0], p[1], true, 0, "drop_ila_destination"});
    cells.push_back({p[0], p[2], true, 0, "drop_ila_destination"});
    cells.push_back({p[0], p[3], true, 0, "drop_ila_destination"});
  }
  return cells;
}

// Pings `cell.from` -> `cell.to` and checks it was dropped under its reason.
void CheckDropped(Topology& topo, const Cell& cell) {
  const Ipv6Address to = cell.ila ? IlaOf(topo, cell.to) : topo.container(cell.to)->sir.address();
  INFO(cell.from << " -> " << cell.to << " at " << to.ToString() << ", expected " << cell.reason
                 << " on host" << cell.dropping_host + 1);
  const Stats before = HostStats(topo, cell.dropping_host);
  const Stats router_before = RouterStats(topo);
  auto ping = topo.Ping(cell.from, to, 2);
  REQUIRE(ping.ok());
  INFO(ping->output);
  CHECK(ping->exit_code != 0);
  const Stats moved = HostStats(topo, cell.dropping_host).Since(before);
  INFO(moved.ToText());
  CHECK(Packets(moved, cell.reason) >= 2);
  if (!cell.ila) CHECK(Packets(RouterStats(topo).Since(router_before), "router_forwarded") == 0);
}

// Without the cluster table host1 does not know host2's locators: a container writing the ILA
// address of another tenant's container there gets as far as host2, which refuses it.
void RemoteIlaRefusedOnArrival(AttachMode mode) {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTwoTenants(mode, false, false);
  WarmUp(*topo);
  for (const Cell& cell : std::vector<Cell>{{"c1a", "b2", true, 1, "drop_cross_prefix_arrival"},
                                            {"c1a", "b3", true, 1, "drop_cross_prefix_arrival"},
                                            {"b1", "c2a", true, 1, "drop_cross_prefix_arrival"}}) {
    CheckDropped(*topo, cell);
  }
  TearDownAndCheck(topo);
}

void CrossPairsDropped(AttachMode mode) {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTwoTenants(mode, false);
  WarmUp(*topo);
  for (const Cell& cell : CrossCells()) CheckDropped(*topo, cell);

  // Around host1's container check: host1's own packet with a tenant A source, to b3 (which host1
  // has no mapping for) through the ILA router, which translates it; host2 refuses it.
  const std::string spoofed = "2001:db8:0:1::f00";
  REQUIRE(topo->host(0).ns->Ip({"-6", "addr", "add", spoofed + "/128", "dev", "up", "nodad"}).ok());
  const Stats h2_before = HostStats(*topo, 1), router_before = RouterStats(*topo);
  auto ping = topo->host(0).ns->Exec({"ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "1", "-I",
                                      spoofed, topo->container("b3")->sir.address().ToString()});
  REQUIRE(ping.ok());
  INFO(ping->output);
  CHECK(ping->exit_code != 0);
  CHECK(Packets(RouterStats(*topo).Since(router_before), "router_forwarded") >= 2);
  CHECK(Packets(HostStats(*topo, 1).Since(h2_before), "drop_cross_prefix_arrival") >= 2);
  TearDownAndCheck(topo);
}

void Tcp(Topology& topo, const std::string& from, const std::string& to, uint64_t seed) {
  demo::TcpTransferOptions t;
  t.sender = topo.container(from)->ns.get();
  t.receiver = topo.container(to)->ns.get();
  t.to = topo.container(to)->sir.address();
  t.bytes = 1 << 20;
  t.seed = seed;
  t.timeout = testbed::Duration(30000);
  auto r = demo::TcpTransfer(t);
  INFO(from << " -> " << to << ": " << r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->content_ok);
  CHECK(r->bytes_received == t.bytes);
}

void LinkedPairsCarryTcp(AttachMode mode) {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeTwoTenants(mode, true);
  WarmUp(*topo);
  const Stats h1_before = HostStats(*topo, 0), h2_before = HostStats(*topo, 1),
              router_before = RouterStats(*topo);
  uint64_t seed = 1;
  // Same host, remote host, and through the ILA router (host1 has no mapping for b3 or c2b; the
  // replies come straight back: host2 maps host1's containers).
  for (const auto& [a, b] : {std::pair{"c1a", "b1"}, std::pair{"c1a", "b2"}, std::pair{"c1b", "b3"},
                             std::pair{"b1", "c2b"}}) {
    Tcp(*topo, a, b, seed++);
    Tcp(*topo, b, a, seed++);
  }
  const Stats h1 = HostStats(*topo, 0).Since(h1_before), h2 = HostStats(*topo, 1).Since(h2_before);
  INFO("host1:\n" << h1.ToText() << "host2:\n" << h2.ToText());
  for (const Stats* s : {&h1, &h2}) {
    CHECK(Packets(*s, "drop_cross_prefix") == 0);
    CHECK(Packets(*s, "drop_cross_prefix_arrival") == 0);
  }
  CHECK(Packets(h1, "pass_miss") > 0);
  CHECK(Packets(RouterStats(*topo).Since(router_before), "router_forwarded") > 0);
  TearDownAndCheck(topo);
}

}  // namespace

TEST_CASE("tenants at XDP: every cross pair is dropped under its reason on every path") {
  CrossPairsDropped(AttachMode::kNative);
}

TEST_CASE("tenants at tc: every cross pair is dropped under its reason on every path") {
  CrossPairsDropped(AttachMode::kTc);
}

TEST_CASE("without the cluster table another tenant's ILA address is refused on arrival: XDP") {
  RemoteIlaRefusedOnArrival(AttachMode::kNative);
}

TEST_CASE("without the cluster table another tenant's ILA address is refused on arrival: tc") {
  RemoteIlaRefusedOnArrival(AttachMode::kTc);
}

TEST_CASE("linked tenants at XDP carry TCP both ways on every path") {
  LinkedPairsCarryTcp(AttachMode::kNative);
}

TEST_CASE("linked tenants at tc carry TCP both ways on every path") {
  LinkedPairsCarryTcp(AttachMode::kTc);
}
