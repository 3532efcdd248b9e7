// Interface lookups and XDP attachment over rtnetlink (NETLINK_ROUTE), framed by netlink_wire.h
// (which says why by hand), in netlink_links.cc, netlink_netns.cc and netlink_routing.cc. Every
// call opens its own short-lived netlink socket in the calling thread's network namespace, so the
// functions are thread-safe and follow a thread that has setns()'d elsewhere.
//
// Network namespace ids ("nsids") are always relative to the namespace of the calling thread:
// LinkInfo::peer_netnsid from GetLink() can be passed straight back to GetLinkInNetns() and
// SetXdpInNetns() from the same namespace. This is what lets libila reach the container end of a
// veth pair (to attach a pass-through XDP program so its NAPI path runs and XDP_REDIRECT into the
// host end works) without the calling thread entering the container's namespace.
#ifndef ILA_LIB_NETLINK_H_
#define ILA_LIB_NETLINK_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ila::internal {

// The index of the interface called `name` in the calling thread's network namespace.
// NotFound when there is none; InvalidArgument when `name` cannot be an interface name (empty or
// longer than IFNAMSIZ-1 = 15 bytes).
absl::StatusOr<int> IndexOfInterface(std::string_view name);

// The name of interface `ifindex`. NotFound when there is none.
absl::StatusOr<std::string> InterfaceName(int ifindex);

// The Ethernet (IFLA_ADDRESS) address of interface `ifindex`. FailedPrecondition when the link
// has no 6-byte hardware address (e.g. a tun or ip6tnl device).
absl::StatusOr<std::array<uint8_t, 6>> InterfaceMac(int ifindex);

// What RTM_GETLINK reports about one link.
struct LinkInfo {
  int ifindex = 0;
  std::string name;
  // IFLA_LINKINFO/IFLA_INFO_KIND: "veth", "dummy", "bridge", ...; "" for links without one
  // (loopback, most physical NICs).
  std::string kind;
  // IFLA_LINK: for a veth, the peer's ifindex, which is an index in the peer's own namespace
  // (see peer_netnsid). For stacked devices (vlan, macvlan) it is the lower device. 0 if absent.
  int peer_ifindex = 0;
  // IFLA_LINK_NETNSID: set only when the IFLA_LINK device lives in a different namespace from
  // this link. The id is in the id space of the *calling* thread's namespace (the kernel allocates
  // one on demand when reporting it). Note the special case: when this link was read with
  // GetLinkInNetns() and its peer is in the caller's own namespace, the kernel still reports an
  // id, the one the caller's namespace has for itself.
  std::optional<int> peer_netnsid;
  // IFLA_XDP/IFLA_XDP_PROG_ID: the attached XDP program's id, 0 if none. When programs are
  // attached in several modes at once (XDP_ATTACHED_MULTI) the kernel omits IFLA_XDP_PROG_ID and
  // this is the driver-mode program's id, else the generic (skb) one, else the offloaded one.
  uint32_t xdp_prog_id = 0;
  // IFLA_XDP/IFLA_XDP_ATTACHED: XDP_ATTACHED_NONE, _DRV, _SKB, _HW or _MULTI.
  uint8_t xdp_attached_mode = 0;
  uint32_t mtu = 0;  // IFLA_MTU
  uint16_t type =
      0;  // ifi_type: ARPHRD_ETHER for Ethernet, ARPHRD_LOOPBACK, ARPHRD_NONE (tun), ...
};

// InvalidArgument naming `what` unless link `ifindex` is an Ethernet interface (ARPHRD_ETHER): the
// programs parse and write Ethernet headers, so loopback, tun or wireguard devices cannot carry
// containers or the underlay.
absl::Status RequireEthernet(int ifindex, std::string_view what);

// Reads link `ifindex` of the calling thread's namespace. NotFound when there is none.
absl::StatusOr<LinkInfo> GetLink(int ifindex);

// Reads link `ifindex` of the namespace the calling thread's namespace knows as `netnsid`
// (RTM_GETLINK with IFLA_TARGET_NETNSID; needs CAP_NET_ADMIN over that namespace).
absl::StatusOr<LinkInfo> GetLinkInNetns(int netnsid, int ifindex);

// ----- XDP attachment ----------------------------------------------------------------------
//
// Why there is no "RTM_SETLINK + IFLA_TARGET_NETNSID": in RTM_GETLINK/RTM_DELLINK that attribute
// selects the namespace the link is looked up in, but RTM_SETLINK/RTM_NEWLINK treat it like
// IFLA_NET_NS_FD, as the namespace to *move* the link into. The ifindex is then looked up in the
// caller's namespace, so such a request moves whatever local link has the peer's index into the
// container's namespace and attaches the program there (verified on 6.18; see netlink_test). A
// netlink socket acts in the namespace it was created in, so the only way to change a link of
// another namespace is a socket created there: these functions create it on a short-lived helper
// thread that setns()es into the target, so the calling thread never changes namespace. That
// needs CAP_SYS_ADMIN (setns) besides CAP_NET_ADMIN.
//
// `flags` are XDP_FLAGS_* from <linux/if_link.h> (e.g. XDP_FLAGS_DRV_MODE; detaching must name
// the mode that was attached, or none to let the kernel pick the driver mode when the device has
// one). prog_fd == -1 detaches. With `expected_fd` the change is atomic: it only happens if the
// program attached now is `*expected_fd` (-1: if none is), and `flags` must then include
// XDP_FLAGS_REPLACE (InvalidArgument otherwise, and for REPLACE without an expected fd); a
// mismatch is FailedPrecondition. Errors name the interface and carry the kernel's errno text and
// extended-ack message (e.g. "Active program does not match expected").

