// ila-agent, the real binary, against a real etcd: what etcdctl writes reaches the data plane;
// cut off, restarted or with etcd gone, the data plane keeps its tables and the agent catches up
// writing only what differs; the local API attaches, publishes, moves and releases containers
// with one owner per address.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cluster/agent_bed.h"
#include "local_api.h"
#include "support/skip.h"
#include "testbed/host_fixture.h"
#include "testbed/packet.h"

namespace ila::cluster_test {
namespace {

using nlohmann::json;

SirAddress Sir(uint64_t id) { return {AgentBed::Prefix(), Identifier(id)}; }
std::string MappingKey(uint64_t id) {
  return absl::StrCat("/ila/v1/mappings/3333:0:0:1/", Sir(id).ToString());
}
std::string MappingValue(const std::string& host, Locator l) {
  return absl::StrCat(R"({"v":1,"host":")", host, R"(","locator":")", l.ToString(),
                      R"(","csum_mode":"neutral-map"})");
}
const Locator kRemote(0x20010db800090000ull);  // "h9", a host with no agent here

std::unique_ptr<AgentBed> MakeBed(int hosts) {
  auto bed = AgentBed::Create({.hosts = hosts});
  INFO(bed.status().ToString());
  REQUIRE(bed.ok());
  REQUIRE((*bed)->PutPrefix().ok());
  REQUIRE((*bed)
              ->Etcdctl(
                  {"put", "/ila/v1/hosts/h9",
                   R"({"v":1,"locators":[{"locator":"2001:db8:9:0","sir_prefix":"3333:0:0:1"}]})"})
              .ok());
  return std::move(*bed);
}

void Put(AgentBed& bed, uint64_t id, Locator l = kRemote, const std::string& host = "h9") {
  auto r = bed.Etcdctl({"put", MappingKey(id), MappingValue(host, l)});
  INFO(r.status().ToString());
  REQUIRE(r.ok());
}

size_t MappingCount(Dataplane& dp) {
  auto list = dp.mappings().List();
  return list.ok() ? list->size() : 0;
}

// Starts host 0's agent, opens its data plane, writes mappings 1..n (to h9) and waits until the
// data plane has them all.
std::unique_ptr<Dataplane> StartWithMappings(AgentBed& bed, uint64_t n) {
  REQUIRE(bed.StartAgent(0).ok());
  auto dp = bed.Open(0);
  INFO(dp.status().ToString());
  REQUIRE(dp.ok());
  for (uint64_t id = 1; id <= n; ++id) Put(bed, id);
  REQUIRE(WaitUntil([&] { return MappingCount(**dp) == n; }));
  return std::move(*dp);
}

// Starts both hosts' agents and opens their data planes.
std::pair<std::unique_ptr<Dataplane>, std::unique_ptr<Dataplane>> StartTwo(AgentBed& bed) {
  REQUIRE(bed.StartAgent(0).ok());
  REQUIRE(bed.StartAgent(1).ok());
  auto dp1 = bed.Open(0);
  auto dp2 = bed.Open(1);
  REQUIRE(dp1.ok());
  REQUIRE(dp2.ok());
  return {*std::move(dp1), *std::move(dp2)};
}

int64_t EtcdRevision(AgentBed& bed) {
  auto out = bed.Etcdctl({"get", "/ila/schema", "-w", "json"});
  REQUIRE(out.ok());
  return json::parse(*out)["header"]["revision"].get<int64_t>();
}

json StatusOf(AgentBed& bed, int i) {
  auto s = bed.Status(i);
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  return *s;
}

