// Keeps the data plane equal to the cluster state in etcd, under every ordering of events:
//   cold start   read everything under the schema's data prefix at one revision R, reconcile
//                (only differences are written: after an agent restart that Open()ed the pinned
//                instance, usually nothing), then watch from R + 1;
//   watch        apply each batch of events to the state, then rewrite only what they changed;
//   compaction   the watch is cancelled with a compact revision: read everything again and
//                reconcile (a diff-resync: only the keys that differ are written);
//   disconnect   (etcd down, a leader change, the network): the data plane keeps forwarding on
//                the last state, never flushed; retry with exponential backoff and resume the
//                watch from the last applied revision + 1, which catches up on every event
//                missed (or, if that history was compacted meanwhile, a diff-resync).
//
// Thread safety: Run() on one thread; Stop() and the counters from any thread.
#ifndef ILA_AGENT_SYNC_LOOP_H_
#define ILA_AGENT_SYNC_LOOP_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "cluster_state.h"
#include "etcd/client.h"
#include "state_applier.h"

namespace ila::agent {

// What the loop has done, for metrics and `ila-agent status` (each value read atomically).
struct SyncCounters {
  // The etcd revision the data plane reflects: the cold start's read, then each applied event's.
  std::atomic<int64_t> revision{0};
  std::atomic<int64_t> etcd_revision{0};        // the newest revision etcd reported to the watch
  std::atomic<uint64_t> resyncs{0};             // full reads (cold start included)
  std::atomic<uint64_t> compactions{0};         // resyncs caused by a compacted watch
  std::atomic<uint64_t> reconnects{0};          // watches re-established after an error
  std::atomic<uint64_t> events{0};              // watch events applied
  std::atomic<uint64_t> writes{0};              // data-plane entries written or removed
  std::atomic<uint64_t> last_resync_writes{0};  // ... by the last resync alone
  std::atomic<uint64_t> failed_writes{0};
  std::atomic<uint64_t> invalid_records{0};  // records refused by the schema (now)
  std::atomic<uint64_t> errors{0};           // etcd errors (each retried)
  std::atomic<bool> in_sync{false};          // a watch is established and caught up
  std::atomic<uint64_t> mappings{0};         // mappings in the data plane
};

class SyncLoop {
 public:
  struct Options {
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
  };
  // Called (on the loop's thread) after each change of a mapping this host applied, and after
  // every resync: the agent detaches a local container whose address another host now owns.
  using MappingObserver = std::function<void(const ClusterState& state)>;

  SyncLoop(etcd::Client& client, StateApplier& applier, Schema schema, Options options);

  // Runs until Stop(). Returns OK then, or the error that made further progress impossible.
  absl::Status Run();
  void Stop();
  // Blocks until the data plane reflects at least `revision` (or the timeout passes).
  bool WaitForRevision(int64_t revision, std::chrono::milliseconds timeout);

  void set_observer(MappingObserver observer) { observer_ = std::move(observer); }
  // Runs `fn` with the current state under its shared lock (the loop applies events and
  // reconciles under the exclusive one); false before the first resync.
  bool WithState(const std::function<void(const ClusterState&)>& fn) const;
  const SyncCounters& counters() const { return counters_; }

 private:
  absl::Status Resync();
  absl::Status WatchFrom(int64_t revision, bool* established);
  void Applied(int64_t revision);
  void Backoff(std::chrono::milliseconds& delay);

  etcd::Client& client_;
  StateApplier& applier_;
  Schema schema_;
  Options options_;
  MappingObserver observer_;
  std::unique_ptr<ClusterState> state_;
  // Exclusive while the loop changes state_ and writes the data plane from it; shared for
  // WithState.
  mutable std::shared_mutex state_mu_;
  SyncCounters counters_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // guards watch_ and the wait for a revision
  std::condition_variable cv_;
  etcd::Watch* watch_ = nullptr;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_SYNC_LOOP_H_
