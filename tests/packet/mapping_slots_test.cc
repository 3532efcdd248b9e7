// The slot table of a full data plane (abi.h, ila_slots; lib/tables/mapping_slots.h): the writer
// side on maps of its own (probing, removal, reclaiming, the probe limit, writers in two threads,
// a writer that died mid-write), and the data plane reading mappings that change under it.
// (The mapping table's semantics over the slot table are tables_test's, which runs on it.)
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "ila/translation.h"
#include "tables/mapping_slots.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;
using internal::MappingSlots;

namespace {

using H = HostFixture;

// A slot table and its state map, made here (the data plane's are made by the loader).
struct Maps {
  int slots = -1;
  int endpoints = -1;
  int state = -1;
  uint32_t bits = 0;
  explicit Maps(uint32_t b) : bits(b) {
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
    slots = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_slots", 4, sizeof(ila::abi::ila_mapping_slot),
                           1u << bits, &opts);
    endpoints = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_slot_ep", 4,
                               sizeof(ila::abi::ila_slot_endpoint), 1u << bits, &opts);
    state = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_slot_st", 4,
                           sizeof(ila::abi::ila_mapping_slot_state), 1, &opts);
  }
  ~Maps() {
    if (slots >= 0) close(slots);
    if (endpoints >= 0) close(endpoints);
    if (state >= 0) close(state);
  }
  // Another open file description of the same maps: what a second process would hold.
  std::pair<int, int> Reopen() const {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(slots, &info, &len);
    int s = bpf_map_get_fd_by_id(info.id);
    bpf_map_info sinfo{};
    len = sizeof(sinfo);
    bpf_obj_get_info_by_fd(state, &sinfo, &len);
    return {s, bpf_map_get_fd_by_id(sinfo.id)};
  }
  // The raw slots, for checks the interface does not offer.
  std::vector<ila::abi::ila_mapping_slot> Raw() const {
    size_t n = size_t{1} << bits;
    void* mem =
        mmap(nullptr, n * sizeof(ila::abi::ila_mapping_slot), PROT_READ, MAP_SHARED, slots, 0);
    REQUIRE(mem != MAP_FAILED);
    auto* p = static_cast<ila::abi::ila_mapping_slot*>(mem);
    std::vector<ila::abi::ila_mapping_slot> out(p, p + n);
    munmap(mem, n * sizeof(ila::abi::ila_mapping_slot));
    return out;
  }
  ila::abi::ila_endpoint_value EndpointAt(uint32_t index) const {
    ila::abi::ila_slot_endpoint cell{};
    REQUIRE(bpf_map_lookup_elem(endpoints, &index, &cell) == 0);
    return cell.endpoint;
  }
};

ila::abi::ila_mapping_key Key(uint64_t id) {
  ila::abi::ila_mapping_key k{};
  std::memcpy(k.sir.bytes, SirAddress{H::Sir(), Identifier(id)}.address().bytes().data(), 16);
  return k;
}

// A mapping for Key(id) tagged `tag` (its locator), with the key's identifier as slots store
// mappings (abi.h); with no id, identifier zero, which is Key(id)'s for any id < 2^16 but the last
// 16 bits.
ila::abi::ila_mapping_value Value(uint64_t tag, uint64_t id = 0) {
  ila::abi::ila_mapping_value v{};
  std::memcpy(v.ila.bytes, &tag, sizeof(tag));
  if (id != 0) std::memcpy(v.ila.bytes + 8, Key(id).sir.bytes + 8, 8);
  v.csum_mode = 3;
  return v;
}

uint32_t HomeOf(const ila::abi::ila_mapping_key& k, uint32_t bits) {
  uint64_t half[2];
  std::memcpy(half, k.sir.bytes, 16);
  return ila::abi::ila_slot_home(half[0], half[1], bits);
}

std::unique_ptr<MappingSlots> MapOrFail(int slots, int endpoints, int state, uint32_t bits,
                                        uint32_t capacity) {
  auto m = MappingSlots::Map(slots, endpoints, state, bits, capacity);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  return std::move(*m);
}

}  // namespace

