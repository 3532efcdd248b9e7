// MappingTable, LocatorTable, EndpointTable, SirPrefixTable: validation, then map writes.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <optional>
#include <system_error>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"
#include "ila/translation.h"
#include "kernel/netlink.h"
#include "core/string_util.h"

namespace ila {

using internal::Av;
using internal::DataplaneState;
using internal::FromAbi;
using internal::ToAbi;

namespace {

bool IsAdjustTransport(ChecksumMode m) {
  return m == ChecksumMode::kAdjustTransport || m == ChecksumMode::kAdjustTransportLinuxCompat;
}

// `what` names the caller's entry in the error; it is only called on failure.
absl::Status RequireSirPrefix(DataplaneState& s, SirPrefix prefix,
                              absl::FunctionRef<std::string()> what)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  auto found = s.sir_prefixes.Lookup(key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Av(what()), ": SIR prefix ", prefix.ToString(),
                     " is not registered; add it first (SirPrefixTable::Add)"));
  }
  return absl::OkStatus();
}

// Validates one mapping and writes its forward and reverse entries (every byte of each).
absl::Status Encode(const Mapping& m, abi::ila_mapping_key& key, abi::ila_mapping_value& value,
                    abi::ila_addr& ila_key, abi::ila_reverse_value& reverse) {
  auto ila = m.IlaDestination();
  if (!ila.ok()) return ila.status();
  Ipv6Address sir = m.sir.address();
  Ipv6Address dst = ila->address();
  uint16_t sir_sum = OnesComplementSum(sir);
  uint16_t dst_sum = OnesComplementSum(dst);
  // One's-complement sum(to) - sum(from).
  uint16_t forward = OnesComplementAdd(dst_sum, static_cast<uint16_t>(~sir_sum));
  uint16_t back = OnesComplementAdd(sir_sum, static_cast<uint16_t>(~dst_sum));
  key.sir = ToAbi(sir);
  value = {};
  value.ila = ToAbi(dst);
  value.csum_mode = static_cast<uint8_t>(m.csum_mode);
  value.pad[0] = static_cast<uint8_t>(m.ident_type);
  if (m.csum_mode == ChecksumMode::kAdjustTransport) {
    value.transport_delta_be = internal::ToWire16(forward);
  } else if (m.csum_mode == ChecksumMode::kAdjustTransportLinuxCompat) {
    value.transport_delta_be = internal::ToWire16(static_cast<uint16_t>(~forward));
  }
  ila_key = value.ila;
  reverse = {};
  reverse.sir = key.sir;
  reverse.address_delta_be = internal::ToWire16(back);
  reverse.csum_mode = static_cast<uint8_t>(m.csum_mode);
  return absl::OkStatus();
}

Mapping Decode(const abi::ila_mapping_key& k, const abi::ila_mapping_value& v) {
  Mapping m;
  m.sir = SirAddress::From(FromAbi(k.sir));
  m.locator = Locator(FromAbi(v.ila).high64());
  m.csum_mode = static_cast<ChecksumMode>(v.csum_mode);
  m.ident_type = static_cast<IdentifierType>(v.pad[0]);
  return m;
}

bool SameAddr(const abi::ila_addr& a, const abi::ila_addr& b) {
  return std::memcmp(a.bytes, b.bytes, sizeof(a.bytes)) == 0;
}

// Whether `sir` is still mapped to `ila`: a reverse entry can outlive its mapping when a forwarding
// cache evicts the mapping, and such a stale entry must not block anyone.
bool StillMapsTo(const DataplaneState& s, const abi::ila_addr& sir, const abi::ila_addr& ila) {
  auto m = s.mappings.Lookup(abi::ila_mapping_key{sir});
  return m.ok() && m->has_value() && SameAddr((*m)->ila, ila);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Mapping

absl::StatusOr<IlaAddress> Mapping::IlaDestination() const {
  if (absl::Status s = ValidateMapping(*this); !s.ok()) return s;
  return SirToIla(sir, locator, csum_mode);
}

absl::Status ValidateMapping(const Mapping& m) {
  auto where = [&] { return absl::StrCat("mapping ", m.sir.ToString(), " -> ", m.locator.ToString()); };
  if (m.locator.value() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": the locator is zero"));
  }
  switch (m.csum_mode) {
    case ChecksumMode::kAdjustTransport:
    case ChecksumMode::kNeutralMap:
    case ChecksumMode::kNeutralMapAuto:
    case ChecksumMode::kNoAction:
    case ChecksumMode::kAdjustTransportLinuxCompat:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": unknown checksum mode ", static_cast<int>(m.csum_mode)));
  }
  IdentifierType effective = m.ident_type;
  if (m.ident_type == IdentifierType::kUseFormat) effective = m.sir.identifier.format_type();
  if (effective != IdentifierType::kLuid) {
    std::string how = m.ident_type == IdentifierType::kUseFormat
                          ? absl::StrCat("use-format reads identifier type ",
                                         Av(ToString(effective)), " from the address")
                          : absl::StrCat("identifier type ", Av(ToString(effective)));
    return absl::InvalidArgumentError(absl::StrCat(
        where(), ": ", how,
        ", but only luid identifiers can be translated (as in Linux's ILA); use ident-type luid"));
  }
  if (absl::Status s = IsNeutralMappable(m.sir, m.csum_mode); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": ", s.message()));
  }
  return absl::OkStatus();
}

