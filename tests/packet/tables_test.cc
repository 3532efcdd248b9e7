// The typed tables against a real loaded data plane: validation before any write, all-or-nothing
// batches, and the errors a caller sees.
#include <catch2/catch.hpp>

#include "ila/dataplane.h"
#include "support/kernel.h"

using namespace ila;

namespace {

SirPrefix Prefix() { return *SirPrefix::Parse("2001:db8:0:1::/64"); }
SirAddress Sir(uint64_t id) { return {Prefix(), Identifier(id)}; }
Locator Loc(uint64_t v) { return Locator(v); }

std::unique_ptr<Dataplane> Make() {
  auto dp = Dataplane::Create({});
  INFO(dp.status().ToString());
  REQUIRE(dp.ok());
  REQUIRE((*dp)->sir_prefixes().Add(Prefix()).ok());
  return std::move(*dp);
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

}  // namespace

TEST_CASE("Add refuses an existing mapping or locator; Upsert replaces it") {
  ILA_SKIP_IF(testing::BpfUnavailableReason());
  auto dp = Make();
  Mapping m{Sir(7), Loc(0x20010db8aaaa0001), ChecksumMode::kNeutralMapAuto};
  REQUIRE(dp->mappings().Add(m).ok());
  Mapping moved = m;
  moved.locator = Loc(0x20010db8bbbb0002);
  absl::Status again = dp->mappings().Add(moved);
  CHECK(absl::IsAlreadyExists(again));
  CHECK_THAT(Message(again), Catch::Contains("already has a mapping (to 2001:db8:aaaa:1)"));
  CHECK(dp->mappings().Get(m.sir)->locator == m.locator);
  REQUIRE(dp->mappings().Upsert(moved).ok());
  CHECK(dp->mappings().Get(m.sir)->locator == moved.locator);

  LocatorEntry l{Loc(0x20010db8aaaa0001), Prefix(), ChecksumMode::kAdjustTransport};
  REQUIRE(dp->locators().Add(l).ok());
  CHECK(absl::IsAlreadyExists(dp->locators().Add(l)));
  REQUIRE(dp->locators().Upsert(l).ok());
  CHECK(dp->locators().List()->size() == 1);
}

TEST_CASE("a batch with one bad mapping writes nothing and names the entry") {
  ILA_SKIP_IF(testing::BpfUnavailableReason());
  auto dp = Make();
  std::vector<Mapping> batch;
  for (uint64_t id = 1; id <= 100; ++id) {
    batch.push_back({Sir(id), Loc(0x20010db8aaaa0001), ChecksumMode::kNeutralMap});
  }
  batch[57].sir = Sir(0x1000'0000'0000'0001ull);  // C-bit set: neutral-map cannot mark it
  absl::Status st = dp->mappings().UpsertBatch(batch);
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(Message(st), Catch::Contains("batch entry 57"));
  CHECK_THAT(Message(st), Catch::Contains("C-bit"));
  CHECK(dp->mappings().List()->empty());

  batch[57].sir = Sir(58);
  batch[99].sir = Sir(3);  // duplicate of entry 2
  st = dp->mappings().UpsertBatch(batch);
  CHECK_THAT(Message(st), Catch::Contains("appears twice"));
  CHECK(dp->mappings().List()->empty());

  batch[99].sir = Sir(100);
  REQUIRE(dp->mappings().UpsertBatch(batch).ok());
  CHECK(dp->mappings().List()->size() == 100);
  std::vector<SirAddress> gone = {Sir(1), Sir(2), Sir(12345)};
  CHECK(absl::IsNotFound(dp->mappings().RemoveBatch(gone)));
  CHECK(dp->mappings().List()->size() == 100);
  REQUIRE(dp->mappings().Flush().ok());
  CHECK(dp->mappings().List()->empty());
}

TEST_CASE("mappings are checked against the tables: prefix registered, no shared ILA address") {
  ILA_SKIP_IF(testing::BpfUnavailableReason());
  auto dp = Make();
  Mapping other_prefix{{SirPrefix(0x20010db8000000ffull), Identifier(1)}, Loc(0x20010db8aaaa0001)};
  absl::Status st = dp->mappings().Upsert(other_prefix);
  CHECK(absl::IsFailedPrecondition(st));
  CHECK_THAT(Message(st), Catch::Contains("is not registered"));

  // Two SIR addresses of different prefixes with one identifier on one locator would share an ILA
  // address: ICMP errors could not be mapped back, so the second is refused.
  REQUIRE(dp->sir_prefixes().Add(SirPrefix(0x20010db8000000ffull)).ok());
  REQUIRE(dp->mappings().Upsert({Sir(1), Loc(0x20010db8aaaa0001)}).ok());
  st = dp->mappings().Upsert(other_prefix);
  CHECK(absl::IsAlreadyExists(st));
  CHECK_THAT(Message(st), Catch::Contains("two SIR addresses cannot share one ILA address"));

  st = dp->sir_prefixes().Remove(Prefix());
  CHECK(absl::IsFailedPrecondition(st));
  CHECK_THAT(Message(st), Catch::Contains("still used by the mapping"));

  CHECK(absl::IsInvalidArgument(dp->mappings().Upsert({Sir(2), Locator(0)})));
  Mapping iid{Sir(2), Loc(0x20010db8aaaa0001), ChecksumMode::kNoAction, IdentifierType::kUseFormat};
  st = dp->mappings().Upsert(iid);
  CHECK_THAT(Message(st), Catch::Contains("use-format reads identifier type iid"));
}

TEST_CASE("endpoints and attach name the interface that does not exist") {
  ILA_SKIP_IF(testing::BpfUnavailableReason());
  auto dp = Make();
  absl::Status st = dp->endpoints().Upsert({999999, Sir(1), *MacAddress::Parse("02:00:00:00:00:01")});
  CHECK(absl::IsNotFound(st));
  auto att = dp->AttachUplink({"no-such-dev0", AttachMode::kAuto, {}});
  CHECK(absl::IsNotFound(att.status()));
  CHECK_THAT(Message(att.status()), Catch::Contains("no-such-dev0"));
  CHECK(dp->attachments().empty());
}
