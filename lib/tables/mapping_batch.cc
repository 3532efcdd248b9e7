#include "tables/mapping_batch.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tables/table_util.h"

namespace ila::internal {

bool CanRunTwo() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return false;
  return CPU_COUNT(&set) >= 2;
}

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

std::string EntryLabel(size_t n, size_t i) {
  return n > 1 ? absl::StrCat("batch entry ", i, ": ") : std::string();
}

// A mapping to one of this host's own locators is only for an address with its endpoint here:
// otherwise its packets would come back to this host and be sent on again, to this host, until
// their hop limit ran out. (Checks the entries before `first`'s error, in the programs' locator
// table, read through its memory mapping: no system call for the common mapping, to another host.)
void RefuseOwnLocatorWithoutEndpoint(const DataplaneState& s, std::span<const Mapping> batch,
                                     FirstError& first) {
  const size_t n = batch.size();
  for (size_t i = 0; i < std::min(n, first.index); ++i) {
    abi::ila_locator_key key{};
    Put64(key.locator_be, batch[i].locator.value());
    if (!s.locator_slots->Find(key)) continue;
    auto ep = s.endpoints.Lookup(abi::ila_endpoint_key{ToAbi(batch[i].sir.address())});
    if (ep.ok() && ep->has_value()) continue;
    first.Offer(i, 1,
                ep.ok() ? absl::FailedPreconditionError(absl::StrCat(
                              EntryLabel(n, i), "mapping ", batch[i].sir.ToString(), " -> ",
                              batch[i].locator.ToString(),
                              ": that is this host's own locator, and the address has no endpoint "
                              "here; register its endpoint first, or map it to the host it is on"))
                        : ep.status());
    return;
  }
}

absl::Status ValidateBatch(DataplaneState& s, std::span<const Mapping> batch, bool parallel,
                           EncodedBatch& b, SirIndex& by_sir, IlaIndex& by_ila) {
  const size_t n = batch.size();
  FirstError first;
  {
    auto encode = [&](size_t from, size_t to, FirstError* err) {
      for (size_t i = from; i < to; ++i) {
        absl::Status st = Encode(batch[i], b.keys[i], b.values[i], b.rkeys[i], b.rvalues[i]);
        if (!st.ok()) {
          err->Offer(i, 0, absl::Status(st.code(), absl::StrCat(EntryLabel(n, i), st.message())));
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
        first.Offer(i, 1, absl::Status(st.code(), absl::StrCat(EntryLabel(n, i), st.message())));
        break;
      }
      registered.insert(prefix);
      last = prefix;
    }
  }
  RefuseOwnLocatorWithoutEndpoint(s, batch, first);
  // Entries from the first error on need no duplicate check; those before it are all encoded.
  const size_t checked = std::min(n, first.index);
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
            ila_dup.Offer(i, 3,
                          absl::InvalidArgumentError(absl::StrCat(
                              EntryLabel(n, i), "ILA address ", FromAbi(b.rkeys[i]).ToString(),
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
            sir_dup.Offer(i, 2,
                          absl::InvalidArgumentError(absl::StrCat(
                              EntryLabel(n, i), "SIR address ", batch[i].sir.ToString(),
                              " appears twice in the batch (also entry ", *j, ")")));
            return;
          }
        });
    first.Offer(std::move(sir_dup));
    first.Offer(std::move(ila_dup));
  }
  return first.status;
}

absl::Status PlanBatch(const DataplaneState& s, const EncodedBatch& b, const SirIndex& by_sir,
                       const IlaIndex& by_ila, bool only_new, bool parallel, size_t* size_hint,
                       Prior* prior) {
  const size_t n = b.keys.size();
  bool dumped = false;
  if (n >= kDumpMinBatch && *size_hint <= kDumpFactor * n) {
    auto d = DumpPrior(s, b, by_sir, by_ila, parallel, prior, size_hint);
    if (!d.ok()) return d.status();
    dumped = *d;
  }
  if (!dumped) {
    if (absl::Status st = LookUpPrior(s, b, parallel, prior); !st.ok()) return st;
  }

  // 3. An ILA destination may not be another SIR address's, unless this batch maps that address
  // elsewhere. A reverse entry whose SIR address no longer maps to it (a forwarding cache evicted
  // the mapping) blocks no one.
  for (size_t i = 0; i < n && !prior->reverse.empty(); ++i) {
    const auto& owner = prior->reverse[i];
    if (!owner || SameAddr(owner->sir, b.keys[i].sir)) continue;
    auto j = by_sir.Find(owner->sir);
    bool still_owner;
    if (j) {
      auto was = prior->Forward(*j);
      still_owner = was && SameAddr(was->ila, b.rkeys[i]);
    } else {
      still_owner = StillMapsTo(s, owner->sir, b.rkeys[i]);
    }
    if (!still_owner) continue;
    bool remapped = j && !SameAddr(b.rkeys[*j], b.rkeys[i]);
    if (!remapped) {
      return absl::AlreadyExistsError(
          absl::StrCat(EntryLabel(n, i), "ILA address ", FromAbi(b.rkeys[i]).ToString(),
                       " is already the destination of ", FromAbi(owner->sir).ToString(),
                       "; two SIR addresses cannot share one ILA address"));
    }
  }
  if (only_new) {
    for (size_t i = 0; i < n && !prior->forward.empty(); ++i) {
      if (!prior->forward[i]) continue;
      return absl::AlreadyExistsError(absl::StrCat(
          "SIR address ", FromAbi(b.keys[i].sir).ToString(), " already has a mapping (to ",
          Locator(FromAbi(prior->forward[i]->ila).high64()).ToString(),
          "); replace it with Upsert"));
    }
  }

  return absl::OkStatus();
}

