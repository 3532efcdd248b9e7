// MappingTable's batch machinery (mapping_table.cc): a batch is validated, planned against what
// the maps hold, applied (reverse entries before the mappings they serve, on two threads for a
// large batch) and published (reverse entries it left unused removed), each step a function of
// its own here, so that MappingTable::Write reads as those steps.
#ifndef ILA_LIB_TABLES_MAPPING_BATCH_H_
#define ILA_LIB_TABLES_MAPPING_BATCH_H_

#include <sched.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "abi.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"

namespace ila::internal {

// Batches of at least kDumpMinBatch mappings read what the maps hold with one bpf_map_lookup_batch
// pass over each map (about 0.5 µs per entry read) instead of two lookups per mapping (about 2 µs
// each), unless a map turns out to hold more than kDumpFactor entries per mapping of the batch:
// reading it would then cost more than the lookups, which are done instead.
constexpr size_t kDumpMinBatch = 1024;
constexpr size_t kDumpFactor = 4;
// Batches of at least kParallelMinBatch mappings read and write the forward and the reverse map
// on two threads.
constexpr size_t kParallelMinBatch = 16384;
// Written on two threads, the reverse entries and the mappings go by chunks of this many entries.
constexpr size_t kWriteChunk = 16384;
// Hash set inserts of a large batch prefetch this many entries ahead (each insert is otherwise a
// cache miss or two).
constexpr size_t kPrefetch = 16;

// Whether a second thread can run beside this one: the caller's CPU affinity allows two CPUs or
// more (a process pinned to one CPU gains nothing from a second thread, and is not overridden).
bool CanRunTwo();

// Runs f on a second thread and g on this one; both here, f first, when !parallel or no thread
// can be started.
template <typename F, typename G>
void RunBoth(bool parallel, F&& f, G&& g) {
  if (parallel) {
    std::optional<std::thread> t;
    try {
      t.emplace(std::ref(f));
    } catch (const std::system_error&) {
      t.reset();
    }
    if (t) {
      g();
      t->join();
      return;
    }
  }
  f();
  g();
}

// A validated batch as the maps' keys and values: index i of all four is batch entry i.
struct EncodedBatch {
  std::vector<abi::ila_mapping_key> keys;
  std::vector<abi::ila_mapping_value> values;
  std::vector<abi::ila_addr> rkeys;  // the ILA destinations
  std::vector<abi::ila_reverse_value> rvalues;
};

using ReverseEntries = TypedMap<abi::ila_addr, abi::ila_reverse_value>::Entries;
using ForwardEntries = TypedMap<abi::ila_mapping_key, abi::ila_mapping_value>::Entries;

// What the maps held before the batch was written: the mapping of keys[i] and the reverse entry of
// rkeys[i]. An empty vector means nothing for any entry (a fresh table).
struct Prior {
  std::vector<std::optional<abi::ila_mapping_value>> forward;
  std::vector<std::optional<abi::ila_reverse_value>> reverse;
  // When read by dumping: the whole reverse map, to find the entries the batch leaves unused.
  std::optional<ReverseEntries> reverse_dump;

  std::optional<abi::ila_mapping_value> Forward(size_t i) const {
    return forward.empty() ? std::nullopt : forward[i];
  }
};

inline const abi::ila_addr& AddressOf(const abi::ila_addr& a) { return a; }
inline const abi::ila_addr& AddressOf(const abi::ila_mapping_key& k) { return k.sir; }

inline size_t HashAddress(const abi::ila_addr& a) {
  uint64_t half[2];
  std::memcpy(half, a.bytes, sizeof(half));
  return absl::Hash<std::pair<uint64_t, uint64_t>>()({half[0], half[1]});
}

// The entries of a batch by their address (the SIR address of a key or an ILA destination): a
// hash set of 4-byte indexes into the batch's own array, so that a million entries stay small.
template <typename T>
class IndexByAddress {
 public:
  explicit IndexByAddress(std::span<const T> items)
      : set_(0, Hash{items.data()}, Eq{items.data()}) {}
  void Reserve(size_t n) { set_.reserve(n); }
  // Adds entry i; returns the entry already at its address instead, if any.
  std::optional<uint32_t> Insert(uint32_t i) {
    auto [it, fresh] = set_.insert(i);
    if (fresh) return std::nullopt;
    return *it;
  }
  std::optional<uint32_t> Find(const abi::ila_addr& a) const {
    auto it = set_.find(a);
    if (it == set_.end()) return std::nullopt;
    return *it;
  }
  bool Contains(const abi::ila_addr& a) const { return set_.contains(a); }
  // Brings the memory an Insert or Find of `a` will touch into the cache ahead of time.
  void Prefetch(const abi::ila_addr& a) const { set_.prefetch(a); }

