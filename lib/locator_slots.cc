#include "locator_slots.h"

#include <sys/mman.h>

#include <bpf/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "map_writer_lock.h"

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

uint32_t LoadSeq(const abi::ila_locator_entry& e) {
  return __atomic_load_n(&e.seq, __ATOMIC_ACQUIRE);
}

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
      : MapWriterLock(table.writer_mu_, table.fd_, table.map_id_, kName),
        generation_(table.entries_[table.entry_count()].seq) {
    if (!status().ok()) return;
    __atomic_store_n(&generation_, __atomic_load_n(&generation_, __ATOMIC_RELAXED) | 1,
                     __ATOMIC_RELAXED);
    std::atomic_thread_fence(std::memory_order_release);
  }
  ~WriterLock() {
    if (!status().ok()) return;
    __atomic_store_n(&generation_, __atomic_load_n(&generation_, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELEASE);
  }

 private:
  uint32_t& generation_;
};

absl::StatusOr<std::unique_ptr<LocatorSlots>> LocatorSlots::Map(int fd, uint32_t bits) {
  if (bits == 0 || bits > 31) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": ", bits, " is not a locator table size"));
  }
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    return absl::InternalError(
        absl::StrCat("bpf map ", kName, ": get info failed: ", std::strerror(errno)));
  }
  if (info.value_size != sizeof(abi::ila_locator_entry) ||
      info.max_entries != (1u << bits) + 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(kName, ": the map has ", info.max_entries, " entries of ", info.value_size,
                     " bytes, not 2^", bits, " + 1 entries of ", sizeof(abi::ila_locator_entry)));
  }
  const size_t bytes = ((size_t{1} << bits) + 1) * sizeof(abi::ila_locator_entry);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("bpf map ", kName, ": mmap failed: ", std::strerror(errno)));
  }
  return std::unique_ptr<LocatorSlots>(new LocatorSlots(fd, bits, info.id, mem, bytes));
}

LocatorSlots::~LocatorSlots() {
  if (entries_) munmap(entries_, bytes_);
}

void LocatorSlots::Write(uint32_t index, const abi::ila_locator_entry& next) const {
  abi::ila_locator_entry& e = entries_[index];
  // Odd while the entry changes, even (never 0) after; each store ordered after the one before
  // (x86 keeps stores in order; the fences keep the compiler from reordering them).
  const uint32_t odd = LoadSeq(e) | 1;
  __atomic_store_n(&e.seq, odd, __ATOMIC_RELAXED);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(e.locator_be, next.locator_be, sizeof(e.locator_be));
  e.value = next.value;
  e.state = next.state;
  const uint32_t even = odd + 1;
  __atomic_store_n(&e.seq, even == 0 ? 2 : even, __ATOMIC_RELEASE);
}

void LocatorSlots::Reclaim(uint32_t index) const {
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  if (LoadSeq(entries_[(index + 1) & mask]) != 0) return;
  // Nothing probes past the next entry, so nothing needs this run of removed entries either. The
  // entry is emptied while its seqcount is unchanged (a reader then sees a removed entry or an
  // empty one, and skips it), and only then marked never used.
  for (uint32_t i = index, n = 0; n < entry_count(); i = (i - 1) & mask, ++n) {
    abi::ila_locator_entry& e = entries_[i];
    if (LoadSeq(e) == 0 || e.state != ILA_LOCATOR_ENTRY_REMOVED) return;
    abi::ila_locator_entry empty{};
    empty.state = 0;
    Write(i, empty);
    __atomic_store_n(&e.seq, 0u, __ATOMIC_RELEASE);
  }
}

void LocatorSlots::RepairLocked() const {
  for (uint32_t i = 0; i < entry_count(); ++i) {
    if (!(LoadSeq(entries_[i]) & 1)) continue;
    abi::ila_locator_entry removed = entries_[i];
    removed.state = ILA_LOCATOR_ENTRY_REMOVED;
    Write(i, removed);
  }
}

