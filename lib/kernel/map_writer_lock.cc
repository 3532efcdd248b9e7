// MapLock and MapWriterLock (map_writer_lock.h).
#include "kernel/map_writer_lock.h"

#include <bpf/bpf.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ila::internal {
namespace {

// How many forks this process descends through: a child of fork adds one (pthread_atfork), so a
// MapLock notices it is in another process without a getpid() system call on every write.
std::atomic<uint64_t> g_forks{0};

uint64_t Forks() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { g_forks.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  return g_forks.load(std::memory_order_relaxed);
}

}  // namespace

MapLock::MapLock(int map_fd, uint32_t map_id, std::string map_name)
    : map_fd_(map_fd), map_id_(map_id), map_name_(std::move(map_name)), forks_(Forks()) {}

absl::StatusOr<int> MapLock::FdOfThisProcess() {
  const uint64_t now = Forks();
  if (now == forks_) return reopened_.valid() ? reopened_.get() : map_fd_;
  int fd = bpf_map_get_fd_by_id(map_id_);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(
        map_name_, ": opening the map again in a forked process failed: ", std::strerror(errno)));
  }
  reopened_ = OwnedFd(fd);
  forks_ = now;
  return fd;
}

MapWriterLock::MapWriterLock(MapLock& lock, bool wait, Join join)
    : lock_(lock), mu_lock_(lock.mu_, std::defer_lock) {
  if ((join == Join::kAnyThread && lock_.held_.load(std::memory_order_acquire)) ||
      (join == Join::kHolderThread &&
       lock_.holder_.load(std::memory_order_acquire) == std::this_thread::get_id())) {
    joined_ = true;
    return;
  }
  if (wait) {
    mu_lock_.lock();
  } else if (!mu_lock_.try_lock()) {
    status_ = absl::UnavailableError("busy");
    return;
  }
  auto fd = lock_.FdOfThisProcess();
  if (!fd.ok()) {
    status_ = fd.status();
    return;
  }
  struct flock fl = Range(F_WRLCK);
  while (fcntl(*fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR) {
      status_ = absl::Status(
          wait ? absl::StatusCode::kInternal : absl::StatusCode::kUnavailable,
          absl::StrCat(lock_.map_name_,
                       ": locking the table for writing failed: ", std::strerror(errno)));
      return;
    }
  }
  fd_ = *fd;
  lock_.holder_.store(std::this_thread::get_id(), std::memory_order_release);
  lock_.held_.store(true, std::memory_order_release);
}

MapWriterLock::~MapWriterLock() {
  if (joined_ || fd_ < 0) return;
  lock_.held_.store(false, std::memory_order_release);
  lock_.holder_.store(std::thread::id(), std::memory_order_release);
  struct flock fl = Range(F_UNLCK);
  (void)fcntl(fd_, F_OFD_SETLK, &fl);
}

struct flock MapWriterLock::Range(short type) const {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = lock_.map_id_;
  fl.l_len = 1;
  return fl;
}

}  // namespace ila::internal