TEST_CASE("mappings written with etcdctl reach the agent's data plane and deletes follow") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  REQUIRE(bed->StartAgent(0).ok());
  auto dp = bed->Open(0);
  REQUIRE(dp.ok());
  for (uint64_t id = 1; id <= 20; ++id) Put(*bed, id);
  INFO(bed->AgentLog(0));
  REQUIRE(WaitUntil([&] { return MappingCount(**dp) == 20; }));
  auto m = (*dp)->mappings().Get(Sir(7));
  REQUIRE(m.ok());
  CHECK(m->locator == kRemote);
  CHECK(m->csum_mode == ChecksumMode::kNeutralMap);
  // Its own locator from its host record, the other host's in the cluster table.
  CHECK(WaitUntil([&] { return (*dp)->locators().Get(AgentBed::LocatorOf(0)).ok(); }));
  auto cluster = (*dp)->cluster_locators().List();
  REQUIRE(cluster.ok());
  REQUIRE(cluster->size() == 1);
  CHECK(cluster->front().locator == kRemote);

  for (uint64_t id = 1; id <= 5; ++id) REQUIRE(bed->Etcdctl({"del", MappingKey(id)}).ok());
  CHECK(WaitUntil([&] { return MappingCount(**dp) == 15; }));
  // An unreadable record is refused and withdraws the valid one it replaced.
  REQUIRE(
      bed->Etcdctl({"put", MappingKey(10), R"({"v":1,"host":"h9","locator":"nonsense"})"}).ok());
  CHECK(WaitUntil([&] { return MappingCount(**dp) == 14; }));
  CHECK(StatusOf(*bed, 0)["invalid_records"] == 1);
  CHECK_FALSE((*dp)->mappings().Get(Sir(10)).ok());

  // The same figures for Prometheus, with the data plane's counters.
  const json status = StatusOf(*bed, 0);
  auto metrics = bed->HttpGet(0, status["metrics_port"].get<int>(), "/metrics");
  INFO(metrics.status().ToString());
  REQUIRE(metrics.ok());
  CHECK_THAT(*metrics, Catch::Contains("ila_agent_mappings 14"));
  CHECK_THAT(*metrics, Catch::Contains("ila_agent_invalid_records 1"));
  CHECK_THAT(*metrics, Catch::Contains(absl::StrCat("ila_agent_revision_applied ",
                                                    status["revision"].get<int64_t>())));
  CHECK_THAT(*metrics, Catch::Contains("ila_agent_in_sync 1"));
  CHECK_THAT(*metrics, Catch::Contains("ila_packets_total{kind=\"dropped\",reason=\"drop_"));
}

TEST_CASE(
    "an agent cut off from etcd keeps its tables and a compaction meanwhile is a diff-resync") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  std::unique_ptr<Dataplane> dp = StartWithMappings(*bed, 50);
  const json before = StatusOf(*bed, 0);

  REQUIRE(bed->Cut(0, true).ok());
  INFO(bed->AgentLog(0));
  // The watch breaks (the link is gone); the tables stay.
  REQUIRE(
      WaitUntil([&] { return StatusOf(*bed, 0)["in_sync"] == false; }, std::chrono::seconds(20)));
  // Six changes while it is away, then the history is compacted.
  for (uint64_t id = 51; id <= 53; ++id) Put(*bed, id);
  REQUIRE(bed->Etcdctl({"del", MappingKey(1)}).ok());
  REQUIRE(bed->Etcdctl({"del", MappingKey(2)}).ok());
  Put(*bed, 3, AgentBed::LocatorOf(0), "h1");  // now on h1 (no endpoint there: not installable)
  REQUIRE(bed->Etcdctl({"compact", std::to_string(EtcdRevision(*bed))}).ok());
  // Longer than the lease: the host is reported dead meanwhile.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK(MappingCount(*dp) == 50);  // never flushed
  auto alive = bed->Etcdctl({"get", "/ila/v1/alive/h1"});
  REQUIRE(alive.ok());
  CHECK(alive->empty());

  REQUIRE(bed->Cut(0, false).ok());
  REQUIRE(WaitUntil([&] { return StatusOf(*bed, 0)["compactions"].get<int>() >= 1; },
                    std::chrono::seconds(20)));
  REQUIRE(WaitUntil([&] { return MappingCount(*dp) == 50; }));
  const json after = StatusOf(*bed, 0);
  // Exactly the differing keys were written: 3 new, 2 deleted, 1 no longer installable.
  CHECK(after["last_resync_writes"] == 6);
  CHECK(after["resyncs"].get<int>() == before["resyncs"].get<int>() + 1);
  CHECK_FALSE(dp->mappings().Get(Sir(3)).ok());
  CHECK(dp->mappings().Get(Sir(53)).ok());
  // A new lease, and the liveness key is back.
  CHECK(WaitUntil([&] {
    auto a = bed->Etcdctl({"get", "/ila/v1/alive/h1"});
    return a.ok() && !a->empty();
  }));
  CHECK(StatusOf(*bed, 0)["leases_granted"] == 2);
}

TEST_CASE("an agent killed and restarted within its lease keeps the lease and writes nothing") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  std::unique_ptr<Dataplane> dp = StartWithMappings(*bed, 30);
  const int64_t lease = StatusOf(*bed, 0)["lease"].get<int64_t>();
  REQUIRE(lease != 0);

  bed->StopAgent(0, SIGKILL);
  CHECK(MappingCount(*dp) == 30);
  REQUIRE(bed->StartAgent(0).ok());
  const json s = StatusOf(*bed, 0);
  INFO(s.dump() << "\n" << bed->AgentLog(0));
  CHECK(s["data_plane"] == "adopted");
  CHECK(s["last_resync_writes"] == 0);
  CHECK(WaitUntil([&] { return StatusOf(*bed, 0)["lease"].get<int64_t>() == lease; }));
  CHECK(StatusOf(*bed, 0)["leases_granted"] == 0);
}

