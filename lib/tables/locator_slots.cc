#include "tables/locator_slots.h"

#include <sys/mman.h>

#include <bpf/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernel/bpf_objects.h"
#include "kernel/shared_memory.h"
#include "kernel/map_writer_lock.h"

namespace ila::internal {

namespace {

constexpr const char* kName = "ila_locator_table";

uint64_t Word(const abi::ila_locator_key& key) {
  uint64_t w;
  std::memcpy(&w, key.locator_be, sizeof(w));
  return w;
}

uint64_t Word(const abi::ila_locator_entry& e) {
  uint64_t w;
  std::memcpy(&w, e.locator_be, sizeof(w));
  return w;
}

uint32_t LoadSeq(const abi::ila_locator_entry& e) { return LoadAcquire(e.seq); }

bool SameValue(const abi::ila_locator_value& a, const abi::ila_locator_value& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

}  // namespace

// Exclusive (MapWriterLock), and a change of the table: its generation (abi.h) is odd from the
// start of the change to its end, and ends even and higher (a writer that died in a change left
// it odd: the next one carries on from there).
class LocatorSlots::WriterLock : public MapWriterLock {
 public:
  explicit WriterLock(const LocatorSlots& table)
      : MapWriterLock(*table.writer_lock_, true,
                      table.writer_lock_ == table.own_lock_.get() ? Join::kNo : Join::kAnyThread),
        generation_(table.entries_[table.entry_count()].seq) {
    if (!status().ok()) return;
    StoreRelaxed(generation_, LoadRelaxed(generation_) | 1);
    std::atomic_thread_fence(std::memory_order_release);
  }
  ~WriterLock() {
    if (!status().ok()) return;
    StoreRelease(generation_, LoadRelaxed(generation_) + 1);
  }

 private:
  uint32_t& generation_;
};

absl::StatusOr<std::unique_ptr<LocatorSlots>> LocatorSlots::Map(int fd, uint32_t bits,
                                                                MapLock* lock) {
  if (bits == 0 || bits > 31) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": ", bits, " is not a locator table size"));
  }
  auto info = MapInfo(fd, absl::StrCat("bpf map ", kName));
  if (!info.ok()) return info.status();
  if (info->value_size != sizeof(abi::ila_locator_entry) || info->max_entries != (1u << bits) + 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(kName, ": the map has ", info->max_entries, " entries of ", info->value_size,
                     " bytes, not 2^", bits, " + 1 entries of ", sizeof(abi::ila_locator_entry)));
  }
  const size_t bytes = ((size_t{1} << bits) + 1) * sizeof(abi::ila_locator_entry);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("bpf map ", kName, ": mmap failed: ", std::strerror(errno)));
  }
  std::unique_ptr<LocatorSlots> table(new LocatorSlots(fd, bits, info->id, mem, bytes));
  if (lock) table->writer_lock_ = lock;
  return table;
}

LocatorSlots::~LocatorSlots() {
  if (entries_) munmap(entries_, bytes_);
}

void LocatorSlots::Write(uint32_t index, const abi::ila_locator_entry& next) const {
  abi::ila_locator_entry& e = entries_[index];
  // Odd while the entry changes, even after, and never lower than before (abi.h): the odd store,
  // a release fence, the entry, the even store with release (kernel/shared_memory.h).
  const uint32_t odd = LoadSeq(e) | 1;
  StoreRelaxed(e.seq, odd);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(e.locator_be, next.locator_be, sizeof(e.locator_be));
  e.value = next.value;
  e.state = next.state;
  StoreRelease(e.seq, odd + 1);
}

void LocatorSlots::MarkRemoved(uint32_t index) const {
  abi::ila_locator_entry removed = entries_[index];
  removed.state = ILA_LOCATOR_ENTRY_REMOVED;
  Write(index, removed);
}

void LocatorSlots::Reclaim(uint32_t index) const {
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  if (entries_[(index + 1) & mask].state != ILA_LOCATOR_ENTRY_EMPTY) return;
  // Nothing probes past the next entry, so nothing needs this run of removed entries either.
  for (uint32_t i = index, n = 0; n < entry_count(); i = (i - 1) & mask, ++n) {
    if (entries_[i].state != ILA_LOCATOR_ENTRY_REMOVED) return;
    Write(i, abi::ila_locator_entry{});
  }
}

void LocatorSlots::RepairLocked() const {
  for (uint32_t i = 0; i < entry_count(); ++i) {
    if (!(LoadSeq(entries_[i]) & 1)) continue;
    MarkRemoved(i);
    Reclaim(i);
  }
}

LocatorSlots::Run LocatorSlots::RunOf(uint64_t word) const {
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  const uint32_t home = abi::ila_locator_home(word, bits_);
  Run run;
  for (uint32_t i = 0; i < ILA_LOCATOR_PROBES; ++i) {
    const uint32_t idx = (home + i) & mask;
    const abi::ila_locator_entry& e = entries_[idx];
    if (e.state == ILA_LOCATOR_ENTRY_LIVE && Word(e) == word) {
      run.live.push_back(idx);
      continue;
    }
    if (e.state != ILA_LOCATOR_ENTRY_LIVE && !run.usable) run.usable = idx;
    if (e.state == ILA_LOCATOR_ENTRY_EMPTY) break;  // the locator cannot be further on
  }
  return run;
}

