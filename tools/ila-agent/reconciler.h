// Makes a host's data plane equal to the cluster state: the tables this host needs are derived
// from the records (every SIR prefix and rule; this host's locators; every other host's locators;
// every mapping, except one to this host's own locator for an address with no endpoint here, and,
// on a host that is not an ILA router, those of a dead host handed to the routers), and only what
// differs from what the data plane holds is written.
//
// "What the data plane holds" is a copy kept here: read from the tables once (Load, after Create
// or Open) and then updated with every write, since the agent is the one writer of its host's
// tables. Reconcile() compares the whole desired state with it (cold start, a resync after
// compaction or a reconnect); ReconcileMappings() only the addresses a watch batch changed.
//
// Thread safety: not synchronised; one thread (the sync loop) calls it.
#ifndef ILA_AGENT_RECONCILER_H_
#define ILA_AGENT_RECONCILER_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "cluster_state.h"
#include "ila/dataplane.h"
#include "state_applier.h"

namespace ila::agent {

class Reconciler final : public StateApplier {
 public:
  // `self`: this host's name in the schema (its host record gives its own locators).
  Reconciler(Dataplane& dataplane, std::string self);

  // Reads every table of the data plane as the starting point.
  [[nodiscard]] absl::Status Load();
  // Writes whatever differs between `state` and the data plane.
  WriteCounts Reconcile(const ClusterState& state) override;
  // Writes the mappings of these addresses only (the rest of `state` is as last reconciled).
  WriteCounts ReconcileMappings(const ClusterState& state,
                                std::span<const SirAddress> changed) override;

  // A forwarding-cache data plane (DataplaneConfig::forwarding_cache) holds only what its
  // containers missed recently: Reconcile and ReconcileMappings then keep the entries it holds
  // right and add none, and InstallOnMiss adds the one a miss event asks for.
  bool cache_mode() const { return dataplane_.config().forwarding_cache; }
  // Installs the mapping `state` has for `sir` (a miss event's destination). NotFound when the
  // cluster has none (the miss goes on to the ILA router). Safe beside the sync loop while the
  // caller holds the state's shared lock (SyncLoop::WithState): it reads what the sync loop
  // writes only under the exclusive one.
  [[nodiscard]] absl::Status InstallOnMiss(const ClusterState& state, const SirAddress& sir) const;

  // The last failure's text ("" when none), for status and logs.
  const std::string& last_error() const override { return last_error_; }
  size_t mapping_count() const override { return applied_mappings_.size(); }

 private:
  // The mapping `state` wants for `sir` on this host, if any. Whether an address has its endpoint
  // here is read from the data plane each time (the local API attaches containers concurrently).
  bool Desired(const ClusterState& state, const SirAddress& sir, Mapping* out, bool* skipped) const;
  void ReconcileTopology(const ClusterState& state, WriteCounts& counts);
  void ReconcilePrefixRemovals(const ClusterState& state, WriteCounts& counts);
  void WriteMappings(const std::vector<Mapping>& upserts, const std::vector<SirAddress>& removes,
                     WriteCounts& counts);
  void Fail(WriteCounts& counts, const absl::Status& status);

  Dataplane& dataplane_;
  std::string self_;
  // What the data plane holds (as written by this agent).
  absl::flat_hash_map<SirAddress, Mapping> applied_mappings_;
  std::set<SirPrefix> applied_prefixes_;
  std::vector<PrefixRule> applied_rules_;
  std::map<Locator, LocatorEntry> applied_own_;
  std::map<Locator, LocatorEntry> applied_cluster_;
  // Derived at the last topology reconciliation.
  absl::flat_hash_set<Locator> own_locators_;
  bool self_is_router_ = false;
  std::string last_error_;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_RECONCILER_H_
