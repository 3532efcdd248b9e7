// The typed tables against a real loaded data plane: validation before any write, all-or-nothing
// batches, and the errors a caller sees.
#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "kernel/bpf_map.h"  // TypedMap's batch operations, tested directly below
#include "ila/dataplane.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/bpf_maps.h"
#include "support/skip.h"

using namespace ila;
using ila::testing::ReverseMap;

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

SirPrefix Prefix2() { return SirPrefix(0x20010db8000000ffull); }

std::unique_ptr<Dataplane> MakeSized(uint32_t max_mappings) {
  DataplaneConfig config;
  config.max_mappings = max_mappings;
  auto dp = Dataplane::Create(config);
  INFO(dp.status().ToString());
  REQUIRE(dp.ok());
  REQUIRE((*dp)->sir_prefixes().Add(Prefix()).ok());
  REQUIRE((*dp)->sir_prefixes().Add(Prefix2()).ok());
  return std::move(*dp);
}

// Mappings Sir(first) .. Sir(first + n - 1) on one locator, no-action (the ILA address is the
// locator and the identifier, so tests can construct collisions).
std::vector<Mapping> Range(uint64_t first, size_t n, uint64_t locator) {
  std::vector<Mapping> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back({Sir(first + i), Loc(locator), ChecksumMode::kNoAction});
  return out;
}

using Bytes16 = std::array<uint8_t, 16>;
using Bytes24 = std::array<uint8_t, 24>;

// What the reverse map must hold for these mappings: exactly their ILA destinations.
std::map<Ipv6Address, Ipv6Address> ExpectedReverse(const std::vector<Mapping>& ms) {
  std::map<Ipv6Address, Ipv6Address> out;
  for (const Mapping& m : ms) out[m.IlaDestination()->address()] = m.sir.address();
  return out;
}

std::vector<Mapping> Sorted(std::vector<Mapping> ms) {
  std::sort(ms.begin(), ms.end(), [](const Mapping& a, const Mapping& b) { return a.sir < b.sir; });
  return ms;
}

// The table holds exactly `ms`, forward and reverse.
void CheckTableIs(Dataplane& dp, const std::vector<Mapping>& ms) {
  auto listed = dp.mappings().List();
  REQUIRE(listed.ok());
  CHECK(*listed == Sorted(ms));
  CHECK(ReverseMap() == ExpectedReverse(ms));
}

}  // namespace

TEST_CASE("Add refuses an existing mapping or locator, Upsert replaces it") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
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
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
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
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
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
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = Make();
  absl::Status st = dp->endpoints().Upsert(
      {InterfaceIndex(999999), Sir(1), *MacAddress::Parse("02:00:00:00:00:01")});
  CHECK(absl::IsNotFound(st));
  auto att = dp->AttachUplink({"no-such-dev0", AttachMode::kAuto, {}});
  CHECK(absl::IsNotFound(att.status()));
  CHECK_THAT(Message(att.status()), Catch::Contains("no-such-dev0"));
  CHECK(dp->attachments().empty());
}

