#include "tables/mapping_slots.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernel/bpf_objects.h"
#include "kernel/shared_memory.h"
#include "kernel/map_writer_lock.h"

namespace ila::internal {

namespace {

constexpr const char* kName = "ila_slots";

bool IsZero(const abi::ila_mapping_key& k) {
  static const abi::ila_mapping_key zero{};
  return std::memcmp(&k, &zero, sizeof(k)) == 0;
}

bool Same(const abi::ila_mapping_key& a, const abi::ila_mapping_key& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

uint16_t LoadSeq(const abi::ila_mapping_slot& s) { return LoadAcquire(s.seq); }

// The next even seqcount after an odd one, skipping 0 (which means "never used").
uint16_t Settled(uint16_t odd) {
  uint16_t next = static_cast<uint16_t>(odd + 1);
  return next == 0 ? 2 : next;
}

uint32_t Home(const abi::ila_mapping_key& k, uint32_t bits) {
  uint64_t half[2];
  std::memcpy(half, k.sir.bytes, sizeof(half));
  return abi::ila_slot_home(half[0], half[1], bits);
}

}  // namespace

// Exclusive: see MapWriterLock. A write joins the instance's lock, which its table write holds (from
// whichever of its threads); a reader that repairs a dead writer's slot (Lookup, DumpBatch) joins
// only a write of its own thread (it is inside it), and otherwise waits for the writer.
class MappingSlots::WriterLock : public MapWriterLock {
 public:
  explicit WriterLock(const MappingSlots& table, bool wait = true, bool writer = true)
      : MapWriterLock(*table.writer_lock_, wait,
                      table.writer_lock_ == table.own_lock_.get() ? Join::kNo
                      : writer                                    ? Join::kAnyThread
                                                                  : Join::kHolderThread) {}
};

absl::StatusOr<std::unique_ptr<MappingSlots>> MappingSlots::Map(int slots_fd, int endpoints_fd,
                                                                int state_fd, uint32_t bits,
                                                                uint32_t capacity, MapLock* lock) {
  if (bits == 0 || bits > 31) {
    return absl::InvalidArgumentError(absl::StrCat(kName, ": ", bits, " is not a slot table size"));
  }
  auto info = MapInfo(slots_fd, absl::StrCat("bpf map ", kName));
  if (!info.ok()) return info.status();
  if (info->value_size != sizeof(abi::ila_mapping_slot) || info->max_entries != (1u << bits)) {
    return absl::FailedPreconditionError(
        absl::StrCat(kName, ": the map has ", info->max_entries, " entries of ", info->value_size,
                     " bytes, not 2^", bits, " slots of ", sizeof(abi::ila_mapping_slot)));
  }
  const size_t bytes = (size_t{1} << bits) * sizeof(abi::ila_mapping_slot);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0);
  if (mem == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("bpf map ", kName, ": mmap failed: ", std::strerror(errno)));
  }
  auto ep_info = MapInfo(endpoints_fd, "bpf map ila_slot_endpoints");
  if (!ep_info.ok() || ep_info->value_size != sizeof(abi::ila_slot_endpoint) ||
      ep_info->max_entries != (1u << bits)) {
    munmap(mem, bytes);
    if (!ep_info.ok()) return ep_info.status();
    return absl::FailedPreconditionError(absl::StrCat(
        "ila_slot_endpoints: not 2^", bits, " entries of ", sizeof(abi::ila_slot_endpoint),
        " bytes (", ep_info->max_entries, " of ", ep_info->value_size, ")"));
  }
  const size_t endpoints_bytes = (size_t{1} << bits) * sizeof(abi::ila_slot_endpoint);
  void* endpoints =
      mmap(nullptr, endpoints_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, endpoints_fd, 0);
  if (endpoints == MAP_FAILED) {
    int err = errno;
    munmap(mem, bytes);
    return absl::InternalError(
        absl::StrCat("bpf map ila_slot_endpoints: mmap failed: ", std::strerror(err)));
  }
  const size_t state_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* state = mmap(nullptr, state_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, state_fd, 0);
  if (state == MAP_FAILED) {
    int err = errno;
    munmap(mem, bytes);
    munmap(endpoints, endpoints_bytes);
    return absl::InternalError(
        absl::StrCat("bpf map ila_slot_state: mmap failed: ", std::strerror(err)));
  }
  std::unique_ptr<MappingSlots> table(new MappingSlots(slots_fd, bits, capacity, mem, bytes,
                                                       endpoints, endpoints_bytes, state,
                                                       state_bytes, info->id));
  if (lock) table->writer_lock_ = lock;
  // Finish what a writer that died left, unless another writer is at work (it will).
  if (WriterLock repair(*table, /*wait=*/false, /*writer=*/false); repair.status().ok()) {
    table->RepairLocked();
  }
  return table;
}

