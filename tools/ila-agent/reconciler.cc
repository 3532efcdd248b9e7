// Desired tables from the cluster state, written as differences (reconciler.h).
#include "reconciler.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace ila::agent {

Reconciler::Reconciler(Dataplane& dataplane, std::string self)
    : dataplane_(dataplane), self_(std::move(self)) {}

absl::Status Reconciler::Load() {
  auto mappings = dataplane_.mappings().List();
  if (!mappings.ok()) return mappings.status();
  auto prefixes = dataplane_.sir_prefixes().List();
  if (!prefixes.ok()) return prefixes.status();
  auto rules = dataplane_.prefix_rules().List();
  if (!rules.ok()) return rules.status();
  auto own = dataplane_.locators().List();
  if (!own.ok()) return own.status();
  auto cluster = dataplane_.cluster_locators().List();
  if (!cluster.ok()) return cluster.status();
  applied_mappings_.clear();
  for (const Mapping& m : *mappings) applied_mappings_[m.sir] = m;
  applied_prefixes_ = std::set<SirPrefix>(prefixes->begin(), prefixes->end());
  applied_rules_ = *rules;
  applied_own_.clear();
  for (const LocatorEntry& e : *own) applied_own_[e.locator] = e;
  applied_cluster_.clear();
  for (const LocatorEntry& e : *cluster) applied_cluster_[e.locator] = e;
  return absl::OkStatus();
}

void Reconciler::Fail(WriteCounts& counts, const absl::Status& status) {
  ++counts.failed;
  last_error_ = std::string(status.message());
}

bool Reconciler::Desired(const ClusterState& state, const SirAddress& sir, Mapping* out,
                         bool* skipped) const {
  *skipped = false;
  auto it = state.mappings().find(sir);
  if (it == state.mappings().end()) return false;
  // The routers keep a host's mappings after the policy "routers" handed it to them; every other
  // host withdraws them, so that its traffic to them follows the SIR prefix's route to the routers.
  if (!self_is_router_ && it->second.host != self_ && state.HandedToRouters(it->second.host)) {
    return false;
  }
  const Mapping& m = it->second.mapping;
  // The data plane refuses both (mapping.h); they are not errors of this host's.
  if (!state.prefixes().contains(sir.prefix) ||
      (own_locators_.contains(m.locator) && !dataplane_.endpoints().Get(sir).ok())) {
    *skipped = true;
    return false;
  }
  *out = m;
  return true;
}