TEST_CASE("with etcd down the data plane keeps forwarding on its tables and the agent catches up") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  std::unique_ptr<Dataplane> dp = StartWithMappings(*bed, 10);
  REQUIRE(bed->etcd().StopMember(0).ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(MappingCount(*dp) == 10);
  REQUIRE(bed->etcd().StartMember(0).ok());
  Put(*bed, 11);
  INFO(bed->AgentLog(0));
  CHECK(WaitUntil([&] { return MappingCount(*dp) == 11; }, std::chrono::seconds(20)));
  CHECK(StatusOf(*bed, 0)["reconnects"].get<int>() >= 1);
}

// A container's veth in host i's namespace (both ends there: the agent only needs the host end).
struct ContainerLink {
  std::optional<testbed::VethPair> pair;
  std::string host_end;
};
ContainerLink MakeContainerLink(AgentBed& bed, int i) {
  ContainerLink c;
  c.host_end = testbed::UniqueIfName("ch");
  auto pair = testbed::VethPair::Create(
      {.netns = &bed.host_ns(i), .name = c.host_end, .mac = "", .addresses = {}},
      {.netns = &bed.host_ns(i), .name = testbed::UniqueIfName("cc"), .mac = "", .addresses = {}});
  INFO(pair.status().ToString());
  REQUIRE(pair.ok());
  c.pair.emplace(*std::move(pair));
  return c;
}

json Attach(AgentBed& bed, int i, const ContainerLink& link, uint64_t id, bool move = false) {
  auto a = bed.Call(i, {{"op", "attach"},
                        {"interface", link.host_end},
                        {"sir", Sir(id).ToString()},
                        {"mac", "02:00:00:00:c1:01"},
                        {"move", move}});
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  return *a;
}

std::string OwnerOf(AgentBed& bed, uint64_t id) {
  auto out = bed.Etcdctl({"get", MappingKey(id), "--print-value-only"});
  REQUIRE(out.ok());
  if (out->empty()) return "";
  return json::parse(*out)["host"].get<std::string>();
}

TEST_CASE("the local API attaches and publishes and a move leaves one owner") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  auto dps = StartTwo(*bed);
  std::unique_ptr<Dataplane>& dp1 = dps.first;
  std::unique_ptr<Dataplane>& dp2 = dps.second;
  ContainerLink on1 = MakeContainerLink(*bed, 0);
  ContainerLink on2 = MakeContainerLink(*bed, 1);

  const json attached = Attach(*bed, 0, on1, 0x10);
  INFO(attached.dump() << "\n" << bed->AgentLog(0));
  REQUIRE(attached["ok"] == true);
  CHECK(OwnerOf(*bed, 0x10) == "h1");
  CHECK(dp1->endpoints().Get(Sir(0x10)).ok());
  // Every host learns where it is; h1 itself installs its own mapping (its endpoint is here).
  CHECK(WaitUntil([&] {
    auto m = dp2->mappings().Get(Sir(0x10));
    return m.ok() && m->locator == AgentBed::LocatorOf(0);
  }));
  CHECK(WaitUntil([&] { return dp1->mappings().Get(Sir(0x10)).ok(); }));

  // Another host may not simply take it, and is left with nothing half-done.
  const json refused = Attach(*bed, 1, on2, 0x10);
  CHECK(refused["ok"] == false);
  CHECK(refused["code"] == "ALREADY_EXISTS");
  CHECK_THAT(refused["error"].get<std::string>(), Catch::Contains("h1"));
  CHECK_FALSE(dp2->endpoints().Get(Sir(0x10)).ok());
  CHECK(StatusOf(*bed, 1)["containers"].empty());

  // A move: h2 takes it over; h1 sees it and detaches its stale endpoint.
  const json moved = Attach(*bed, 1, on2, 0x10, /*move=*/true);
  REQUIRE(moved["ok"] == true);
  CHECK(OwnerOf(*bed, 0x10) == "h2");
  CHECK(WaitUntil([&] { return !dp1->endpoints().Get(Sir(0x10)).ok(); }));
  CHECK(WaitUntil([&] { return StatusOf(*bed, 0)["containers"].empty(); }));
  CHECK(WaitUntil([&] {
    auto m = dp1->mappings().Get(Sir(0x10));
    return m.ok() && m->locator == AgentBed::LocatorOf(1);
  }));
  // A late detach on the old host does not remove the new owner's mapping.
  auto late = bed->Call(0, {{"op", "detach"}, {"sir", Sir(0x10).ToString()}});
  REQUIRE(late.ok());
  CHECK((*late)["ok"] == true);
  CHECK(OwnerOf(*bed, 0x10) == "h2");
  // The owner's detach releases it everywhere; a second detach is no error.
  for (int round = 0; round < 2; ++round) {
    auto d = bed->Call(1, {{"op", "detach"}, {"sir", Sir(0x10).ToString()}});
    REQUIRE(d.ok());
    CHECK((*d)["ok"] == true);
  }
  CHECK(OwnerOf(*bed, 0x10).empty());
  CHECK(WaitUntil([&] { return !dp1->mappings().Get(Sir(0x10)).ok(); }));
  CHECK_FALSE(dp2->endpoints().Get(Sir(0x10)).ok());
}