TEST_CASE("bad input is refused with its reason and changes nothing") {
  ILA_SKIP_IF(testing::HostTestSkipReason());
  auto host = testing::MakeHostOrFail();
  using H = testbed::HostFixture;
  Dataplane& dp = host->dp();
  const auto endpoints_before = dp.endpoints().List();
  REQUIRE(endpoints_before.ok());
  const SirAddress stranger{H::Sir(), Identifier(0x77)};

  SECTION("a container MAC that is not unicast") {
    for (const char* mac : {"ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01", "01:00:5e:00:00:01"}) {
      CAPTURE(mac);
      absl::Status st = dp.endpoints().Add({host->c1h(), stranger, *MacAddress::Parse(mac)});
      CHECK(absl::IsInvalidArgument(st));
      CHECK_THAT(Message(st), Catch::Contains(mac) && Catch::Contains("unicast"));
    }
  }
  SECTION("an interface that is not Ethernet, for an endpoint or any attachment") {
    const InterfaceIndex lo(static_cast<int>(if_nametoindex("lo")));
    REQUIRE(lo.valid());
    absl::Status st = dp.endpoints().Add({lo, stranger, H::C1Mac()});
    CHECK(absl::IsInvalidArgument(st));
    CHECK_THAT(Message(st), Catch::Contains("lo is not an Ethernet interface"));
    const size_t attached = dp.attachments().size();
    auto up = dp.AttachUplink({"lo", AttachMode::kAuto, {}});
    CHECK(absl::IsInvalidArgument(up.status()));
    CHECK_THAT(Message(up.status()), Catch::Contains("lo is not an Ethernet interface"));
    auto c = dp.AttachContainer({"lo", stranger, H::C1Mac(), AttachMode::kAuto});
    CHECK(absl::IsInvalidArgument(c.status()));
    CHECK(dp.attachments().size() == attached);
  }
  SECTION("a mapping to this host's own locator for an address with no endpoint here") {
    REQUIRE(dp.locators().Upsert({H::L1(), H::Sir(), ChecksumMode::kAdjustTransport}).ok());
    const std::vector<Mapping> batch = {{H::Remote(), H::L2(), ChecksumMode::kAdjustTransport},
                                        {stranger, H::L1(), ChecksumMode::kAdjustTransport}};
    absl::Status st = dp.mappings().UpsertBatch(batch);
    CHECK(absl::IsFailedPrecondition(st));
    CHECK_THAT(Message(st), Catch::Contains("batch entry 1") &&
                                Catch::Contains("this host's own locator") &&
                                Catch::Contains(stranger.ToString()));
    auto listed = dp.mappings().List();
    REQUIRE(listed.ok());
    CHECK(listed->empty());  // not even the good entry before it
    // An address whose endpoint is here may map to this host (the others are told it is here).
    CHECK(dp.mappings().Upsert({H::C1(), H::L1(), ChecksumMode::kAdjustTransport}).ok());
  }
  auto endpoints_after = dp.endpoints().List();
  REQUIRE(endpoints_after.ok());
  CHECK(endpoints_after->size() == endpoints_before->size());
}

TEST_CASE(
    "a data plane too large for the kernel is refused as such and not as a verifier rejection") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  DataplaneConfig config;
  config.max_mappings = 1u << 30;  // 2^31 slots of 32 bytes: more than an array map may hold
  auto dp = Dataplane::Create(config);
  REQUIRE_FALSE(dp.ok());
  INFO(dp.status().ToString());
  CHECK(absl::IsResourceExhausted(dp.status()));
  CHECK_THAT(Message(dp.status()), Catch::Contains("could not create a map") &&
                                       !Catch::Contains("rejected") &&
                                       !Catch::Contains("verifier"));
}

