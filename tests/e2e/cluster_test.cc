// The overlay run by its cluster control plane: etcd on a management network and an ila-agent per
// host and ILA router (examples/cluster_control.h), real traffic between containers. Containers
// and moves go through the agents; agents killed, etcd stopped: the data planes keep forwarding.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "e2e/e2e_support.h"
#include "etcd/client.h"
#include "testbed/netns.h"
#include "support/skip.h"
#include "traffic.h"

using namespace ila;
using namespace ila::e2e;
using demo::MoveMode;
using demo::Topology;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Topology> MakeClusterTopology() {
  demo::TopologyOptions o = Options();
  o.tag = "ilacl";
  o.attach_mode = AttachMode::kAuto;  // what the agents use: tc on veths, XDP for the router
  o.agent_path = ILA_AGENT_PATH;
  auto topo = Topology::Create(o);
  INFO(topo.status().ToString());
  REQUIRE(topo.ok());
  return std::move(*topo);
}

demo::UdpStreamOptions Stream(Topology& topo, const std::string& from, const std::string& to,
                              uint32_t packets, uint16_t port) {
  demo::UdpStreamOptions u;
  u.sender = topo.container(from)->ns.get();
  u.receiver = topo.container(to)->ns.get();
  u.to = topo.container(to)->sir.address();
  u.port = port;
  u.packets = packets;
  u.rate_pps = 1000;
  return u;
}

std::string Status(Topology& topo, const std::string& node) {
  auto s = topo.cluster()->AgentCommand(node, "status", {});
  return s.ok() ? *s : s.status().ToString();
}

// Whether `dp`'s mapping table holds exactly what etcd's mapping records say (address ->
// locator); every host and the router of this topology hold every mapping.
bool TableEqualsEtcd(agent::etcd::Client& client, Dataplane& dp) {
  auto all = client.RangePrefix("/ila/v1/mappings/");
  auto table = dp.mappings().List();
  if (!all.ok() || !table.ok()) return false;
  std::map<std::string, std::string> want, have;
  for (const auto& kv : all->kvs) {
    auto j = nlohmann::json::parse(kv.value);
    want[kv.key.substr(kv.key.rfind('/') + 1)] = j["locator"].get<std::string>();
  }
  for (const Mapping& m : *table) have[m.sir.ToString()] = m.locator.ToString();
  return want == have;
}

bool EventuallyEqual(agent::etcd::Client& client, Dataplane& dp) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!TableEqualsEtcd(client, dp)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// Our own etcd client, made in host1's namespace (which reaches etcd over its management veth);
// the test's thread stays there while it holds this, and so do the gRPC threads it starts.
struct EtcdFromHost1 {
  testbed::NetnsEntered entered;
  std::unique_ptr<agent::etcd::Client> client;
};

EtcdFromHost1 ConnectFrom(Topology& topo) {
  auto entered = testbed::NetnsEntered::Enter(*topo.host(0).ns);
  REQUIRE(entered.ok());
  agent::etcd::ClientOptions co;
  co.endpoints = topo.cluster()->etcd().client_endpoints();
  auto client = agent::etcd::Client::Connect(co);
  INFO(client.status().ToString());
  REQUIRE(client.ok());
  return {*std::move(entered), *std::move(client)};
}

}  // namespace

