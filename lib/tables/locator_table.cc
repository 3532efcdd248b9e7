// LocatorTable: this host's locators, in the record (ila_locators) and the programs' table.
#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/string_util.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"
#include "ila/translation.h"
#include "tables/table_util.h"

namespace ila {

using internal::DataplaneState;
using internal::RequireSirPrefix;

// ---------------------------------------------------------------------------------------------
// Locators

LocatorTable::LocatorTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status LocatorTable::Upsert(const LocatorEntry& e) { return Write(e, false); }
absl::Status LocatorTable::Add(const LocatorEntry& e) { return Write(e, true); }

namespace {

// One locator into the programs' table, then the record, both under the table's writer lock
// (other processes write too); a record that refuses puts the table back.
absl::Status PutLocator(DataplaneState& s, const abi::ila_locator_key& key,
                        const abi::ila_locator_value& v, bool only_new, Locator named) {
  bool record_ran = false;
  absl::Status st = s.locator_slots->Put(key, v, [&]() -> absl::Status {
    record_ran = true;
    absl::Status recorded = s.locators.Update(key, v, only_new ? BPF_NOEXIST : BPF_ANY);
    if (only_new && !recorded.ok()) {
      auto existing = s.locators.Lookup(key);
      if (existing.ok() && existing->has_value()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "locator ", named.ToString(), " is already registered; replace it with Upsert"));
      }
    }
    return recorded;
  });
  if (!st.ok() && !record_ran) {
    return absl::Status(st.code(), absl::StrCat("locator ", named.ToString(), ": ", st.message()));
  }
  return st;
}

absl::Status RemoveLocator(DataplaneState& s, const abi::ila_locator_key& key, Locator named) {
  return s.locator_slots->Remove(key, [&]() -> absl::Status {
    absl::Status st = s.locators.Delete(key);
    if (absl::IsNotFound(st)) {
      return absl::NotFoundError(absl::StrCat("locator ", named.ToString(), " is not registered"));
    }
    return st;
  });
}

}  // namespace

absl::Status LocatorTable::Write(const LocatorEntry& e, bool only_new) {
  auto encoded = internal::EncodeWithTwin(e, "a host's");
  if (!encoded.ok()) return encoded.status();
  const auto& [key, v, rkey, rv] = *encoded;
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = RequireSirPrefix(
          s, e.sir_prefix, [&] { return absl::StrCat("locator ", e.locator.ToString()); });
      !st.ok()) {
    return st;
  }
  auto twin = internal::PlanTwin(s, s.locators, e, "locator", "one of this host's locators");
  if (!twin.ok()) return twin.status();
  const std::optional<Locator> prev_twin = twin->previous;
  const bool new_twin = twin->added;
  // The programs' filter first (a container's packet to the locator must be looked at), the
  // re-forward locator (a packet sent to it must find it), the locator, then the pairing; a failure
  // takes back what this call added (the filter keeps its bits: they only mean "look").
  if (absl::Status st =
          internal::AddToLocatorFilter(s, {e.locator, e.reforward.value_or(e.locator)});
      !st.ok()) {
    return st;
  }
  if (e.reforward) {
    if (absl::Status st = PutLocator(s, rkey, rv, false, *e.reforward); !st.ok()) return st;
  }
  if (absl::Status st = PutLocator(s, key, v, only_new, e.locator); !st.ok()) {
    if (new_twin) (void)RemoveLocator(s, rkey, *e.reforward);
    return st;
  }
  absl::Status paired = e.reforward ? s.reforward_locators.Update(key, rkey) : absl::OkStatus();
  if (!paired.ok()) {
    if (new_twin) (void)RemoveLocator(s, rkey, *e.reforward);
    return paired;
  }
  if (prev_twin && prev_twin != e.reforward) {
    if (!e.reforward) (void)s.reforward_locators.Delete(key);
    (void)RemoveLocator(s, internal::LocatorKey(*prev_twin), *prev_twin);
    return internal::RebuildLocatorFilter(s);
  }
  return absl::OkStatus();
}

absl::Status LocatorTable::Remove(Locator locator) {
  const abi::ila_locator_key key = internal::LocatorKey(locator);
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  auto use = internal::UseOf(s.locators, key);
  if (!use.ok()) return use.status();
  if (*use == internal::LocatorUse::kReforward) {
    return absl::FailedPreconditionError(absl::StrCat(
        "locator ", locator.ToString(),
        " is the re-forward locator of another of this host's locators: remove that one, or "
        "upsert it without a re-forward locator"));
  }
  auto twin = internal::TwinOf(s, key);
  if (!twin.ok()) return twin.status();
  if (absl::Status st = RemoveLocator(s, key, locator); !st.ok()) return st;
  if (*twin) {
    (void)s.reforward_locators.Delete(key);
    if (absl::Status st = RemoveLocator(s, internal::LocatorKey(**twin), **twin); !st.ok()) {
      return st;
    }
  }
  return internal::RebuildLocatorFilter(s);
}

absl::StatusOr<LocatorEntry> LocatorTable::Get(Locator locator) const {
  const abi::ila_locator_key key = internal::LocatorKey(locator);
  auto v = state_->locators.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value() || ((*v)->flags & ILA_LOCATOR_F_REFORWARD)) {
    return absl::NotFoundError(absl::StrCat("locator ", locator.ToString(), " is not registered"));
  }
  LocatorEntry e = internal::DecodeLocator(key, **v);
  auto twin = internal::TwinOf(*state_, key);
  if (!twin.ok()) return twin.status();
  e.reforward = *twin;
  return e;
}

absl::StatusOr<std::vector<LocatorEntry>> LocatorTable::List() const {
  return internal::ListLocators(state_->locators, state_->reforward_locators);
}

}  // namespace ila
