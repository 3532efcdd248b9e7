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

absl::Status LocatorTable::Write(const LocatorEntry& e, bool only_new) {
  abi::ila_locator_key key{};
  abi::ila_locator_value v{};
  if (absl::Status st = internal::EncodeLocator(e, "a host's", key, v); !st.ok()) return st;
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = RequireSirPrefix(
          s, e.sir_prefix, [&] { return absl::StrCat("locator ", e.locator.ToString()); });
      !st.ok()) {
    return st;
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
    return absl::Status(st.code(),
                        absl::StrCat("locator ", e.locator.ToString(), ": ", st.message()));
  }
  return st;
}

absl::Status LocatorTable::Remove(Locator locator) {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  // The programs' table first, then the record, under the table's writer lock; a record that
  // refuses (the locator is not registered) puts the table back.
  return state_->locator_slots->Remove(key, [&]() -> absl::Status {
    absl::Status st = state_->locators.Delete(key);
    if (absl::IsNotFound(st)) {
      return absl::NotFoundError(
          absl::StrCat("locator ", locator.ToString(), " is not registered"));
    }
    return st;
  });
}

absl::StatusOr<LocatorEntry> LocatorTable::Get(Locator locator) const {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  auto v = state_->locators.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) {
    return absl::NotFoundError(absl::StrCat("locator ", locator.ToString(), " is not registered"));
  }
  return internal::DecodeLocator(key, **v);
}

absl::StatusOr<std::vector<LocatorEntry>> LocatorTable::List() const {
  return internal::ListLocators(state_->locators);
}

}  // namespace ila
