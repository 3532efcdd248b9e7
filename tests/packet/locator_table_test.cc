// ila_locator_table (abi.h, lib/tables/locator_slots.cc, xdp/locators.h): the writer's probe runs,
// replacement without a gap, removal, repair and sync on a table made here; and from_uplink
// against the data plane's own table: every locator of a full probe run found, one more refused
// with nothing written, and a locator that is replaced over and over never missed by a packet.
#include <bpf/bpf.h>
#include <endian.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "ila/translation.h"
#include "tables/locator_slots.h"
#include "kernel/object.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;
using ila::internal::LocatorSlots;

namespace {

using H = HostFixture;

// A locator table of 2^bits entries (and the generation's), made here (the data plane's is made by the loader).
struct Table {
  int fd = -1;
  uint32_t bits;
  explicit Table(uint32_t b) : bits(b) {
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_locators", 4, sizeof(ila::abi::ila_locator_entry),
                        (1u << bits) + 1, &opts);
  }
  ~Table() {
    if (fd >= 0) close(fd);
  }
  std::vector<ila::abi::ila_locator_entry> Raw() const {
    const size_t n = size_t{1} << bits;
    void* mem =
        mmap(nullptr, n * sizeof(ila::abi::ila_locator_entry), PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(mem != MAP_FAILED);
    auto* p = static_cast<ila::abi::ila_locator_entry*>(mem);
    std::vector<ila::abi::ila_locator_entry> out(p, p + n);
    munmap(mem, n * sizeof(ila::abi::ila_locator_entry));
    return out;
  }
};

ila::abi::ila_locator_key KeyOf(uint64_t locator) {
  ila::abi::ila_locator_key k{};
  const uint64_t be = htobe64(locator);
  std::memcpy(k.locator_be, &be, sizeof(be));
  return k;
}

uint32_t HomeOf(uint64_t locator, uint32_t bits) {
  return ila::abi::ila_locator_home(htobe64(locator), bits);
}

// `n` locators from `start` on whose home entry is `home`.
std::vector<uint64_t> SameHome(uint64_t start, uint32_t home, uint32_t bits, size_t n) {
  std::vector<uint64_t> out;
  for (uint64_t v = start; out.size() < n; ++v)
    if (HomeOf(v, bits) == home) out.push_back(v);
  return out;
}

ila::abi::ila_locator_value ValueTagged(uint8_t tag) {
  ila::abi::ila_locator_value v{};
  v.sir_prefix_be[7] = tag;
  v.csum_mode = 3;
  return v;
}

bool Holds(const LocatorSlots& t, uint64_t locator, uint8_t tag) {
  auto v = t.Find(KeyOf(locator));
  return v.has_value() && v->sir_prefix_be[7] == tag;
}

std::unique_ptr<LocatorSlots> MapOrFail(int fd, uint32_t bits) {
  auto t = LocatorSlots::Map(fd, bits);
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  return std::move(*t);
}

}  // namespace

TEST_CASE("locator table: a full probe run refuses one more locator, with nothing written") {
  ILA_SKIP_IF(HostTestSkipReason());
  Table table(6);
  REQUIRE(table.fd >= 0);
  auto t = MapOrFail(table.fd, table.bits);
  const auto run = SameHome(0x20010db8aaaa0000ull, 5, table.bits, ILA_LOCATOR_PROBES + 1);
  for (size_t i = 0; i < ILA_LOCATOR_PROBES; ++i) {
    REQUIRE(t->Put(KeyOf(run[i]), ValueTagged(static_cast<uint8_t>(i))).ok());
  }
  const auto before = table.Raw();
  absl::Status full = t->Put(KeyOf(run.back()), ValueTagged(99));
  CHECK(full.code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(full.message()).find("max_locators") != std::string::npos);
  CHECK(std::memcmp(before.data(), table.Raw().data(), before.size() * sizeof(before[0])) == 0);
  CHECK_FALSE(t->Find(KeyOf(run.back())).has_value());
  for (size_t i = 0; i < ILA_LOCATOR_PROBES; ++i) CHECK(Holds(*t, run[i], static_cast<uint8_t>(i)));

  // Replacing a locator of the full run still works (in place), and removing one makes room.
  REQUIRE(t->Put(KeyOf(run[2]), ValueTagged(42)).ok());
  CHECK(Holds(*t, run[2], 42));
  REQUIRE(t->Remove(KeyOf(run[3])).ok());
  CHECK_FALSE(t->Find(KeyOf(run[3])).has_value());
  REQUIRE(t->Put(KeyOf(run.back()), ValueTagged(99)).ok());
  CHECK(Holds(*t, run.back(), 99));
  for (size_t i : {0, 1, 4, 5, 6, 7}) CHECK(Holds(*t, run[i], static_cast<uint8_t>(i)));
}