TEST_CASE(
    "slot table: inserts, replaces, removes and finds like a map, and gives back every slot") {
  ILA_SKIP_IF(BpfUnavailableReason());
  Maps maps(8);  // 256 slots
  REQUIRE(maps.slots >= 0);
  auto t = MapOrFail(maps.slots, maps.endpoints, maps.state, 8, 128);
  std::map<uint64_t, uint64_t> model;
  std::mt19937_64 rng(1);
  for (int step = 0; step < 5000; ++step) {
    uint64_t id = 1 + rng() % 200;
    if (rng() % 3 == 0) {
      absl::Status st = t->Delete(Key(id));
      CHECK(st.ok() == model.contains(id));
      if (!st.ok()) CHECK(absl::IsNotFound(st));
      model.erase(id);
    } else if (model.size() < 128 || model.contains(id)) {
      REQUIRE(t->Update(Key(id), Value(step)).ok());
      model[id] = static_cast<uint64_t>(step);
    } else {
      absl::Status st = t->Update(Key(id), Value(step));
      CHECK(absl::IsResourceExhausted(st));
      CHECK_THAT(std::string(st.message()), Catch::Contains("the table is full"));
    }
  }
  CHECK(t->Count() == model.size());
  for (uint64_t id = 1; id <= 200; ++id) {
    CAPTURE(id);
    auto v = t->Lookup(Key(id));
    REQUIRE(v.ok());
    REQUIRE(v->has_value() == model.contains(id));
    if (model.contains(id)) {
      const ila::abi::ila_mapping_value want = Value(model[id]);
      CHECK(std::memcmp(&**v, &want, sizeof(want)) == 0);
    }
  }
  auto all = t->DumpBatch();
  REQUIRE(all.ok());
  CHECK(all->keys.size() == model.size());
  // Removing everything leaves every slot unused again: no removed markers pile up.
  for (const auto& [id, tag] : model) REQUIRE(t->Delete(Key(id)).ok());
  CHECK(t->Count() == 0);
  for (const ila::abi::ila_mapping_slot& s : maps.Raw())
    CHECK((s.seq == 0 || s.flags == ILA_SLOT_F_FREE));
}

TEST_CASE(
    "slot table: an address's mapping and endpoint share its slot and leave it independently") {
  ILA_SKIP_IF(BpfUnavailableReason());
  Maps maps(6);
  REQUIRE(maps.slots >= 0);
  auto t = MapOrFail(maps.slots, maps.endpoints, maps.state, 6, 10);
  ila::abi::ila_endpoint_value ep{};
  ep.ifindex = 42;
  ep.mac[5] = 7;
  struct Found {
    ila::abi::ila_mapping_slot slot;
    ila::abi::ila_endpoint_value endpoint;
  };
  auto slot_of = [&](uint64_t id) -> std::optional<Found> {
    const ila::abi::ila_mapping_key k = Key(id);
    const auto raw = maps.Raw();
    for (uint32_t i = 0; i < raw.size(); ++i)
      if (raw[i].seq != 0 && std::memcmp(&raw[i].key, &k, sizeof(k)) == 0)
        return Found{raw[i], maps.EndpointAt(i)};
    return std::nullopt;
  };
  // An endpoint alone is no mapping.
  REQUIRE(t->SetEndpoint(Key(1), ep).ok());
  auto none = t->Lookup(Key(1));
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  CHECK(t->Count() == 0);
  CHECK(t->DumpBatch()->keys.empty());
  CHECK(absl::IsNotFound(t->Delete(Key(1))));
  // Then a mapping joins it in the same slot.
  REQUIRE(t->Update(Key(1), Value(9)).ok());
  auto both = slot_of(1);
  REQUIRE(both);
  CHECK(both->slot.flags == (ILA_SLOT_F_MAPPING | ILA_SLOT_F_ENDPOINT));
  CHECK(both->endpoint.ifindex == 42);
  CHECK(t->Count() == 1);
  // The mapping goes, the endpoint stays; then the endpoint goes and the slot is free again.
  REQUIRE(t->Delete(Key(1)).ok());
  auto left = slot_of(1);
  REQUIRE(left);
  CHECK(left->slot.flags == ILA_SLOT_F_ENDPOINT);
  CHECK(left->endpoint.mac[5] == 7);
  CHECK(t->Count() == 0);
  REQUIRE(t->ClearEndpoint(Key(1)).ok());
  CHECK_FALSE(slot_of(1));
  REQUIRE(t->ClearEndpoint(Key(1)).ok());  // nothing to do is no error
  for (const auto& s : maps.Raw()) CHECK((s.seq == 0 || s.flags == ILA_SLOT_F_FREE));
}