MappingTable::MappingTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status MappingTable::Upsert(const Mapping& m) { return Write(std::span(&m, 1), false); }
absl::Status MappingTable::Add(const Mapping& m) { return Write(std::span(&m, 1), true); }
absl::Status MappingTable::UpsertBatch(std::span<const Mapping> batch) { return Write(batch, false); }

namespace {

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
bool CanRunTwo() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return false;
  return CPU_COUNT(&set) >= 2;
}

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

using ReverseEntries = internal::TypedMap<abi::ila_addr, abi::ila_reverse_value>::Entries;
using ForwardEntries = internal::TypedMap<abi::ila_mapping_key, abi::ila_mapping_value>::Entries;

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

const abi::ila_addr& AddressOf(const abi::ila_addr& a) { return a; }
const abi::ila_addr& AddressOf(const abi::ila_mapping_key& k) { return k.sir; }

size_t HashAddress(const abi::ila_addr& a) {
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
absl::Status LookUpPrior(const DataplaneState& s, const EncodedBatch& b, bool parallel, Prior* p) {
  size_t n = b.keys.size();
  p->forward.assign(n, std::nullopt);
  p->reverse.assign(n, std::nullopt);
  absl::Status fst, rst;
  RunBoth(
      parallel,
      [&] {
        for (size_t i = 0; i < n; ++i) {
          auto v = s.mappings.Lookup(b.keys[i]);
          if (!v.ok()) {
            fst = v.status();
            return;
          }
          p->forward[i] = *v;
        }
      },
      [&] {
        for (size_t i = 0; i < n; ++i) {
          auto v = s.reverse.Lookup(b.rkeys[i]);
          if (!v.ok()) {
            rst = v.status();
            return;
          }
          p->reverse[i] = *v;
        }
      });
  if (!fst.ok()) return fst;
  return rst;
}

// Prior by dumping both maps. False, with nothing filled in, when a map holds too many entries for
// that to pay or has no batch lookup.
// `entries` becomes the bigger map's size when read whole, at least the limit otherwise.
absl::StatusOr<bool> DumpPrior(const DataplaneState& s, const EncodedBatch& b,
                               const SirIndex& by_sir, const IlaIndex& by_ila, bool parallel,
                               Prior* p, size_t* entries) {
  size_t n = b.keys.size();
  size_t limit = kDumpFactor * n;
  absl::StatusOr<ForwardEntries> fwd;
  absl::StatusOr<ReverseEntries> rev;
  auto read_forward = [&] { fwd = s.mappings.DumpBatch(limit); };
  auto read_reverse = [&] {
    // One thread: not when the forward map was too big already.
    if (parallel || (fwd.ok() && fwd->complete)) rev = s.reverse.DumpBatch(limit);
  };
  RunBoth(parallel, read_forward, read_reverse);
  if (absl::IsUnimplemented(fwd.status()) || absl::IsUnimplemented(rev.status())) return false;
  if (!fwd.ok()) return fwd.status();
  if (!fwd->complete) {
    *entries = std::max(*entries, fwd->keys.size());
    return false;
  }
  if (!rev.ok()) return rev.status();
  *entries = std::max(fwd->keys.size(), rev->keys.size());
  if (!rev->complete) return false;
  RunBoth(
      parallel,
      [&] {
        for (size_t k = 0; k < fwd->keys.size(); ++k) {
          if (k + kPrefetch < fwd->keys.size()) by_sir.Prefetch(fwd->keys[k + kPrefetch].sir);
          if (auto i = by_sir.Find(fwd->keys[k].sir)) {
            if (p->forward.empty()) p->forward.resize(n);
            p->forward[*i] = fwd->values[k];
          }
        }
      },
      [&] {
        for (size_t k = 0; k < rev->keys.size(); ++k) {
          if (k + kPrefetch < rev->keys.size()) by_ila.Prefetch(rev->keys[k + kPrefetch]);
          if (auto i = by_ila.Find(rev->keys[k])) {
            if (p->reverse.empty()) p->reverse.resize(n);
            p->reverse[*i] = rev->values[k];
          }
        }
      });
  p->reverse_dump = std::move(*rev);
  return true;
}

// Writes every key with its value, skipping keys the kernel refuses: undoing is best effort and
// does not stop at the first problem.
template <typename Map, typename K, typename V>
void UpdateAll(const Map& map, std::span<const K> keys,
               std::span<const V> values) {
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
void Restore(const Map& map, std::span<const K> keys,
             const std::vector<std::optional<V>>& before, size_t from, size_t to) {
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

}  // namespace

absl::Status MappingTable::Write(std::span<const Mapping> batch, bool only_new) {
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  const size_t n = batch.size();
  if (n == 0) return absl::OkStatus();
  if (n > UINT32_MAX) return absl::InvalidArgumentError("a batch holds at most 2^32-1 mappings");
  const bool parallel = n >= kParallelMinBatch && CanRunTwo();
  // Labels are only built for an error.
  auto label = [&](size_t i) { return n > 1 ? absl::StrCat("batch entry ", i, ": ") : std::string(); };

  // 1. Validate everything before writing anything. Checks, in this order for each entry: the
  // mapping on its own (0), its SIR prefix registered (1, looked up once per distinct prefix), its
  // SIR address (2) and ILA destination (3) not already in the batch. The error is the first
  // failing check of the lowest failing entry, however the work is split between threads.
  EncodedBatch b;
  b.keys.resize(n);
  b.values.resize(n);
  b.rkeys.resize(n);
  b.rvalues.resize(n);
  FirstError first;
  {
    auto encode = [&](size_t from, size_t to, FirstError* err) {
      for (size_t i = from; i < to; ++i) {
        absl::Status st = Encode(batch[i], b.keys[i], b.values[i], b.rkeys[i], b.rvalues[i]);
        if (!st.ok()) {
          err->Offer(i, 0, absl::Status(st.code(), absl::StrCat(label(i), st.message())));
          return;
        }
      }
    };
    FirstError second_half;
    RunBoth(
        parallel, [&] { encode(n / 2, n, &second_half); }, [&] { encode(0, n / 2, &first); });
    first.Offer(std::move(second_half));
  }
  {
    absl::flat_hash_set<uint64_t> registered;
    std::optional<uint64_t> last;
    // An entry that failed to encode has its error already: check the prefixes before it.
    for (size_t i = 0; i < std::min(n, first.index); ++i) {
      uint64_t prefix = batch[i].sir.prefix.value();
      if (prefix == last || registered.contains(prefix)) continue;
      absl::Status st = RequireSirPrefix(s, batch[i].sir.prefix, [&] {
        return absl::StrCat("mapping ", batch[i].sir.ToString());
      });
      if (!st.ok()) {
        first.Offer(i, 1, absl::Status(st.code(), absl::StrCat(label(i), st.message())));
        break;
      }
      registered.insert(prefix);
      last = prefix;
    }
  }
  // Entries from the first error on need no duplicate check; those before it are all encoded.
  const size_t checked = std::min(n, first.index);
  SirIndex by_sir{std::span<const abi::ila_mapping_key>(b.keys)};
  IlaIndex by_ila{std::span<const abi::ila_addr>(b.rkeys)};
  {
    FirstError sir_dup;
    FirstError ila_dup;
    RunBoth(
        parallel,
        [&] {
          by_ila.Reserve(checked);
          for (size_t i = 0; i < checked; ++i) {
            if (i + kPrefetch < checked) by_ila.Prefetch(b.rkeys[i + kPrefetch]);
            auto j = by_ila.Insert(static_cast<uint32_t>(i));
            if (!j) continue;
            ila_dup.Offer(i, 3, absl::InvalidArgumentError(absl::StrCat(
                                    label(i), "ILA address ", FromAbi(b.rkeys[i]).ToString(),
                                    " would be the destination of both ", batch[i].sir.ToString(),
                                    " and ", batch[*j].sir.ToString())));
            return;
          }
        },
        [&] {
          by_sir.Reserve(checked);
          for (size_t i = 0; i < checked; ++i) {
            if (i + kPrefetch < checked) by_sir.Prefetch(b.keys[i + kPrefetch].sir);
            auto j = by_sir.Insert(static_cast<uint32_t>(i));
            if (!j) continue;
            sir_dup.Offer(i, 2, absl::InvalidArgumentError(absl::StrCat(
                                    label(i), "SIR address ", batch[i].sir.ToString(),
                                    " appears twice in the batch (also entry ", *j, ")")));
            return;
          }
        });
    first.Offer(std::move(sir_dup));
    first.Offer(std::move(ila_dup));
  }
  if (!first.status.ok()) return first.status;

  // 2. What the maps hold now for these keys: for the checks against the tables, and so that a
  // kernel failure part-way can be undone exactly.
  Prior prior;
  bool dumped = false;
  if (n >= kDumpMinBatch && size_hint_ <= kDumpFactor * n) {
    auto d = DumpPrior(s, b, by_sir, by_ila, parallel, &prior, &size_hint_);
    if (!d.ok()) return d.status();
    dumped = *d;
  }
  if (!dumped) {
    if (absl::Status st = LookUpPrior(s, b, parallel, &prior); !st.ok()) return st;
  }

  // 3. An ILA destination may not be another SIR address's, unless this batch maps that address
  // elsewhere. A reverse entry whose SIR address no longer maps to it (a forwarding cache evicted
  // the mapping) blocks no one.
  for (size_t i = 0; i < n && !prior.reverse.empty(); ++i) {
    const auto& owner = prior.reverse[i];
    if (!owner || SameAddr(owner->sir, b.keys[i].sir)) continue;
    auto j = by_sir.Find(owner->sir);
    bool still_owner;
    if (j) {
      auto was = prior.Forward(*j);
      still_owner = was && SameAddr(was->ila, b.rkeys[i]);
    } else {
      still_owner = StillMapsTo(s, owner->sir, b.rkeys[i]);
    }
    if (!still_owner) continue;
    bool remapped = j && !SameAddr(b.rkeys[*j], b.rkeys[i]);
    if (!remapped) {
      return absl::AlreadyExistsError(absl::StrCat(
          label(i), "ILA address ", FromAbi(b.rkeys[i]).ToString(),
          " is already the destination of ", FromAbi(owner->sir).ToString(),
          "; two SIR addresses cannot share one ILA address"));
    }
  }
  if (only_new) {
    for (size_t i = 0; i < n && !prior.forward.empty(); ++i) {
      if (!prior.forward[i]) continue;
      return absl::AlreadyExistsError(absl::StrCat(
          "SIR address ", FromAbi(b.keys[i].sir).ToString(), " already has a mapping (to ",
          Locator(FromAbi(prior.forward[i]->ila).high64()).ToString(), "); replace it with Upsert"));
    }
  }

  // 4. Reverse entries first, then the mappings (a mapping is only ever written after its reverse
  // entry: an ICMP error can only quote a destination the mapping made); undo exactly on failure.
  std::span<const abi::ila_mapping_key> keys(b.keys);
  std::span<const abi::ila_mapping_value> values(b.values);
  std::span<const abi::ila_addr> rkeys(b.rkeys);
  std::span<const abi::ila_reverse_value> rvalues(b.rvalues);
  absl::Status rev_st;
  absl::Status fwd_st;
  // The reverse entries written (or claimed, which Restore treats alike): [0, front) and
  // [back, n).
  size_t rev_front = 0;
  size_t rev_back = n;
  size_t fwd_written = 0;
  if (!parallel) {
    uint32_t applied = 0;
    rev_st = s.reverse.UpdateBatch(rkeys, rvalues, &applied);
    rev_front = applied;
    if (rev_st.ok()) {
      fwd_st = s.mappings.UpdateBatch(keys, values, &applied);
      fwd_written = applied;
    }
  } else {
    // The kernel's hash insert is most of a large batch's time. One thread writes reverse entries
    // chunk by chunk from the front; the other writes the mappings in order, each chunk as soon
    // as its reverse entries are written, and while none is ready, reverse entries from the back.
    absl::Mutex mu;
    size_t lo = 0;           // guarded by mu: [lo, hi) is not claimed yet
    size_t hi = n;           // guarded by mu
    size_t front_done = 0;   // guarded by mu: [0, front_done) is written
    size_t back_done = n;    // guarded by mu: [back_done, n) is written
    bool failed = false;     // guarded by mu
    absl::Status front_st, back_st;
    auto front_writer = [&] {
      while (true) {
        size_t at, len;
        {
          absl::MutexLock l(&mu);
          if (failed || lo >= hi) return;
          at = lo;
          len = std::min(kWriteChunk, hi - lo);
          lo += len;
        }
        uint32_t applied = 0;
        absl::Status st =
            s.reverse.UpdateBatch(rkeys.subspan(at, len), rvalues.subspan(at, len), &applied);
        absl::MutexLock l(&mu);
        rev_front = at + applied;
        if (!st.ok()) {
          front_st = st;
          failed = true;
          return;
        }
        front_done = at + len;
      }
    };
    auto back_writer = [&] {
      size_t fwd_at = 0;
      while (fwd_at < n) {
        const size_t end = std::min(fwd_at + kWriteChunk, n);
        size_t rat = 0, rlen = 0;
        {
          absl::MutexLock l(&mu);
          auto ready = [&] {
            return failed || end <= front_done || fwd_at >= back_done || front_done >= back_done;
          };
          if (!ready() && lo < hi) {
            rlen = std::min(kWriteChunk, hi - lo);
            hi -= rlen;
            rat = hi;
            rev_back = hi;  // claimed: restored on failure whether written or not
          } else {
            mu.Await(absl::Condition(&ready));
            if (failed) return;
          }
        }
        if (rlen > 0) {
          uint32_t applied = 0;
          absl::Status st = s.reverse.UpdateBatch(rkeys.subspan(rat, rlen),
                                                  rvalues.subspan(rat, rlen), &applied);
          absl::MutexLock l(&mu);
          if (!st.ok()) {
            back_st = st;
            failed = true;
            return;
          }
          back_done = rat;
          continue;
        }
        uint32_t applied = 0;
        fwd_st = s.mappings.UpdateBatch(keys.subspan(fwd_at, end - fwd_at),
                                        values.subspan(fwd_at, end - fwd_at), &applied);
        fwd_written = fwd_at + applied;
        if (!fwd_st.ok()) {
          absl::MutexLock l(&mu);
          failed = true;
          return;
        }
        fwd_at = end;
      }
    };
    RunBoth(true, back_writer, front_writer);
    rev_st = !front_st.ok() ? front_st : back_st;
  }
  if (!rev_st.ok() || !fwd_st.ok()) {
    Restore(s.mappings, keys, prior.forward, 0, fwd_written);
    Restore(s.reverse, rkeys, prior.reverse, 0, rev_front);
    Restore(s.reverse, rkeys, prior.reverse, rev_back, n);
    return !rev_st.ok() ? rev_st : fwd_st;
  }

  // 5. Reverse entries of destinations no longer used: a mapping moved, and no entry of the batch
  // took its old destination.
  std::vector<abi::ila_addr> unused;
  if (!prior.reverse_dump) {
    for (size_t i = 0; i < n && !prior.forward.empty(); ++i) {
      const auto& was = prior.forward[i];
      if (!was || SameAddr(was->ila, rkeys[i])) continue;
      auto owner = s.reverse.Lookup(was->ila);
      if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, keys[i].sir)) {
        unused.push_back(was->ila);
      }
    }
  } else {
    std::vector<abi::ila_addr> old_ila;  // old destination of moved[k]
    std::vector<uint32_t> moved;
    for (size_t i = 0; i < n && !prior.forward.empty(); ++i) {
      const auto& was = prior.forward[i];
      if (!was || SameAddr(was->ila, rkeys[i]) || by_ila.Contains(was->ila)) continue;
      old_ila.push_back(was->ila);
      moved.push_back(static_cast<uint32_t>(i));
    }
    if (!moved.empty()) {
      IlaIndex by_old_ila{std::span<const abi::ila_addr>(old_ila)};
      by_old_ila.Reserve(old_ila.size());
      for (uint32_t k = 0; k < old_ila.size(); ++k) (void)by_old_ila.Insert(k);
      const ReverseEntries& rev = *prior.reverse_dump;
      for (size_t k = 0; k < rev.keys.size(); ++k) {
        auto at = by_old_ila.Find(rev.keys[k]);
        if (at && SameAddr(rev.values[k].sir, keys[moved[*at]].sir)) unused.push_back(rev.keys[k]);
      }
    }
  }
  DeleteAll(s.reverse, std::span<const abi::ila_addr>(unused));
  size_t added = n;
  if (!prior.forward.empty()) {
    added = static_cast<size_t>(std::count(prior.forward.begin(), prior.forward.end(), std::nullopt));
  }
  size_hint_ += added;
  return absl::OkStatus();
}

