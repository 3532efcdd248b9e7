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
// Thread safety: state() may be called from any thread.
#ifndef ILA_LIB_NEXTHOP_KEEPER_H_
#define ILA_LIB_NEXTHOP_KEEPER_H_

#include <chrono>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernel/bpf_map.h"
#include "ila/dataplane.h"
#include "kernel/object.h"

namespace ila::internal {

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

 private:
  NexthopKeeper(OwnedFd netns, OwnedFd epoch_fd, OwnedFd wake, std::chrono::milliseconds refresh);
  void Run();
  // Evaluates whether routing allows the cache and starts a new epoch (or 0).
  void Reevaluate();
  void NewEpoch();
  void SetOff(const std::string& reason);

  OwnedFd netns_;
  OwnedFd epoch_fd_;
  TypedMap<uint32_t, uint64_t> epoch_;
  OwnedFd wake_;  // eventfd: tells the thread to stop
  const std::chrono::milliseconds refresh_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  NexthopCacheState state_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ila::internal

#endif  // ILA_LIB_NEXTHOP_KEEPER_H_
