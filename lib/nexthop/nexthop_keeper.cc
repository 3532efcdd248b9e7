#include "nexthop/nexthop_keeper.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "kernel/bpf_objects.h"
#include "kernel/netlink.h"

namespace ila::internal {
namespace {

// Re-reading the routing configuration dumps every route: not more often than this, however
// often routes change while the cache is off.
constexpr auto kMinReevaluateInterval = std::chrono::milliseconds(200);

absl::StatusOr<OwnedFd> Dup(int fd, const char* what) {
  const int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0) {
    return absl::InternalError(
        absl::StrCat("duplicating the ", what, " fd: ", std::strerror(errno)));
  }
  return OwnedFd(d);
}

uint64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }

// Whether the calling thread is in the network namespace `fd` refers to (setns() would need
// CAP_SYS_ADMIN even to stay put).
bool InNamespace(int fd) {
  struct stat want {
  }, here{};
  return fstat(fd, &want) == 0 && stat("/proc/thread-self/ns/net", &here) == 0 &&
         want.st_dev == here.st_dev && want.st_ino == here.st_ino;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NexthopKeeper>> NexthopKeeper::Start(
    int netns_fd, int epoch_map_fd, std::chrono::milliseconds refresh) {
  auto netns = Dup(netns_fd, "network namespace");
  if (!netns.ok()) return netns.status();
  auto epoch = Dup(epoch_map_fd, "ila_nexthop_epoch map");
  if (!epoch.ok()) return epoch.status();
  auto info = MapInfo(epoch->get(), "bpf map ila_nexthop_epoch");
  if (!info.ok()) return info.status();
  OwnedFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) {
    return absl::InternalError(
        absl::StrCat("eventfd for the next-hop cache keeper: ", std::strerror(errno)));
  }
  std::unique_ptr<NexthopKeeper> k(
      new NexthopKeeper(*std::move(netns), *std::move(epoch), info->id, std::move(wake), refresh));
  if (absl::Status st = k->ClaimLease(); !st.ok()) return st;
  try {
    k->thread_ = std::thread([keeper = k.get()] { keeper->Run(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("starting the next-hop cache keeper thread: ", e.what()));
  }
  absl::MutexLock lock(&k->mu_);
  k->mu_.Await(absl::Condition(&k->started_));
  if (!k->start_error_.ok()) return k->start_error_;  // the thread has ended; k joins it
  return k;
}

NexthopKeeper::NexthopKeeper(OwnedFd netns, OwnedFd epoch_fd, uint32_t epoch_map_id, OwnedFd wake,
                             std::chrono::milliseconds refresh)
    : netns_(std::move(netns)),
      epoch_fd_(std::move(epoch_fd)),
      epoch_(epoch_fd_.get(), "ila_nexthop_epoch"),
      lease_lock_(epoch_fd_.get(), epoch_map_id, "ila_nexthop_epoch"),
      wake_(std::move(wake)),
      refresh_(refresh) {
  state_.kept = true;
}

NexthopKeeper::~NexthopKeeper() {
  const uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  // No keeper, no cache: nobody would retire entries made stale by later changes. Another
  // process's keeper may still hold a lease: then the cache stays on, kept by it.
  if (lease_entry_ != 0) (void)UpdateLease(LeaseOp::kRelease);
}

uint64_t NexthopKeeper::LeaseClockNs() { return ClockNs(CLOCK_MONOTONIC_COARSE); }

bool NexthopKeeper::InUse(const abi::ila_nexthop_lease& shared) {
  return shared.epoch != 0 && LeaseClockNs() < shared.until_ns;
}

absl::Status NexthopKeeper::ClaimLease() {
  MapWriterLock lock(lease_lock_);
  if (!lock.status().ok()) return lock.status();
  const uint64_t now = LeaseClockNs();
  for (uint32_t i = 1; i <= ILA_NEXTHOP_KEEPERS; ++i) {
    auto e = epoch_.Lookup(i);
    if (!e.ok()) return e.status();
    if (e->has_value() && (*e)->until_ns > now) continue;
    abi::ila_nexthop_lease mine{};
    mine.until_ns = now + static_cast<uint64_t>(std::chrono::nanoseconds(kLease).count());
    mine.holder_pid = static_cast<uint32_t>(getpid());
    if (absl::Status st = epoch_.Update(i, mine); !st.ok()) return st;
    lease_entry_ = i;
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "ila_nexthop_epoch: ", ILA_NEXTHOP_KEEPERS,
      " processes keep the next-hop cache already; open this one with keep_nexthop_cache off"));
}

absl::Status NexthopKeeper::UpdateLease(LeaseOp op) {
  MapWriterLock lock(lease_lock_);
  if (!lock.status().ok()) return lock.status();
  const uint64_t now = LeaseClockNs();
  abi::ila_nexthop_lease mine{};
  if (op != LeaseOp::kRelease) {
    mine.until_ns = now + static_cast<uint64_t>(std::chrono::nanoseconds(kLease).count());
    mine.holder_pid = static_cast<uint32_t>(getpid());
  }
  if (absl::Status st = epoch_.Update(lease_entry_, mine); !st.ok()) return st;
  uint64_t until = 0;
  for (uint32_t i = 1; i <= ILA_NEXTHOP_KEEPERS; ++i) {
    auto e = epoch_.Lookup(i);
    if (!e.ok()) return e.status();
    if (e->has_value() && (*e)->until_ns > now) until = std::max<uint64_t>(until, (*e)->until_ns);
  }
  auto current = epoch_.Lookup(0);
  if (!current.ok()) return current.status();
  abi::ila_nexthop_lease shared = current->value_or(abi::ila_nexthop_lease{});
  if (op == LeaseOp::kNewEpoch) {
    // Unique across processes keeping the same pinned instance: strictly after the current one
    // and after every epoch started before this moment.
    shared.epoch = std::max<uint64_t>({MonotonicNs(), shared.epoch + 1, 1});
  } else if (op == LeaseOp::kOff || until == 0) {
    shared.epoch = 0;
  }
  shared.until_ns = until;
  shared.checked_jiffies = 0;  // the programs read the clock again
  return epoch_.Update(0, shared);
}

NexthopCacheState NexthopKeeper::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void NexthopKeeper::NewEpoch() {
  absl::Status st = UpdateLease(LeaseOp::kNewEpoch);
  absl::MutexLock lock(&mu_);
  if (!st.ok()) {
    state_.enabled = false;
    state_.reason = absl::StrCat("cannot start a new epoch: ", st.message());
    return;
  }
  ++state_.invalidations;
}

void NexthopKeeper::SetOff(const std::string& reason) {
  absl::Status st = UpdateLease(LeaseOp::kOff);
  absl::MutexLock lock(&mu_);
  state_.enabled = false;
  state_.reason =
      st.ok() ? reason : absl::StrCat(reason, "; and switching off failed: ", st.message());
}

void NexthopKeeper::Reevaluate() {
  auto obstacle = PerLocatorRoutingObstacle();
  if (!obstacle.ok()) {
    SetOff(absl::StrCat("cannot read the routing configuration: ", obstacle.status().message()));
    return;
  }
  if (!obstacle->empty()) {
    SetOff(*obstacle);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    state_.enabled = true;
    state_.reason.clear();
  }
  NewEpoch();
}

void NexthopKeeper::FailStart(absl::Status st) {
  (void)UpdateLease(LeaseOp::kOff);
  absl::MutexLock lock(&mu_);
  start_error_ = std::move(st);
  started_ = true;
}

bool NexthopKeeper::CacheEnabled() const {
  absl::MutexLock lock(&mu_);
  return state_.enabled;
}

void NexthopKeeper::Run() {
  if (!InNamespace(netns_.get()) && setns(netns_.get(), CLONE_NEWNET) != 0) {
    FailStart(absl::InternalError(
        absl::StrCat("the next-hop cache keeper cannot enter the data plane's network namespace: ",
                     std::strerror(errno))));
    return;
  }
  // Subscribe first, then read the configuration: a change in between is seen as a notification.
  auto monitor = RoutingMonitor::Open();
  if (!monitor.ok()) {
    FailStart(monitor.status());
    return;
  }
  Reevaluate();
  {
    absl::MutexLock lock(&mu_);
    started_ = true;
  }
  Watch(*monitor);
}

void NexthopKeeper::Watch(RoutingMonitor& monitor) {
  Timing t;
  t.last_renewal = Clock::now();
  t.last_epoch = Clock::now();
  t.last_evaluation = Clock::now();
  for (;;) {
    const int timeout_ms = PollTimeoutMs(t);
    pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {monitor.fd(), POLLIN, 0}};
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) {
      SetOff(absl::StrCat("waiting for routing changes failed: ", std::strerror(errno)));
      return;
    }
    if (fds[0].revents) return;
    const bool enabled = CacheEnabled();
    if (fds[1].revents && !TakeRoutingChanges(monitor, enabled, t)) return;
    RenewDue(enabled, t);
  }
}

