// ClusterLocatorTable: the other hosts' locators, in ila_cluster_locators.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"
#include "tables/table_util.h"

namespace ila {

using internal::DataplaneState;

ClusterLocatorTable::ClusterLocatorTable(std::shared_ptr<DataplaneState> state)
    : state_(std::move(state)) {}

namespace {

absl::Status RefuseOwn(DataplaneState& s, const abi::ila_locator_key& key, Locator l) {
  auto own = s.locators.Lookup(key);
  if (!own.ok()) return own.status();
  if (own->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster locator ", l.ToString(),
                     " is one of this host's locators; the cluster table holds the others'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ClusterLocatorTable::Upsert(const LocatorEntry& e) {
  auto encoded = internal::EncodeWithTwin(e, "a cluster");
  if (!encoded.ok()) return encoded.status();
  const auto& [key, v, rkey, rv] = *encoded;
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = internal::RequireSirPrefix(
          s, e.sir_prefix, [&] { return absl::StrCat("cluster locator ", e.locator.ToString()); });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = RefuseOwn(s, key, e.locator); !st.ok()) return st;
  if (e.reforward) {
    if (absl::Status st = RefuseOwn(s, rkey, *e.reforward); !st.ok()) return st;
  }
  auto twin =
      internal::PlanTwin(s, s.cluster_locators, e, "cluster locator", "in the cluster table");
  if (!twin.ok()) return twin.status();
  const std::optional<Locator> prev_twin = twin->previous;
  const bool new_twin = twin->added;
  auto named = [&](const absl::Status& st, Locator l) {
    return absl::Status(st.code(),
                        absl::StrCat("cluster locator ", l.ToString(), ": ", st.message()));
  };
  // The programs' filter, the re-forward locator, the locator, the pairing; a failure takes back
  // what this call added (the filter keeps its bits: they only mean "look").
  if (absl::Status st =
          internal::AddToLocatorFilter(s, {e.locator, e.reforward.value_or(e.locator)});
      !st.ok()) {
    return st;
  }
  if (e.reforward) {
    if (absl::Status st = s.cluster_locators.Update(rkey, rv); !st.ok()) {
      return named(st, *e.reforward);
    }
  }
  absl::Status st = s.cluster_locators.Update(key, v);
  if (st.ok() && e.reforward) st = s.reforward_locators.Update(key, rkey);
  if (!st.ok()) {
    if (new_twin) (void)s.cluster_locators.Delete(rkey);
    return named(st, e.locator);
  }
  if (prev_twin && prev_twin != e.reforward) {
    if (!e.reforward) (void)s.reforward_locators.Delete(key);
    (void)s.cluster_locators.Delete(internal::LocatorKey(*prev_twin));
    return internal::RebuildLocatorFilter(s);
  }
  return absl::OkStatus();
}

absl::Status ClusterLocatorTable::Remove(Locator locator) {
  const abi::ila_locator_key key = internal::LocatorKey(locator);
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  auto use = internal::UseOf(s.cluster_locators, key);
  if (!use.ok()) return use.status();
  if (*use == internal::LocatorUse::kAbsent) {
    return absl::NotFoundError(
        absl::StrCat("cluster locator ", locator.ToString(), " is not in the table"));
  }
  if (*use == internal::LocatorUse::kReforward) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cluster locator ", locator.ToString(),
        " is the re-forward locator of another: remove that one, or upsert it without one"));
  }
  auto twin = internal::TwinOf(s, key);
  if (!twin.ok()) return twin.status();
  if (absl::Status st = s.cluster_locators.Delete(key); !st.ok()) return st;
  if (*twin) {
    (void)s.reforward_locators.Delete(key);
    (void)s.cluster_locators.Delete(internal::LocatorKey(**twin));
  }
  return internal::RebuildLocatorFilter(s);
}

absl::StatusOr<std::vector<LocatorEntry>> ClusterLocatorTable::List() const {
  return internal::ListLocators(state_->cluster_locators, state_->reforward_locators);
}

}  // namespace ila
