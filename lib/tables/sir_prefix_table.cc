// SirPrefixTable: the SIR prefixes this host translates.
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
using internal::FromAbi;

// ---------------------------------------------------------------------------------------------
// SIR prefixes

SirPrefixTable::SirPrefixTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status SirPrefixTable::Upsert(SirPrefix prefix) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  return state_->sir_prefixes.Update(key, abi::ila_sir_prefix_value{});
}

absl::Status SirPrefixTable::Add(SirPrefix prefix) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  auto found = state_->sir_prefixes.Lookup(key);
  if (!found.ok()) return found.status();
  if (found->has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat("SIR prefix ", prefix.ToString(), " is registered already"));
  }
  return state_->sir_prefixes.Update(key, abi::ila_sir_prefix_value{});
}

absl::Status SirPrefixTable::Remove(SirPrefix prefix) {
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
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
  auto cluster = s.cluster_locators.Dump();
  if (!cluster.ok()) return cluster.status();
  for (const auto& [k, v] : *cluster) {
    if (internal::Get64(v.sir_prefix_be) == prefix.value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SIR prefix ", prefix.ToString(), " is still used by cluster locator ",
                       Locator(internal::Get64(k.locator_be)).ToString(), "; remove it first"));
    }
  }
  auto rules = s.prefix_rules.Dump();
  if (!rules.ok()) return rules.status();
  for (const auto& [k, v] : *rules) {
    if (internal::Get64(k.from_be) == prefix.value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "SIR prefix ", prefix.ToString(), " is still linked to ",
          SirPrefix(internal::Get64(k.to_be)).ToString(), " by a prefix rule; remove it first"));
    }
  }
  absl::Status st = s.sir_prefixes.Delete(key);
  if (absl::IsNotFound(st)) {
    return absl::NotFoundError(
        absl::StrCat("SIR prefix ", prefix.ToString(), " is not registered"));
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