TEST_CASE("agents: containers reach each other and a move under traffic keeps the other flows") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeClusterTopology();
  WarmUp(*topo);
  testbed::CommandResult r = Ping(*topo, "c1a", "c2a", 3);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  // c2a moves to host1 while c1a streams to it and c1b streams to c2b (untouched).
  std::atomic<uint32_t> sent{0};
  demo::UdpStreamOptions moved = Stream(*topo, "c1a", "c2a", 3000, 5301);
  moved.sent_progress = &sent;
  auto moved_flow = std::async(std::launch::async, [&] { return demo::UdpStream(moved); });
  auto other_flow = std::async(
      std::launch::async, [&] { return demo::UdpStream(Stream(*topo, "c1b", "c2b", 3000, 5302)); });
  while (sent.load() < 1000) std::this_thread::sleep_for(5ms);
  absl::Status move = topo->MoveContainer("c2a", 0, MoveMode::kKeepNamespace);
  INFO(move.ToString() << "\n" << topo->cluster()->AgentLog("host2"));
  REQUIRE(move.ok());
  auto m = moved_flow.get();
  auto o = other_flow.get();
  REQUIRE(m.ok());
  REQUIRE(o.ok());
  INFO("moved flow: sent " << m->sent << " lost " << m->lost << " longest gap " << m->longest_gap
                           << "; other flow: lost " << o->lost);
  std::cout << "measured: the moved flow lost " << m->lost << " of " << m->sent << " (longest gap "
            << m->longest_gap << "), the untouched flow " << o->lost << " of " << o->sent
            << std::endl;
  CHECK(o->lost == 0);
  CHECK(o->corrupt == 0);
  CHECK(m->corrupt == 0);
  CHECK(m->lost <= 50);  // under 50 ms of the stream; the measured window is in the INFO above
  // Where it is now, as etcd and every data plane say.
  auto owner = topo->cluster()->Etcdctl(
      {"get", "--print-value-only",
       "/ila/v1/mappings/2001:db8:0:1/" + topo->container("c2a")->sir.ToString()});
  REQUIRE(owner.ok());
  CHECK_THAT(*owner, Catch::Contains(R"("host":"host1")"));
  r = Ping(*topo, "c2b", "c2a", 3);  // across now
  INFO(r.output);
  CHECK(r.exit_code == 0);
  TearDownAndCheck(topo);
}

TEST_CASE("agents: kill -9 an agent and stop etcd under traffic: not a packet lost") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeClusterTopology();
  WarmUp(*topo);
  std::atomic<uint32_t> sent{0};
  demo::UdpStreamOptions u = Stream(*topo, "c1a", "c2a", 16000, 5303);
  u.sent_progress = &sent;
  auto flow = std::async(std::launch::async, [&] { return demo::UdpStream(u); });
  auto at = [&](uint32_t packet) {
    while (sent.load() < packet) std::this_thread::sleep_for(5ms);
  };
  demo::ClusterControl& cluster = *topo->cluster();
  at(1000);
  cluster.StopAgent("host2", SIGKILL);
  at(2000);
  REQUIRE(cluster.StartAgent("host2", *topo->host(1).ns, {}).ok());
  at(3000);
  REQUIRE(cluster.etcd().StopMember(0).ok());  // etcd gone for 10 s
  at(13000);
  REQUIRE(cluster.etcd().StartMember(0).ok());
  auto result = flow.get();
  REQUIRE(result.ok());
  INFO("sent " << result->sent << " lost " << result->lost << " longest gap "
               << result->longest_gap);
  std::cout << "measured: kill -9 of an agent, then etcd stopped for 10 s: " << result->lost
            << " of " << result->sent << " lost" << std::endl;
  CHECK(result->lost == 0);
  CHECK(result->corrupt == 0);

  // The agents reconnected: a container added now reaches every data plane through etcd.
  auto c = topo->AddContainer("c1c", 0, Identifier(0xc1c));
  INFO(c.status().ToString() << "\n" << Status(*topo, "host2"));
  REQUIRE(c.ok());
  testbed::CommandResult r = Ping(*topo, "c2b", "c1c", 3);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(Status(*topo, "host2"), Catch::Contains(R"("data_plane": "adopted")"));
  TearDownAndCheck(topo);
}