TEST_CASE("slot table: a key whose probe run is full is refused with the reason, nothing written") {
  ILA_SKIP_IF(BpfUnavailableReason());
  Maps maps(7);  // 128 slots
  REQUIRE(maps.slots >= 0);
  auto t = MapOrFail(maps.slots, maps.endpoints, maps.state, 7, 1000);
  // Keys that all want slot 0: the 65th has no free slot within ILA_SLOT_PROBES of its home.
  std::vector<uint64_t> same_home;
  for (uint64_t id = 1; same_home.size() < ILA_SLOT_PROBES + 1; ++id)
    if (HomeOf(Key(id), 7) == 0) same_home.push_back(id);
  for (int i = 0; i < ILA_SLOT_PROBES; ++i) REQUIRE(t->Update(Key(same_home[i]), Value(i)).ok());
  // A batch: one key far from that run goes in, then the 65th stops it.
  uint64_t elsewhere = 5000;
  while (HomeOf(Key(elsewhere), 7) < 80) ++elsewhere;
  std::vector<ila::abi::ila_mapping_key> batch = {Key(elsewhere), Key(same_home.back())};
  std::vector<ila::abi::ila_mapping_value> values = {Value(1), Value(2)};
  uint32_t applied = 0;
  absl::Status st = t->UpdateBatch(batch, values, &applied);
  CHECK(absl::IsResourceExhausted(st));
  CHECK_THAT(std::string(st.message()), Catch::Contains("no free slot within 64"));
  CHECK(applied == 1);
  CHECK(t->Count() == ILA_SLOT_PROBES + 1);
  auto refused = t->Lookup(Key(same_home.back()));
  REQUIRE(refused.ok());
  CHECK_FALSE(refused->has_value());
  // Every key that went in is found, however far from home.
  for (int i = 0; i < ILA_SLOT_PROBES; ++i) {
    auto v = t->Lookup(Key(same_home[i]));
    REQUIRE(v.ok());
    CHECK(v->has_value());
  }
}

TEST_CASE("slot table: writers in two threads on separate handles lose nothing") {
  ILA_SKIP_IF(BpfUnavailableReason());
  Maps maps(16);
  REQUIRE(maps.slots >= 0);
  auto [s2, st2] = maps.Reopen();
  REQUIRE(s2 >= 0);
  REQUIRE(st2 >= 0);
  auto a = MapOrFail(maps.slots, maps.endpoints, maps.state, 16, 1 << 15);
  auto b = MapOrFail(s2, maps.endpoints, st2, 16, 1 << 15);
  constexpr uint64_t kEach = 15000;
  std::atomic<bool> ok{true};
  std::thread other([&] {
    for (uint64_t i = 0; i < kEach; ++i)
      if (!b->Update(Key(1'000'000 + i), Value(i, 1'000'000 + i)).ok()) ok = false;
  });
  for (uint64_t i = 0; i < kEach; ++i) REQUIRE(a->Update(Key(i + 1), Value(i)).ok());
  other.join();
  CHECK(ok);
  CHECK(a->Count() == 2 * kEach);
  for (uint64_t i = 0; i < kEach; ++i) {
    auto x = b->Lookup(Key(i + 1));
    auto y = a->Lookup(Key(1'000'000 + i));
    REQUIRE(x.ok());
    REQUIRE(y.ok());
    CHECK(x->has_value());
    CHECK(y->has_value());
  }
  close(s2);
  close(st2);
}