absl::Status MappingTable::Remove(const SirAddress& sir) { return RemoveBatch(std::span(&sir, 1)); }

absl::Status MappingTable::RemoveBatch(std::span<const SirAddress> batch) {
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  const size_t n = batch.size();
  if (n == 0) return absl::OkStatus();
  if (n > UINT32_MAX) return absl::InvalidArgumentError("a batch holds at most 2^32-1 addresses");
  std::vector<abi::ila_mapping_key> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i].sir = ToAbi(batch[i].address());
  // The first address that repeats an earlier one; the entries before it must all be mapped.
  SirIndex by_sir{std::span<const abi::ila_mapping_key>(keys)};
  by_sir.Reserve(n);
  size_t dup = n;
  for (size_t i = 0; i < n && dup == n; ++i) {
    if (i + kPrefetch < n) by_sir.Prefetch(keys[i + kPrefetch].sir);
    if (by_sir.Insert(static_cast<uint32_t>(i))) dup = i;
  }
  // What is removed: read with the whole table (as Write does), or looked up per entry.
  std::vector<std::optional<abi::ila_mapping_value>> olds(dup);
  bool dumped = false;
  if (dup >= kDumpMinBatch && size_hint_ <= kDumpFactor * dup) {
    auto fwd = s.mappings.DumpBatch(kDumpFactor * dup);
    if (!fwd.ok() && !absl::IsUnimplemented(fwd.status())) return fwd.status();
    if (fwd.ok()) {
      size_hint_ = std::max(size_hint_, fwd->keys.size());
      if (fwd->complete) {
        size_hint_ = fwd->keys.size();
        for (size_t k = 0; k < fwd->keys.size(); ++k) {
          if (k + kPrefetch < fwd->keys.size()) by_sir.Prefetch(fwd->keys[k + kPrefetch].sir);
          auto i = by_sir.Find(fwd->keys[k].sir);
          if (i && *i < dup) olds[*i] = fwd->values[k];
        }
        dumped = true;
      }
    }
  }
  for (size_t i = 0; i < dup; ++i) {
    if (!dumped) {
      auto old = s.mappings.Lookup(keys[i]);
      if (!old.ok()) return old.status();
      olds[i] = *old;
    }
    if (!olds[i]) return absl::NotFoundError(absl::StrCat("no mapping for ", batch[i].ToString()));
  }
  if (dup < n) {
    return absl::InvalidArgumentError(
        absl::StrCat("SIR address ", batch[dup].ToString(), " appears twice in the batch"));
  }

  uint32_t applied = 0;
  absl::Status st = s.mappings.DeleteBatch(keys, &applied);
  if (!st.ok()) {
    std::vector<abi::ila_mapping_value> back;
    for (uint32_t i = 0; i < applied; ++i) back.push_back(*olds[i]);
    UpdateAll(s.mappings, std::span<const abi::ila_mapping_key>(keys).first(applied),
              std::span<const abi::ila_mapping_value>(back));
    return st;
  }
  size_hint_ -= std::min(size_hint_, n);

  // The reverse entries that were these mappings' own.
  std::vector<abi::ila_addr> unused;
  std::optional<ReverseEntries> rev;
  if (dumped) {
    auto r = s.reverse.DumpBatch(kDumpFactor * n);
    if (r.ok() && r->complete) rev = std::move(*r);
  }
  if (rev) {
    std::vector<abi::ila_addr> old_ila(n);
    for (size_t i = 0; i < n; ++i) old_ila[i] = olds[i]->ila;
    IlaIndex by_old{std::span<const abi::ila_addr>(old_ila)};
    by_old.Reserve(n);
    for (size_t i = 0; i < n; ++i) (void)by_old.Insert(static_cast<uint32_t>(i));
    for (size_t k = 0; k < rev->keys.size(); ++k) {
      auto i = by_old.Find(rev->keys[k]);
      if (i && SameAddr(rev->values[k].sir, keys[*i].sir)) unused.push_back(rev->keys[k]);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      auto owner = s.reverse.Lookup(olds[i]->ila);
      if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, keys[i].sir)) {
        unused.push_back(olds[i]->ila);
      }
    }
  }
  DeleteAll(s.reverse, std::span<const abi::ila_addr>(unused));
  return absl::OkStatus();
}

