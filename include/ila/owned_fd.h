// ila::OwnedFd: a file descriptor with one owner, closed when the owner goes; movable, not
// copyable. The one owned-descriptor type of the tree: the library's own (BPF objects, maps,
// links, namespaces, netlink sockets) and that of programs built on it (the examples' sockets and
// namespaces).
#ifndef ILA_OWNED_FD_H_
#define ILA_OWNED_FD_H_

#include <unistd.h>

#include <utility>

namespace ila {

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  [[nodiscard]] int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace ila

#endif  // ILA_OWNED_FD_H_