// Batches of 1,024 and more read both maps with bpf_map_lookup_batch instead of looking up each
// entry (unless the table holds more than four times the batch), and from 16,384 on read and write
// the two maps on two threads: the checks, the messages and the undo are the same on every path.
namespace {

constexpr uint64_t kLocA = 0x20010db8aaaa0001;
constexpr uint64_t kLocB = 0x20010db8bbbb0002;
constexpr uint64_t kLocC = 0x20010db8cccc0003;

// With `preload` mappings in the table (on locator A, and one of the second prefix whose ILA
// address batch entry `clash` would take), a batch of n new mappings on locator B plus 500 of the
// preloaded moved to locator C: refused for the shared ILA address, refused for a duplicate, and
// then accepted once the other mapping moves too, leaving both maps exact.
//
// With `reopen`, the batches go through a second Dataplane that Open()ed the pinned first one: it
// does not know how big the table is, tries to read it whole, and gives up for lookups.
void CheckBatch(size_t preload, size_t n, size_t clash, bool reopen = false) {
  std::optional<std::string> bpffs;
  struct Unmount {
    std::optional<std::string>* dir;
    ~Unmount() {
      if (*dir) testbed::UnmountPrivateBpffs(**dir);
    }
  } unmount{&bpffs};
  DataplaneConfig config;
  config.max_mappings = 1 << 16;
  if (reopen) {
    auto dir = testbed::MountPrivateBpffs();
    REQUIRE(dir.ok());
    bpffs = *dir;
    config.pinning = PinLocation{*dir, "tables"};
  }
  auto created = Dataplane::Create(config);
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  std::unique_ptr<Dataplane> writer = std::move(*created);
  REQUIRE(writer->sir_prefixes().Add(Prefix()).ok());
  REQUIRE(writer->sir_prefixes().Add(Prefix2()).ok());

  std::vector<Mapping> before = Range(1'000'000, preload, kLocA);
  Mapping other{{Prefix2(), Identifier(2'000'001)}, Loc(kLocB)};
  before.push_back(other);
  REQUIRE(writer->mappings().UpsertBatch(before).ok());
  std::unique_ptr<Dataplane> opened;
  if (reopen) {
    auto o = Dataplane::Open(*config.pinning);
    INFO(o.status().ToString());
    REQUIRE(o.ok());
    opened = std::move(*o);
  }
  Dataplane* dp = reopen ? opened.get() : writer.get();
  CheckTableIs(*dp, before);

  std::vector<Mapping> batch = Range(1, n, kLocB);
  for (size_t i = 0; i < 500; ++i) batch.push_back({before[i].sir, Loc(kLocC)});
  batch[clash].sir = Sir(2'000'001);  // on B: the ILA address of `other`
  absl::Status st = dp->mappings().UpsertBatch(batch);
  CHECK(absl::IsAlreadyExists(st));
  CHECK_THAT(Message(st),
             Catch::Contains(absl::StrCat(
                 "batch entry ", clash,
                 ": ILA address 2001:db8:bbbb:2::1e:8481 is "
                 "already the destination of 2001:db8:0:ff::1e:8481; two SIR addresses "
                 "cannot share one ILA address")));
  CheckTableIs(*dp, before);

  // Moving the other mapping in the same batch frees its address; but first, a duplicate.
  batch.push_back({other.sir, Loc(kLocC)});
  size_t dup = n * 3 / 4;
  batch[dup].sir = Sir(3);
  st = dp->mappings().UpsertBatch(batch);
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(Message(st),
             Catch::Contains(absl::StrCat(
                 "batch entry ", dup,
                 ": SIR address 2001:db8:0:1::3 appears twice in the batch (also entry 2)")));
  CheckTableIs(*dp, before);

  batch[dup].sir = Sir(dup + 1);
  REQUIRE(dp->mappings().UpsertBatch(batch).ok());
  // The moved mappings' old reverse entries are gone; the one the clashing entry took is its own.
  std::vector<Mapping> after = batch;
  for (size_t i = 500; i < preload; ++i) after.push_back(before[i]);
  CheckTableIs(*dp, after);
}

}  // namespace

TEST_CASE("large batches: a duplicate or a shared ILA address in the middle writes nothing") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  SECTION("one dump of each map, one thread") { CheckBatch(1000, 2000, 1500); }
  SECTION("one dump of each map, two threads") { CheckBatch(1000, 20000, 10000); }
  SECTION("table much bigger than the batch: lookups") { CheckBatch(10000, 1500, 700); }
  SECTION("table much bigger than the batch, unknown to this handle: dump cut short, lookups") {
    CheckBatch(10000, 1500, 700, true);
  }
  SECTION("small batch: lookups") { CheckBatch(600, 200, 100); }
}

TEST_CASE("a kernel failure part-way through a batch is undone exactly") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto run = [](uint32_t max, size_t preload, size_t n) {
    auto dp = MakeSized(max);
    std::vector<Mapping> before = Range(1'000'000, preload, kLocA);
    REQUIRE(dp->mappings().UpsertBatch(before).ok());
    // Moves a quarter of what is there (new ILA addresses: new reverse entries) and adds more
    // than fits.
    std::vector<Mapping> batch = Range(1, n, kLocB);
    for (size_t i = 0; i < preload / 4; ++i) batch.push_back({before[i].sir, Loc(kLocC)});
    absl::Status st = dp->mappings().UpsertBatch(batch);
    CHECK(absl::IsResourceExhausted(st));
    CHECK_THAT(Message(st), Catch::Contains("the table is full"));
    CheckTableIs(*dp, before);
  };
  SECTION("two threads") { run(20000, 2000, 18500); }
  SECTION("one thread, dump") { run(1000, 100, 1100); }
  SECTION("one thread, lookups") { run(1000, 100, 950); }
}