absl::StatusOr<Mapping> MappingTable::Get(const SirAddress& sir) const {
  abi::ila_mapping_key key{ToAbi(sir.address())};
  auto v = state_->mappings.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no mapping for ", sir.ToString()));
  return Decode(key, **v);
}

absl::StatusOr<std::vector<Mapping>> MappingTable::List() const {
  // bpf_map_lookup_batch: thousands of entries per syscall.
  auto all = state_->mappings.DumpBatch();
  std::vector<Mapping> out;
  if (absl::IsUnimplemented(all.status())) {
    auto by_key = state_->mappings.DumpByKey();
    if (!by_key.ok()) return by_key.status();
    out.reserve(by_key->size());
    for (const auto& [k, v] : *by_key) out.push_back(Decode(k, v));
  } else if (!all.ok()) {
    return all.status();
  } else {
    out.reserve(all->keys.size());
    for (size_t i = 0; i < all->keys.size(); ++i) out.push_back(Decode(all->keys[i], all->values[i]));
  }
  auto by_sir = [](const Mapping& a, const Mapping& b) { return a.sir < b.sir; };
  // Large tables: each half sorted on its own thread, then merged.
  auto mid = out.begin() + static_cast<std::ptrdiff_t>(out.size() / 2);
  RunBoth(
      out.size() >= kParallelMinBatch && CanRunTwo(), [&] { std::sort(mid, out.end(), by_sir); },
      [&] { std::sort(out.begin(), mid, by_sir); });
  std::inplace_merge(out.begin(), mid, out.end(), by_sir);
  return out;
}