TEST_CASE("slot table: a write a dead writer left half done is finished from its journal") {
  ILA_SKIP_IF(BpfUnavailableReason());
  Maps maps(8);
  REQUIRE(maps.slots >= 0);
  const size_t n = size_t{1} << 8;
  auto victim_of = [&](uint64_t id) {
    auto raw = maps.Raw();
    const ila::abi::ila_mapping_key k = Key(id);
    for (uint32_t i = 0; i < raw.size(); ++i)
      if (std::memcmp(&raw[i].key, &k, sizeof(k)) == 0) return i;
    return UINT32_MAX;
  };
  // What a writer killed part-way leaves: the journal and `writing` written, and the slot either
  // odd and half changed, or not yet touched.
  auto kill_writer = [&](uint32_t victim, const ila::abi::ila_mapping_slot& intended,
                         uint64_t count_after, bool touched) {
    auto* slots = static_cast<ila::abi::ila_mapping_slot*>(
        mmap(nullptr, n * sizeof(ila::abi::ila_mapping_slot), PROT_READ | PROT_WRITE, MAP_SHARED,
             maps.slots, 0));
    auto* state = static_cast<ila::abi::ila_mapping_slot_state*>(
        mmap(nullptr, static_cast<size_t>(getpagesize()), PROT_READ | PROT_WRITE, MAP_SHARED,
             maps.state, 0));
    REQUIRE(slots != MAP_FAILED);
    REQUIRE(state != MAP_FAILED);
    state->journal = intended;
    state->journal_endpoint = {};
    state->journal_count = count_after;
    state->writing = victim + 1;
    if (touched) {
      slots[victim].seq |= 1;
      slots[victim].locator_be[0] = intended.locator_be[0];  // a part of the new value
    }
    munmap(slots, n * sizeof(ila::abi::ila_mapping_slot));
    munmap(state, static_cast<size_t>(getpagesize()));
  };
  {
    auto t = MapOrFail(maps.slots, maps.endpoints, maps.state, 8, 100);
    for (uint64_t id = 1; id <= 20; ++id) REQUIRE(t->Update(Key(id), Value(id)).ok());
    // Died inside slot 7 while replacing its mapping: a reader does not hang on it; after
    // waiting it takes the writer lock and finishes the write.
    const uint32_t victim = victim_of(7);
    REQUIRE(victim != UINT32_MAX);
    auto intended = MappingSlots::Encode(Key(7), Value(777));
    REQUIRE(intended.ok());
    intended->flags |= ILA_SLOT_F_MAPPING;
    kill_writer(victim, *intended, 20, true);
    auto v = t->Lookup(Key(7));
    REQUIRE(v.ok());
    REQUIRE(v->has_value());
    const ila::abi::ila_mapping_value want = Value(777);
    CHECK(std::memcmp(&**v, &want, sizeof(want)) == 0);
    CHECK(t->Count() == 20);
    for (uint64_t id = 1; id <= 20; ++id) {
      auto w = t->Lookup(Key(id));
      REQUIRE(w.ok());
      CHECK(w->has_value());
    }
    // Died before touching the slot it meant to insert into: nothing to finish, and the count
    // it meant to write is not taken.
    auto fresh = MappingSlots::Encode(Key(21), Value(21));
    REQUIRE(fresh.ok());
    fresh->flags |= ILA_SLOT_F_MAPPING;
    kill_writer(HomeOf(Key(21), 8), *fresh, 21, false);
  }
  // The next handle (a restarted controller) repairs on Map.
  auto t = MapOrFail(maps.slots, maps.endpoints, maps.state, 8, 100);
  CHECK(t->Count() == 20);
  auto absent = t->Lookup(Key(21));
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
  REQUIRE(t->Update(Key(21), Value(21)).ok());
  CHECK(t->Count() == 21);
}