TEST_CASE(
    "locator table: a replacement is written beside the old entry, which is removed only after") {
  ILA_SKIP_IF(HostTestSkipReason());
  Table table(6);
  REQUIRE(table.fd >= 0);
  auto t = MapOrFail(table.fd, table.bits);
  const auto run = SameHome(0x20010db8aaaa0000ull, 9, table.bits, 3);
  for (size_t i = 0; i < run.size(); ++i)
    REQUIRE(t->Put(KeyOf(run[i]), ValueTagged(static_cast<uint8_t>(i))).ok());
  auto raw = table.Raw();
  const uint32_t first = 9;
  REQUIRE(std::memcmp(raw[first].locator_be, KeyOf(run[0]).locator_be, 8) == 0);
  REQUIRE(t->Put(KeyOf(run[0]), ValueTagged(7)).ok());
  raw = table.Raw();
  // The new copy took the run's next usable entry (after the three), the old one is removed.
  CHECK(raw[first].state == ILA_LOCATOR_ENTRY_REMOVED);
  CHECK(raw[first + 3].state == ILA_LOCATOR_ENTRY_LIVE);
  CHECK(std::memcmp(raw[first + 3].locator_be, KeyOf(run[0]).locator_be, 8) == 0);
  CHECK(Holds(*t, run[0], 7));
  // The same value again writes nothing.
  REQUIRE(t->Put(KeyOf(run[0]), ValueTagged(7)).ok());
  CHECK(std::memcmp(raw.data(), table.Raw().data(), raw.size() * sizeof(raw[0])) == 0);

  // Removed entries at the end of a run become empty again; inside a run they stay removed (a
  // lookup must step over them). Sequence numbers only count up, also when an entry is emptied
  // and used again (a reader that read one entry's number twice cannot have read two entries).
  const uint32_t seq_before = raw[first + 3].seq;
  REQUIRE(t->Remove(KeyOf(run[0])).ok());
  raw = table.Raw();
  CHECK(raw[first + 3].state == ILA_LOCATOR_ENTRY_EMPTY);
  CHECK(raw[first + 3].seq > seq_before);
  CHECK(raw[first].state == ILA_LOCATOR_ENTRY_REMOVED);
  REQUIRE(t->Remove(KeyOf(run[2])).ok());
  REQUIRE(t->Remove(KeyOf(run[1])).ok());
  raw = table.Raw();
  for (uint32_t i = first; i < first + 4; ++i) CHECK(raw[i].state == ILA_LOCATOR_ENTRY_EMPTY);
  const uint32_t home_seq = raw[first].seq;
  REQUIRE(t->Put(KeyOf(run[1]), ValueTagged(5)).ok());
  CHECK(table.Raw()[first].seq > home_seq);
  CHECK(Holds(*t, run[1], 5));
}