TEST_CASE("a forwarding cache (LRU maps) is read and written in batches the same way") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  DataplaneConfig config;
  config.max_mappings = 1 << 16;
  config.forwarding_cache = true;
  auto created = Dataplane::Create(config);
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  auto& dp = **created;
  REQUIRE(dp.sir_prefixes().Add(Prefix()).ok());
  std::vector<Mapping> first = Range(1, 20000, kLocA);
  REQUIRE(dp.mappings().UpsertBatch(first).ok());
  CheckTableIs(dp, first);
  // Half of them move, as many are new: one dump of each map, two threads.
  std::vector<Mapping> second = Range(10001, 20000, kLocB);
  REQUIRE(dp.mappings().UpsertBatch(second).ok());
  std::vector<Mapping> all(first.begin(), first.begin() + 10000);
  all.insert(all.end(), second.begin(), second.end());
  CheckTableIs(dp, all);
  second[15000].sir = Sir(10001);
  absl::Status st = dp.mappings().UpsertBatch(second);
  CHECK_THAT(Message(st), Catch::Contains("batch entry 15000: SIR address 2001:db8:0:1::2711 "
                                          "appears twice in the batch (also entry 0)"));
  CheckTableIs(dp, all);
}

TEST_CASE(
    "large removals: a missing or repeated address removes nothing, Flush empties both maps") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = MakeSized(1 << 16);
  std::vector<Mapping> all = Range(1, 5000, kLocA);
  REQUIRE(dp->mappings().UpsertBatch(all).ok());
  std::vector<SirAddress> gone;
  for (size_t i = 0; i < 3000; ++i) gone.push_back(all[i].sir);
  gone[2000] = Sir(777'777);
  absl::Status st = dp->mappings().RemoveBatch(gone);
  CHECK(absl::IsNotFound(st));
  CHECK(Message(st) == "no mapping for 2001:db8:0:1::b:de31");
  CheckTableIs(*dp, all);
  gone[2000] = all[2000].sir;
  gone[2500] = gone[10];
  st = dp->mappings().RemoveBatch(gone);
  CHECK(absl::IsInvalidArgument(st));
  CHECK(Message(st) == "SIR address 2001:db8:0:1::b appears twice in the batch");
  CheckTableIs(*dp, all);
  gone[2500] = all[2500].sir;
  REQUIRE(dp->mappings().RemoveBatch(gone).ok());
  CheckTableIs(*dp, std::vector<Mapping>(all.begin() + 3000, all.end()));
  REQUIRE(dp->mappings().Flush().ok());
  CheckTableIs(*dp, {});
}

TEST_CASE("List of a table bigger than one lookup_batch chunk returns every mapping once") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = MakeSized(1 << 16);
  std::vector<Mapping> all = Range(1, 30000, kLocA);
  for (size_t i = 0; i < all.size(); i += 3) {
    all[i].csum_mode = ChecksumMode::kNeutralMapAuto;  // the identifier changes: another locator
    all[i].locator = Loc(kLocB);
  }
  absl::Status st = dp->mappings().UpsertBatch(all);
  INFO(st.ToString());
  REQUIRE(st.ok());
  auto listed = dp->mappings().List();
  REQUIRE(listed.ok());
  CHECK(*listed == Sorted(all));  // sorted, so equality means each exactly once
  std::vector<SirAddress> gone;
  for (size_t i = 0; i < 100; ++i) gone.push_back(all[i * 7].sir);
  REQUIRE(dp->mappings().RemoveBatch(gone).ok());
  CHECK(dp->mappings().List()->size() == all.size() - gone.size());
}