TEST_CASE(
    "agents: one host cut off from etcd while 1k changes and a compaction: kept, then equal") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeClusterTopology();
  WarmUp(*topo);
  demo::ClusterControl& cluster = *topo->cluster();
  // The cluster deletes a dead host's mappings after 30 s: longer than this cut.
  REQUIRE(
      cluster
          .Etcdctl({"put", "/ila/v1/policy", R"({"v":1,"dead_host":"delete","grace_seconds":30})"})
          .ok());
  EtcdFromHost1 etcd = ConnectFrom(*topo);
  agent::etcd::Client* client = etcd.client.get();

  std::atomic<uint32_t> sent{0};
  demo::UdpStreamOptions u = Stream(*topo, "c1a", "c2a", 14000, 5304);
  u.sent_progress = &sent;
  auto flow = std::async(std::launch::async, [&] { return demo::UdpStream(u); });
  while (sent.load() < 500) std::this_thread::sleep_for(5ms);

  // host2's management link goes down for 2x its lease (5 s).
  REQUIRE(cluster.Cut("host2", true).ok());
  const std::string value =
      R"({"v":1,"host":"far","locator":"2001:db8:99:0","csum_mode":"adj-transport"})";
  for (int first = 0; first < 1000; first += 50) {
    std::vector<agent::etcd::Operation> ops;
    for (int k = first; k < first + 50; ++k) {
      ops.push_back(
          {.key = absl::StrCat("/ila/v1/mappings/2001:db8:0:1/2001:db8:0:1::f:", absl::Hex(k)),
           .value = value});
    }
    REQUIRE(client->Txn({}, ops, {}).ok());
  }
  auto now = client->Get("/ila/schema");
  REQUIRE(now.ok());
  REQUIRE(client->Compact(now->revision).ok());
  std::this_thread::sleep_for(10s);
  // Its containers were not withdrawn by the others meanwhile (the grace period).
  auto c2a = client->Get("/ila/v1/mappings/2001:db8:0:1/" + topo->container("c2a")->sir.ToString());
  REQUIRE(c2a.ok());
  CHECK(c2a->kvs.size() == 1);
  REQUIRE(cluster.Cut("host2", false).ok());

  auto result = flow.get();
  REQUIRE(result.ok());
  std::cout << "measured: one host cut off from etcd for 10 s while 1000 changes and a compaction: "
            << result->lost << " of " << result->sent << " lost" << std::endl;
  CHECK(result->lost == 0);

  // Afterwards host2's table equals etcd's.
  INFO(topo->cluster()->AgentLog("host2"));
  CHECK(EventuallyEqual(*client, *topo->host(1).dp));
  CHECK_THAT(Status(*topo, "host2"), Catch::Contains(R"("compactions": 1)"));
  TearDownAndCheck(topo);
}

TEST_CASE(
    "agents: 200 changes a second for 10 s under traffic: every table equals etcd's and no flow "
    "loses a packet") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeClusterTopology();
  WarmUp(*topo);
  EtcdFromHost1 etcd = ConnectFrom(*topo);
  agent::etcd::Client* client = etcd.client.get();

  std::atomic<uint32_t> sent{0};
  demo::UdpStreamOptions a = Stream(*topo, "c1a", "c2a", 12000, 5305);
  a.sent_progress = &sent;
  auto flow_a = std::async(std::launch::async, [&] { return demo::UdpStream(a); });
  auto flow_b = std::async(std::launch::async, [&] {
    return demo::UdpStream(Stream(*topo, "c2b", "c1b", 12000, 5306));
  });
  while (sent.load() < 500) std::this_thread::sleep_for(5ms);

  // One change every 5 ms, each its own revision: new addresses, new locators for earlier ones,
  // and deletes, all in the containers' SIR prefix beside them.
  constexpr int kChanges = 2000;
  auto key = [](int k) {
    return absl::StrCat("/ila/v1/mappings/2001:db8:0:1/2001:db8:0:1::e:", absl::Hex(k));
  };
  auto value = [](int locator) {
    return absl::StrCat(R"({"v":1,"host":"far","locator":"2001:db8:9)", locator,
                        R"(:0","csum_mode":"adj-transport"})");
  };
  const auto start = std::chrono::steady_clock::now();
  int added = 0;
  for (int i = 0; i < kChanges; ++i) {
    std::this_thread::sleep_until(start + i * 5ms);
    if (i % 4 == 2 && added > 0) {
      REQUIRE(client->Put(key(added - 1), value(8)).ok());  // the newest moves elsewhere
    } else if (i % 4 == 3 && added > 1) {
      REQUIRE(client->Delete(key(added / 2)).ok());  // one from the middle goes
    } else {
      REQUIRE(client->Put(key(added++), value(9)).ok());
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto written = std::chrono::steady_clock::now();

  // Every host's table and the router's equal etcd's.
  INFO(topo->cluster()->AgentLog("host1") << topo->cluster()->AgentLog("host2"));
  CHECK(EventuallyEqual(*client, *topo->host(0).dp));
  CHECK(EventuallyEqual(*client, *topo->host(1).dp));
  CHECK(EventuallyEqual(*client, *topo->ila_router().dp));
  const double settle_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - written).count();
  auto ra = flow_a.get();
  auto rb = flow_b.get();
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  std::cout << "measured: " << kChanges << " changes in " << seconds << " s (" << kChanges / seconds
            << "/s) while two 1000 pps flows ran: lost " << ra->lost << " of " << ra->sent
            << " and " << rb->lost << " of " << rb->sent << "; all three tables equal to etcd "
            << settle_ms << " ms after the last write" << std::endl;
  CHECK(ra->lost == 0);
  CHECK(rb->lost == 0);
  CHECK(ra->corrupt + rb->corrupt == 0);
  TearDownAndCheck(topo);
}