TEST_CASE(
    "locator table: an entry a dead writer left odd is repaired, and Sync follows the record") {
  ILA_SKIP_IF(HostTestSkipReason());
  Table table(5);
  REQUIRE(table.fd >= 0);
  auto t = MapOrFail(table.fd, table.bits);
  const uint64_t a = 0x20010db8aaaa0001ull, b = 0x20010db8aaaa0002ull, c = 0x20010db8aaaa0003ull;
  REQUIRE(t->Put(KeyOf(a), ValueTagged(1)).ok());
  REQUIRE(t->Put(KeyOf(b), ValueTagged(2)).ok());
  // A writer died in the middle of writing a's entry: readers skip it.
  const size_t bytes = (size_t{1} << table.bits) * sizeof(ila::abi::ila_locator_entry);
  auto* mem = static_cast<ila::abi::ila_locator_entry*>(
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, table.fd, 0));
  REQUIRE(mem != MAP_FAILED);
  const uint32_t home_a = HomeOf(a, table.bits);
  REQUIRE(std::memcmp(mem[home_a].locator_be, KeyOf(a).locator_be, 8) == 0);
  mem[home_a].seq |= 1;
  CHECK_FALSE(t->Find(KeyOf(a)).has_value());
  // The next write repairs it (removed: the dead write's result is unknown), and Sync puts back
  // what the record says.
  REQUIRE(t->Put(KeyOf(c), ValueTagged(3)).ok());
  CHECK(mem[home_a].seq % 2 == 0);
  CHECK(mem[home_a].state != ILA_LOCATOR_ENTRY_LIVE);
  const std::pair<ila::abi::ila_locator_key, ila::abi::ila_locator_value> record[] = {
      {KeyOf(a), ValueTagged(11)}, {KeyOf(c), ValueTagged(3)}};
  REQUIRE(t->Sync([&] { return LocatorSlots::Record(std::begin(record), std::end(record)); }).ok());
  CHECK(Holds(*t, a, 11));
  CHECK(Holds(*t, c, 3));
  CHECK_FALSE(t->Find(KeyOf(b)).has_value());

  // A writer died after writing a replacement and before removing the old entry: two live
  // copies. Readers take the first; the next write of the locator leaves exactly one, and a
  // removal removes both.
  const uint32_t home_c = HomeOf(c, table.bits);
  uint32_t at_c = home_c;
  while (std::memcmp(mem[at_c].locator_be, KeyOf(c).locator_be, 8) != 0 ||
         mem[at_c].state != ILA_LOCATOR_ENTRY_LIVE)
    at_c = (at_c + 1) & ((1u << table.bits) - 1);
  uint32_t spare = (at_c + 1) & ((1u << table.bits) - 1);
  while (mem[spare].state == ILA_LOCATOR_ENTRY_LIVE) spare = (spare + 1) & ((1u << table.bits) - 1);
  REQUIRE((spare - home_c + (1u << table.bits)) % (1u << table.bits) < ILA_LOCATOR_PROBES);
  mem[spare] = mem[at_c];
  mem[spare].value.sir_prefix_be[7] = 33;
  CHECK(Holds(*t, c, 3));
  REQUIRE(t->Put(KeyOf(c), ValueTagged(4)).ok());
  int live_c = 0;
  for (uint32_t i = 0; i < (1u << table.bits); ++i)
    live_c += mem[i].state == ILA_LOCATOR_ENTRY_LIVE &&
              std::memcmp(mem[i].locator_be, KeyOf(c).locator_be, 8) == 0;
  CHECK(live_c == 1);
  CHECK(Holds(*t, c, 4));
  mem[spare] = mem[at_c];
  mem[spare].state = ILA_LOCATOR_ENTRY_LIVE;
  std::memcpy(mem[spare].locator_be, KeyOf(c).locator_be, 8);
  REQUIRE(t->Remove(KeyOf(c)).ok());
  CHECK_FALSE(t->Find(KeyOf(c)).has_value());
  munmap(mem, bytes);
}