TEST_CASE("two hosts claiming one address at once: exactly one wins") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  auto dps = StartTwo(*bed);
  std::unique_ptr<Dataplane>& dp1 = dps.first;
  std::unique_ptr<Dataplane>& dp2 = dps.second;
  constexpr int kAddresses = 8;
  std::vector<ContainerLink> links1, links2;
  for (int k = 0; k < kAddresses; ++k) {
    links1.push_back(MakeContainerLink(*bed, 0));
    links2.push_back(MakeContainerLink(*bed, 1));
  }
  for (int k = 0; k < kAddresses; ++k) {
    const uint64_t id = 0x100 + k;
    // No Catch2 assertion in the threads (it is not thread-safe): the answers are checked after.
    auto request = [&](const ContainerLink& link) -> json {
      return {{"op", "attach"},
              {"interface", link.host_end},
              {"sir", Sir(id).ToString()},
              {"mac", "02:00:00:00:c1:01"}};
    };
    absl::StatusOr<json> r1, r2;
    std::thread t1([&] { r1 = bed->Call(0, request(links1[k])); });
    std::thread t2([&] { r2 = bed->Call(1, request(links2[k])); });
    t1.join();
    t2.join();
    INFO(r1.status().ToString() << " / " << r2.status().ToString());
    REQUIRE((r1.ok() && r2.ok()));
    const json& a1 = *r1;
    const json& a2 = *r2;
    INFO(a1.dump() << " / " << a2.dump());
    CHECK((a1["ok"] == true) != (a2["ok"] == true));
    const std::string winner = a1["ok"] == true ? "h1" : "h2";
    CHECK(OwnerOf(*bed, id) == winner);
    Dataplane& loser = winner == "h1" ? *dp2 : *dp1;
    Dataplane& won = winner == "h1" ? *dp1 : *dp2;
    CHECK_FALSE(loser.endpoints().Get(Sir(id)).ok());
    CHECK(won.endpoints().Get(Sir(id)).ok());
  }
}

size_t OwnedBy(AgentBed& bed, const std::string& host) {
  auto out = bed.Etcdctl({"get", "--prefix", "/ila/v1/mappings/", "--print-value-only"});
  REQUIRE(out.ok());
  size_t n = 0;
  const std::string owner = R"("host":")" + host + R"(")";
  for (size_t at = 0; (at = out->find(owner, at)) != std::string::npos; ++at) ++n;
  return n;
}

TEST_CASE("a dead host's mappings are kept by default and deleted once after a grace period") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  REQUIRE(bed->StartAgent(0).ok());
  REQUIRE(bed->StartAgent(1).ok());
  auto dp1 = bed->Open(0);
  REQUIRE(dp1.ok());
  std::vector<ContainerLink> links;
  for (uint64_t id = 0x20; id < 0x23; ++id) {
    links.push_back(MakeContainerLink(*bed, 1));
    REQUIRE(Attach(*bed, 1, links.back(), id)["ok"] == true);
  }
  REQUIRE(OwnedBy(*bed, "h2") == 3);
  REQUIRE(WaitUntil([&] { return MappingCount(**dp1) == 3; }));

  // h2's agent dies. The policy is keep (no /ila/v1/policy): it is marked dead, nothing else.
  bed->StopAgent(1, SIGKILL);
  INFO(bed->AgentLog(0));
  REQUIRE(WaitUntil(
      [&] {
        auto m = bed->Etcdctl({"get", "/ila/v1/dead/h2", "--print-value-only"});
        return m.ok() && !m->empty();
      },
      std::chrono::seconds(15)));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  CHECK(OwnedBy(*bed, "h2") == 3);
  CHECK(MappingCount(**dp1) == 3);
  CHECK(StatusOf(*bed, 0)["leader"] == true);

  // With the delete policy, the leader deletes them after the grace period, once.
  REQUIRE(
      bed->Etcdctl({"put", "/ila/v1/policy", R"({"v":1,"dead_host":"delete","grace_seconds":1})"})
          .ok());
  REQUIRE(WaitUntil([&] { return OwnedBy(*bed, "h2") == 0; }, std::chrono::seconds(15)));
  CHECK(WaitUntil([&] { return MappingCount(**dp1) == 0; }));
  auto marker = bed->Etcdctl({"get", "/ila/v1/dead/h2", "--print-value-only"});
  REQUIRE(marker.ok());
  const json m = json::parse(*marker);
  CHECK(m["done"] == true);
  CHECK(m["deleted"] == 3);
  CHECK(StatusOf(*bed, 0)["dead_host_mappings_deleted"] == 3);

  // h2 comes back: it re-publishes its saved containers, and is not dead any more.
  REQUIRE(bed->StartAgent(1).ok());
  CHECK(WaitUntil([&] { return OwnedBy(*bed, "h2") == 3; }));
  CHECK(WaitUntil([&] { return MappingCount(**dp1) == 3; }));
  CHECK(WaitUntil(
      [&] {
        auto m2 = bed->Etcdctl({"get", "/ila/v1/dead/h2", "--print-value-only"});
        return m2.ok() && m2->empty();
      },
      std::chrono::seconds(15)));
  CHECK(StatusOf(*bed, 0)["dead_host_mappings_deleted"] == 3);
}

