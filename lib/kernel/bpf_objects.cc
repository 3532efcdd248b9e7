#include "kernel/bpf_objects.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ila::internal {
namespace {

template <typename Info>
absl::StatusOr<Info> ObjectInfo(int fd, const std::string& what) {
  Info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    return absl::Status(absl::ErrnoToStatusCode(errno),
                        absl::StrCat(what, ": get info failed: ", std::strerror(errno)));
  }
  return info;
}

}  // namespace

absl::StatusOr<bpf_map_info> MapInfo(int fd, const std::string& what) {
  return ObjectInfo<bpf_map_info>(fd, what);
}

absl::StatusOr<bpf_prog_info> ProgInfo(int fd, const std::string& what) {
  return ObjectInfo<bpf_prog_info>(fd, what);
}

uint32_t ProgramId(int fd) {
  auto info = ProgInfo(fd, "program");
  return info.ok() ? info->id : 0;
}

OwnedFd ProgramById(uint32_t id) { return OwnedFd(bpf_prog_get_fd_by_id(id)); }

OwnedFd OpenPinned(const std::string& path) { return OwnedFd(bpf_obj_get(path.c_str())); }

}  // namespace ila::internal