TEST_CASE("TypedMap batch operations: chunks, buckets bigger than the buffer, limits, full maps") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  constexpr uint32_t kMax = 4096;
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_batch", 16, 24, kMax, nullptr);
  REQUIRE(fd >= 0);
  struct Close {
    int fd;
    ~Close() { close(fd); }
  } closer{fd};
  ila::internal::TypedMap<Bytes16, Bytes24> map(fd, "t_batch");
  std::vector<Bytes16> keys(kMax);
  std::vector<Bytes24> values(kMax);
  for (uint32_t i = 0; i < kMax; ++i) {
    keys[i].fill(0);
    std::memcpy(keys[i].data() + 12, &i, 4);
    values[i].fill(static_cast<uint8_t>(i * 13));
  }
  uint32_t applied = 0;
  REQUIRE(map.UpdateBatch(keys, values, &applied, BPF_ANY, 1000).ok());  // five syscalls
  CHECK(applied == kMax);

  // 4,096 entries in 4,096 buckets: many buckets hold two or more, more than a buffer of one, so
  // the kernel answers ENOSPC and the buffer grows.
  auto all = map.DumpBatch(SIZE_MAX, 1);
  REQUIRE(all.ok());
  CHECK(all->complete);
  std::map<Bytes16, Bytes24> seen;
  for (size_t i = 0; i < all->keys.size(); ++i)
    CHECK(seen.emplace(all->keys[i], all->values[i]).second);
  CHECK(seen.size() == kMax);
  for (uint32_t i = 0; i < kMax; ++i) CHECK(seen[keys[i]] == values[i]);
  CHECK(map.Dump()->size() == kMax);
  CHECK(map.DumpByKey()->size() == kMax);

  auto some = map.DumpBatch(100, 64);
  REQUIRE(some.ok());
  CHECK_FALSE(some->complete);
  CHECK(some->keys.size() >= 100);
  CHECK(some->keys.size() < kMax);

  // Full: nothing more fits, and the count says so.
  std::vector<Bytes16> more(3, keys[0]);
  for (uint8_t i = 0; i < 3; ++i) more[i][0] = static_cast<uint8_t>(0xf0 + i);
  std::vector<Bytes24> more_values(3, values[0]);
  absl::Status st = map.UpdateBatch(more, more_values, &applied);
  CHECK(absl::IsResourceExhausted(st));
  CHECK(applied == 0);

  // Deleting stops at the first absent key.
  std::vector<Bytes16> del = {keys[0], keys[1], more[0], keys[3]};
  st = map.DeleteBatch(del, &applied);
  CHECK_FALSE(st.ok());
  CHECK(applied == 2);
  CHECK(map.Dump()->size() == kMax - 2);

  // An array map: the batch cursor is a key.
  int afd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_batch_arr", 4, 24, 100, nullptr);
  REQUIRE(afd >= 0);
  Close acloser{afd};
  ila::internal::TypedMap<uint32_t, Bytes24> arr(afd, "t_batch_arr");
  auto elems = arr.DumpBatch(SIZE_MAX, 7);
  REQUIRE(elems.ok());
  REQUIRE(elems->keys.size() == 100);
  for (uint32_t i = 0; i < 100; ++i) CHECK(elems->keys[i] == i);
}

TEST_CASE("Add means add and Upsert means upsert, for SIR prefixes and endpoints") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  ILA_SKIP_IF(testbed::NetnsUnavailableReason());
  auto host = testbed::HostFixture::Create();
  INFO(host.status().ToString());
  REQUIRE(host.ok());
  Dataplane& dp = (*host)->dp();
  using H = testbed::HostFixture;
  // The fixture registered the SIR prefix and attached c1 (its endpoint).
  absl::Status again = dp.sir_prefixes().Add(H::Sir());
  CHECK(absl::IsAlreadyExists(again));
  CHECK_THAT(std::string(again.message()), Catch::Contains("is registered already"));
  CHECK(dp.sir_prefixes().Upsert(H::Sir()).ok());
  auto prefixes = dp.sir_prefixes().List();
  REQUIRE(prefixes.ok());
  CHECK(prefixes->size() == 1);

  Endpoint c1{(*host)->c1h(), H::C1(), H::C1Mac()};
  auto before = dp.endpoints().Get(H::C1());
  REQUIRE(before.ok());
  absl::Status twice = dp.endpoints().Add(c1);
  CHECK(absl::IsAlreadyExists(twice));
  CHECK_THAT(std::string(twice.message()), Catch::Contains("has an endpoint already"));
  CHECK(dp.endpoints().Upsert(c1).ok());
  auto after = dp.endpoints().Get(H::C1());
  REQUIRE(after.ok());
  CHECK(*after == *before);
  // A new address is added.
  SirAddress c9{H::Sir(), Identifier(0x9)};
  CHECK(dp.endpoints().Add({(*host)->c2h(), c9, MacAddress({0x02, 0, 0, 0, 0xc9, 0x01})}).ok());
  CHECK(dp.endpoints().Get(c9).ok());
}