TEST_CASE(
    "from_uplink finds every locator of a full probe run, and never misses one being replaced") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  const uint32_t bits = ila::internal::LocatorTableBits(host->dp().config());
  // L1 (the fixture's) and seven more sharing its home entry: a full probe run.
  const auto more =
      SameHome(H::L1().value() + 1, HomeOf(H::L1().value(), bits), bits, ILA_LOCATOR_PROBES);
  const ChecksumMode modes[] = {ChecksumMode::kNeutralMapAuto, ChecksumMode::kAdjustTransport,
                                ChecksumMode::kNoAction};
  for (size_t i = 0; i + 1 < more.size(); ++i) {
    REQUIRE(host->dp().locators().Upsert({Locator(more[i]), H::Sir(), modes[i % 3]}).ok());
  }
  const int prog = host->dp().program_fd(Role::kUplink);
  auto arriving = [&](Locator loc, ChecksumMode mode) {
    auto ila = SirToIla(H::C1(), loc, mode);
    REQUIRE(ila.ok());
    const Ipv6Address src = H::Remote().address();
    return host->FromFabric(src, ila->address(), kProtoUdp,
                            Segment(kProtoUdp, src, H::C1().address()));
  };
  for (size_t i = 0; i + 1 < more.size(); ++i) {
    CAPTURE(i);
    XdpRun r =
        host->Run(prog, arriving(Locator(more[i]), modes[i % 3]), host->uplink(), host->dp());
    CHECK(r.verdict == XDP_REDIRECT);
    CHECK(r.delta.Packets("rx_delivered") == 1);
  }
  // One more with the same home: refused, and neither the record nor the programs have it.
  auto listed = host->dp().locators().List();
  REQUIRE(listed.ok());
  absl::Status st = host->dp().locators().Upsert({Locator(more.back()), H::Sir(), modes[0]});
  CHECK(st.code() == absl::StatusCode::kResourceExhausted);
  auto listed_after = host->dp().locators().List();
  REQUIRE(listed_after.ok());
  CHECK(listed_after->size() == listed->size());
  XdpRun refused =
      host->Run(prog, arriving(Locator(more.back()), modes[0]), host->uplink(), host->dp());
  CHECK(refused.verdict == XDP_PASS);
  CHECK(refused.delta.Packets("pass_not_local_locator") == 1);
  // Removing one of the run makes room.
  REQUIRE(host->dp().locators().Remove(Locator(more[0])).ok());
  REQUIRE(host->dp().locators().Upsert({Locator(more.back()), H::Sir(), modes[0]}).ok());
  XdpRun taken =
      host->Run(prog, arriving(Locator(more.back()), modes[0]), host->uplink(), host->dp());
  CHECK(taken.delta.Packets("rx_delivered") == 1);
  REQUIRE(host->dp().locators().Remove(Locator(more.back())).ok());  // room for replacements

  // A locator switched between two checksum modes again and again while frames arrive for it:
  // every frame is delivered (the old entry or the new one is always there, whole).
  const Locator flipping(more[1]);
  const Bytes frame = arriving(flipping, ChecksumMode::kNoAction);
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    while (!stop) {
      const ChecksumMode m = writes % 2 ? ChecksumMode::kNoAction : ChecksumMode::kAdjustTransport;
      if (!host->dp().locators().Upsert({flipping, H::Sir(), m}).ok()) break;
      ++writes;
    }
  });
  int delivered = 0, other = 0;
  for (int i = 0; i < 20000; ++i) {
    XdpRun r = host->Run(Role::kUplink, frame, host->uplink());
    (r.verdict == XDP_REDIRECT ? delivered : other) += 1;
  }
  stop = true;
  writer.join();
  INFO("writes " << writes << ", delivered " << delivered << ", not delivered " << other);
  CHECK(writes > 100);
  CHECK(other == 0);
}