TEST_CASE("a dead host handed to the routers: hosts withdraw its mappings and routers keep them") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(3);
  REQUIRE(bed->StartAgent(0).ok());
  REQUIRE(bed->StartAgent(1).ok());
  REQUIRE(bed->StartAgent(2, {"--role", "router"}).ok());
  auto host = bed->Open(0);
  REQUIRE(host.ok());
  auto router = bed->Open(2);
  REQUIRE(router.ok());
  REQUIRE(
      bed->Etcdctl({"put", "/ila/v1/policy", R"({"v":1,"dead_host":"routers","grace_seconds":1})"})
          .ok());
  std::vector<ContainerLink> links;
  for (uint64_t id = 0x30; id < 0x32; ++id) {
    links.push_back(MakeContainerLink(*bed, 1));
    REQUIRE(Attach(*bed, 1, links.back(), id)["ok"] == true);
  }
  REQUIRE(WaitUntil([&] { return MappingCount(**host) == 2 && MappingCount(**router) == 2; }));

  bed->StopAgent(1, SIGKILL);
  INFO(bed->AgentLog(0));
  auto handed = [&] {
    auto m = bed->Etcdctl({"get", "/ila/v1/dead/h2", "--print-value-only"});
    return m.ok() && !m->empty() && json::parse(*m).value("to_routers", false);
  };
  REQUIRE(WaitUntil(handed, std::chrono::seconds(20)));
  // The host withdraws them; the router keeps them; etcd keeps the records.
  CHECK(WaitUntil([&] { return MappingCount(**host) == 0; }));
  CHECK(MappingCount(**router) == 2);
  CHECK(OwnedBy(*bed, "h2") == 2);

  // Back to keep: the marker loses its hand-over and the host installs them again.
  REQUIRE(bed->Etcdctl({"put", "/ila/v1/policy", R"({"v":1,"dead_host":"keep"})"}).ok());
  CHECK(WaitUntil([&] { return MappingCount(**host) == 2; }));
  CHECK(!handed());
  REQUIRE(
      bed->Etcdctl({"put", "/ila/v1/policy", R"({"v":1,"dead_host":"routers","grace_seconds":0})"})
          .ok());
  REQUIRE(WaitUntil(handed, std::chrono::seconds(20)));
  CHECK(WaitUntil([&] { return MappingCount(**host) == 0; }));

  // h2 comes back: the marker goes and every host has its containers again.
  REQUIRE(bed->StartAgent(1).ok());
  CHECK(WaitUntil([&] { return MappingCount(**host) == 2; }, std::chrono::seconds(15)));
  CHECK(MappingCount(**router) == 2);
  CHECK(!handed());
}

std::string Allocate(AgentBed& bed, int i) {
  auto a = bed.Call(i, {{"op", "allocate"}, {"prefix", "3333:0:0:1"}});
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  INFO(a->dump());
  REQUIRE((*a)["ok"] == true);
  return (*a)["sir"].get<std::string>();
}

std::vector<std::string> BlocksOf(AgentBed& bed, const std::string& host) {
  auto keys = bed.Etcdctl({"get", "--prefix", "/ila/v1/mappings/3333:0:0:1/"});
  REQUIRE(keys.ok());
  std::vector<std::string> blocks;
  std::istringstream lines(*keys);
  std::string key, value;
  while (std::getline(lines, key) && std::getline(lines, value)) {
    if (key.find("/126") != std::string::npos &&
        value.find(R"("host":")" + host + R"(")") != std::string::npos) {
      blocks.push_back(key);
    }
  }
  return blocks;
}

