// Keeps the programs' next-hop cache (ila_nexthop_cache) correct: the programs store bpf_fib_lookup's
// answers per locator tagged with the current epoch (ila_nexthop_epoch) and use only entries of
// the current epoch; this keeper starts a new epoch whenever rtnetlink says something an answer
// can depend on changed, and sets epoch 0 (cache off) while routing is something a per-locator
// answer cannot represent, and when it stops.
//
// Why this is enough: a program reads the epoch before its FIB lookup. An entry tagged with epoch E
// was therefore looked up while E was current; every change the kernel announced before E began
// is in it, and any change after it is followed by a new epoch as soon as the notification is
// read, which retires the entry. The staleness window is the notification's latency (tens of
// microseconds), as for any route-caching fast path; changes the kernel does not announce (path
// MTU exceptions) are bounded by the periodic refresh.
//
// Keepers hold a lease (abi.h, ila_nexthop_epoch) that the programs check: each renews its own
// every kLeaseRenew, and the cache is used only while the longest lease lasts. A keeper killed
// without a word (SIGKILL) stops renewing, and the cache goes off by itself within kLease; one
// that stops gives back its own lease only, so the cache stays on while another process keeps it,
// and goes off at once when the last one stops. Several keepers (processes with the instance open)
// each start epochs on the changes they see: harmless, an extra epoch costs one FIB walk a locator.
//
// Thread safety: state() may be called from any thread.
#ifndef ILA_LIB_NEXTHOP_KEEPER_H_
#define ILA_LIB_NEXTHOP_KEEPER_H_

#include <chrono>
#include <memory>
#include <thread>

#include "abi.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernel/bpf_map.h"
#include "kernel/map_writer_lock.h"
#include "ila/dataplane.h"
#include "kernel/object.h"

namespace ila::internal {

class RoutingMonitor;

class NexthopKeeper {
 public:
  // Starts the keeper thread in the namespace `netns_fd` refers to, writing `epoch_map_fd`
  // (both are duplicated). Returns once the cache is on, or off with its reason.
  static absl::StatusOr<std::unique_ptr<NexthopKeeper>> Start(int netns_fd, int epoch_map_fd,
                                                              std::chrono::milliseconds refresh);
  // Stops the thread and switches the cache off.
  ~NexthopKeeper();
  NexthopKeeper(const NexthopKeeper&) = delete;
  NexthopKeeper& operator=(const NexthopKeeper&) = delete;

  NexthopCacheState state() const;

  // How long a lease lasts, and how often a keeper renews its own.
  static constexpr std::chrono::milliseconds kLease{1000};
  static constexpr std::chrono::milliseconds kLeaseRenew{250};
  // The clock of the lease (CLOCK_MONOTONIC_COARSE, what the programs read), in ns.
  static uint64_t LeaseClockNs();
  // Whether the programs use the cache now, by the shared entry of ila_nexthop_epoch.
  static bool InUse(const abi::ila_nexthop_lease& shared);

 private:
  // What UpdateLease does besides renewing this keeper's lease.
  enum class LeaseOp {
    kRenew,     // nothing else
    kNewEpoch,  // a new epoch, after every one before
    kOff,       // epoch 0: the cache off
    kRelease,   // give this keeper's lease back (it stops)
  };
  // Under the map's writers' lock: this keeper's lease renewed (or given back), the shared entry's
  // lease made the longest live one (epoch 0 when none is left), and `op` done.
  absl::Status UpdateLease(LeaseOp op);
  // Takes a free (or expired) keeper entry of ila_nexthop_epoch; ResourceExhausted when
  // ILA_NEXTHOP_KEEPERS processes hold one.
  absl::Status ClaimLease();

  NexthopKeeper(OwnedFd netns, OwnedFd epoch_fd, uint32_t epoch_map_id, OwnedFd wake,
                std::chrono::milliseconds refresh);
  // When the keeper last started an epoch and last read the routing configuration, and whether a
  // change asks for the configuration to be read again. The thread's own.
  using Clock = std::chrono::steady_clock;
  struct Timing {
    Clock::time_point last_renewal;
    Clock::time_point last_epoch;
    Clock::time_point last_evaluation;
    bool reevaluate_due = false;
  };

  // The thread: enters the namespace, subscribes to routing changes, reads the configuration,
  // says it has started (or why it could not), then watches until told to stop.
  void Run();
  // Start failed: the cache off and `st` for Start to return.
  void FailStart(absl::Status st);
  // Waits for routing changes, the refresh and the stop, and acts on each.
  void Watch(RoutingMonitor& monitor);
  // How long Watch may wait: until the lease's renewal, the next refresh or the re-read due.
  int PollTimeoutMs(const Timing& t) const;
  // Reads the pending notifications: a new epoch at once for a change an answer can depend on (when
  // the cache is on), and a re-read due for one that may decide whether the cache can stay on.
  // False, with the cache off, when they cannot be read.
  bool TakeRoutingChanges(RoutingMonitor& monitor, bool enabled, Timing& t);
  // Does what is due now: the re-read (not more often than kMinReevaluateInterval; the cache off
  // while it waits), else the periodic refresh.
  void RenewDue(bool enabled, Timing& t);
  // Evaluates whether routing allows the cache and starts a new epoch (or 0).
  void Reevaluate();
  void NewEpoch();
  void SetOff(const std::string& reason);
  bool CacheEnabled() const;

  OwnedFd netns_;
  OwnedFd epoch_fd_;
  TypedMap<uint32_t, abi::ila_nexthop_lease> epoch_;
  MapLock lease_lock_;
  uint32_t lease_entry_ = 0;  // this keeper's entry in ila_nexthop_epoch (1..), once claimed
  OwnedFd wake_;              // eventfd: tells the thread to stop
  const std::chrono::milliseconds refresh_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  NexthopCacheState state_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ila::internal

#endif  // ILA_LIB_NEXTHOP_KEEPER_H_
