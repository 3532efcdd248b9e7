// Small rtnetlink requests framed with libmnl: creating links of a kind, bringing a link up,
// adding a route with a lightweight-tunnel encapsulation. They act in the calling thread's network
// namespace (each opens its own socket) and return the kernel's errno and extended-ack message,
// which is what the feature probe reports when a kind or an encapsulation is missing.
#ifndef ILA_LIB_KERNEL_RTNL_REQUESTS_H_
#define ILA_LIB_KERNEL_RTNL_REQUESTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

struct nlmsghdr;

namespace ila::internal {

// Adds the attributes of IFLA_INFO_DATA (the kind's own options) to a RTM_NEWLINK request.
using LinkData = std::function<void(nlmsghdr*)>;

// RTM_NEWLINK of `kind` ("veth", "vxlan", "ip6tnl", ...) named `name`. With `data`, its
// attributes are nested in IFLA_INFO_DATA. The error carries errno and the extended ack
// (an unknown kind is "Operation not supported: Unknown device type").
absl::Status CreateLink(std::string_view kind, std::string_view name, const LinkData& data = {});
// A veth pair `name` <-> `peer`, both in the calling thread's namespace.
absl::Status CreateVethPair(std::string_view name, std::string_view peer);
// Sets IFF_UP on `ifindex`.
absl::Status SetLinkUp(int ifindex);

// Adds `dst`/128 via `ifindex` with a lightweight tunnel: RTA_ENCAP_TYPE `encap_type`
// (LWTUNNEL_ENCAP_*) and the attributes `encap` nests into RTA_ENCAP.
absl::Status AddEncapRoute(const uint8_t (&dst)[16], int ifindex, uint16_t encap_type,
                           const std::function<void(nlmsghdr*)>& encap);

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_RTNL_REQUESTS_H_