TEST_CASE(
    "the data plane never reads a mapping half-written: every frame is one mapping's or the "
    "other's") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  const Mapping a{H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid};
  const Mapping b{H::Remote(), H::L2(), ChecksumMode::kNeutralMapAuto, IdentifierType::kLuid};
  const int prog = host->dp().program_fd(Role::kContainer);
  Bytes in = host->FromC1(H::Remote().address(), kProtoUdp,
                          Segment(kProtoUdp, H::C1().address(), H::Remote().address()));
  auto output_with = [&](const Mapping& m) {
    REQUIRE(host->dp().mappings().Upsert(m).ok());
    XdpRun r = host->Run(prog, in, host->c1h(), host->dp());
    REQUIRE(r.verdict == XDP_REDIRECT);
    return r.frame;
  };
  const Bytes out_a = output_with(a);
  const Bytes out_b = output_with(b);
  REQUIRE(out_a != out_b);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> flips{0};
  std::thread writer([&] {
    while (!stop) {
      (void)host->dp().mappings().Upsert(flips % 2 ? a : b);
      ++flips;
    }
  });
  int seen_a = 0, seen_b = 0, other = 0;
  for (int i = 0; i < 20000; ++i) {
    XdpRun r = host->Run(prog, in, host->c1h(), host->dp());
    if (r.frame == out_a)
      ++seen_a;
    else if (r.frame == out_b)
      ++seen_b;
    else {
      ++other;
      UNSCOPED_INFO("neither: verdict " << r.verdict << " " << Hex(r.frame) << "\n a " << Hex(out_a)
                                        << "\n b " << Hex(out_b));
    }
  }
  stop = true;
  writer.join();
  INFO("a " << seen_a << ", b " << seen_b << ", neither " << other << ", flips " << flips);
  CHECK(other == 0);
  CHECK(flips > 1000);
}

