// A device's XDP features as the kernel announces them through the "netdev" generic netlink
// family (Linux 6.3+): asked without attaching anything, so it is safe on a NIC carrying traffic.
#ifndef ILA_LIB_KERNEL_NETDEV_FEATURES_H_
#define ILA_LIB_KERNEL_NETDEV_FEATURES_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace ila::internal {

// enum netdev_xdp_act (include/uapi/linux/netdev.h; newer than Debian 12's headers).
inline constexpr uint64_t kNetdevXdpActBasic = 1;
inline constexpr uint64_t kNetdevXdpActRedirect = 2;
inline constexpr uint64_t kNetdevXdpActNdoXmit = 4;
inline constexpr uint64_t kNetdevXdpActXskZerocopy = 8;

// NETDEV_A_DEV_XDP_FEATURES of `ifindex` (calling thread's namespace). Unimplemented when the
// kernel has no netdev family.
absl::StatusOr<uint64_t> NetdevXdpFeatures(int ifindex);

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_NETDEV_FEATURES_H_
