// BPF objects found by fd, id or pin: the only callers of bpf_obj_get*, bpf_obj_get_info_by_fd
// and bpf_prog_get_fd_by_id (maps' contents go through bpf_map.h, loading through object.h).
// Thread-safe; acts on the calling process's fds.
#ifndef ILA_LIB_KERNEL_BPF_OBJECTS_H_
#define ILA_LIB_KERNEL_BPF_OBJECTS_H_

#include <linux/bpf.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ila/owned_fd.h"

namespace ila::internal {

// What the kernel says about the map or program behind `fd`; the error names `what`.
absl::StatusOr<bpf_map_info> MapInfo(int fd, const std::string& what);
absl::StatusOr<bpf_prog_info> ProgInfo(int fd, const std::string& what);
// The kernel id of the program behind `fd`, 0 when it cannot be read.
uint32_t ProgramId(int fd);
// A new fd of program `id` (fd -1 when it is gone, or not permitted).
OwnedFd ProgramById(uint32_t id);
// The object pinned at `path` (fd -1, errno set, when there is none).
OwnedFd OpenPinned(const std::string& path);

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_BPF_OBJECTS_H_