TEST_CASE("the cluster's locator table: what it refuses and what it lists") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  ILA_SKIP_IF(testbed::NetnsUnavailableReason());
  using H = testbed::HostFixture;
  auto host = testbed::HostFixture::Create();
  INFO(host.status().ToString());
  REQUIRE(host.ok());
  Dataplane& dp = (*host)->dp();
  ClusterLocatorTable& cluster = dp.cluster_locators();
  const SirPrefix unregistered(0x20010db800000009ull);
  absl::Status zero = cluster.Upsert({Locator(0), H::Sir(), ChecksumMode::kAdjustTransport});
  CHECK(absl::IsInvalidArgument(zero));
  CHECK(zero.message().find("cannot be a cluster locator") != absl::string_view::npos);
  absl::Status own = cluster.Upsert({H::L1(), H::Sir(), ChecksumMode::kAdjustTransport});
  CHECK(absl::IsFailedPrecondition(own));
  CHECK(own.message().find("one of this host's locators") != absl::string_view::npos);
  absl::Status prefix = cluster.Upsert({H::L2(), unregistered, ChecksumMode::kNoAction});
  CHECK(absl::IsFailedPrecondition(prefix));
  CHECK(prefix.message().find("not registered") != absl::string_view::npos);

  REQUIRE(cluster.Upsert({H::L2(), H::Sir(), ChecksumMode::kNeutralMapAuto}).ok());
  REQUIRE(cluster.Upsert({H::L2(), H::Sir(), ChecksumMode::kAdjustTransport}).ok());  // replaces
  auto listed = cluster.List();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0] == LocatorEntry{H::L2(), H::Sir(), ChecksumMode::kAdjustTransport});
  // Its prefix cannot go while it is used.
  CHECK(absl::IsFailedPrecondition(dp.sir_prefixes().Remove(H::Sir())));
  REQUIRE(cluster.Remove(H::L2()).ok());
  CHECK(absl::IsNotFound(cluster.Remove(H::L2())));
  auto none = cluster.List();
  REQUIRE(none.ok());
  CHECK(none->empty());
}

// A full table still takes moves of its mappings: a container that moves to another host changes
// its mapping's locator (so its ILA address, the reverse entry's key) without adding a mapping.
TEST_CASE("a full mapping table still accepts moves of its mappings, one by one and all at once") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  constexpr uint32_t kMax = 64;
  auto dp = MakeSized(kMax);
  REQUIRE(dp->mappings().UpsertBatch(Range(1, kMax, 0x20010db8aaaa0001)).ok());
  // Full: one more is refused as such.
  CHECK(absl::IsResourceExhausted(
      dp->mappings().Upsert({Sir(kMax + 1), Loc(0x20010db8aaaa0001), ChecksumMode::kNoAction})));
  // One moves.
  absl::Status one =
      dp->mappings().Upsert({Sir(1), Loc(0x20010db8bbbb0002), ChecksumMode::kNoAction});
  INFO(one.ToString());
  CHECK(one.ok());
  // All move.
  absl::Status all = dp->mappings().UpsertBatch(Range(1, kMax, 0x20010db8cccc0003));
  INFO(all.ToString());
  CHECK(all.ok());
  // Forward and reverse hold exactly the moved mappings: no old destination left behind.
  CheckTableIs(*dp, Range(1, kMax, 0x20010db8cccc0003));
  // And back, all at once again, with the table still full.
  REQUIRE(dp->mappings().UpsertBatch(Range(1, kMax, 0x20010db8aaaa0001)).ok());
  CheckTableIs(*dp, Range(1, kMax, 0x20010db8aaaa0001));
}