TEST_CASE(
    "agents: a host cut off past its grace under the policy routers: the others withdraw its "
    "containers and their traffic goes through the ILA router without a loss") {
  ILA_SKIP_IF(SkipReason());
  auto topo = MakeClusterTopology();
  WarmUp(*topo);
  demo::ClusterControl& cluster = *topo->cluster();
  REQUIRE(
      cluster
          .Etcdctl({"put", "/ila/v1/policy", R"({"v":1,"dead_host":"routers","grace_seconds":1})"})
          .ok());
  const SirAddress c2a = topo->container("c2a")->sir;
  const Stats router_before = RouterStats(*topo);

  std::atomic<uint32_t> sent{0};
  demo::UdpStreamOptions u = Stream(*topo, "c1a", "c2a", 16000, 5307);
  u.sent_progress = &sent;
  auto flow = std::async(std::launch::async, [&] { return demo::UdpStream(u); });
  while (sent.load() < 500) std::this_thread::sleep_for(5ms);

  // host2 is cut off from etcd: its lease (5 s) lapses, the leader marks it dead, and 1 s later
  // hands it to the routers. host1 withdraws c2a; the router keeps it.
  REQUIRE(cluster.Cut("host2", true).ok());
  INFO(cluster.AgentLog("host1"));
  auto held = [&](Dataplane& dp) { return dp.mappings().Get(c2a).ok(); };
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (held(*topo->host(0).dp) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_FALSE(held(*topo->host(0).dp));
  CHECK(held(*topo->ila_router().dp));
  const uint32_t withdrawn_at = sent.load();
  std::this_thread::sleep_for(2s);
  // What host1 sends to c2a now goes through the ILA router, which still reaches host2.
  const uint64_t via_router = Packets(RouterStats(*topo).Since(router_before), "router_forwarded");
  CHECK(via_router >= 1000);

  // host2 comes back: the marker goes and host1 maps c2a itself again.
  REQUIRE(cluster.Cut("host2", false).ok());
  const auto back = std::chrono::steady_clock::now() + 20s;
  while (!held(*topo->host(0).dp) && std::chrono::steady_clock::now() < back) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(held(*topo->host(0).dp));
  auto result = flow.get();
  REQUIRE(result.ok());
  std::cout << "measured: host2 cut off and handed to the ILA router after packet " << withdrawn_at
            << ": " << via_router << " packets went through the router in 2 s; the flow lost "
            << result->lost << " of " << result->sent << std::endl;
  CHECK(result->lost == 0);
  CHECK(result->corrupt == 0);
  TearDownAndCheck(topo);
}
