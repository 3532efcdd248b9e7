// LocatorSlots: ila_locator_table (abi.h), this host's locators in the form the data plane looks
// them up, written through the map's memory mapping. ila_locators stays the record (Get, List,
// hot restart); LocatorTable writes both under this table's writer lock (Put and Remove run the
// record's write inside it), and Sync makes this table agree with the record when a data plane is
// created or adopted (a writer that died between the two leaves them apart).
//
// Writes change a live entry in place only when its run has no room: Put writes the locator whole
// into a usable entry of its probe run (empty, or removed) under that entry's seqcount, and only
// then marks the old entry removed. The data plane skips entries being written, so what it finds
// is whole (xdp/locators.h); every change moves the table's generation (abi.h), and a lookup that
// found nothing while it moved looks again, so a locator being replaced is not missed. A run of
// removed entries that ends just before an empty one becomes empty again, so lookups of other
// addresses stop early. An entry's seqcount only counts up.
//
// Thread safety: writes hold a MapWriterLock (a mutex and an OFD lock), so writers in different
// threads and processes take turns; Find needs no lock. Given the instance's lock, as MappingSlots.
#ifndef ILA_LIB_LOCATOR_SLOTS_H_
#define ILA_LIB_LOCATOR_SLOTS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "abi.h"
#include "kernel/map_writer_lock.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ila::internal {

class LocatorSlots {
 public:
  // Maps `fd`, an ila_locator_table of 2^bits entries and the generation's.
  // `lock`: the writers' lock to take (the instance's), or null for one of the table's own.
  static absl::StatusOr<std::unique_ptr<LocatorSlots>> Map(int fd, uint32_t bits,
                                                           MapLock* lock = nullptr);
  ~LocatorSlots();
  LocatorSlots(const LocatorSlots&) = delete;
  LocatorSlots& operator=(const LocatorSlots&) = delete;

  // Adds or replaces a locator, then runs `record` (the caller's write of the record, so that the
  // two happen under one writer lock); when `record` fails the table is put back as it was and its
  // error returned. ResourceExhausted, nothing written, when every entry of the locator's probe
  // run (ILA_LOCATOR_PROBES from its home) holds another locator.
  absl::Status Put(const abi::ila_locator_key& key, const abi::ila_locator_value& value,
                   const std::function<absl::Status()>& record = nullptr) const;
  // Removes a locator (nothing to do when absent), then runs `record` as Put does.
  absl::Status Remove(const abi::ila_locator_key& key,
                      const std::function<absl::Status()>& record = nullptr) const;
  using Record = std::vector<std::pair<abi::ila_locator_key, abi::ila_locator_value>>;
  // Makes the table hold exactly the locators of the record that `read_record` reads, which it
  // calls under the writer lock: a writer in another process writes the record under the same
  // lock, so the record read is never one that writer is about to change (read before, it could
  // drop a locator being added, or restore one being removed). ResourceExhausted naming those
  // that found no room (every other one is placed).
  absl::Status Sync(const std::function<absl::StatusOr<Record>()>& read_record) const;
  // What the data plane would find for `key` now.
  std::optional<abi::ila_locator_value> Find(const abi::ila_locator_key& key) const;

  size_t entry_count() const { return size_t{1} << bits_; }

 private:
  class WriterLock;
  LocatorSlots(int fd, uint32_t bits, uint32_t map_id, void* mem, size_t bytes)
      : fd_(fd),
        bits_(bits),
        entries_(static_cast<abi::ila_locator_entry*>(mem)),
        bytes_(bytes),
        own_lock_(std::make_unique<MapLock>(fd, map_id, "ila_locator_table")),
        writer_lock_(own_lock_.get()) {}

  // A locator's probe run: its live copies (more than one only after a writer died between a
  // replacement and the removal of the old entry) and the first entry a copy could go to.
  struct Run {
    std::vector<uint32_t> live;
    std::optional<uint32_t> usable;
  };
  Run RunOf(uint64_t word) const;
  absl::Status PutLocked(const abi::ila_locator_key& key,
                         const abi::ila_locator_value& value) const;
  void RemoveLocked(const abi::ila_locator_key& key) const;
  std::optional<abi::ila_locator_value> FindLocked(const abi::ila_locator_key& key) const;
  void MarkRemoved(uint32_t index) const;
  // Entries left odd by a writer that died in them: marked removed (their write never finished,
  // and a replacement's old entry is only removed after the new one is whole).
  void RepairLocked() const;
  void Write(uint32_t index, const abi::ila_locator_entry& next) const;
  void Reclaim(uint32_t index) const;

  int fd_;
  uint32_t bits_;
  abi::ila_locator_entry* entries_;
  size_t bytes_;
  std::unique_ptr<MapLock> own_lock_;
  MapLock* writer_lock_;  // own_lock_, or the instance's
};

}  // namespace ila::internal

#endif  // ILA_LIB_LOCATOR_SLOTS_H_