// A locator's re-forward locator (LocatorEntry::reforward): checked, listed with its locator and
// not on its own, removed with it; the same in the cluster's table.
TEST_CASE("re-forward locators: what the tables refuse, list and remove") {
  ILA_SKIP_IF(testbed::BpfUnavailableReason());
  auto dp = Make();
  const Locator l(0x20010db8aaaa0001), r(0x20010db8aaab0000);
  auto refused = [&](const LocatorEntry& e, absl::StatusCode code, const std::string& says) {
    for (bool cluster : {false, true}) {
      CAPTURE(cluster);
      absl::Status st = cluster ? dp->cluster_locators().Upsert(e) : dp->locators().Upsert(e);
      INFO(st.ToString());
      CHECK(st.code() == code);
      CHECK_THAT(Message(st), Catch::Contains(says));
    }
  };
  refused({l, Prefix(), ChecksumMode::kAdjustTransport, Locator(0x20010db8aaab0001)},
          absl::StatusCode::kInvalidArgument, "one's-complement sums of the two differ");
  refused({l, Prefix(), ChecksumMode::kAdjustTransport, l}, absl::StatusCode::kInvalidArgument,
          "must be another locator");
  // Nothing was written by the refusals.
  CHECK(dp->locators().List()->empty());
  CHECK(dp->cluster_locators().List()->empty());

  const LocatorEntry with{l, Prefix(), ChecksumMode::kAdjustTransport, r};
  REQUIRE(dp->locators().Upsert(with).ok());
  CHECK(*dp->locators().List() == std::vector<LocatorEntry>{with});
  CHECK(*dp->locators().Get(l) == with);
  CHECK(absl::IsNotFound(dp->locators().Get(r).status()));
  CHECK(absl::IsFailedPrecondition(dp->locators().Remove(r)));
  CHECK(absl::IsFailedPrecondition(
      dp->locators().Upsert({r, Prefix(), ChecksumMode::kAdjustTransport})));
  // A locator already registered cannot become another's re-forward locator.
  const Locator l2(0x20010db8cccc0001);
  REQUIRE(dp->locators().Upsert({l2, Prefix(), ChecksumMode::kNoAction}).ok());
  absl::Status taken =
      dp->locators().Upsert({Locator(0x20010db8cccb0002), Prefix(), ChecksumMode::kNoAction, l2});
  CHECK(absl::IsAlreadyExists(taken));
  CHECK_THAT(Message(taken), Catch::Contains("is already one of this host's locators"));
  CHECK(absl::IsNotFound(dp->locators().Get(Locator(0x20010db8cccb0002)).status()));
  // Dropping the re-forward locator, then the locator: nothing left behind.
  REQUIRE(dp->locators().Upsert({l, Prefix(), ChecksumMode::kAdjustTransport}).ok());
  CHECK(*dp->locators().Get(l) == LocatorEntry{l, Prefix(), ChecksumMode::kAdjustTransport});
  REQUIRE(dp->locators().Upsert(with).ok());
  REQUIRE(dp->locators().Remove(l).ok());
  REQUIRE(dp->locators().Remove(l2).ok());
  CHECK(dp->locators().List()->empty());
  CHECK(absl::IsNotFound(dp->locators().Remove(r)));
  // A cluster locator may not pair with one of this host's, and pairs like this host's otherwise.
  REQUIRE(dp->locators().Upsert({l2, Prefix(), ChecksumMode::kNoAction}).ok());
  absl::Status own = dp->cluster_locators().Upsert(
      {Locator(0x20010db8cccb0002), Prefix(), ChecksumMode::kNoAction, l2});
  CHECK(absl::IsFailedPrecondition(own));
  CHECK_THAT(Message(own), Catch::Contains("one of this host's locators"));
  REQUIRE(dp->cluster_locators().Upsert(with).ok());
  CHECK(*dp->cluster_locators().List() == std::vector<LocatorEntry>{with});
  CHECK(absl::IsFailedPrecondition(dp->cluster_locators().Remove(r)));
  REQUIRE(dp->cluster_locators().Remove(l).ok());
  CHECK(dp->cluster_locators().List()->empty());
}