MappingSlots::~MappingSlots() {
  if (slots_) munmap(slots_, bytes_);
  if (endpoints_) munmap(endpoints_, endpoints_bytes_);
  if (state_) munmap(state_, state_bytes_);
}

uint64_t MappingSlots::Count() const { return LoadAcquire(state_->count); }

absl::StatusOr<abi::ila_mapping_slot> MappingSlots::Encode(const K& key, const V& value) {
  const uint8_t* sir = key.sir.bytes;
  const uint8_t* ila = value.ila.bytes;
  abi::ila_mapping_slot out{};
  if (ila[8] != sir[8]) {
    if ((ila[8] ^ sir[8]) != ILA_C_BIT || !(ila[8] & ILA_C_BIT)) {
      return absl::InvalidArgumentError(absl::StrCat(
          kName,
          ": the ILA address's identifier differs from the SIR address's in its first byte "
          "by more than the C-bit"));
    }
    out.flags = ILA_SLOT_F_C_BIT;
  }
  if (std::memcmp(ila + 9, sir + 9, 5) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName,
        ": the ILA address's identifier differs from the SIR address's outside its last "
        "16 bits and the C-bit"));
  }
  // pad[0]: the control plane's identifier type (tables.cc), 0-5 or 32 (use-format).
  const uint8_t type = value.pad[0];
  if ((type > 5 && type != 32) || value.pad[1] || value.pad[2] || value.pad[3] || value.pad[4]) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": identifier type ", type, " has no place in a slot"));
  }
  out.flags |= static_cast<uint8_t>((type == 32 ? 7 : type) << ILA_SLOT_F_IDENT_TYPE_SHIFT);
  out.key = key;
  std::memcpy(out.locator_be, ila, 8);
  std::memcpy(&out.identifier_low_be, ila + 14, 2);
  out.transport_delta_be = value.transport_delta_be;
  out.csum_mode = value.csum_mode;
  return out;
}

MappingSlots::V MappingSlots::Decode(const abi::ila_mapping_slot& slot) {
  V v{};
  std::memcpy(v.ila.bytes, slot.locator_be, 8);
  std::memcpy(v.ila.bytes + 8, slot.key.sir.bytes + 8, 8);
  if (slot.flags & ILA_SLOT_F_C_BIT) v.ila.bytes[8] |= ILA_C_BIT;
  std::memcpy(v.ila.bytes + 14, &slot.identifier_low_be, 2);
  v.transport_delta_be = slot.transport_delta_be;
  v.csum_mode = slot.csum_mode;
  const uint8_t type = (slot.flags & ILA_SLOT_F_IDENT_TYPE_MASK) >> ILA_SLOT_F_IDENT_TYPE_SHIFT;
  v.pad[0] = type == 7 ? 32 : type;
  return v;
}

namespace {

// The slot's contents without its seqcount.
bool SameSlot(const abi::ila_mapping_slot& a, const abi::ila_mapping_slot& b) {
  return std::memcmp(&a, &b, offsetof(abi::ila_mapping_slot, seq)) == 0;
}

}  // namespace

bool MappingSlots::HoldsJournal(uint32_t index) const {
  return SameSlot(slots_[index], state_->journal) &&
         std::memcmp(&endpoints_[index], &state_->journal_endpoint,
                     sizeof(abi::ila_slot_endpoint)) == 0;
}