void Reconciler::ReconcileTopology(const ClusterState& state, WriteCounts& counts) {
  // Registered first, removed last: every other table names prefixes.
  for (SirPrefix p : state.prefixes()) {
    if (applied_prefixes_.contains(p)) continue;
    if (absl::Status s = dataplane_.sir_prefixes().Upsert(p); !s.ok()) {
      Fail(counts, s);
      continue;
    }
    applied_prefixes_.insert(p);
    ++counts.written;
  }
  // Locators: this host's own record, and every other host's (a locator claimed by two hosts
  // goes to the first by name, and the other is skipped).
  std::map<Locator, LocatorEntry> own;
  std::map<Locator, LocatorEntry> cluster;
  auto self = state.hosts().find(self_);
  self_is_router_ = self != state.hosts().end() && self->second.role == HostRole::kRouter;
  for (const auto& [name, host] : state.hosts()) {
    for (const LocatorEntry& e : host.locators) {
      if (!state.prefixes().contains(e.sir_prefix)) {
        ++counts.skipped;
        continue;
      }
      auto& table = name == self_ ? own : cluster;
      if (own.contains(e.locator) || cluster.contains(e.locator)) {
        ++counts.skipped;
        continue;
      }
      table[e.locator] = e;
    }
  }
  // A locator moving between the two tables leaves the old one first (each refuses the other's).
  for (auto it = applied_cluster_.begin(); it != applied_cluster_.end();) {
    if (cluster.contains(it->first)) {
      ++it;
      continue;
    }
    if (absl::Status s = dataplane_.cluster_locators().Remove(it->first);
        !s.ok() && !absl::IsNotFound(s)) {
      Fail(counts, s);
      ++it;
      continue;
    }
    ++counts.removed;
    it = applied_cluster_.erase(it);
  }
  for (auto it = applied_own_.begin(); it != applied_own_.end();) {
    if (own.contains(it->first)) {
      ++it;
      continue;
    }
    if (absl::Status s = dataplane_.locators().Remove(it->first); !s.ok() && !absl::IsNotFound(s)) {
      Fail(counts, s);
      ++it;
      continue;
    }
    ++counts.removed;
    it = applied_own_.erase(it);
  }
  for (const auto& [locator, e] : own) {
    auto it = applied_own_.find(locator);
    if (it != applied_own_.end() && it->second == e) continue;
    if (absl::Status s = dataplane_.locators().Upsert(e); !s.ok()) {
      Fail(counts, s);
      continue;
    }
    applied_own_[locator] = e;
    ++counts.written;
  }
  for (const auto& [locator, e] : cluster) {
    auto it = applied_cluster_.find(locator);
    if (it != applied_cluster_.end() && it->second == e) continue;
    if (absl::Status s = dataplane_.cluster_locators().Upsert(e); !s.ok()) {
      Fail(counts, s);
      continue;
    }
    applied_cluster_[locator] = e;
    ++counts.written;
  }
  own_locators_.clear();
  for (const auto& [locator, e] : applied_own_) own_locators_.insert(locator);
  // Rules.
  std::vector<PrefixRule> rules;
  for (const auto& [key, rule] : state.rules()) {
    if (state.prefixes().contains(rule.a) && state.prefixes().contains(rule.b)) {
      rules.push_back(rule);
    } else {
      ++counts.skipped;
    }
  }
  for (auto it = applied_rules_.begin(); it != applied_rules_.end();) {
    if (std::find(rules.begin(), rules.end(), *it) != rules.end()) {
      ++it;
      continue;
    }
    if (absl::Status s = dataplane_.prefix_rules().Remove(*it); !s.ok() && !absl::IsNotFound(s)) {
      Fail(counts, s);
      ++it;
      continue;
    }
    ++counts.removed;
    it = applied_rules_.erase(it);
  }
  for (const PrefixRule& r : rules) {
    if (std::find(applied_rules_.begin(), applied_rules_.end(), r) != applied_rules_.end()) {
      continue;
    }
    if (absl::Status s = dataplane_.prefix_rules().Upsert(r); !s.ok()) {
      Fail(counts, s);
      continue;
    }
    applied_rules_.push_back(r);
    ++counts.written;
  }
}

void Reconciler::ReconcilePrefixRemovals(const ClusterState& state, WriteCounts& counts) {
  for (auto it = applied_prefixes_.begin(); it != applied_prefixes_.end();) {
    if (state.prefixes().contains(*it)) {
      ++it;
      continue;
    }
    // Refused while a local endpoint still names it: kept until that container goes.
    if (absl::Status s = dataplane_.sir_prefixes().Remove(*it); !s.ok() && !absl::IsNotFound(s)) {
      Fail(counts, s);
      ++it;
      continue;
    }
    ++counts.removed;
    it = applied_prefixes_.erase(it);
  }
}

void Reconciler::WriteMappings(const std::vector<Mapping>& upserts,
                               const std::vector<SirAddress>& removes, WriteCounts& counts) {
  if (!removes.empty()) {
    if (absl::Status s = dataplane_.mappings().RemoveBatch(removes); s.ok()) {
      counts.removed += removes.size();
      for (const SirAddress& sir : removes) applied_mappings_.erase(sir);
    } else {
      // One at a time, so that one that is gone already does not hold back the others.
      for (const SirAddress& sir : removes) {
        absl::Status one = dataplane_.mappings().Remove(sir);
        if (!one.ok() && !absl::IsNotFound(one)) {
          Fail(counts, one);
          continue;
        }
        ++counts.removed;
        applied_mappings_.erase(sir);
      }
    }
  }
  if (upserts.empty()) return;
  if (absl::Status s = dataplane_.mappings().UpsertBatch(upserts); s.ok()) {
    counts.written += upserts.size();
    for (const Mapping& m : upserts) applied_mappings_[m.sir] = m;
    return;
  }
  // The batch is all or nothing: find the entries that are refused, write the others.
  for (const Mapping& m : upserts) {
    if (absl::Status one = dataplane_.mappings().Upsert(m); !one.ok()) {
      Fail(counts, one);
      continue;
    }
    ++counts.written;
    applied_mappings_[m.sir] = m;
  }
}