 private:
  struct Hash {
    using is_transparent = void;
    const T* items;
    size_t operator()(uint32_t i) const { return HashAddress(AddressOf(items[i])); }
    size_t operator()(const abi::ila_addr& a) const { return HashAddress(a); }
  };
  struct Eq {
    using is_transparent = void;
    const T* items;
    const abi::ila_addr& At(uint32_t i) const { return AddressOf(items[i]); }
    static const abi::ila_addr& At(const abi::ila_addr& a) { return a; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::memcmp(At(a).bytes, At(b).bytes, 16) == 0;
    }
  };
  absl::flat_hash_set<uint32_t, Hash, Eq> set_;
};
using SirIndex = IndexByAddress<abi::ila_mapping_key>;
using IlaIndex = IndexByAddress<abi::ila_addr>;

// The first error of a batch: the lowest entry, and for one entry the first check in the order
// they are listed in Write.
struct FirstError {
  size_t index = SIZE_MAX;
  int check = 0;
  absl::Status status;
  void Offer(size_t i, int c, absl::Status st) {
    if (i < index || (i == index && c < check)) {
      index = i;
      check = c;
      status = std::move(st);
    }
  }
  void Offer(FirstError&& other) {
    if (!other.status.ok()) Offer(other.index, other.check, std::move(other.status));
  }
};

// Prior by two lookups per mapping.
absl::Status LookUpPrior(const DataplaneState& s, const EncodedBatch& b, bool parallel, Prior* p);

// Prior by dumping both maps. False, with nothing filled in, when a map holds too many entries for
// that to pay or has no batch lookup.
// `entries` becomes the bigger map's size when read whole, at least the limit otherwise.
absl::StatusOr<bool> DumpPrior(const DataplaneState& s, const EncodedBatch& b,
                               const SirIndex& by_sir, const IlaIndex& by_ila, bool parallel,
                               Prior* p, size_t* entries);

// Writes every key with its value, skipping keys the kernel refuses: undoing is best effort and
// does not stop at the first problem.
template <typename Map, typename K, typename V>
void UpdateAll(const Map& map, std::span<const K> keys, std::span<const V> values) {
  size_t done = 0;
  while (done < keys.size()) {
    uint32_t applied = 0;
    absl::Status st = map.UpdateBatch(keys.subspan(done), values.subspan(done), &applied);
    done += applied;
    if (!st.ok()) ++done;
  }
}

// Deletes every key, skipping keys that are gone already.
template <typename Map, typename K>
void DeleteAll(const Map& map, std::span<const K> keys) {
  size_t done = 0;
  while (done < keys.size()) {
    uint32_t applied = 0;
    absl::Status st = map.DeleteBatch(keys.subspan(done), &applied);
    done += applied;
    if (!st.ok()) ++done;
  }
}

// Puts back what a map held for keys[from, to) before they were written (also for keys of that
// range that were not written: putting back what is there, or deleting what is not, is harmless).
template <typename Map, typename K, typename V>
void Restore(const Map& map, std::span<const K> keys, const std::vector<std::optional<V>>& before,
             size_t from, size_t to) {
  std::vector<K> put_keys;
  std::vector<V> put_values;
  std::vector<K> del_keys;
  for (size_t i = from; i < to; ++i) {
    if (!before.empty() && before[i]) {
      put_keys.push_back(keys[i]);
      put_values.push_back(*before[i]);
    } else {
      del_keys.push_back(keys[i]);
    }
  }
  UpdateAll(map, std::span<const K>(put_keys), std::span<const V>(put_values));
  DeleteAll(map, std::span<const K>(del_keys));
}

// ----- The steps of MappingTable::Write --------------------------------------------------------

// "batch entry I: " for a batch of more than one, else "" (error prefixes).
std::string EntryLabel(size_t n, size_t i);

// 1. Encodes every mapping of `batch` into `b` (sized to the batch) and indexes the entries by SIR
// address and ILA destination, checking, in this order for each entry: the mapping on its own,
// its SIR prefix registered, its SIR address and its ILA destination not already in the batch.
// The error is the first failing check of the lowest failing entry, however the work is split
// between threads.
absl::Status ValidateBatch(DataplaneState& s, std::span<const Mapping> batch, bool parallel,
                           EncodedBatch& b, SirIndex& by_sir, IlaIndex& by_ila)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);

// 2. What the maps hold now for the batch's keys (by dumping the maps when the batch is large and
// the maps not much larger, else by lookups; `size_hint` is the table's size as last seen), then
// the checks against the tables: an ILA destination may not be another SIR address's unless the
// batch maps that address elsewhere, and with `only_new` no SIR address may be mapped already.
absl::Status PlanBatch(const DataplaneState& s, const EncodedBatch& b, const SirIndex& by_sir,
                       const IlaIndex& by_ila, bool only_new, bool parallel, size_t* size_hint,
                       Prior* prior);

// 3. Writes the reverse entries, then the mappings (a mapping is only ever written after its
// reverse entry: an ICMP error can only quote a destination the mapping made); on a kernel
// failure part-way, puts back exactly what `prior` says the maps held. A full reverse map is
// cleared of entries no mapping owns and the write tried again; if it is still full (every
// mapping is live and some move), the batch is written one mapping at a time, each moved
// mapping's old entry removed first.
absl::Status ApplyBatch(const DataplaneState& s, const EncodedBatch& b, const IlaIndex& by_ila,
                        const Prior& prior, bool parallel);

// Removes the reverse entries whose SIR address no longer maps to them (ApplyBatch does when the
// reverse map is full); returns how many.
absl::StatusOr<size_t> RemoveOrphanReverseEntries(const DataplaneState& s);

// 4. Removes the reverse entries of destinations no longer used (a mapping moved, and no entry of
// the batch took its old destination). Returns how many of the batch's mappings are new.
size_t PublishBatch(const DataplaneState& s, const EncodedBatch& b, const IlaIndex& by_ila,
                    const Prior& prior);

}  // namespace ila::internal

#endif  // ILA_LIB_TABLES_MAPPING_BATCH_H_