int NexthopKeeper::PollTimeoutMs(const Timing& t) const {
  const auto now = Clock::now();
  auto until = [&now](Clock::time_point at) {
    return static_cast<int>(
        std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(at - now).count()));
  };
  int timeout_ms = until(t.last_renewal + kLeaseRenew);
  if (refresh_.count() > 0) timeout_ms = std::min(timeout_ms, until(t.last_epoch + refresh_));
  if (t.reevaluate_due) {
    const int r = until(t.last_evaluation + kMinReevaluateInterval);
    timeout_ms = std::min(timeout_ms, r);
  }
  return timeout_ms;
}

bool NexthopKeeper::TakeRoutingChanges(RoutingMonitor& monitor, bool enabled, Timing& t) {
  auto change = monitor.Drain(!enabled);
  if (!change.ok()) {
    SetOff(std::string(change.status().message()));
    return false;
  }
  // Retire what was learned before the change first; deciding whether the cache may stay on
  // takes a dump and comes second.
  if (change->invalidate && enabled) {
    NewEpoch();
    t.last_epoch = Clock::now();
  }
  if (change->reevaluate) t.reevaluate_due = true;
  return true;
}

void NexthopKeeper::RenewDue(bool enabled, Timing& t) {
  const auto after = Clock::now();
  if (after - t.last_renewal >= kLeaseRenew) {
    if (absl::Status st = UpdateLease(LeaseOp::kRenew); !st.ok()) {
      SetOff(absl::StrCat("renewing the keeper's lease failed: ", st.message()));
    }
    t.last_renewal = after;
  }
  if (t.reevaluate_due && after - t.last_evaluation >= kMinReevaluateInterval) {
    Reevaluate();
    t.last_evaluation = t.last_epoch = Clock::now();
    t.reevaluate_due = false;
  } else if (t.reevaluate_due && enabled) {
    // The change may be one the cache cannot represent: off until the configuration is read.
    SetOff("re-reading the routing configuration after a change");
  } else if (refresh_.count() > 0 && after - t.last_epoch >= refresh_) {
    if (enabled) NewEpoch();
    t.last_epoch = after;
  }
}

}  // namespace ila::internal
