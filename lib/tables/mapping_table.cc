// MappingTable: the mapping table's API (ila/mapping.h) over the batch machinery of
// mapping_batch.h.
#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/string_util.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"
#include "ila/translation.h"
#include "tables/mapping_batch.h"
#include "tables/table_util.h"

namespace ila {

using internal::Av;
using internal::CanRunTwo;
using internal::DataplaneState;
using internal::Decode;
using internal::DeleteAll;
using internal::ForwardEntries;
using internal::IlaIndex;
using internal::kDumpFactor;
using internal::kDumpMinBatch;
using internal::kParallelMinBatch;
using internal::kPrefetch;
using internal::ReverseEntries;
using internal::RunBoth;
using internal::SameAddr;
using internal::SirIndex;
using internal::ToAbi;
using internal::UpdateAll;

// ---------------------------------------------------------------------------------------------
// Mapping

absl::StatusOr<IlaAddress> Mapping::IlaDestination() const {
  if (absl::Status s = ValidateMapping(*this); !s.ok()) return s;
  return SirToIla(sir, locator, csum_mode);
}

absl::Status ValidateMapping(const Mapping& m) {
  auto where = [&] {
    return absl::StrCat("mapping ", m.sir.ToString(), " -> ", m.locator.ToString());
  };
  if (m.locator.value() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": the locator is zero"));
  }
  switch (m.csum_mode) {
    case ChecksumMode::kAdjustTransport:
    case ChecksumMode::kNeutralMap:
    case ChecksumMode::kNeutralMapAuto:
    case ChecksumMode::kNoAction:
    case ChecksumMode::kAdjustTransportLinuxCompat: break;
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
absl::Status MappingTable::UpsertBatch(std::span<const Mapping> batch) {
  return Write(batch, false);
}

absl::Status MappingTable::Write(std::span<const Mapping> batch, bool only_new) {
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  const size_t n = batch.size();
  if (n == 0) return absl::OkStatus();
  if (n > UINT32_MAX) return absl::InvalidArgumentError("a batch holds at most 2^32-1 mappings");
  const bool parallel = n >= internal::kParallelMinBatch && internal::CanRunTwo();
  internal::EncodedBatch b;
  b.keys.resize(n);
  b.values.resize(n);
  b.rkeys.resize(n);
  b.rvalues.resize(n);
  internal::SirIndex by_sir{std::span<const abi::ila_mapping_key>(b.keys)};
  internal::IlaIndex by_ila{std::span<const abi::ila_addr>(b.rkeys)};
  if (absl::Status st = internal::ValidateBatch(s, batch, parallel, b, by_sir, by_ila); !st.ok()) {
    return st;
  }
  internal::Prior prior;
  if (absl::Status st =
          internal::PlanBatch(s, b, by_sir, by_ila, only_new, parallel, &size_hint_, &prior);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = internal::ApplyBatch(s, b, by_ila, prior, parallel); !st.ok()) return st;
  size_hint_ += internal::PublishBatch(s, b, by_ila, prior);
  return absl::OkStatus();
}

// ----- The steps of MappingTable::RemoveBatch ---------------------------------------------------

namespace {

using RemovedValues = std::vector<std::optional<abi::ila_mapping_value>>;

// Indexes keys by SIR address up to the first one that repeats an earlier one, and returns that
// one's index (keys.size() when none repeats).
size_t IndexUpToRepeat(std::span<const abi::ila_mapping_key> keys, SirIndex& by_sir) {
  const size_t n = keys.size();
  by_sir.Reserve(n);
  size_t dup = n;
  for (size_t i = 0; i < n && dup == n; ++i) {
    if (i + kPrefetch < n) by_sir.Prefetch(keys[i + kPrefetch].sir);
    if (by_sir.Insert(static_cast<uint32_t>(i))) dup = i;
  }
  return dup;
}

// What the first `dup` entries map to, read with the whole forward map (as Write does) when the
// batch is large and the map, as far as `size_hint` knows, not much larger; `size_hint` becomes
// what the read saw. False, with `olds` untouched, when each entry must be looked up instead.
absl::StatusOr<bool> DumpRemoved(const DataplaneState& s, const SirIndex& by_sir, size_t dup,
                                 size_t* size_hint, RemovedValues& olds) {
  if (dup < kDumpMinBatch || *size_hint > kDumpFactor * dup) return false;
  auto fwd = s.mappings.DumpBatch(kDumpFactor * dup);
  if (!fwd.ok() && !absl::IsUnimplemented(fwd.status())) return fwd.status();
  if (!fwd.ok()) return false;
  *size_hint = std::max(*size_hint, fwd->keys.size());
  if (!fwd->complete) return false;
  *size_hint = fwd->keys.size();
  for (size_t k = 0; k < fwd->keys.size(); ++k) {
    if (k + kPrefetch < fwd->keys.size()) by_sir.Prefetch(fwd->keys[k + kPrefetch].sir);
    auto i = by_sir.Find(fwd->keys[k].sir);
    if (i && *i < dup) olds[*i] = fwd->values[k];
  }
  return true;
}

// What the first olds.size() entries map to (by one read of the whole map, or looked up per
// entry); NotFound for the first that is not mapped. Returns whether the map was read whole.
absl::StatusOr<bool> ReadRemoved(const DataplaneState& s, std::span<const SirAddress> batch,
                                 std::span<const abi::ila_mapping_key> keys, const SirIndex& by_sir,
                                 size_t* size_hint, RemovedValues& olds) {
  auto dumped = DumpRemoved(s, by_sir, olds.size(), size_hint, olds);
  if (!dumped.ok()) return dumped.status();
  for (size_t i = 0; i < olds.size(); ++i) {
    if (!*dumped) {
      auto old = s.mappings.Lookup(keys[i]);
      if (!old.ok()) return old.status();
      olds[i] = *old;
    }
    if (!olds[i]) return absl::NotFoundError(absl::StrCat("no mapping for ", batch[i].ToString()));
  }
  return *dumped;
}

// Deletes the mappings of `keys`; on a kernel failure part-way, puts back the ones deleted
// (olds[i] is what keys[i] mapped to).
absl::Status DeleteMappings(const DataplaneState& s, std::span<const abi::ila_mapping_key> keys,
                            const RemovedValues& olds) {
  uint32_t applied = 0;
  absl::Status st = s.mappings.DeleteBatch(keys, &applied);
  if (st.ok()) return st;
  std::vector<abi::ila_mapping_value> back;
  for (uint32_t i = 0; i < applied; ++i) back.push_back(*olds[i]);
  UpdateAll(s.mappings, keys.first(applied), std::span<const abi::ila_mapping_value>(back));
  return st;
}

// The reverse entries among `rev` (the whole reverse map) that were the removed mappings' own:
// the old ILA destination of one, pointing back at its SIR address.
std::vector<abi::ila_addr> OwnReverseEntriesIn(const ReverseEntries& rev,
                                               std::span<const abi::ila_mapping_key> keys,
                                               const RemovedValues& olds) {
  const size_t n = keys.size();
  std::vector<abi::ila_addr> own;
  std::vector<abi::ila_addr> old_ila(n);
  for (size_t i = 0; i < n; ++i) old_ila[i] = olds[i]->ila;
  IlaIndex by_old{std::span<const abi::ila_addr>(old_ila)};
  by_old.Reserve(n);
  for (size_t i = 0; i < n; ++i) (void)by_old.Insert(static_cast<uint32_t>(i));
  for (size_t k = 0; k < rev.keys.size(); ++k) {
    auto i = by_old.Find(rev.keys[k]);
    if (i && SameAddr(rev.values[k].sir, keys[*i].sir)) own.push_back(rev.keys[k]);
  }
  return own;
}

// The reverse entries that were the removed mappings' own: found in one read of the whole reverse
// map when the forward map was read whole (`dumped`) and the reverse map can be, else looked up
// per mapping.
std::vector<abi::ila_addr> OwnReverseEntries(const DataplaneState& s,
                                             std::span<const abi::ila_mapping_key> keys,
                                             const RemovedValues& olds, bool dumped) {
  const size_t n = keys.size();
  if (dumped) {
    auto r = s.reverse.DumpBatch(kDumpFactor * n);
    if (r.ok() && r->complete) return OwnReverseEntriesIn(*r, keys, olds);
  }
  std::vector<abi::ila_addr> own;
  for (size_t i = 0; i < n; ++i) {
    auto owner = s.reverse.Lookup(olds[i]->ila);
    if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, keys[i].sir)) {
      own.push_back(olds[i]->ila);
    }
  }
  return own;
}

}  // namespace