// A slot keeps a mapping as its locator, the identifier's last 16 bits and the C-bit (abi.h);
// what every checksum mode's translation writes round-trips, anything else is refused by name.
TEST_CASE("slot table: mappings are stored in the slot's form and anything else is refused") {
  const SirAddress sir{H::Sir(), Identifier(0x123456789abcull)};
  ila::abi::ila_mapping_key key{};
  std::memcpy(key.sir.bytes, sir.address().bytes().data(), 16);
  for (ChecksumMode mode :
       {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap, ChecksumMode::kNeutralMapAuto,
        ChecksumMode::kNoAction, ChecksumMode::kAdjustTransportLinuxCompat}) {
    for (IdentifierType type :
         {IdentifierType::kLuid, IdentifierType::kUseFormat, IdentifierType::kNonlocalAddr}) {
      CAPTURE(static_cast<int>(mode), static_cast<int>(type));
      auto ila = SirToIla(sir, H::L2(), mode);
      REQUIRE(ila.ok());
      ila::abi::ila_mapping_value v{};
      std::memcpy(v.ila.bytes, ila->address().bytes().data(), 16);
      v.transport_delta_be = 0x1234;
      v.csum_mode = static_cast<uint8_t>(mode);
      v.pad[0] = static_cast<uint8_t>(type);  // the control plane's record (tables.cc)
      auto slot = MappingSlots::Encode(key, v);
      INFO(slot.status().ToString());
      REQUIRE(slot.ok());
      CHECK(((slot->flags & ILA_SLOT_F_C_BIT) != 0) == (mode == ChecksumMode::kNeutralMap));
      slot->flags |= ILA_SLOT_F_MAPPING;
      const ila::abi::ila_mapping_value back = MappingSlots::Decode(*slot);
      CHECK(std::memcmp(&back, &v, sizeof(v)) == 0);
    }
  }
  ila::abi::ila_mapping_value other{};
  std::memcpy(other.ila.bytes, key.sir.bytes, 16);
  other.ila.bytes[10] ^= 1;
  auto refused = MappingSlots::Encode(key, other);
  CHECK(absl::IsInvalidArgument(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("outside its last 16 bits"));
  other.ila.bytes[10] ^= 1;
  other.ila.bytes[8] ^= 0x20;
  refused = MappingSlots::Encode(key, other);
  CHECK(absl::IsInvalidArgument(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("by more than the C-bit"));
}

// A writer stopped in the middle of a slot (preempted, or killed) leaves it odd for as long as it
// is away. The data plane does not wait for it, nor take the address for unmapped: it translates
// with the write's result, from the journal the writer made before touching the slot.
TEST_CASE("the data plane translates with the journal while a writer is stopped inside a slot") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o;
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  const Mapping a{H::Remote(), H::L2(), ChecksumMode::kAdjustTransport, IdentifierType::kLuid};
  const Mapping b{H::Remote(), H::L2(), ChecksumMode::kNeutralMapAuto, IdentifierType::kLuid};
  const int prog = host->dp().program_fd(Role::kContainer);
  Bytes in = host->FromC1(H::Remote().address(), kProtoUdp,
                          Segment(kProtoUdp, H::C1().address(), H::Remote().address()));
  auto output = [&] {
    XdpRun r = host->Run(prog, in, host->c1h(), host->dp());
    REQUIRE(r.verdict == XDP_REDIRECT);
    return r.frame;
  };
  const std::string maps_dir = host->bpffs_dir() + "/test/maps/";
  const int slots_fd = bpf_obj_get((maps_dir + "ila_slots").c_str());
  const int state_fd = bpf_obj_get((maps_dir + "ila_slot_state").c_str());
  REQUIRE(slots_fd >= 0);
  REQUIRE(state_fd >= 0);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  REQUIRE(bpf_obj_get_info_by_fd(slots_fd, &info, &len) == 0);
  const size_t bytes = size_t{info.max_entries} * sizeof(ila::abi::ila_mapping_slot);
  auto* slots = static_cast<ila::abi::ila_mapping_slot*>(
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0));
  auto* state = static_cast<ila::abi::ila_mapping_slot_state*>(
      mmap(nullptr, static_cast<size_t>(getpagesize()), PROT_READ | PROT_WRITE, MAP_SHARED,
           state_fd, 0));
  REQUIRE(slots != MAP_FAILED);
  REQUIRE(state != MAP_FAILED);
  const ila::abi::ila_mapping_key key = [] {
    ila::abi::ila_mapping_key k{};
    std::memcpy(k.sir.bytes, H::Remote().address().bytes().data(), 16);
    return k;
  }();
  auto index_of_remote = [&] {
    for (uint32_t i = 0; i < info.max_entries; ++i)
      if (slots[i].seq != 0 && std::memcmp(&slots[i].key, &key, sizeof(key)) == 0) return i;
    return UINT32_MAX;
  };

  REQUIRE(host->dp().mappings().Upsert(b).ok());
  const Bytes out_b = output();
  const uint32_t index = index_of_remote();
  REQUIRE(index != UINT32_MAX);
  const ila::abi::ila_mapping_slot slot_b = slots[index];
  REQUIRE(host->dp().mappings().Upsert(a).ok());
  const Bytes out_a = output();
  REQUIRE(out_a != out_b);

  // A writer replacing a with b, stopped after its journal and half of the slot.
  state->journal_seq += 2;
  state->journal = slot_b;
  state->journal.seq = 0;
  state->journal_endpoint = {};
  state->writing = index + 1;
  slots[index].seq |= 1;
  slots[index].locator_be[0] ^= 0xff;
  CHECK(Hex(output()) == Hex(out_b));

  // A journal for another address (the slot's key read half-way through a write) is not used.
  state->journal.key.sir.bytes[15] ^= 1;
  XdpRun other = host->Run(prog, in, host->c1h(), host->dp());
  CHECK(other.verdict == XDP_PASS);
  CHECK(other.delta.Packets("pass_miss") == 1);
  state->journal.key.sir.bytes[15] ^= 1;
  CHECK(Hex(output()) == Hex(out_b));

  // While the journal itself is being written, the slot is read again until the bound, and the
  // address is then taken for unmapped (the kernel gets the packet untranslated, as a miss).
  state->journal_seq |= 1;
  XdpRun r = host->Run(prog, in, host->c1h(), host->dp());
  CHECK(r.verdict == XDP_PASS);
  CHECK(r.delta.Packets("pass_miss") == 1);

  // The next writer finishes the write from the journal.
  state->journal_seq += 1;
  munmap(slots, bytes);
  munmap(state, static_cast<size_t>(getpagesize()));
  close(slots_fd);
  close(state_fd);
  REQUIRE(host->dp().mappings().Upsert(a).ok());
  CHECK(Hex(output()) == Hex(out_a));
}

