// MapWriterLock: exclusive access for the writers of one memory-mapped BPF map (the slot table,
// the locator table), across threads and processes.
//
// It takes the handle's mutex first (threads of one process share the handle's open file
// description, which an OFD lock does not tell apart), then an open-file-description lock on the
// byte at the map's id in the map's file: every fd of one map refers to the same inode, so handles
// in other processes (and other handles here) exclude each other, and the kernel drops the lock if
// its holder dies. `wait` false: give up at once (Unavailable) if another writer holds it.
#ifndef ILA_LIB_MAP_WRITER_LOCK_H_
#define ILA_LIB_MAP_WRITER_LOCK_H_

#include <fcntl.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ila::internal {

class MapWriterLock {
 public:
  MapWriterLock(std::mutex& mu, int map_fd, uint32_t map_id, const std::string& map_name,
                bool wait = true)
      : fd_(map_fd), offset_(map_id), mu_lock_(mu, std::defer_lock) {
    if (wait) {
      mu_lock_.lock();
    } else if (!mu_lock_.try_lock()) {
      status_ = absl::UnavailableError("busy");
      return;
    }
    struct flock fl = Range(F_WRLCK);
    while (fcntl(fd_, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
      if (errno != EINTR) {
        status_ = absl::Status(wait ? absl::StatusCode::kInternal : absl::StatusCode::kUnavailable,
                               absl::StrCat(map_name, ": locking the table for writing failed: ",
                                            std::strerror(errno)));
        return;
      }
    }
    held_ = true;
  }
  ~MapWriterLock() {
    if (!held_) return;
    struct flock fl = Range(F_UNLCK);
    (void)fcntl(fd_, F_OFD_SETLK, &fl);
  }
  MapWriterLock(const MapWriterLock&) = delete;
  MapWriterLock& operator=(const MapWriterLock&) = delete;

  const absl::Status& status() const { return status_; }

 private:
  struct flock Range(short type) const {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = offset_;
    fl.l_len = 1;
    return fl;
  }

  int fd_;
  off_t offset_;
  std::unique_lock<std::mutex> mu_lock_;
  bool held_ = false;
  absl::Status status_;
};

}  // namespace ila::internal

#endif  // ILA_LIB_MAP_WRITER_LOCK_H_