absl::Status MappingTable::Remove(const SirAddress& sir) { return RemoveBatch(std::span(&sir, 1)); }

absl::Status MappingTable::RemoveBatch(std::span<const SirAddress> batch) {
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  const size_t n = batch.size();
  if (n == 0) return absl::OkStatus();
  if (n > UINT32_MAX) return absl::InvalidArgumentError("a batch holds at most 2^32-1 addresses");
  std::vector<abi::ila_mapping_key> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i].sir = ToAbi(batch[i].address());
  // The first address that repeats an earlier one; the entries before it must all be mapped.
  SirIndex by_sir{std::span<const abi::ila_mapping_key>(keys)};
  const size_t dup = IndexUpToRepeat(keys, by_sir);
  RemovedValues olds(dup);
  auto dumped = ReadRemoved(s, batch, keys, by_sir, &size_hint_, olds);
  if (!dumped.ok()) return dumped.status();
  if (dup < n) {
    return absl::InvalidArgumentError(
        absl::StrCat("SIR address ", batch[dup].ToString(), " appears twice in the batch"));
  }
  if (absl::Status st = DeleteMappings(s, keys, olds); !st.ok()) return st;
  size_hint_ -= std::min(size_hint_, n);
  std::vector<abi::ila_addr> unused = OwnReverseEntries(s, keys, olds, *dumped);
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
    for (size_t i = 0; i < all->keys.size(); ++i)
      out.push_back(Decode(all->keys[i], all->values[i]));
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

}  // namespace ila
