// The agent's reconciler against a real loaded data plane (no etcd): the tables it derives from
// the cluster state, and that it writes only what differs (the counts a diff-resync reports).
#include <catch2/catch.hpp>

#include "cluster_state.h"
#include "ila/dataplane.h"
#include "reconciler.h"
#include "support/skip.h"

namespace ila::agent {
namespace {

const SirPrefix kP1(0x3333000000000001ull);
const SirPrefix kP2(0x3333000000000002ull);
const Locator kL1(0x20010db800010000ull);  // this host, "h1"
const Locator kL2(0x20010db800020000ull);  // "h2"
const Locator kL3(0x20010db800030000ull);  // "h3"

SirAddress Sir(uint64_t id, SirPrefix p = kP1) { return {p, Identifier(id)}; }

struct World {
  Schema schema = *Schema::Create("/ila/");
  ClusterState state{schema};
  void Put(const std::string& key, const std::string& value) {
    StateChange change;
    absl::Status s = state.Put(key, value, &change);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  void Host(const std::string& name, Locator l, SirPrefix p = kP1) {
    HostRecord h{.name = name};
    h.locators.push_back({.locator = l, .sir_prefix = p, .csum_mode = ChecksumMode::kNeutralMap});
    Put(schema.HostKey(name), Schema::Encode(h));
  }
  void Prefix(SirPrefix p) { Put(schema.PrefixKey(p), Schema::Encode(PrefixRecord{p})); }
  void Map(const SirAddress& sir, Locator l, const std::string& host) {
    MappingRecord r{.host = host};
    r.mapping = {.sir = sir, .locator = l, .csum_mode = ChecksumMode::kNeutralMap};
    Put(schema.MappingKey(sir), Schema::Encode(r));
  }
};

std::unique_ptr<Dataplane> Make() {
  auto dp = Dataplane::Create({});
  INFO(dp.status().ToString());
  REQUIRE(dp.ok());
  return std::move(*dp);
}

TEST_CASE("the reconciler writes the cluster's tables and then only what changed") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = Make();
  World w;
  w.Prefix(kP1);
  w.Prefix(kP2);
  w.Put(w.schema.RuleKey({kP1, kP2}), Schema::Encode(RuleRecord{{kP1, kP2}}));
  w.Host("h1", kL1);
  w.Host("h2", kL2);
  w.Host("h3", kL3);
  for (uint64_t id = 1; id <= 100; ++id) w.Map(Sir(id), id % 2 ? kL2 : kL3, id % 2 ? "h2" : "h3");
  // A mapping to this host's own locator without its endpoint here is not installable.
  w.Map(Sir(500), kL1, "h1");

  Reconciler r(*dp, "h1");
  REQUIRE(r.Load().ok());
  WriteCounts first = r.Reconcile(w.state);
  // 2 prefixes + 1 own locator + 2 cluster locators + 1 rule + 100 mappings.
  CHECK(first.written == 106);
  CHECK(first.removed == 0);
  CHECK(first.failed == 0);
  CHECK(first.skipped == 1);
  CHECK(dp->mappings().List()->size() == 100);
  CHECK(dp->locators().Get(kL1).ok());
  CHECK(dp->cluster_locators().List()->size() == 2);
  CHECK(dp->prefix_rules().List()->size() == 1);

  // Nothing changed: nothing written.
  WriteCounts again = r.Reconcile(w.state);
  CHECK(again.changes() == 0);

  // Three changes: one moved, one deleted, one new.
  w.Map(Sir(1), kL3, "h3");
  REQUIRE(w.state.Delete(w.schema.MappingKey(Sir(2))) == StateChange::kMapping);
  w.Map(Sir(101), kL2, "h2");
  WriteCounts diff = r.Reconcile(w.state);
  CHECK(diff.written == 2);
  CHECK(diff.removed == 1);
  CHECK(dp->mappings().Get(Sir(1))->locator == kL3);
  CHECK_FALSE(dp->mappings().Get(Sir(2)).ok());
  CHECK(dp->mappings().Get(Sir(101)).ok());

