// MappingSlots: the slot table (abi.h, ila_slots, with the endpoints in ila_slot_endpoints at the
// same index), written through the maps' memory mappings. A slot holds a SIR address's mapping
// (full tables, in the compact form of abi.h: Encode/Decode) and its local endpoint. The mapping operations
// have the interface of TypedMap<ila_mapping_key, ila_mapping_value>, so that the mapping table's
// batch logic serves both it and a forwarding cache's LRU hash; SetEndpoint and ClearEndpoint keep
// the endpoint half (the endpoint tables in ila_endpoints/ila_sources stay the record).
//
// Writes: one slot at a time under the seqcount of abi.h, so that the data plane reads every
// mapping whole. Keys are never moved: an insert takes the first free or removed slot of its probe
// sequence, a removal leaves a removed marker (turned back into a free slot when nothing probes
// past it). Capacity is the configured max_mappings (the table has at least twice as many slots),
// counted in ila_mapping_slot_count.
//
// Thread safety: every write holds a MapWriterLock (a mutex and an open-file-description lock),
// so writers in different threads and processes — a controller and ilactl on one pinned instance
// — take turns; reads need no lock. Given the instance's lock (Map's `lock`), a write made within
// a table write that holds it (from any of its threads) joins it: writes must then be made only
// within one (DataplaneState's writers are).
#ifndef ILA_LIB_MAPPING_SLOTS_H_
#define ILA_LIB_MAPPING_SLOTS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "abi.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernel/bpf_map.h"
#include "kernel/map_writer_lock.h"

namespace ila::internal {

class MappingSlots {
 public:
  using K = abi::ila_mapping_key;
  using V = abi::ila_mapping_value;

  // Maps the slot table `slots_fd` (2^bits slots), its endpoints `endpoints_fd` (as many) and its
  // bookkeeping `state_fd`; `capacity`: the most mappings it may hold.
  // `lock`: the writers' lock to take (the instance's, which its table writers hold already), or
  // null for one of the slot table's own.
  static absl::StatusOr<std::unique_ptr<MappingSlots>> Map(int slots_fd, int endpoints_fd,
                                                           int state_fd, uint32_t bits,
                                                           uint32_t capacity,
                                                           MapLock* lock = nullptr);

  // A mapping in the slot's form (key, mapping fields and ILA_SLOT_F_C_BIT; no other flag):
  // InvalidArgument when its ILA address is not the SIR address with another locator, the last 16
  // bits of the identifier replaced and maybe the C-bit set (abi.h), which every checksum mode's
  // translation is.
  static absl::StatusOr<abi::ila_mapping_slot> Encode(const K& key, const V& value);
  // The mapping a slot holds (when it has ILA_SLOT_F_MAPPING).
  static V Decode(const abi::ila_mapping_slot& slot);
  ~MappingSlots();
  MappingSlots(const MappingSlots&) = delete;
  MappingSlots& operator=(const MappingSlots&) = delete;

  absl::Status Update(const K& key, const V& value) const;
  absl::StatusOr<std::optional<V>> Lookup(const K& key) const;
  // NotFound when the key has no mapping.
  absl::Status Delete(const K& key) const;

  // The endpoint half of a SIR address's slot.
  absl::Status SetEndpoint(const K& key, const abi::ila_endpoint_value& endpoint) const;
  // Nothing to do when the address has no endpoint.
  absl::Status ClearEndpoint(const K& key) const;

  using Entries = TypedMap<K, V>::Entries;
  absl::StatusOr<Entries> DumpBatch(size_t limit = SIZE_MAX) const;
  absl::StatusOr<std::vector<std::pair<K, V>>> Dump() const;
  absl::StatusOr<std::vector<std::pair<K, V>>> DumpByKey() const { return Dump(); }
  // All in order, under one lock; on failure `applied` entries were written (callers roll back).
  absl::Status UpdateBatch(std::span<const K> keys, std::span<const V> values,
                           uint32_t* applied) const;
  // Stops at the first absent key (NotFound); `applied` were removed before it.
  absl::Status DeleteBatch(std::span<const K> keys, uint32_t* applied) const;

  size_t slot_count() const { return size_t{1} << bits_; }
  uint32_t capacity() const { return capacity_; }
  // Live mappings, as counted by the writers.
  uint64_t Count() const;