TEST_CASE("identifiers are unique cluster-wide: blocks by transaction and released ones wait") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  // Blocks of four identifiers (/126; the first names the block), released ones wait 2 s.
  const std::vector<std::string> small = {"--block-bits", "2", "--release-grace", "2"};
  REQUIRE(bed->StartAgent(0, small).ok());
  REQUIRE(bed->StartAgent(1, small).ok());

  std::vector<std::string> first = {Allocate(*bed, 0), Allocate(*bed, 0), Allocate(*bed, 0)};
  CHECK(BlocksOf(*bed, "h1").size() == 1);
  CHECK(std::set<std::string>(first.begin(), first.end()).size() == 3);
  // The block is full: the next one comes from a second block.
  const std::string fourth = Allocate(*bed, 0);
  CHECK(BlocksOf(*bed, "h1").size() == 2);

  // Two hosts allocating at once never hand out one address twice.
  // (No Catch2 assertion in the threads: it is not thread-safe; "" is a failed allocation.)
  std::vector<std::string> from1, from2;
  auto allocate = [&](int i, std::vector<std::string>& into) {
    for (int k = 0; k < 8; ++k) {
      auto a = bed->Call(i, {{"op", "allocate"}, {"prefix", "3333:0:0:1"}});
      into.push_back(a.ok() && (*a)["ok"] == true ? (*a)["sir"].get<std::string>() : "");
    }
  };
  std::thread t1([&] { allocate(0, from1); });
  std::thread t2([&] { allocate(1, from2); });
  t1.join();
  t2.join();
  CHECK(std::count(from1.begin(), from1.end(), "") == 0);
  CHECK(std::count(from2.begin(), from2.end(), "") == 0);
  std::set<std::string> all(first.begin(), first.end());
  all.insert(fourth);
  all.insert(from1.begin(), from1.end());
  all.insert(from2.begin(), from2.end());
  CHECK(all.size() == 4 + 16);
  // Every identifier has its top four bits clear: the bed's mappings are neutral-map, which
  // cannot carry the C-bit, and a use-format mapping would read the type bits.
  for (const std::string& a : all) {
    auto sir = SirAddress::Parse(a);
    REQUIRE(sir.ok());
    CHECK(sir->identifier.value() >> 60 == 0);
  }
  for (const std::string& b : BlocksOf(*bed, "h2")) {
    const auto mine = BlocksOf(*bed, "h1");
    CHECK(std::find(mine.begin(), mine.end(), b) == mine.end());
  }

  // A released address waits out the grace period before it is handed out again.
  auto released = bed->Call(0, {{"op", "release"}, {"sir", first[1]}});
  REQUIRE(released.ok());
  CHECK((*released)["ok"] == true);
  const std::string during = Allocate(*bed, 0);
  CHECK(during != first[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(Allocate(*bed, 0) == first[1]);

  // An address with a /128 record (a container that moved in) is never handed out: claim the next
  // free one of a fresh block by hand, then allocate.
  const std::string pending = Allocate(*bed, 1);
  auto r = bed->Call(1, {{"op", "release"}, {"sir", pending}});
  REQUIRE(r.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto sir = SirAddress::Parse(pending);
  REQUIRE(sir.ok());
  REQUIRE(bed->Etcdctl({"put", absl::StrCat("/ila/v1/mappings/3333:0:0:1/", pending),
                        MappingValue("h9", kRemote)})
              .ok());
  CHECK(Allocate(*bed, 1) != pending);
}

bool Denied(const absl::StatusOr<std::string>& r) {
  return !r.ok() && r.status().ToString().find("permission denied") != std::string::npos;
}

TEST_CASE("each host's etcd user may write only its own keys and its SIR prefixes' mappings") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  REQUIRE(bed->Etcdctl({"put", "/ila/v1/prefixes/3333:0:0:2", R"({"v":1})"}).ok());
  REQUIRE(bed->Etcdctl({"put", "/ila/schema", R"({"version":1})"}).ok());
  REQUIRE(bed->Etcdctl({"user", "add", "root", "--new-user-password=rootpw"}).ok());
  REQUIRE(bed->Etcdctl({"user", "grant-role", "root", "root"}).ok());
  // The operator's script, as documented: h1 serves 3333:0:0:1, h2 serves 3333:0:0:1 as well.
  for (const char* host : {"h1", "h2"}) {
    auto r = bed->ExecInEtcdNamespace({"bash", ILA_RBAC_SCRIPT, host, std::string("pw-") + host,
                                       "3333:0:0:1", "--",
                                       "--endpoints=" + bed->etcd().client_endpoints()[0]});
    REQUIRE(r.ok());
    INFO(r->output);
    REQUIRE(r->exit_code == 0);
  }
  REQUIRE(bed->Etcdctl({"auth", "enable"}).ok());
  bed->SetEtcdctlUser("root:rootpw");

  REQUIRE(bed->StartAgent(0, {"--user", "h1", "--password", "pw-h1"}).ok());
  REQUIRE(bed->StartAgent(1, {"--user", "h2", "--password", "pw-h2"}).ok());
  auto dp2 = bed->Open(1);
  REQUIRE(dp2.ok());
  // With only these permissions the agents work: they sync, publish and keep their leases.
  ContainerLink link = MakeContainerLink(*bed, 0);
  const json attached = Attach(*bed, 0, link, 0x31);
  INFO(attached.dump() << "\n" << bed->AgentLog(0));
  REQUIRE(attached["ok"] == true);
  CHECK(WaitUntil([&] { return (*dp2)->mappings().Get(Sir(0x31)).ok(); }));
  CHECK(StatusOf(*bed, 0)["lease"].get<int64_t>() != 0);
  CHECK(StatusOf(*bed, 1)["in_sync"] == true);

  // What h1's credentials cannot take from another host, or another tenant.
  const std::string h1 = "h1:pw-h1";
  const std::string host = R"({"v":1,"locators":[]})";
  CHECK(Denied(bed->EtcdctlAs(h1, {"put", "/ila/v1/hosts/h2", host})));
  CHECK(Denied(bed->EtcdctlAs(h1, {"del", "/ila/v1/alive/h2"})));
  CHECK(Denied(bed->EtcdctlAs(h1, {"del", "/ila/v1/election/h2"})));
  CHECK(Denied(bed->EtcdctlAs(h1, {"put", "/ila/v1/prefixes/3333:0:0:9", R"({"v":1})"})));
  CHECK(Denied(bed->EtcdctlAs(h1, {"put", "/ila/v1/policy", R"({"v":1,"dead_host":"delete"})"})));
  CHECK(Denied(bed->EtcdctlAs(h1, {"put", "/ila/v1/mappings/3333:0:0:2/3333:0:0:2::1",
                                   MappingValue("h1", AgentBed::LocatorOf(0))})));
  // And what it can: the mappings of the SIR prefix it serves, whoever owns them (a move needs
  // it; docs/cluster.md says what that trusts).
  CHECK(bed->EtcdctlAs(h1, {"put", MappingKey(0x77), MappingValue("h1", AgentBed::LocatorOf(0))})
            .ok());
  CHECK(bed->EtcdctlAs(h1, {"put", "/ila/v1/hosts/h1", host}).ok());
}

TEST_CASE("agents reach etcd over TLS with client certificates and not without them") {
  ILA_SKIP_IF(SkipReason());
  auto bed = AgentBed::Create({.hosts = 1, .lease_ttl_seconds = 3, .tls = true});
  INFO(bed.status().ToString());
  REQUIRE(bed.ok());
  REQUIRE((*bed)->PutPrefix().ok());
  REQUIRE((*bed)->StartAgent(0).ok());
  auto dp = (*bed)->Open(0);
  REQUIRE(dp.ok());
  Put(**bed, 5);
  CHECK(WaitUntil([&] { return (*dp)->mappings().Get(Sir(5)).ok(); }));
  // Without a client certificate etcd refuses the agent, and it says so.
  auto refused = (*bed)->host_ns(0).Exec({ILA_AGENT_PATH,   "run",
                                          "--host",         "h9",
                                          "--locator",      "2001:db8:9:0,3333:0:0:1",
                                          "--endpoints",    (*bed)->etcd().client_endpoints()[0],
                                          "--cacert",       (*bed)->etcd().ca_file(),
                                          "--state-dir",    (*bed)->dir() + "/refused",
                                          "--socket",       (*bed)->dir() + "/refused.sock",
                                          "--pin-root",     (*bed)->pin_root(),
                                          "--instance",     "h9",
                                          "--metrics",      "",
                                          "--dial-timeout", "1000"});
  INFO(refused.status().ToString());
  REQUIRE(refused.ok());
  CHECK(refused->exit_code == 2);
  INFO(refused->output);
  CHECK_THAT(refused->output, Catch::Contains("cannot start"));
  CHECK_THAT(refused->output, Catch::Contains("no etcd endpoint"));
}

TEST_CASE("a forwarding-cache host installs what its containers miss from the agent's state") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  REQUIRE(bed->StartAgent(0, {"--forwarding-cache", "--max-mappings", "64"}).ok());
  auto dp = bed->Open(0);
  REQUIRE(dp.ok());
  for (uint64_t id = 1; id <= 20; ++id) Put(*bed, id);
  REQUIRE(WaitUntil([&] { return StatusOf(*bed, 0)["events"].get<int>() >= 20; }));
  CHECK(MappingCount(**dp) == 0);  // a cache holds what was missed, nothing yet

  ContainerLink link = MakeContainerLink(*bed, 0);
  REQUIRE(Attach(*bed, 0, link, 0x40)["ok"] == true);
  // The container sends to Sir(7): no mapping here, so the packet goes to the ILA router and a
  // miss event reaches the agent, which installs the mapping from what etcd said.
  const std::string container_end = link.pair->b_name();
  auto mac = MacAddress::Parse("02:00:00:00:c1:01");
  REQUIRE(mac.ok());
  const testbed::Bytes frame = testbed::EthernetIpv6(
      MacAddress({0x02, 0, 0, 0, 0, 0x01}), *mac,
      testbed::Ipv6(Sir(0x40).address(), Sir(7).address(), 17,
                    testbed::Udp(Sir(0x40).address(), Sir(7).address(), 1000, 2000, {1, 2, 3})));
  REQUIRE(testbed::Inject(bed->host_ns(0), container_end, frame).ok());
  INFO(bed->AgentLog(0));
  REQUIRE(WaitUntil([&] { return (*dp)->mappings().Get(Sir(7)).ok(); }));
  CHECK(MappingCount(**dp) == 1);
  CHECK(StatusOf(*bed, 0)["misses_resolved"].get<int>() >= 1);

  // What the cache holds follows etcd; what it does not hold stays out.
  const Locator elsewhere(0x20010db800080000ull);
  Put(*bed, 7, elsewhere, "h8");
  Put(*bed, 8, elsewhere, "h8");
  CHECK(WaitUntil([&] {
    auto m = (*dp)->mappings().Get(Sir(7));
    return m.ok() && m->locator == elsewhere;
  }));
  CHECK_FALSE((*dp)->mappings().Get(Sir(8)).ok());
  REQUIRE(bed->Etcdctl({"del", MappingKey(7)}).ok());
  CHECK(WaitUntil([&] { return !(*dp)->mappings().Get(Sir(7)).ok(); }));
}