void MappingSlots::RepairLocked() const {
  const uint32_t writing = LoadAcquire(state_->writing);
  if (writing == 0) return;
  const uint32_t index = writing - 1;
  if (index < slot_count()) {
    abi::ila_mapping_slot& s = slots_[index];
    const abi::ila_mapping_slot& j = state_->journal;
    const uint16_t seq = LoadSeq(s);
    if (seq & 1) {
      // Died inside the slot: finish the write it recorded.
      endpoints_[index] = state_->journal_endpoint;
      std::memcpy(&s, &j, offsetof(abi::ila_mapping_slot, seq));
      StoreRelease(s.seq, Settled(seq));
    }
    // The slot now holds the recorded write (finished here or by the writer), or the writer died
    // before touching it: only the first changed the count.
    if (HoldsJournal(index)) {
      StoreRelease(state_->count, state_->journal_count);
    }
  }
  StoreRelease(state_->writing, 0u);
}

std::optional<MappingSlots::Place> MappingSlots::Locate(const K& key) const {
  const uint32_t mask = static_cast<uint32_t>(slot_count() - 1);
  uint32_t index = Home(key, bits_);
  std::optional<uint32_t> reusable;
  for (int i = 0; i < ILA_SLOT_PROBES; ++i, index = (index + 1) & mask) {
    const abi::ila_mapping_slot& s = slots_[index];
    const uint16_t seq = LoadSeq(s);
    if (seq == 0 || (s.flags & ILA_SLOT_F_FREE)) return Place{reusable.value_or(index), false};
    if (s.flags == 0) {
      if (!reusable) reusable = index;
    } else if (Same(s.key, key)) {
      return Place{index, true};
    }
  }
  if (reusable) return Place{*reusable, false};
  return std::nullopt;
}

void MappingSlots::Write(uint32_t index, abi::ila_mapping_slot next,
                         const abi::ila_endpoint_value& endpoint, uint64_t count_after) const {
  abi::ila_mapping_slot& s = slots_[index];
  if (!(next.flags & ILA_SLOT_F_MAPPING)) {
    std::memset(next.locator_be, 0, sizeof(next.locator_be));
    next.identifier_low_be = 0;
    next.transport_delta_be = 0;
    next.csum_mode = 0;
    next.flags &= static_cast<uint8_t>(~(ILA_SLOT_F_C_BIT | ILA_SLOT_F_IDENT_TYPE_MASK));
  }
  if (!(next.flags & (ILA_SLOT_F_MAPPING | ILA_SLOT_F_ENDPOINT))) next.key = K{};
  next.seq = 0;
  // The journal first, so that a writer dying anywhere below leaves enough to finish its write,
  // and readers that find the slot odd have its result (xdp/mappings.h, read_journal).
  const uint32_t journal_odd = state_->journal_seq | 1;
  StoreRelaxed(state_->journal_seq, journal_odd);
  std::atomic_thread_fence(std::memory_order_release);
  state_->journal = next;
  state_->journal_endpoint = {};
  if (next.flags & ILA_SLOT_F_ENDPOINT) state_->journal_endpoint.endpoint = endpoint;
  state_->journal_count = count_after;
  StoreRelease(state_->journal_seq, journal_odd + 1);
  StoreRelease(state_->writing, index + 1);
  // The reader's side is in xdp/mappings.h: odd while the slot changes, even again after: the odd
  // store, a release fence, the slot, the even store with release (kernel/shared_memory.h). A
  // removed or free slot keeps no key.
  const uint16_t odd = static_cast<uint16_t>(s.seq | 1);
  StoreRelaxed(s.seq, odd);
  std::atomic_thread_fence(std::memory_order_release);
  endpoints_[index] = state_->journal_endpoint;
  std::memcpy(&s, &state_->journal, offsetof(abi::ila_mapping_slot, seq));
  StoreRelease(s.seq, Settled(odd));
  StoreRelease(state_->count, count_after);
  StoreRelease(state_->writing, 0u);
}