absl::Status LocatorSlots::PutLocked(const abi::ila_locator_key& key,
                                     const abi::ila_locator_value& value) const {
  const uint64_t word = Word(key);
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  const uint32_t home = abi::ila_locator_home(word, bits_);
  std::optional<uint32_t> current, target;
  for (uint32_t i = 0; i < ILA_LOCATOR_PROBES; ++i) {
    const uint32_t idx = (home + i) & mask;
    const abi::ila_locator_entry& e = entries_[idx];
    if (LoadSeq(e) == 0) {
      if (!target) target = idx;
      break;  // the end of the run: the locator cannot be further on
    }
    if (e.state == ILA_LOCATOR_ENTRY_LIVE && Word(e) == word) {
      current = idx;
    } else if (e.state != ILA_LOCATOR_ENTRY_LIVE && !target) {
      target = idx;
    }
  }
  if (current && SameValue(entries_[*current].value, value)) return absl::OkStatus();
  abi::ila_locator_entry next{};
  std::memcpy(next.locator_be, key.locator_be, sizeof(next.locator_be));
  next.value = value;
  next.state = ILA_LOCATOR_ENTRY_LIVE;
  if (current && !target) {
    // A run with no room for a second copy (practically never, at four entries per locator):
    // written in place, so for the few nanoseconds of the write the programs skip the entry and
    // pass the locator's packets to the kernel (pass_not_local_locator) instead of translating
    // them.
    Write(*current, next);
    return absl::OkStatus();
  }
  if (!target) {
    return absl::ResourceExhaustedError(absl::StrCat(
        kName, ": the ", ILA_LOCATOR_PROBES, " entries from this locator's home entry all hold ",
        "other locators; nothing was written (the table has ", entry_count(),
        " entries: raise DataplaneConfig::max_locators)"));
  }
  Write(*target, next);
  if (current) {
    abi::ila_locator_entry old = entries_[*current];
    old.state = ILA_LOCATOR_ENTRY_REMOVED;
    Write(*current, old);
    Reclaim(*current);
  }
  return absl::OkStatus();
}

void LocatorSlots::RemoveLocked(const abi::ila_locator_key& key) const {
  const uint64_t word = Word(key);
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  const uint32_t home = abi::ila_locator_home(word, bits_);
  for (uint32_t i = 0; i < ILA_LOCATOR_PROBES; ++i) {
    const uint32_t idx = (home + i) & mask;
    const abi::ila_locator_entry& e = entries_[idx];
    if (LoadSeq(e) == 0) return;
    if (e.state != ILA_LOCATOR_ENTRY_LIVE || Word(e) != word) continue;
    abi::ila_locator_entry removed = e;
    removed.state = ILA_LOCATOR_ENTRY_REMOVED;
    Write(idx, removed);
    Reclaim(idx);
    return;
  }
}

absl::Status LocatorSlots::Put(const abi::ila_locator_key& key,
                               const abi::ila_locator_value& value) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  return PutLocked(key, value);
}

absl::Status LocatorSlots::Remove(const abi::ila_locator_key& key) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  RemoveLocked(key);
  return absl::OkStatus();
}

absl::Status LocatorSlots::Sync(
    std::span<const std::pair<abi::ila_locator_key, abi::ila_locator_value>> record) const {
  WriterLock lock(*this);
  if (!lock.status().ok()) return lock.status();
  RepairLocked();
  // Locators the record lacks go first, so that they take no room from those it has.
  std::set<uint64_t> wanted;
  for (const auto& entry : record) wanted.insert(Word(entry.first));
  for (uint32_t i = 0; i < entry_count(); ++i) {
    const abi::ila_locator_entry& e = entries_[i];
    if (LoadSeq(e) == 0 || e.state != ILA_LOCATOR_ENTRY_LIVE || wanted.count(Word(e))) continue;
    abi::ila_locator_key key{};
    std::memcpy(key.locator_be, e.locator_be, sizeof(key.locator_be));
    RemoveLocked(key);
  }
  for (const auto& [key, value] : record) {
    if (absl::Status st = PutLocked(key, value); !st.ok()) return st;
  }
  return absl::OkStatus();
}

std::optional<abi::ila_locator_value> LocatorSlots::Find(const abi::ila_locator_key& key) const {
  const uint64_t word = Word(key);
  const uint32_t mask = static_cast<uint32_t>(entry_count() - 1);
  const uint32_t home = abi::ila_locator_home(word, bits_);
  for (uint32_t i = 0; i < ILA_LOCATOR_PROBES; ++i) {
    const abi::ila_locator_entry& e = entries_[(home + i) & mask];
    const uint32_t seq = LoadSeq(e);
    if (seq == 0) return std::nullopt;
    if ((seq & 1) || e.state != ILA_LOCATOR_ENTRY_LIVE || Word(e) != word) continue;
    abi::ila_locator_value v = e.value;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (LoadSeq(e) == seq) return v;
  }
  return std::nullopt;
}

}  // namespace ila::internal
