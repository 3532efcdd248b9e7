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

absl::Status ClusterLocatorTable::Upsert(const LocatorEntry& e) {
  abi::ila_locator_key key{};
  abi::ila_locator_value v{};
  if (absl::Status st = internal::EncodeLocator(e, "a cluster", key, v); !st.ok()) return st;
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = internal::RequireSirPrefix(
          s, e.sir_prefix, [&] { return absl::StrCat("cluster locator ", e.locator.ToString()); });
      !st.ok()) {
    return st;
  }
  auto own = s.locators.Lookup(key);
  if (!own.ok()) return own.status();
  if (own->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster locator ", e.locator.ToString(),
                     " is one of this host's locators; the cluster table holds the others'"));
  }
  absl::Status st = s.cluster_locators.Update(key, v);
  if (!st.ok())
    return absl::Status(st.code(),
                        absl::StrCat("cluster locator ", e.locator.ToString(), ": ", st.message()));
  return st;
}

absl::Status ClusterLocatorTable::Remove(Locator locator) {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  absl::Status st = state_->cluster_locators.Delete(key);
  if (absl::IsNotFound(st)) {
    return absl::NotFoundError(
        absl::StrCat("cluster locator ", locator.ToString(), " is not in the table"));
  }
  return st;
}

absl::StatusOr<std::vector<LocatorEntry>> ClusterLocatorTable::List() const {
  return internal::ListLocators(state_->cluster_locators);
}

}  // namespace ila
