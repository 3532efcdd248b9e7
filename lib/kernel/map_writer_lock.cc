// MapLock and MapWriterLock (map_writer_lock.h).
#include "kernel/map_writer_lock.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ila::internal {

MapLock::MapLock(int map_fd, uint32_t map_id, std::string map_name)
    : map_fd_(map_fd), map_id_(map_id), map_name_(std::move(map_name)), pid_(getpid()) {}

absl::StatusOr<int> MapLock::FdOfThisProcess() {
  const pid_t now = getpid();
  if (now == pid_) return reopened_.valid() ? reopened_.get() : map_fd_;
  int fd = bpf_map_get_fd_by_id(map_id_);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(
        map_name_, ": opening the map again in a forked process failed: ", std::strerror(errno)));
  }
  reopened_ = OwnedFd(fd);
  pid_ = now;
  return fd;
}

MapWriterLock::MapWriterLock(MapLock& lock, bool wait)
    : lock_(lock), mu_lock_(lock.mu_, std::defer_lock) {
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
}

MapWriterLock::~MapWriterLock() {
  if (fd_ < 0) return;
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