TEST_CASE(
    "two handles writing one locator at once leave the programs' table agreeing with the record") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o;
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  // A second handle on the same instance: what another process (ilactl beside a controller)
  // holds. Its writes take the map's lock, not this handle's mutex.
  auto other = Dataplane::Open(host->pin_location());
  INFO(other.status().ToString());
  REQUIRE(other.ok());
  const Locator contested(0x20010db8aaaa0077ull);
  auto writer = [&](Dataplane& dp, ChecksumMode mode, int ops) {
    for (int i = 0; i < ops; ++i) {
      if (i % 5 == 4) {
        absl::Status st = dp.locators().Remove(contested);
        if (!st.ok() && !absl::IsNotFound(st)) FAIL_CHECK(st.ToString());
      } else if (absl::Status st = dp.locators().Upsert({contested, H::Sir(), mode}); !st.ok()) {
        FAIL_CHECK(st.ToString());
      }
    }
  };
  const int fd = bpf_obj_get((host->bpffs_dir() + "/test/maps/ila_locator_table").c_str());
  REQUIRE(fd >= 0);
  auto table = MapOrFail(fd, ila::internal::LocatorTableBits(host->dp().config()));
  // Rounds of both handles writing at once; after each, what the record says is what the
  // programs' table holds (the recorded mode, or nothing).
  int disagreed = 0, recorded_rounds = 0;
  absl::StatusOr<LocatorEntry> recorded = absl::NotFoundError("");
  for (int round = 0; round < 300; ++round) {
    std::thread a(writer, std::ref(host->dp()), ChecksumMode::kNeutralMapAuto, 3 + round % 5);
    std::thread b(writer, std::ref(**other), ChecksumMode::kAdjustTransport, 3 + round % 7);
    a.join();
    b.join();
    recorded = host->dp().locators().Get(contested);
    auto held = table->Find(KeyOf(contested.value()));
    if (recorded.ok()) {
      ++recorded_rounds;
      disagreed +=
          !held.has_value() || held->csum_mode != static_cast<uint8_t>(recorded->csum_mode);
    } else {
      disagreed += held.has_value();
    }
  }
  INFO(recorded_rounds << " of 300 rounds ended with the locator recorded");
  CHECK(disagreed == 0);
  // And the packets follow: translated when recorded, passed when not. (The frame is made in the
  // recorded mode: a neutral-map-auto locator restores the identifier a neutral sender adjusted.)
  auto ila =
      SirToIla(H::C1(), contested, recorded.ok() ? recorded->csum_mode : ChecksumMode::kNoAction);
  REQUIRE(ila.ok());
  const Ipv6Address src = H::Remote().address();
  XdpRun r = host->Run(
      host->dp().program_fd(Role::kUplink),
      host->FromFabric(src, ila->address(), kProtoUdp, Segment(kProtoUdp, src, H::C1().address())),
      host->uplink(), host->dp());
  CHECK(r.verdict == (recorded.ok() ? XDP_REDIRECT : XDP_PASS));
  table.reset();
  close(fd);
}

// Open() makes the programs' table agree with the record (a writer that died between the two
// left them apart). A writer in another process that is alive, holding the table's lock between
// its table write and its record write, must not be undone: Sync reads the record under that
// lock. Read before it, as Open once did, the record lacks the locator being added, and Sync
// takes it out of the programs' table again, while the record keeps it.
TEST_CASE("Sync reads the record under the writers' lock: a live writer is never undone") {
  ILA_SKIP_IF(HostTestSkipReason());
  Table table(5);
  REQUIRE(table.fd >= 0);
  // The writer's handle, and a second open file description of the same map, as another process
  // has (an OFD lock excludes other descriptions only).
  auto writer = MapOrFail(table.fd, table.bits);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  REQUIRE(bpf_obj_get_info_by_fd(table.fd, &info, &len) == 0);
  const int fd2 = bpf_map_get_fd_by_id(info.id);
  REQUIRE(fd2 >= 0);
  auto opener = MapOrFail(fd2, table.bits);

  const uint64_t added = 0x20010db8aaaa0042ull;
  std::mutex mu;
  LocatorSlots::Record record;  // what the record map holds
  auto read_record = [&]() -> absl::StatusOr<LocatorSlots::Record> {
    std::lock_guard<std::mutex> l(mu);
    return record;
  };
  for (bool under_lock : {false, true}) {
    CAPTURE(under_lock);
    {
      std::lock_guard<std::mutex> l(mu);
      record.clear();
    }
    REQUIRE(writer->Sync(read_record).ok());  // both empty
    std::atomic<bool> inside{false}, go{false}, synced{false};
    std::thread add([&] {
      // Table first, then the record, under the lock (LocatorTable::Write's order).
      REQUIRE(writer
                  ->Put(KeyOf(added), ValueTagged(7),
                        [&]() -> absl::Status {
                          inside = true;
                          while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
                          std::lock_guard<std::mutex> l(mu);
                          record.push_back({KeyOf(added), ValueTagged(7)});
                          return absl::OkStatus();
                        })
                  .ok());
    });
    while (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::thread open([&] {
      if (under_lock) {
        CHECK(opener->Sync(read_record).ok());
      } else {
        auto early = read_record();  // the old order: read, then sync
        CHECK(opener->Sync([&] { return early; }).ok());
      }
      synced = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(synced == false);  // Sync waits for the writer's lock either way
    go = true;
    add.join();
    open.join();
    // The record has the locator; the programs' table has it only if Sync read under the lock.
    CHECK(opener->Find(KeyOf(added)).has_value() == under_lock);
  }
  opener.reset();
  close(fd2);
}
