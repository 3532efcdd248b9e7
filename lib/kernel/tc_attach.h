// tc (clsact ingress) filters, for AttachMode::kTc: libila's one filter per interface is clsact
// ingress, handle 0x11a, priority 1, direct action. The clsact qdisc is created when missing and
// left in place on detach (other filters may use it). Thread-safe; acts in the calling thread's
// network namespace.
#ifndef ILA_LIB_TC_ATTACH_H_
#define ILA_LIB_TC_ATTACH_H_

#include <cstdint>

#include "absl/status/status.h"

namespace ila::internal {

// FailedPrecondition when the interface already has a filter at libila's handle and priority.
absl::Status AttachTcIngress(int ifindex, int prog_fd);
// Swaps the filter's program for `prog_fd` atomically, if it runs `expected_prog_id` now.
absl::Status ReplaceTcIngress(int ifindex, int prog_fd, uint32_t expected_prog_id);
// Removes the filter if it runs `prog_id` (nothing to do when the interface or filter is gone).
absl::Status DetachTcIngress(int ifindex, uint32_t prog_id);

}  // namespace ila::internal

#endif  // ILA_LIB_TC_ATTACH_H_
