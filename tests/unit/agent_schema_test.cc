// The cluster key schema (tools/ila-agent/schema.h, docs/cluster.md): what each key and value
// means, what is refused and why, and how the state follows puts and deletes.
#include <catch2/catch.hpp>

#include "cluster_state.h"
#include "schema.h"

namespace ila::agent {
namespace {

Schema Make() { return *Schema::Create("/ila/"); }

const SirPrefix kPrefix(0x3333000000000001ull);
const SirAddress kC1{kPrefix, Identifier(5)};

TEST_CASE("keys are canonical text under one prefix") {
  Schema s = Make();
  CHECK(s.VersionKey() == "/ila/schema");
  CHECK(s.DataPrefix() == "/ila/v1/");
  CHECK(s.PrefixKey(kPrefix) == "/ila/v1/prefixes/3333:0:0:1");
  CHECK(s.MappingKey(kC1) == "/ila/v1/mappings/3333:0:0:1/3333:0:0:1::5");
  CHECK(s.HostKey("h1") == "/ila/v1/hosts/h1");
  CHECK(s.AliveKey("h1") == "/ila/v1/alive/h1");
  // Either order names the same rule.
  const SirPrefix other(0x3333000000000002ull);
  CHECK(s.RuleKey({other, kPrefix}) == "/ila/v1/rules/3333:0:0:1,3333:0:0:2");
  CHECK(s.RuleKey({kPrefix, other}) == s.RuleKey({other, kPrefix}));
  CHECK_FALSE(Schema::Create("ila/").ok());
  CHECK_FALSE(Schema::Create("/ila").ok());
}

TEST_CASE("a mapping record round-trips and every bad field is named") {
  Schema s = Make();
  MappingRecord r{.host = "h2"};
  r.mapping = {.sir = kC1,
               .locator = Locator(0x20010db800020000ull),
               .csum_mode = ChecksumMode::kNeutralMap,
               .ident_type = IdentifierType::kLuid};
  auto parsed = s.Parse(s.MappingKey(kC1), Schema::Encode(r));
  REQUIRE(parsed.ok());
  REQUIRE(std::holds_alternative<MappingRecord>(*parsed));
  CHECK(std::get<MappingRecord>(*parsed) == r);

  const std::string key = s.MappingKey(kC1);
  auto error = [&](const std::string& k, const std::string& v) {
    auto p = s.Parse(k, v);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(p.status().message());
  };
  CHECK_THAT(error(key, "not json"), Catch::Contains("not a JSON object"));
  CHECK_THAT(error(key, R"({"host":"h2","locator":"2001:db8:2:0"})"), Catch::Contains("\"v\""));
  CHECK_THAT(error(key, R"({"v":1,"locator":"2001:db8:2:0"})"), Catch::Contains("\"host\""));
  CHECK_THAT(error(key, R"({"v":1,"host":"h2"})"), Catch::Contains("\"locator\""));
  CHECK_THAT(error(key, R"({"v":1,"host":"h2","locator":"zz"})"), Catch::Contains("locator"));
  CHECK_THAT(error(key, R"({"v":1,"host":"h 2","locator":"2001:db8:2:0"})"),
             Catch::Contains("host name"));
  CHECK_THAT(error(key, R"({"v":1,"host":"h2","locator":"2001:db8:2:0","csum_mode":"x"})"),
             Catch::Contains("x"));
  CHECK_THAT(error(key, R"({"v":3,"host":"h2","locator":"2001:db8:2:0"})"),
             Catch::Contains("version 3"));
  // Keys: not canonical, outside the prefix they are filed under.
  const std::string v = R"({"v":1,"host":"h2","locator":"2001:db8:2:0"})";
  CHECK_THAT(error("/ila/v1/mappings/3333:0:0:1/3333:0:0:1:0:0:0:5", v),
             Catch::Contains("canonical"));
  CHECK_THAT(error("/ila/v1/mappings/3333:0:0:2/3333:0:0:1::5", v),
             Catch::Contains("not in the SIR prefix"));
  CHECK_THAT(error("/ila/v1/mappings/3333::1/3333:0:0:1::5", v), Catch::Contains("3333"));
}

TEST_CASE("a record of the next schema version is read and its new fields ignored") {
  Schema s = Make();
  auto parsed =
      s.Parse(s.MappingKey(kC1),
              R"({"v":2,"host":"h2","locator":"2001:db8:2:0","weight":7,"labels":{"a":"b"}})");
  REQUIRE(parsed.ok());
  CHECK(std::get<MappingRecord>(*parsed).mapping.locator == Locator(0x20010db800020000ull));
  // A kind of key this version does not know is kept aside, not an error.
  auto other = s.Parse("/ila/v1/identifier-blocks/3333:0:0:1/x", "{}");
  REQUIRE(other.ok());
  CHECK(std::holds_alternative<OtherRecord>(*other));
  // So is a prefix mapping (a block of identifiers), which this data plane cannot hold yet.
  auto block = s.Parse("/ila/v1/mappings/3333:0:0:1/3333:0:0:1::1:0/112", "{}");
  REQUIRE(block.ok());
  CHECK(std::holds_alternative<OtherRecord>(*block));
}

TEST_CASE("host records carry every locator with its prefix and checksum mode") {
  Schema s = Make();
  HostRecord h{.name = "h1", .role = HostRole::kHost};
  h.locators.push_back({.locator = Locator(0x20010db800010000ull),
                        .sir_prefix = kPrefix,
                        .csum_mode = ChecksumMode::kNeutralMapAuto,
                        .reforward = Locator(0x20010db800010001ull)});
  auto parsed = s.Parse(s.HostKey("h1"), Schema::Encode(h));
  REQUIRE(parsed.ok());
  CHECK(std::get<HostRecord>(*parsed) == h);
  CHECK_FALSE(s.Parse(s.HostKey("h1"), R"({"v":1,"role":"boss","locators":[]})").ok());
  CHECK_FALSE(s.Parse(s.HostKey("bad/name"), Schema::Encode(h)).ok());
}

TEST_CASE("the state follows puts and deletes and an invalid put withdraws the old value") {
  Schema s = Make();
  ClusterState state(s);
  MappingRecord r{.host = "h2"};
  r.mapping = {.sir = kC1, .locator = Locator(0x20010db800020000ull)};
  const std::string key = s.MappingKey(kC1);
  StateChange change;
  REQUIRE(state.Put(key, Schema::Encode(r), &change).ok());
  CHECK(change == StateChange::kMapping);
  REQUIRE(state.Put(key, Schema::Encode(r), &change).ok());
  CHECK(change == StateChange::kNone);  // the same value again
  CHECK(state.mappings().size() == 1);
  // An unreadable new value must not leave the old one in force.
  CHECK_FALSE(state.Put(key, "garbage", &change).ok());
  CHECK(change == StateChange::kMapping);
  CHECK(state.mappings().empty());
  CHECK(state.invalid().size() == 1);
  REQUIRE(state.Put(key, Schema::Encode(r), &change).ok());
  CHECK(state.invalid().empty());
  CHECK(state.Delete(key) == StateChange::kMapping);
  CHECK(state.Delete(key) == StateChange::kNone);

  REQUIRE(state.Put(s.PrefixKey(kPrefix), Schema::Encode(PrefixRecord{kPrefix}), &change).ok());
  CHECK(change == StateChange::kTopology);
  CHECK(state.prefixes().contains(kPrefix));
  CHECK(state.Delete(s.PrefixKey(kPrefix)) == StateChange::kTopology);
  REQUIRE(state.Put(s.AliveKey("h1"), Schema::Encode(AliveRecord{"h1", 7}), &change).ok());
  CHECK(change == StateChange::kAlive);
  CHECK(state.alive().at("h1").lease == 7);
}

TEST_CASE("a mapping's workload and reservation round-trip and bad ones are named") {
  Schema s = Make();
  MappingRecord r{.host = "h1", .workload = "default/web-0", .reserved_until = 1800000000};
  r.mapping = {.sir = kC1, .locator = Locator(0x20010db800010000ull)};
  auto parsed = s.Parse(s.MappingKey(kC1), Schema::Encode(r));
  REQUIRE(parsed.ok());
  CHECK(std::get<MappingRecord>(*parsed) == r);
  // Without them the value is what older agents wrote (and read).
  MappingRecord plain{.host = "h1"};
  plain.mapping = r.mapping;
  CHECK(Schema::Encode(plain).find("workload") == std::string::npos);
  CHECK(Schema::Encode(plain).find("reserved_until") == std::string::npos);
  auto bad_workload = s.Parse(s.MappingKey(kC1),
                              R"({"v":1,"host":"h1","locator":"2001:db8:1:0","workload":"a b"})");
  REQUIRE_FALSE(bad_workload.ok());
  CHECK(bad_workload.status().message().find("workload") != std::string::npos);
  auto bad_until = s.Parse(s.MappingKey(kC1),
                           R"({"v":1,"host":"h1","locator":"2001:db8:1:0","reserved_until":-1})");
  REQUIRE_FALSE(bad_until.ok());
  CHECK(bad_until.status().message().find("reserved_until") != std::string::npos);
}

TEST_CASE("a dead host's marker hands it to the routers only when it says so") {
  Schema s = Make();
  ClusterState state(s);
  const std::string key = s.DeadKey("h2");
  CHECK(key == "/ila/v1/dead/h2");
  StateChange change;
  // What the elected agent writes first: dead, nothing done yet. Hosts change nothing.
  REQUIRE(state.Put(key, R"({"v":1,"since":100,"done":false})", &change).ok());
  CHECK(change == StateChange::kNone);
  CHECK_FALSE(state.HandedToRouters("h2"));
  const DeadHostRecord handed{.name = "h2", .since = 100, .done = true, .to_routers = true};
  auto parsed = s.Parse(key, Schema::Encode(handed));
  REQUIRE(parsed.ok());
  CHECK(std::get<DeadHostRecord>(*parsed) == handed);
  REQUIRE(state.Put(key, Schema::Encode(handed), &change).ok());
  CHECK(change == StateChange::kTopology);
  CHECK(state.HandedToRouters("h2"));
  CHECK_FALSE(state.HandedToRouters("h1"));
  // A marker that cannot be read hands nothing over (and says why).
  CHECK_FALSE(state.Put(key, R"({"v":1,"to_routers":"yes"})", &change).ok());
  CHECK(change == StateChange::kTopology);
  CHECK_FALSE(state.HandedToRouters("h2"));
  CHECK(state.invalid().at(key).find("to_routers") != std::string::npos);
  REQUIRE(state.Put(key, Schema::Encode(handed), &change).ok());
  CHECK(state.Delete(key) == StateChange::kTopology);
  CHECK_FALSE(state.HandedToRouters("h2"));
  CHECK_FALSE(s.Parse("/ila/v1/dead/not a host", "{\"v\":1}").ok());
}

}  // namespace
}  // namespace ila::agent
