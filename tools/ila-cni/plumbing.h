// A container's network plumbing over rtnetlink (libmnl framing): the veth pair between the
// host's namespace (the calling thread's) and the container's (CNI_NETNS), its addresses, routes
// and neighbour entry. What ila-cni's ADD creates, DEL removes and CHECK compares; the data plane
// (endpoint, mapping) is the agent's, never this file's.
//
// The shape is the one every libila container has (examples/containers.cc does the same with ip):
//   host side       <host_veth>, up, fe80::1/64 (no DAD); route <sir>/128 dev <host_veth>
//   container side  <container_if> with `mac`, up, <sir>/128 (no DAD); default route via fe80::1
//                   dev <container_if>; a permanent neighbour fe80::1 -> the host side's MAC (no
//                   neighbour discovery before the first packet); the MTU when one is given.
//
// Thread safety: each call opens its own sockets; calls may run concurrently. The calling thread
// never changes namespace (the container's side is reached through a socket opened in it).
#ifndef ILA_CNI_PLUMBING_H_
#define ILA_CNI_PLUMBING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/types.h"

namespace ila::cni {

struct ContainerLink {
  std::string host_veth;     // in the calling thread's namespace (at most 15 characters)
  std::string container_if;  // CNI_IFNAME, inside the container's namespace
  std::string netns_path;    // CNI_NETNS, e.g. /proc/<pid>/ns/net or /run/netns/<name>
  SirAddress sir;            // the container's address (/128)
  MacAddress mac;            // the container side's MAC
  int mtu = 0;               // 0: the kernel's default
};

// What Plumb made, for the CNI result.
struct Plumbed {
  MacAddress host_mac;       // the host side's (the container's gateway)
  MacAddress container_mac;  // the container side's
  int host_ifindex = 0;
  int container_ifindex = 0;
};

// Creates and configures both sides. Nothing half-applied: on any failure the pair is deleted
// again. Errors name the step and carry the kernel's message (errno, extended ack): an unopenable
// netns path is NotFound, a name in use on either side AlreadyExists.
[[nodiscard]] absl::StatusOr<Plumbed> Plumb(const ContainerLink& link);

// The same configuration on a pair an earlier plugin of the list made (`host_veth` and
// `container_if` exist; `mac` is not used: the container side keeps its own): for a dual-stack pod
// whose IPv4 plugin made the veth. The links stay the earlier plugin's. On failure, what was added
// is removed again.
[[nodiscard]] absl::StatusOr<Plumbed> Adopt(const ContainerLink& link);
// Removes what Adopt added; what is already gone (the earlier plugin deleted the links, the
// namespace is gone) is success. With an empty netns_path, only the host side.
[[nodiscard]] absl::Status Unadopt(const ContainerLink& link);

// Deletes `host_veth` (the kernel deletes its peer with it). OK when there is no such link.
[[nodiscard]] absl::Status Unplumb(const std::string& host_veth);

// What differs between the two namespaces and `link`, one human-readable line each (empty: all
// as Plumb made it): the host side missing or down, its route missing; the container side
// missing, down, without the address, with another MAC, without the default route via fe80::1.
// An error only when the namespace cannot be opened (NotFound).
[[nodiscard]] absl::StatusOr<std::vector<std::string>> Differences(const ContainerLink& link);

}  // namespace ila::cni

#endif  // ILA_CNI_PLUMBING_H_
