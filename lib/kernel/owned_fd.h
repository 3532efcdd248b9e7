// The one owned file descriptor type of the library (and of the tests and benchmarks that use its
// internals): closed when the owner goes, movable, not copyable.
#ifndef ILA_LIB_KERNEL_OWNED_FD_H_
#define ILA_LIB_KERNEL_OWNED_FD_H_

#include <unistd.h>

#include <utility>

namespace ila::internal {

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

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_OWNED_FD_H_