void MappingSlots::Reclaim(uint32_t index) const {
  const uint32_t mask = static_cast<uint32_t>(slot_count() - 1);
  const abi::ila_mapping_slot& next = slots_[(index + 1) & mask];
  if (LoadSeq(next) != 0 && !(next.flags & ILA_SLOT_F_FREE)) return;
  // Nothing probes past the next slot, so nothing needs this run of removed slots either. The
  // seqcount goes on counting up: a reader mid-copy of what the slot held must see it change.
  for (size_t n = 0; n < slot_count(); ++n, index = (index - 1) & mask) {
    const abi::ila_mapping_slot& s = slots_[index];
    if (LoadSeq(s) == 0 || s.flags != 0) return;
    abi::ila_mapping_slot free_slot{};
    free_slot.flags = ILA_SLOT_F_FREE;
    Write(index, free_slot, abi::ila_endpoint_value{}, Count());
  }
}

absl::Status MappingSlots::UpdateLocked(const K& key, const V& value) const {
  if (IsZero(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": the all-zero address is no SIR address"));
  }
  std::optional<Place> place = Locate(key);
  const abi::ila_mapping_slot* at = place && place->found ? &slots_[place->index] : nullptr;
  const bool had_mapping = at && (at->flags & ILA_SLOT_F_MAPPING);
  if (!had_mapping && Count() >= capacity_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "bpf map ", kName, ": update failed: ", capacity_, " mappings (the table is full)"));
  }
  if (!place) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "bpf map ", kName, ": update failed: no free slot within ", ILA_SLOT_PROBES,
        " of this address's home slot (the table is full around it; raise max_mappings)"));
  }
  auto next = Encode(key, value);
  if (!next.ok()) return next.status();
  const uint8_t kept = at ? static_cast<uint8_t>(at->flags & ILA_SLOT_F_ENDPOINT) : 0;
  next->flags |= static_cast<uint8_t>(kept | ILA_SLOT_F_MAPPING);
  Write(place->index, *next, kept ? endpoints_[place->index].endpoint : abi::ila_endpoint_value{},
        Count() + (had_mapping ? 0 : 1));
  return absl::OkStatus();
}

absl::Status MappingSlots::DeleteLocked(const K& key) const {
  std::optional<Place> place = Locate(key);
  if (!place || !place->found || !(slots_[place->index].flags & ILA_SLOT_F_MAPPING)) {
    return absl::NotFoundError(absl::StrCat(kName, ": no such entry"));
  }
  abi::ila_mapping_slot next = slots_[place->index];
  next.flags &= static_cast<uint8_t>(~ILA_SLOT_F_MAPPING);
  const uint8_t left = next.flags & (ILA_SLOT_F_MAPPING | ILA_SLOT_F_ENDPOINT);
  const uint64_t n = Count();
  Write(place->index, next, endpoints_[place->index].endpoint, n > 0 ? n - 1 : 0);
  if (left == 0) Reclaim(place->index);
  return absl::OkStatus();
}

absl::Status MappingSlots::SetEndpoint(const K& key,
                                       const abi::ila_endpoint_value& endpoint) const {
  if (IsZero(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": the all-zero address is no SIR address"));
  }
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  std::optional<Place> place = Locate(key);
  if (!place) {
    return absl::ResourceExhaustedError(
        absl::StrCat("bpf map ", kName, ": no free slot within ", ILA_SLOT_PROBES,
                     " of this endpoint's home slot (the table is full around it)"));
  }
  abi::ila_mapping_slot next{};
  if (place->found) next = slots_[place->index];
  next.key = key;
  next.flags = static_cast<uint8_t>(
      (next.flags & (ILA_SLOT_F_MAPPING | ILA_SLOT_F_C_BIT | ILA_SLOT_F_IDENT_TYPE_MASK)) |
      ILA_SLOT_F_ENDPOINT);
  Write(place->index, next, endpoint, Count());
  return absl::OkStatus();
}

absl::Status MappingSlots::ClearEndpoint(const K& key) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  std::optional<Place> place = Locate(key);
  if (!place || !place->found || !(slots_[place->index].flags & ILA_SLOT_F_ENDPOINT)) {
    return absl::OkStatus();
  }
  abi::ila_mapping_slot next = slots_[place->index];
  next.flags &= static_cast<uint8_t>(~ILA_SLOT_F_ENDPOINT);
  const uint8_t left = next.flags & (ILA_SLOT_F_MAPPING | ILA_SLOT_F_ENDPOINT);
  Write(place->index, next, abi::ila_endpoint_value{}, Count());
  if (left == 0) Reclaim(place->index);
  return absl::OkStatus();
}