absl::Status MappingTable::Flush() {
  auto all = List();
  if (!all.ok()) return all.status();
  std::vector<SirAddress> sirs;
  for (const Mapping& m : *all) sirs.push_back(m.sir);
  return RemoveBatch(sirs);
}

// ---------------------------------------------------------------------------------------------
// Locators

LocatorTable::LocatorTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status LocatorTable::Upsert(const LocatorEntry& e) { return Write(e, false); }
absl::Status LocatorTable::Add(const LocatorEntry& e) { return Write(e, true); }

absl::Status LocatorTable::Write(const LocatorEntry& e, bool only_new) {
  if (e.locator.value() == 0) {
    return absl::InvalidArgumentError("locator 0:0:0:0 cannot be a host's locator");
  }
  if (e.csum_mode == ChecksumMode::kNeutralMap || e.csum_mode == ChecksumMode::kNeutralMapAuto ||
      e.csum_mode == ChecksumMode::kNoAction || IsAdjustTransport(e.csum_mode)) {
  } else {
    return absl::InvalidArgumentError(absl::StrCat("locator ", e.locator.ToString(),
                                                   ": unknown checksum mode ",
                                                   static_cast<int>(e.csum_mode)));
  }
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  if (absl::Status st = RequireSirPrefix(s, e.sir_prefix, [&] { return absl::StrCat("locator ", e.locator.ToString()); });
      !st.ok()) {
    return st;
  }
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, e.locator.value());
  abi::ila_locator_value v{};
  internal::Put64(v.sir_prefix_be, e.sir_prefix.value());
  // ILA->SIR changes the address sum by (prefix - locator): adj-transport adds that to the
  // transport checksum; the neutral modes make the identifier absorb its inverse (and, for
  // neutral-map, the 0x1000 that clearing the C-bit removes).
  uint16_t back = OnesComplementDelta64(e.locator.value(), e.sir_prefix.value());
  uint16_t absorb = static_cast<uint16_t>(~back);
  v.csum_mode = static_cast<uint8_t>(e.csum_mode);
  if (e.csum_mode == ChecksumMode::kNeutralMap) {
    v.identifier_delta_be = internal::ToWire16(OnesComplementAdd(absorb, 0x1000));
  } else if (e.csum_mode == ChecksumMode::kNeutralMapAuto) {
    v.identifier_delta_be = internal::ToWire16(absorb);
  } else if (e.csum_mode == ChecksumMode::kAdjustTransport) {
    v.transport_delta_be = internal::ToWire16(back);
  } else if (e.csum_mode == ChecksumMode::kAdjustTransportLinuxCompat) {
    v.transport_delta_be = internal::ToWire16(static_cast<uint16_t>(~back));
  }
  // The programs' table first (it may be full where the record is not), then the record, both
  // under the table's writer lock (other processes write too); a record that refuses puts the
  // table back.
  bool record_ran = false;
  absl::Status st = s.locator_slots->Put(key, v, [&]() -> absl::Status {
    record_ran = true;
    absl::Status recorded = s.locators.Update(key, v, only_new ? BPF_NOEXIST : BPF_ANY);
    if (only_new && !recorded.ok()) {
      auto existing = s.locators.Lookup(key);
      if (existing.ok() && existing->has_value()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "locator ", e.locator.ToString(), " is already registered; replace it with Upsert"));
      }
    }
    return recorded;
  });
  if (!st.ok() && !record_ran) {
    return absl::Status(st.code(), absl::StrCat("locator ", e.locator.ToString(), ": ", st.message()));
  }
  return st;
}