WriteCounts Reconciler::Reconcile(const ClusterState& state) {
  WriteCounts counts;
  ReconcileTopology(state, counts);
  std::vector<Mapping> upserts;
  std::vector<SirAddress> removes;
  if (cache_mode()) {
    // A forwarding cache holds what was missed recently (and evicts on its own): only what it
    // holds now is kept right; nothing else is added.
    absl::StatusOr<std::vector<Mapping>> cached = dataplane_.mappings().List();
    if (!cached.ok()) {
      Fail(counts, cached.status());
      return counts;
    }
    for (const Mapping& m : *cached) {
      Mapping want;
      bool skipped = false;
      if (!Desired(state, m.sir, &want, &skipped)) {
        removes.push_back(m.sir);
      } else if (!(want == m)) {
        upserts.push_back(want);
      }
    }
    WriteMappings(upserts, removes, counts);
    ReconcilePrefixRemovals(state, counts);
    return counts;
  }
  for (const auto& [sir, applied] : applied_mappings_) {
    Mapping want;
    bool skipped = false;
    if (!Desired(state, sir, &want, &skipped)) removes.push_back(sir);
  }
  for (const auto& [sir, record] : state.mappings()) {
    Mapping want;
    bool skipped = false;
    if (!Desired(state, sir, &want, &skipped)) {
      counts.skipped += skipped ? 1 : 0;
      continue;
    }
    auto it = applied_mappings_.find(sir);
    if (it == applied_mappings_.end() || !(it->second == want)) upserts.push_back(want);
  }
  WriteMappings(upserts, removes, counts);
  ReconcilePrefixRemovals(state, counts);
  return counts;
}

WriteCounts Reconciler::ReconcileMappings(const ClusterState& state,
                                          std::span<const SirAddress> changed) {
  WriteCounts counts;
  std::vector<Mapping> upserts;
  std::vector<SirAddress> removes;
  absl::flat_hash_set<SirAddress> seen;
  for (const SirAddress& sir : changed) {
    if (!seen.insert(sir).second) continue;
    if (cache_mode()) {
      // Only an address the cache holds is rewritten.
      absl::StatusOr<Mapping> cached = dataplane_.mappings().Get(sir);
      if (!cached.ok()) continue;
      Mapping want;
      bool skipped = false;
      if (!Desired(state, sir, &want, &skipped)) {
        removes.push_back(sir);
      } else if (!(want == *cached)) {
        upserts.push_back(want);
      }
      continue;
    }
    Mapping want;
    bool skipped = false;
    auto it = applied_mappings_.find(sir);
    if (Desired(state, sir, &want, &skipped)) {
      if (it == applied_mappings_.end() || !(it->second == want)) upserts.push_back(want);
    } else {
      counts.skipped += skipped ? 1 : 0;
      if (it != applied_mappings_.end()) removes.push_back(sir);
    }
  }
  WriteMappings(upserts, removes, counts);
  return counts;
}

absl::Status Reconciler::InstallOnMiss(const ClusterState& state, const SirAddress& sir) const {
  Mapping want;
  bool skipped = false;
  if (!Desired(state, sir, &want, &skipped)) {
    return absl::NotFoundError(absl::StrCat(sir.ToString(), " has no mapping in the cluster"));
  }
  return dataplane_.mappings().Upsert(want);
}

}  // namespace ila::agent