absl::Status MappingSlots::Update(const K& key, const V& value) const {
  uint32_t applied = 0;
  return UpdateBatch(std::span<const K>(&key, 1), std::span<const V>(&value, 1), &applied);
}

absl::Status MappingSlots::Delete(const K& key) const {
  uint32_t applied = 0;
  return DeleteBatch(std::span<const K>(&key, 1), &applied);
}

absl::StatusOr<std::optional<MappingSlots::V>> MappingSlots::Lookup(const K& key) const {
  // The same reads as the data plane's, retried while a writer is in the slot; a slot odd for
  // long is a dead writer's, which the writer lock lets this reader repair.
  for (int tries = 0;; ++tries) {
    if (tries > 0 && tries % 4096 == 0) {
      WriterLock lock(*this, /*wait=*/true, /*writer=*/false);
      if (!lock.status().ok()) return lock.status();
      RepairLocked();
    }
    std::optional<Place> place = Locate(key);
    if (!place || !place->found) return std::optional<V>();
    const abi::ila_mapping_slot& s = slots_[place->index];
    const uint16_t seq = LoadSeq(s);
    if (seq & 1) continue;
    const abi::ila_mapping_slot copy = s;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (LoadSeq(s) != seq || !Same(copy.key, key)) continue;
    if (!(copy.flags & ILA_SLOT_F_MAPPING)) return std::optional<V>();
    return std::optional<V>(Decode(copy));
  }
}

absl::StatusOr<MappingSlots::Entries> MappingSlots::DumpBatch(size_t limit) const {
  Entries out;
  for (size_t i = 0; i < slot_count(); ++i) {
    const abi::ila_mapping_slot& s = slots_[i];
    uint16_t seq;
    abi::ila_mapping_slot copy;
    for (int tries = 1;; ++tries) {
      seq = LoadSeq(s);
      copy = s;
      std::atomic_thread_fence(std::memory_order_acquire);
      if (!(seq & 1) && LoadSeq(s) == seq) break;
      if (tries % 4096 == 0) {  // odd for long: a dead writer's slot (see Lookup)
        WriterLock lock(*this, /*wait=*/true, /*writer=*/false);
        if (!lock.status().ok()) return lock.status();
        RepairLocked();
      }
    }
    if (seq == 0 || !(copy.flags & ILA_SLOT_F_MAPPING)) continue;  // (a free slot: FREE only)
    if (out.keys.size() >= limit) {
      out.complete = false;
      break;
    }
    out.keys.push_back(copy.key);
    out.values.push_back(Decode(copy));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<MappingSlots::K, MappingSlots::V>>> MappingSlots::Dump()
    const {
  auto all = DumpBatch();
  if (!all.ok()) return all.status();
  std::vector<std::pair<K, V>> out;
  out.reserve(all->keys.size());
  for (size_t i = 0; i < all->keys.size(); ++i) out.emplace_back(all->keys[i], all->values[i]);
  return out;
}

absl::Status MappingSlots::UpdateBatch(std::span<const K> keys, std::span<const V> values,
                                       uint32_t* applied) const {
  *applied = 0;
  if (keys.size() != values.size()) {
    return absl::InternalError(absl::StrCat(kName, ": update batch of ", keys.size(), " keys and ",
                                            values.size(), " values"));
  }
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (absl::Status st = UpdateLocked(keys[i], values[i]); !st.ok()) return st;
    *applied = static_cast<uint32_t>(i + 1);
  }
  return absl::OkStatus();
}

absl::Status MappingSlots::DeleteBatch(std::span<const K> keys, uint32_t* applied) const {
  *applied = 0;
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (absl::Status st = DeleteLocked(keys[i]); !st.ok()) return st;
    *applied = static_cast<uint32_t>(i + 1);
  }
  return absl::OkStatus();
}

}  // namespace ila::internal