// On link `ifindex` of the calling thread's namespace.
absl::Status SetXdp(int ifindex, int prog_fd, uint32_t flags, std::optional<int> expected_fd);

// On link `ifindex` of the namespace `netns_fd` refers to (/run/netns/NAME, /proc/PID/ns/net).
absl::Status SetXdpInNetnsFd(int netns_fd, int ifindex, int prog_fd, uint32_t flags,
                             std::optional<int> expected_fd);

// On link `ifindex` of the namespace the calling thread's namespace knows as `netnsid` (e.g. a
// veth's LinkInfo::peer_netnsid), or of the caller's own without one. The id is turned into a
// namespace fd with OpenNetnsById(), so it works when some process or nsfs bind mount visible
// here holds that namespace (always true for a live container); NotFound otherwise.
absl::Status SetXdpInNetns(std::optional<int> netnsid, int ifindex, int prog_fd, uint32_t flags,
                           std::optional<int> expected_fd);

// ----- Namespaces ---------------------------------------------------------------------------

// The id the calling thread's namespace has for the namespace `netns_fd` refers to, via
// RTM_GETNSID (which never assigns one). NotFound when no id is assigned yet; the kernel assigns
// one the first time a link report needs it (e.g. GetLink() on a veth whose peer is there).
absl::StatusOr<int> NetnsIdOf(int netns_fd);

// Opens (O_RDONLY|O_CLOEXEC; the caller closes it) the namespace the calling thread's namespace
// knows as `netnsid`. The kernel has no "open namespace by id", so this asks RTM_GETNSID about
// each candidate: the thread's own namespace, nsfs bind mounts from /proc/self/mountinfo (ip
// netns, container runtimes), then /proc/PID/ns/net of every process, each namespace once.
// NotFound when none matches.
absl::StatusOr<int> OpenNetnsById(int netnsid);

// Turns transmit checksum offload of link `ifindex` (in the namespace known as `netnsid`, or the
// caller's) on or off (SIOCETHTOOL ETHTOOL_STXCSUM). A veth whose sender leaves checksums to
// offload hands XDP packets whose checksum is only the pseudo-header sum; redirected, they arrive
// with a wrong checksum, so the container side of a veth must compute checksums itself.
absl::Status SetTxChecksumOffload(std::optional<int> netnsid, int ifindex, bool on);

// Runs `fn` on a helper thread that has setns()'d into `netns_fd`, and returns its status (or why
// the thread could not get there). Sockets `fn` creates live in that namespace; the calling
// thread's namespace never changes. `fn` must not throw.
absl::Status RunInNetns(int netns_fd, const std::function<absl::Status()>& fn);

// ----- Routing configuration, for the next-hop cache -----------------------------------------

// Why, in the calling thread's namespace, one bpf_fib_lookup answer for a destination might not
// hold for every other destination under its locator (/64), or "" when it does. Checked: IPv6
// policy rules other than the two defaults (priority 0 -> local, 32766 -> main) or with selectors,
// multipath, nexthop-object and source-specific IPv6 routes, VRF devices, and any interface
// (other than lo) with IPv6 forwarding off (bpf_fib_lookup refuses to forward from those).
// Routes are dumped in full: proportional to the routing table's size.
absl::StatusOr<std::string> PerLocatorRoutingObstacle();

// What a batch of rtnetlink notifications means for FIB answers already stored.
struct RoutingChange {
  bool invalidate = false;  // something a FIB answer can depend on changed
  // ... possibly in a way that changes PerLocatorRoutingObstacle() (rules, netconf, links, next-hop
  // objects, multipath or source-specific routes), or any route change while `obstructed`
  bool reevaluate = false;
  bool overflow = false;  // notifications were lost (socket buffer full): assume anything changed
};

// A NETLINK_ROUTE socket, in the namespace of the thread that opens it, subscribed to every
// notification a FIB answer can depend on: links, IPv6 addresses, routes, rules and netconf,
// neighbours, next-hop objects. Not thread-safe: one thread reads it.
class RoutingMonitor {
 public:
  static absl::StatusOr<RoutingMonitor> Open();
  RoutingMonitor(RoutingMonitor&& o) noexcept;
  RoutingMonitor& operator=(RoutingMonitor&&) = delete;
  RoutingMonitor(const RoutingMonitor&) = delete;
  ~RoutingMonitor();

  int fd() const { return fd_; }  // readable when notifications are pending (poll it)
  // Reads every pending notification without blocking and says what they mean. `obstructed`:
  // the cache is off now, so any route change may have removed the obstacle.
  absl::StatusOr<RoutingChange> Drain(bool obstructed);

 private:
  explicit RoutingMonitor(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace ila::internal

#endif  // ILA_LIB_NETLINK_H_