absl::Status LocatorTable::Remove(Locator locator) {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  absl::MutexLock lock(&state_->mu);
  // The programs' table first, then the record, under the table's writer lock; a record that
  // refuses (the locator is not registered) puts the table back.
  return state_->locator_slots->Remove(key, [&]() -> absl::Status {
    absl::Status st = state_->locators.Delete(key);
    if (absl::IsNotFound(st)) {
      return absl::NotFoundError(absl::StrCat("locator ", locator.ToString(), " is not registered"));
    }
    return st;
  });
}

namespace {
LocatorEntry DecodeLocator(const abi::ila_locator_key& k, const abi::ila_locator_value& v) {
  return {Locator(internal::Get64(k.locator_be)), SirPrefix(internal::Get64(v.sir_prefix_be)),
          static_cast<ChecksumMode>(v.csum_mode)};
}
}  // namespace

absl::StatusOr<LocatorEntry> LocatorTable::Get(Locator locator) const {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  auto v = state_->locators.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) {
    return absl::NotFoundError(absl::StrCat("locator ", locator.ToString(), " is not registered"));
  }
  return DecodeLocator(key, **v);
}

absl::StatusOr<std::vector<LocatorEntry>> LocatorTable::List() const {
  auto all = state_->locators.Dump();
  if (!all.ok()) return all.status();
  std::vector<LocatorEntry> out;
  for (const auto& [k, v] : *all) out.push_back(DecodeLocator(k, v));
  std::sort(out.begin(), out.end(),
            [](const LocatorEntry& a, const LocatorEntry& b) { return a.locator < b.locator; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Endpoints

EndpointTable::EndpointTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status EndpointTable::Upsert(const Endpoint& ep) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  if (ep.mac.IsZero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint ", ep.sir.ToString(), ": the container MAC is 00:00:00:00:00:00"));
  }
  auto name = internal::InterfaceName(ep.ifindex);
  if (!name.ok()) {
    return absl::NotFoundError(absl::StrCat("endpoint ", ep.sir.ToString(), ": ",
                                            name.status().message()));
  }
  auto host_mac = internal::InterfaceMac(ep.ifindex);
  if (!host_mac.ok()) return host_mac.status();

  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  if (absl::Status st = RequireSirPrefix(s, ep.sir.prefix, [&] { return absl::StrCat("endpoint ", ep.sir.ToString()); });
      !st.ok()) {
    return st;
  }
  abi::ila_endpoint_key key{ToAbi(ep.sir.address())};
  abi::ila_source_key skey{static_cast<uint32_t>(ep.ifindex)};
  // The interface may have served another SIR address before: that registration ends.
  auto old_source = s.sources.Lookup(skey);
  if (!old_source.ok()) return old_source.status();

  if (absl::Status st = s.AddRedirectTargetLocked(ep.ifindex); !st.ok()) return st;

  abi::ila_endpoint_value v{};
  v.ifindex = static_cast<uint32_t>(ep.ifindex);
  std::memcpy(v.mac, ep.mac.bytes().data(), 6);
  std::memcpy(v.host_mac, host_mac->data(), 6);
  // The tc programs can hand a packet straight to the container's side of a veth pair.
  // (bpf_redirect_peer only crosses into another namespace: a peer in this one is a plain
  // redirect.)
  if (auto link = internal::GetLink(ep.ifindex); link.ok() && link->kind == "veth" &&
                                                 link->peer_ifindex != 0 && link->peer_netnsid) {
    v.flags |= ILA_ENDPOINT_F_PEER;
  }
  if (absl::Status st = s.SetEndpointLocked(key, v); !st.ok()) return st;
  if (absl::Status st = s.sources.Update(skey, abi::ila_source_value{key.sir}); !st.ok()) {
    s.DropEndpointLocked(key);
    return st;
  }
  if (old_source->has_value() && !SameAddr((*old_source)->sir, key.sir)) {
    s.DropEndpointLocked(abi::ila_endpoint_key{(*old_source)->sir});
  }
  return absl::OkStatus();
}

absl::Status EndpointTable::Remove(const SirAddress& sir) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  abi::ila_endpoint_key key{ToAbi(sir.address())};
  auto v = s.endpoints.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no endpoint ", sir.ToString()));
  if (absl::Status st = s.slot_table->ClearEndpoint(abi::ila_mapping_key{key.sir}); !st.ok()) {
    return st;
  }
  if (absl::Status st = s.endpoints.Delete(key); !st.ok()) return st;
  abi::ila_source_key skey{(*v)->ifindex};
  auto src = s.sources.Lookup(skey);
  if (src.ok() && src->has_value() && SameAddr((*src)->sir, key.sir)) (void)s.sources.Delete(skey);
  return s.DropRedirectTargetLocked(static_cast<int>((*v)->ifindex));
}

namespace {
Endpoint DecodeEndpoint(const abi::ila_endpoint_key& k, const abi::ila_endpoint_value& v) {
  std::array<uint8_t, 6> mac;
  std::memcpy(mac.data(), v.mac, 6);
  return {static_cast<int>(v.ifindex), SirAddress::From(FromAbi(k.sir)), MacAddress(mac)};
}
}  // namespace

absl::StatusOr<Endpoint> EndpointTable::Get(const SirAddress& sir) const {
  abi::ila_endpoint_key key{ToAbi(sir.address())};
  auto v = state_->endpoints.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no endpoint ", sir.ToString()));
  return DecodeEndpoint(key, **v);
}

absl::StatusOr<std::vector<Endpoint>> EndpointTable::List() const {
  auto all = state_->endpoints.Dump();
  if (!all.ok()) return all.status();
  std::vector<Endpoint> out;
  for (const auto& [k, v] : *all) out.push_back(DecodeEndpoint(k, v));
  std::sort(out.begin(), out.end(), [](const Endpoint& a, const Endpoint& b) { return a.sir < b.sir; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// SIR prefixes

SirPrefixTable::SirPrefixTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status SirPrefixTable::Add(SirPrefix prefix) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  absl::MutexLock lock(&state_->mu);
  return state_->sir_prefixes.Update(key, abi::ila_sir_prefix_value{});
}

absl::Status SirPrefixTable::Remove(SirPrefix prefix) {
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  auto mappings = s.mappings.Dump();
  if (!mappings.ok()) return mappings.status();
  for (const auto& [k, v] : *mappings) {
    if (FromAbi(k.sir).high64() == prefix.value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SIR prefix ", prefix.ToString(), " is still used by the mapping for ",
                       FromAbi(k.sir).ToString(), "; remove its mappings first"));
    }
  }
  auto endpoints = s.endpoints.Dump();
  if (!endpoints.ok()) return endpoints.status();
  for (const auto& [k, v] : *endpoints) {
    if (FromAbi(k.sir).high64() == prefix.value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SIR prefix ", prefix.ToString(), " is still used by endpoint ",
                       FromAbi(k.sir).ToString(), "; remove it first"));
    }
  }
  absl::Status st = s.sir_prefixes.Delete(key);
  if (absl::IsNotFound(st)) {
    return absl::NotFoundError(absl::StrCat("SIR prefix ", prefix.ToString(), " is not registered"));
  }
  return st;
}

absl::StatusOr<std::vector<SirPrefix>> SirPrefixTable::List() const {
  auto all = state_->sir_prefixes.Dump();
  if (!all.ok()) return all.status();
  std::vector<SirPrefix> out;
  for (const auto& [k, v] : *all) out.push_back(SirPrefix(internal::Get64(k.prefix_be)));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ila
