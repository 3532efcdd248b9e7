// MapLock and MapWriterLock: exclusive access for the writers of one BPF map (the slot table, the
// locator table, or ila_meta for the whole instance), across threads and processes.
//
// A writer takes the MapLock's mutex first (threads of one process share an open file
// description, which an OFD lock does not tell apart), then an open-file-description lock on the
// byte at the map's id in the map's file: every BPF map fd refers to the same inode, so handles in
// other processes (and other handles here) exclude each other, and the kernel drops the lock if
// its holder dies.
//
// fork() shares open file descriptions with the child, and with them OFD locks: a parent and a
// child locking through the same description would both get the lock. So the lock is taken
// through a description of this process's own: after a fork, the child (told by a pthread_atfork
// count, which costs no system call) opens the map again by id (BPF_MAP_GET_FD_BY_ID makes a new
// description). The mutex is copied by fork
// in whatever state it had: fork while another thread is inside a write, and the child must not
// write (the usual rule for fork in a threaded process; exec is always safe).
#ifndef ILA_LIB_MAP_WRITER_LOCK_H_
#define ILA_LIB_MAP_WRITER_LOCK_H_

#include <fcntl.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/owned_fd.h"

namespace ila::internal {

// What the writers of one map lock. Thread-safe.
class MapLock {
 public:
  // `map_fd` stays owned by the caller and must outlive this.
  MapLock(int map_fd, uint32_t map_id, std::string map_name);
  MapLock(const MapLock&) = delete;
  MapLock& operator=(const MapLock&) = delete;

  uint32_t map_id() const { return map_id_; }

 private:
  friend class MapWriterLock;
  // The fd to lock through in this process (under mu_).
  absl::StatusOr<int> FdOfThisProcess();

  std::mutex mu_;
  std::atomic<bool> held_{false};          // a writer of this process holds it
  std::atomic<std::thread::id> holder_{};  // the thread that took it, while held
  const int map_fd_;
  const uint32_t map_id_;
  const std::string map_name_;
  uint64_t forks_;    // the forks this process descends through when it locked (guarded by mu_)
  OwnedFd reopened_;  // this process's own description, after a fork (guarded by mu_)
};

// Holds a MapLock while alive. `wait` false: give up at once (Unavailable) if another writer holds
// it. `join`: when the lock is held in this process already, take part in that holder's write
// instead of waiting for it: kHolderThread when this very thread holds it (a reader inside a write
// that repairs what a dead writer left), kAnyThread when any thread does (one lock serves a whole
// instance and the slot tables inside it, whose writes, from any thread of the holder's write,
// happen only within a table write).
class MapWriterLock {
 public:
  enum class Join { kNo, kHolderThread, kAnyThread };
  explicit MapWriterLock(MapLock& lock, bool wait = true, Join join = Join::kNo);
  ~MapWriterLock();
  MapWriterLock(const MapWriterLock&) = delete;
  MapWriterLock& operator=(const MapWriterLock&) = delete;

  const absl::Status& status() const { return status_; }

 private:
  struct flock Range(short type) const;

  MapLock& lock_;
  std::unique_lock<std::mutex> mu_lock_;
  bool joined_ = false;  // took part in this process's holder's write
  int fd_ = -1;          // set while the file lock is held
  absl::Status status_;
};

}  // namespace ila::internal

#endif  // ILA_LIB_MAP_WRITER_LOCK_H_