 private:
  MappingSlots(int slots_fd, uint32_t bits, uint32_t capacity, void* mem, size_t bytes,
               void* endpoints_mem, size_t endpoints_bytes, void* state_mem, size_t state_bytes,
               uint32_t map_id)
      : slots_fd_(slots_fd),
        bits_(bits),
        capacity_(capacity),
        slots_(static_cast<abi::ila_mapping_slot*>(mem)),
        bytes_(bytes),
        endpoints_(static_cast<abi::ila_slot_endpoint*>(endpoints_mem)),
        endpoints_bytes_(endpoints_bytes),
        state_(static_cast<abi::ila_mapping_slot_state*>(state_mem)),
        state_bytes_(state_bytes),
        own_lock_(std::make_unique<MapLock>(slots_fd, map_id, "ila_slots")),
        writer_lock_(own_lock_.get()) {}

  class WriterLock;
  // Where `key` is (found) or would go (the first removed or free slot of its probe sequence);
  // nullopt when neither lies within ILA_SLOT_PROBES slots.
  struct Place {
    uint32_t index;
    bool found;
  };
  std::optional<Place> Locate(const K& key) const;
  absl::Status UpdateLocked(const K& key, const V& value) const;
  absl::Status DeleteLocked(const K& key) const;
  // Writes a whole slot, `next` (its flags 0: removed; ILA_SLOT_F_FREE: free; parts without their
  // flag are written as zero) and `endpoint` at its index, and then the count, journaled in
  // ila_slot_state first.
  void Write(uint32_t index, abi::ila_mapping_slot next, const abi::ila_endpoint_value& endpoint,
             uint64_t count_after) const;
  // Under the writer lock: finishes the write a writer that died left half done, from the
  // journal, and the count with it.
  void RepairLocked() const;
  // Whether slot `index` holds what the journal recorded.
  bool HoldsJournal(uint32_t index) const;
  // Turns a run of removed slots ending just before a free one back into free slots.
  void Reclaim(uint32_t index) const;

  int slots_fd_;
  uint32_t bits_;
  uint32_t capacity_;
  abi::ila_mapping_slot* slots_;
  size_t bytes_;
  abi::ila_slot_endpoint* endpoints_;
  size_t endpoints_bytes_;
  abi::ila_mapping_slot_state* state_;
  size_t state_bytes_;
  std::unique_ptr<MapLock> own_lock_;
  MapLock* writer_lock_;  // own_lock_, or the instance's (see WriterLock)
};

// The mapping table's storage: the slot table of a full data plane, or the LRU hash of a
// forwarding cache, behind one interface (the operations of TypedMap the mapping table uses).
class MappingStore {
 public:
  using Key = abi::ila_mapping_key;
  using Value = abi::ila_mapping_value;
  using Entries = TypedMap<Key, Value>::Entries;

  MappingStore() = default;
  explicit MappingStore(TypedMap<Key, Value> hash) : hash_(std::move(hash)) {}
  explicit MappingStore(std::shared_ptr<const MappingSlots> slots) : slots_(std::move(slots)) {}

  // The slot table, or null for a forwarding cache.
  const MappingSlots* slots() const { return slots_.get(); }

  absl::Status Update(const Key& k, const Value& v) const {
    return slots_ ? slots_->Update(k, v) : hash_.Update(k, v);
  }
  absl::StatusOr<std::optional<Value>> Lookup(const Key& k) const {
    return slots_ ? slots_->Lookup(k) : hash_.Lookup(k);
  }
  absl::Status Delete(const Key& k) const { return slots_ ? slots_->Delete(k) : hash_.Delete(k); }
  absl::StatusOr<Entries> DumpBatch(size_t limit = SIZE_MAX) const {
    return slots_ ? slots_->DumpBatch(limit) : hash_.DumpBatch(limit);
  }
  absl::StatusOr<std::vector<std::pair<Key, Value>>> Dump() const {
    return slots_ ? slots_->Dump() : hash_.Dump();
  }
  absl::StatusOr<std::vector<std::pair<Key, Value>>> DumpByKey() const {
    return slots_ ? slots_->DumpByKey() : hash_.DumpByKey();
  }
  absl::Status UpdateBatch(std::span<const Key> keys, std::span<const Value> values,
                           uint32_t* applied) const {
    return slots_ ? slots_->UpdateBatch(keys, values, applied)
                  : hash_.UpdateBatch(keys, values, applied);
  }
  absl::Status DeleteBatch(std::span<const Key> keys, uint32_t* applied) const {
    return slots_ ? slots_->DeleteBatch(keys, applied) : hash_.DeleteBatch(keys, applied);
  }

 private:
  TypedMap<Key, Value> hash_;
  std::shared_ptr<const MappingSlots> slots_;
};

}  // namespace ila::internal

#endif  // ILA_LIB_MAPPING_SLOTS_H_