namespace {

// How far a write of a batch got: the reverse entries written (or claimed, which Restore treats
// alike), [0, rev_front) and [rev_back, n), and the mappings written, [0, fwd_written).
struct WriteProgress {
  size_t rev_front = 0;
  size_t rev_back = 0;
  size_t fwd_written = 0;
  absl::Status rev_st;
  absl::Status fwd_st;
};

// The kernel's hash insert is most of a large batch's time. One thread writes reverse entries
// chunk by chunk from the front; the other writes the mappings in order, each chunk as soon as
// its reverse entries are written, and while none is ready, reverse entries from the back.
void WriteOnTwoThreads(const DataplaneState& s, std::span<const abi::ila_mapping_key> keys,
                       std::span<const abi::ila_mapping_value> values,
                       std::span<const abi::ila_addr> rkeys,
                       std::span<const abi::ila_reverse_value> rvalues, WriteProgress& w) {
  const size_t n = keys.size();
  absl::Mutex mu;
  size_t lo = 0;          // guarded by mu: [lo, hi) is not claimed yet
  size_t hi = n;          // guarded by mu
  size_t front_done = 0;  // guarded by mu: [0, front_done) is written
  size_t back_done = n;   // guarded by mu: [back_done, n) is written
  bool failed = false;    // guarded by mu
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
      w.rev_front = at + applied;
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
          w.rev_back = hi;  // claimed: restored on failure whether written or not
        } else {
          mu.Await(absl::Condition(&ready));
          if (failed) return;
        }
      }
      if (rlen > 0) {
        uint32_t applied = 0;
        absl::Status st =
            s.reverse.UpdateBatch(rkeys.subspan(rat, rlen), rvalues.subspan(rat, rlen), &applied);
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
      w.fwd_st = s.mappings.UpdateBatch(keys.subspan(fwd_at, end - fwd_at),
                                        values.subspan(fwd_at, end - fwd_at), &applied);
      w.fwd_written = fwd_at + applied;
      if (!w.fwd_st.ok()) {
        absl::MutexLock l(&mu);
        failed = true;
        return;
      }
      fwd_at = end;
    }
  };
  RunBoth(true, back_writer, front_writer);
  w.rev_st = !front_st.ok() ? front_st : back_st;
}

// One try of ApplyBatch; `reverse_full`: it failed because the reverse map had no room.
absl::Status ApplyBatchOnce(const DataplaneState& s, const EncodedBatch& b, const Prior& prior,
                            bool parallel, bool* reverse_full);

// ApplyBatch one mapping at a time, each moved mapping's old reverse entry removed just before its
// new one is written, so that a table with no room to spare takes moves. An ICMP error quoting
// the old destination in the microseconds between is left as it is (icmp_inner_unknown), where
// ApplyBatchOnce would have translated it.
absl::Status ApplyBatchInPlace(const DataplaneState& s, const EncodedBatch& b,
                               const IlaIndex& by_ila, const Prior& prior);

}  // namespace

absl::Status ApplyBatch(const DataplaneState& s, const EncodedBatch& b, const IlaIndex& by_ila,
                        const Prior& prior, bool parallel) {
  bool reverse_full = false;
  absl::Status st = ApplyBatchOnce(s, b, prior, parallel, &reverse_full);
  if (!reverse_full) return st;
  // Entries no mapping owns take room: those of mappings a forwarding cache evicted (its reverse
  // map is never LRU, so that a live mapping's entry is never the one to go), or those a writer
  // that died left behind.
  auto removed = RemoveOrphanReverseEntries(s);
  if (removed.ok() && *removed > 0) {
    st = ApplyBatchOnce(s, b, prior, parallel, &reverse_full);
    if (!reverse_full) return st;
  }
  // A full table whose mappings move: no room for a moved mapping's new entry beside its old.
  return ApplyBatchInPlace(s, b, by_ila, prior);
}

