// What the sync loop writes the cluster state into. On a host it is the Reconciler (its data
// plane); the fan-out benchmark runs a thousand sync loops in one process against a null data
// plane that keeps only the table it would have written (bench/cluster_fanout_bench.cc).
//
// Thread safety: implementations need not be synchronised; the sync loop calls them from its
// one thread, under its state lock.
#ifndef ILA_AGENT_STATE_APPLIER_H_
#define ILA_AGENT_STATE_APPLIER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "cluster_state.h"

namespace ila::agent {

// What a reconciliation wrote. `failed` entries were refused by the data plane (a full table, a
// conflict with a local endpoint...): each is logged with its reason and retried at the next
// reconciliation; `skipped` are records this host cannot install (a mapping to its own locator
// for an address with no endpoint here, an unregistered SIR prefix).
struct WriteCounts {
  uint64_t written = 0;  // entries added or changed
  uint64_t removed = 0;
  uint64_t failed = 0;
  uint64_t skipped = 0;
  WriteCounts& operator+=(const WriteCounts& o) {
    written += o.written;
    removed += o.removed;
    failed += o.failed;
    skipped += o.skipped;
    return *this;
  }
  uint64_t changes() const { return written + removed; }
};

class StateApplier {
 public:
  virtual ~StateApplier() = default;
  // Writes whatever differs between `state` and what was applied (a resync, a topology change).
  virtual WriteCounts Reconcile(const ClusterState& state) = 0;
  // Writes the mappings of these addresses only (the rest of `state` is as last reconciled).
  virtual WriteCounts ReconcileMappings(const ClusterState& state,
                                        std::span<const SirAddress> changed) = 0;
  // Mappings applied, for the counters.
  virtual size_t mapping_count() const = 0;
  // The last failure's text ("" when none), for status and logs.
  virtual const std::string& last_error() const = 0;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_STATE_APPLIER_H_