absl::Status LocatorSlots::PutLocked(const abi::ila_locator_key& key,
                                     const abi::ila_locator_value& value) const {
  const uint64_t word = Word(key);
  // More than one live copy: a writer died between writing a replacement and removing the old
  // entry. Readers take the first; every write leaves one.
  const Run run = RunOf(word);
  if (run.live.size() == 1 && SameValue(entries_[run.live[0]].value, value)) {
    return absl::OkStatus();
  }
  abi::ila_locator_entry next{};
  std::memcpy(next.locator_be, key.locator_be, sizeof(next.locator_be));
  next.value = value;
  next.state = ILA_LOCATOR_ENTRY_LIVE;
  std::optional<uint32_t> target = run.usable;
  if (!target && !run.live.empty()) {
    // A run with no room for a second copy (practically never, at four entries per locator):
    // written in place. The programs skip the entry while it is odd, and a lookup that missed it
    // looks again because the generation moved (only a writer stopped inside this write makes
    // the locator's packets miss, and pass to the kernel as pass_not_local_locator).
    target = run.live.back();
  }
  if (!target) {
    return absl::ResourceExhaustedError(absl::StrCat(
        kName, ": the ", ILA_LOCATOR_PROBES, " entries from this locator's home entry all hold ",
        "other locators; nothing was written (the table has ", entry_count(),
        " entries: raise DataplaneConfig::max_locators)"));
  }
  Write(*target, next);
  for (uint32_t idx : run.live) {
    if (idx == *target) continue;
    MarkRemoved(idx);
    Reclaim(idx);
  }
  return absl::OkStatus();
}

void LocatorSlots::RemoveLocked(const abi::ila_locator_key& key) const {
  for (uint32_t idx : RunOf(Word(key)).live) {
    MarkRemoved(idx);
    Reclaim(idx);
  }
}

absl::Status LocatorSlots::Put(const abi::ila_locator_key& key, const abi::ila_locator_value& value,
                               const std::function<absl::Status()>& record) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  const std::optional<abi::ila_locator_value> before = FindLocked(key);
  if (absl::Status st = PutLocked(key, value); !st.ok()) return st;
  if (!record) return absl::OkStatus();
  absl::Status st = record();
  if (st.ok()) return st;
  absl::Status undo = absl::OkStatus();
  if (before) {
    undo = PutLocked(key, *before);
  } else {
    RemoveLocked(key);
  }
  if (!undo.ok()) {
    return absl::Status(st.code(), absl::StrCat(st.message(), "; and putting ", kName,
                                                " back failed: ", undo.message()));
  }
  return st;
}

absl::Status LocatorSlots::Remove(const abi::ila_locator_key& key,
                                  const std::function<absl::Status()>& record) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  const std::optional<abi::ila_locator_value> before = FindLocked(key);
  RemoveLocked(key);
  if (!record) return absl::OkStatus();
  absl::Status st = record();
  if (st.ok() || !before) return st;
  if (absl::Status undo = PutLocked(key, *before); !undo.ok()) {
    return absl::Status(st.code(), absl::StrCat(st.message(), "; and putting ", kName,
                                                " back failed: ", undo.message()));
  }
  return st;
}

absl::Status LocatorSlots::Sync(const std::function<absl::StatusOr<Record>()>& read_record) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  absl::StatusOr<Record> read = read_record();
  if (!read.ok()) return read.status();
  const Record& record = *read;
  RepairLocked();
  // Locators the record lacks go first, so that they take no room from those it has.
  std::set<uint64_t> wanted;
  for (const auto& entry : record) wanted.insert(Word(entry.first));
  for (uint32_t i = 0; i < entry_count(); ++i) {
    const abi::ila_locator_entry& e = entries_[i];
    if (e.state != ILA_LOCATOR_ENTRY_LIVE || wanted.contains(Word(e))) continue;
    abi::ila_locator_key key{};
    std::memcpy(key.locator_be, e.locator_be, sizeof(key.locator_be));
    RemoveLocked(key);
  }
  std::string unplaced;
  for (const auto& [key, value] : record) {
    if (PutLocked(key, value).ok()) continue;
    uint64_t be;
    std::memcpy(&be, key.locator_be, sizeof(be));
    absl::StrAppend(&unplaced, unplaced.empty() ? "" : ", ", absl::Hex(be));
  }
  if (!unplaced.empty()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        kName, ": no room within ", ILA_LOCATOR_PROBES, " entries of home for the locators (wire ",
        "order) ", unplaced, "; every other locator was placed"));
  }
  return absl::OkStatus();
}

std::optional<abi::ila_locator_value> LocatorSlots::FindLocked(
    const abi::ila_locator_key& key) const {
  const Run run = RunOf(Word(key));
  if (run.live.empty()) return std::nullopt;
  return entries_[run.live[0]].value;
}

std::optional<abi::ila_locator_value> LocatorSlots::Find(const abi::ila_locator_key& key) const {
  const uint64_t word = Word(key);
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  const uint32_t home = abi::ila_locator_home(word, bits_);
  for (uint32_t i = 0; i < ILA_LOCATOR_PROBES; ++i) {
    const abi::ila_locator_entry& e = entries_[(home + i) & mask];
    const uint32_t seq = LoadSeq(e);
    if (seq & 1) continue;
    if (e.state == ILA_LOCATOR_ENTRY_EMPTY) return std::nullopt;
    if (e.state != ILA_LOCATOR_ENTRY_LIVE || Word(e) != word) continue;
    abi::ila_locator_value v = e.value;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (LoadSeq(e) == seq) return v;
  }
  return std::nullopt;
}

}  // namespace ila::internal
