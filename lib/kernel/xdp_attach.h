// XDP attachment through libxdp (the library's only libxdp caller): attaching a loaded program to
// an interface in one mode, with libxdp's multi-program dispatcher when it can load, and detaching
// what was attached so.
#ifndef ILA_LIB_KERNEL_XDP_ATTACH_H_
#define ILA_LIB_KERNEL_XDP_ATTACH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ila::internal {

struct LibxdpAttachment {
  bool multiprog = false;  // behind libxdp's dispatcher
  std::string note;        // libxdp's reason for attaching the program alone, when it did
};

// Attaches `prog_fd` (not taken over) to `ifindex` in driver (`native`) or skb mode. The error is
// FailedPrecondition with errno's text and the last lines libxdp logged, e.g. "Operation not
// supported [libbpf: Kernel error message: Underlying driver does not support XDP ...]".
absl::StatusOr<LibxdpAttachment> LibxdpAttach(int prog_fd, int ifindex, bool native);
// Detaches program `prog_id` attached through the dispatcher; OK when it is gone already.
absl::Status LibxdpDetach(uint32_t prog_id, int ifindex, bool native);
// Replaces program `old_prog_id` in the interface's dispatcher by `new_prog_fd` (not taken over),
// keeping the dispatcher's other programs. FailedPrecondition when the interface has no dispatcher
// or it does not hold `old_prog_id`. On failure the dispatcher holds what it held before (or, if
// even that undo fails, the error says both programs are in it).
absl::Status LibxdpReplace(uint32_t old_prog_id, int new_prog_fd, int ifindex, bool native);

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_XDP_ATTACH_H_