absl::StatusOr<size_t> RemoveOrphanReverseEntries(const DataplaneState& s) {
  auto rev = s.reverse.DumpBatch();
  if (!rev.ok()) return rev.status();
  std::vector<abi::ila_addr> orphans;
  for (size_t i = 0; i < rev->keys.size(); ++i) {
    if (!StillMapsTo(s, rev->values[i].sir, rev->keys[i])) orphans.push_back(rev->keys[i]);
  }
  DeleteAll(s.reverse, std::span<const abi::ila_addr>(orphans));
  return orphans.size();
}

namespace {

absl::Status ApplyBatchOnce(const DataplaneState& s, const EncodedBatch& b, const Prior& prior,
                            bool parallel, bool* reverse_full) {
  const size_t n = b.keys.size();
  std::span<const abi::ila_mapping_key> keys(b.keys);
  std::span<const abi::ila_mapping_value> values(b.values);
  std::span<const abi::ila_addr> rkeys(b.rkeys);
  std::span<const abi::ila_reverse_value> rvalues(b.rvalues);
  WriteProgress w;
  w.rev_back = n;
  if (parallel) {
    WriteOnTwoThreads(s, keys, values, rkeys, rvalues, w);
  } else {
    uint32_t applied = 0;
    w.rev_st = s.reverse.UpdateBatch(rkeys, rvalues, &applied);
    w.rev_front = applied;
    if (w.rev_st.ok()) {
      w.fwd_st = s.mappings.UpdateBatch(keys, values, &applied);
      w.fwd_written = applied;
    }
  }
  if (!w.rev_st.ok() || !w.fwd_st.ok()) {
    Restore(s.mappings, keys, prior.forward, 0, w.fwd_written);
    Restore(s.reverse, rkeys, prior.reverse, 0, w.rev_front);
    Restore(s.reverse, rkeys, prior.reverse, w.rev_back, n);
    *reverse_full = absl::IsResourceExhausted(w.rev_st);
    return !w.rev_st.ok() ? w.rev_st : w.fwd_st;
  }
  *reverse_full = false;
  return absl::OkStatus();
}

absl::Status ApplyBatchInPlace(const DataplaneState& s, const EncodedBatch& b,
                               const IlaIndex& by_ila, const Prior& prior) {
  const size_t n = b.keys.size();
  std::vector<abi::ila_addr> freed_keys;  // old entries removed, to put back on failure
  std::vector<abi::ila_reverse_value> freed_values;
  absl::Status st;
  size_t i = 0;
  for (; i < n && st.ok(); ++i) {
    auto was = prior.Forward(i);
    if (was && !SameAddr(was->ila, b.rkeys[i]) && !by_ila.Contains(was->ila)) {
      auto owner = s.reverse.Lookup(was->ila);
      if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, b.keys[i].sir) &&
          s.reverse.Delete(was->ila).ok()) {
        freed_keys.push_back(was->ila);
        freed_values.push_back(**owner);
      }
    }
    st = s.reverse.Update(b.rkeys[i], b.rvalues[i]);
    if (st.ok()) st = s.mappings.Update(b.keys[i], b.values[i]);
  }
  if (st.ok()) return st;
  Restore(s.mappings, std::span<const abi::ila_mapping_key>(b.keys), prior.forward, 0, i);
  Restore(s.reverse, std::span<const abi::ila_addr>(b.rkeys), prior.reverse, 0, i);
  UpdateAll(s.reverse, std::span<const abi::ila_addr>(freed_keys),
            std::span<const abi::ila_reverse_value>(freed_values));
  return st;
}

}  // namespace

size_t PublishBatch(const DataplaneState& s, const EncodedBatch& b, const IlaIndex& by_ila,
                    const Prior& prior) {
  const size_t n = b.keys.size();
  std::vector<abi::ila_addr> unused;
  if (!prior.reverse_dump) {
    for (size_t i = 0; i < n && !prior.forward.empty(); ++i) {
      const auto& was = prior.forward[i];
      if (!was || SameAddr(was->ila, b.rkeys[i])) continue;
      auto owner = s.reverse.Lookup(was->ila);
      if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, b.keys[i].sir)) {
        unused.push_back(was->ila);
      }
    }
  } else {
    std::vector<abi::ila_addr> old_ila;  // old destination of moved[k]
    std::vector<uint32_t> moved;
    for (size_t i = 0; i < n && !prior.forward.empty(); ++i) {
      const auto& was = prior.forward[i];
      if (!was || SameAddr(was->ila, b.rkeys[i]) || by_ila.Contains(was->ila)) continue;
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
        if (at && SameAddr(rev.values[k].sir, b.keys[moved[*at]].sir))
          unused.push_back(rev.keys[k]);
      }
    }
  }
  DeleteAll(s.reverse, std::span<const abi::ila_addr>(unused));
  if (prior.forward.empty()) return n;
  return static_cast<size_t>(std::count(prior.forward.begin(), prior.forward.end(), std::nullopt));
}

}  // namespace ila::internal