  // The watch's path: only the named addresses.
  w.Map(Sir(3), kL3, "h3");
  const std::vector<SirAddress> changed = {Sir(3), Sir(3), Sir(4)};
  WriteCounts some = r.ReconcileMappings(w.state, changed);
  CHECK(some.written == 1);
  CHECK(some.changes() == 1);

  // A host that leaves takes its locator from the cluster table; its mappings stay until
  // deleted (mappings are not tied to liveness).
  REQUIRE(w.state.Delete(w.schema.HostKey("h3")) == StateChange::kTopology);
  WriteCounts gone = r.Reconcile(w.state);
  CHECK(gone.removed == 1);
  CHECK(dp->cluster_locators().List()->size() == 1);
  CHECK(dp->mappings().Get(Sir(3)).ok());
}

TEST_CASE("a restarted reconciler finds the tables written and writes nothing") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = Make();
  World w;
  w.Prefix(kP1);
  w.Host("h1", kL1);
  w.Host("h2", kL2);
  for (uint64_t id = 1; id <= 50; ++id) w.Map(Sir(id), kL2, "h2");
  {
    Reconciler first(*dp, "h1");
    REQUIRE(first.Load().ok());
    CHECK(first.Reconcile(w.state).written == 53);
  }
  // What an agent that Open()ed the pinned instance sees: everything is there already.
  Reconciler second(*dp, "h1");
  REQUIRE(second.Load().ok());
  CHECK(second.Reconcile(w.state).changes() == 0);
  // And entries nobody in etcd asked for are removed (the agent is the one writer).
  REQUIRE(dp->mappings().Upsert({.sir = Sir(999), .locator = kL2}).ok());
  Reconciler third(*dp, "h1");
  REQUIRE(third.Load().ok());
  WriteCounts extra = third.Reconcile(w.state);
  CHECK(extra.removed == 1);
  CHECK(extra.written == 0);
  CHECK_FALSE(dp->mappings().Get(Sir(999)).ok());
}

TEST_CASE("a refused entry is counted and does not hold back the rest of its batch") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = Make();
  World w;
  w.Prefix(kP1);
  w.Prefix(kP2);
  w.Host("h2", kL2);
  auto no_action = [&](const SirAddress& sir) {
    MappingRecord r{.host = "h2"};
    r.mapping = {.sir = sir, .locator = kL2, .csum_mode = ChecksumMode::kNoAction};
    w.Put(w.schema.MappingKey(sir), Schema::Encode(r));
  };
  // The same identifier from two SIR prefixes behind one locator, without a checksum-neutral
  // adjustment: one ILA address for two SIR addresses, which the data plane refuses (an ICMP
  // error could not be mapped back).
  no_action(Sir(7, kP1));
  no_action(Sir(7, kP2));
  for (uint64_t id = 1; id <= 5; ++id) no_action(Sir(id));
  Reconciler r(*dp, "h1");
  REQUIRE(r.Load().ok());
  WriteCounts c = r.Reconcile(w.state);
  CHECK(c.failed == 1);
  CHECK(dp->mappings().List()->size() == 6);
  CHECK_THAT(r.last_error(), Catch::Contains("3333:0:0:"));
  // Retried at the next reconciliation, and refused again while the conflict lasts.
  CHECK(r.Reconcile(w.state).failed == 1);
}

TEST_CASE("locators that etcd does not name are removed before the mappings are written") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = Make();
  World w;
  w.Prefix(kP1);
  w.Host("h2", kL2);
  // Left in the data plane by someone else: kL3 as this host's own locator. A mapping to it would
  // be refused without a local endpoint, but etcd says kL3 is nobody's.
  REQUIRE(dp->sir_prefixes().Add(kP1).ok());
  REQUIRE(dp->locators().Upsert({.locator = kL3, .sir_prefix = kP1}).ok());
  Reconciler r(*dp, "h1");
  REQUIRE(r.Load().ok());
  w.Map(Sir(1), kL2, "h2");
  w.Map(Sir(3), kL3, "h9");
  WriteCounts c = r.Reconcile(w.state);
  CHECK(c.failed == 0);
  CHECK_FALSE(dp->locators().Get(kL3).ok());
  CHECK(dp->mappings().List()->size() == 2);
}

}  // namespace
}  // namespace ila::agent
