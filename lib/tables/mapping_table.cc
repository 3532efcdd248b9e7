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
  absl::MutexLock lock(&s.mu);
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
  if (absl::Status st = internal::ApplyBatch(s, b, prior, parallel); !st.ok()) return st;
  size_hint_ += internal::PublishBatch(s, b, by_ila, prior);
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