TEST_CASE("anti-spoofing holds whether or not the source's address is in its home slot") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options o;
  o.pinned = true;
  auto host = MakeHostOrFail(o);
  const int prog = host->dp().program_fd(Role::kContainer);
  const std::string maps_dir = host->bpffs_dir() + "/test/maps/";
  const int slots_fd = bpf_obj_get((maps_dir + "ila_slots").c_str());
  REQUIRE(slots_fd >= 0);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  REQUIRE(bpf_obj_get_info_by_fd(slots_fd, &info, &len) == 0);
  uint32_t bits = 0;
  while ((1u << bits) < info.max_entries) ++bits;
  REQUIRE((1u << bits) == info.max_entries);
  auto key_of = [](const SirAddress& a) {
    ila::abi::ila_mapping_key k{};
    std::memcpy(k.sir.bytes, a.address().bytes().data(), 16);
    return k;
  };
  auto slot_key_at = [&](uint32_t index) {
    ila::abi::ila_mapping_slot s{};
    REQUIRE(bpf_map_lookup_elem(slots_fd, &index, &s) == 0);
    return s.key;
  };
  auto same = [](const ila::abi::ila_mapping_key& a, const ila::abi::ila_mapping_key& b) {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
  };

  // Y shares C1's home slot. With C1's endpoint gone, Y's mapping takes that slot, and C1's
  // endpoint comes back one slot or more further on.
  const uint32_t home = HomeOf(key_of(H::C1()), bits);
  SirAddress y{H::Sir(), Identifier(0)};
  for (uint64_t id = 0x10000;; ++id) {
    y = SirAddress{H::Sir(), Identifier(id)};
    if (HomeOf(key_of(y), bits) == home && !(y == H::C1())) break;
  }
  REQUIRE(host->dp().endpoints().Remove(H::C1()).ok());
  REQUIRE(host->dp().mappings().Upsert({y, H::L2(), ChecksumMode::kNeutralMapAuto}).ok());
  REQUIRE(host->dp().endpoints().Upsert({host->c1h(), H::C1(), H::C1Mac()}).ok());
  REQUIRE(same(slot_key_at(home), key_of(y)));
  REQUIRE(!same(slot_key_at(home), key_of(H::C1())));

  // C1, away from its home slot, still sends.
  Bytes from_c1 = host->FromC1(H::C2().address(), kProtoUdp,
                               Segment(kProtoUdp, H::C1().address(), H::C2().address()));
  XdpRun ok = host->Run(prog, from_c1, host->c1h(), host->dp());
  CHECK(ok.verdict == XDP_REDIRECT);
  CHECK(ok.delta.Packets("tx_local") == 1);

  // Y at home: a mapping but no endpoint, then an endpoint on c2h. From c1h it is spoofed either
  // way; from c2h, once it is c2h's endpoint, it passes.
  auto from = [&](const SirAddress& src, InterfaceIndex ifindex) {
    Bytes in = EthernetIpv6(host->C1hMac(), H::C1Mac(),
                            Ipv6(src.address(), H::Remote().address(), kProtoUdp,
                                 Segment(kProtoUdp, src.address(), H::Remote().address())));
    return host->Run(prog, in, ifindex, host->dp());
  };
  REQUIRE(host->dp().mappings().Upsert({H::Remote(), H::L2(), ChecksumMode::kNeutralMapAuto}).ok());
  XdpRun mapped_only = from(y, host->c1h());
  CHECK(mapped_only.verdict == XDP_DROP);
  CHECK(mapped_only.delta.Packets("drop_spoofed_source") == 1);
  REQUIRE(host->dp().endpoints().Upsert({host->c2h(), y, H::C2Mac()}).ok());
  REQUIRE(same(slot_key_at(home), key_of(y)));
  XdpRun other_interface = from(y, host->c1h());
  CHECK(other_interface.verdict == XDP_DROP);
  CHECK(other_interface.delta.Packets("drop_spoofed_source") == 1);
  XdpRun own_interface = from(y, host->c2h());
  CHECK(own_interface.verdict == XDP_REDIRECT);
  CHECK(own_interface.delta.Packets("tx_remote") == 1);
  // And C1's address, sent from c2h where C1 is not, is spoofed though C1 lives further on.
  XdpRun c1_elsewhere = from(H::C1(), host->c2h());
  CHECK(c1_elsewhere.verdict == XDP_DROP);
  CHECK(c1_elsewhere.delta.Packets("drop_spoofed_source") == 1);
  close(slots_fd);
}