TEST_CASE("a 3-member etcd cluster loses its leader and the agents carry on") {
  ILA_SKIP_IF(SkipReason());
  auto made =
      AgentBed::Create({.hosts = 2, .lease_ttl_seconds = 3, .tls = false, .etcd_members = 3});
  INFO(made.status().ToString());
  REQUIRE(made.ok());
  AgentBed& bed = **made;
  REQUIRE(bed.PutPrefix().ok());
  REQUIRE(bed.StartAgent(0).ok());
  REQUIRE(bed.StartAgent(1).ok());
  auto dp1 = bed.Open(0);
  auto dp2 = bed.Open(1);
  REQUIRE(dp1.ok());
  REQUIRE(dp2.ok());
  for (uint64_t id = 1; id <= 10; ++id) Put(bed, id);
  REQUIRE(WaitUntil([&] { return MappingCount(**dp1) == 10 && MappingCount(**dp2) == 10; }));

  auto leader = bed.etcd().LeaderIndex();
  REQUIRE(leader.ok());
  REQUIRE(bed.etcd().StopMember(*leader).ok());
  // The remaining two elect a new leader (what etcdctl needs to write; the agents just retry).
  auto next = bed.etcd().LeaderIndex();
  REQUIRE(next.ok());
  CHECK(*next != *leader);
  for (uint64_t id = 11; id <= 20; ++id) Put(bed, id);
  INFO(bed.AgentLog(0));
  CHECK(WaitUntil([&] { return MappingCount(**dp1) == 20 && MappingCount(**dp2) == 20; },
                  std::chrono::seconds(20)));
  // Claims (transactions) work against the new leader too.
  ContainerLink link = MakeContainerLink(bed, 1);
  const json attached = Attach(bed, 1, link, 0x50);
  INFO(attached.dump());
  CHECK(attached["ok"] == true);
  CHECK(WaitUntil([&] { return (*dp1)->mappings().Get(Sir(0x50)).ok(); }));
  CHECK(StatusOf(bed, 0)["in_sync"] == true);
}

TEST_CASE("the local API socket is 0600 and refuses other users") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  REQUIRE(bed->StartAgent(0).ok());
  struct stat st {};
  REQUIRE(stat(bed->socket(0).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A process of another user that got hold of the socket (here: root opens it for it by
  // loosening the mode) is still refused by its credentials.
  REQUIRE(chmod(bed->socket(0).c_str(), 0666) == 0);
  const std::string dir = bed->socket(0).substr(0, bed->socket(0).rfind('/'));
  REQUIRE(chmod(dir.c_str(), 0711) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    auto answer = agent::CallLocalApi(bed->socket(0), {{"op", "status"}}, 5000);
    _exit(answer.ok() && (*answer)["code"] == "PERMISSION_DENIED" ? 0 : 1);
  }
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  CHECK(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);
}

}  // namespace
}  // namespace ila::cluster_test
