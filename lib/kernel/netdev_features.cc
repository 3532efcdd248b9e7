#include "kernel/netdev_features.h"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cerrno>
#include <functional>
#include <optional>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ila::internal {
namespace {

// include/uapi/linux/netdev.h (Linux 6.3+).
constexpr uint8_t kNetdevCmdDevGet = 1;
constexpr uint16_t kNetdevADevIfindex = 1;
constexpr uint16_t kNetdevADevXdpFeatures = 3;

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

// Sends a generic netlink request and hands every attribute of the reply to `on_attr`.
absl::Status GenlRequest(mnl_socket* nl, uint16_t family, uint8_t cmd,
                         const std::function<void(nlmsghdr*)>& put,
                         const std::function<void(const nlattr*)>& on_attr) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = family;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = static_cast<uint32_t>(time(nullptr));
  auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
  g->cmd = cmd;
  g->version = 1;
  put(nlh);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    return absl::InternalError(absl::StrCat("genetlink send: ", std::strerror(errno)));
  }
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0)
      return absl::InternalError(absl::StrCat("genetlink receive: ", std::strerror(errno)));
    for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(m, static_cast<int>(n));
         m = mnl_nlmsg_next(m, reinterpret_cast<int*>(&n))) {
      if (m->nlmsg_type == NLMSG_ERROR) {
        int err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m))->error;
        if (err == 0) return absl::OkStatus();
        return absl::Status(absl::ErrnoToStatusCode(-err), std::strerror(-err));
      }
      if (m->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
      const auto* payload =
          static_cast<const char*>(mnl_nlmsg_get_payload_offset(m, sizeof(genlmsghdr)));
      const char* end = reinterpret_cast<const char*>(m) + m->nlmsg_len;
      for (const auto* a = reinterpret_cast<const nlattr*>(payload);
           mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a)));
           a = mnl_attr_next(a)) {
        on_attr(a);
      }
    }
  }
}

}  // namespace

absl::StatusOr<uint64_t> NetdevXdpFeatures(int ifindex) {
  std::unique_ptr<mnl_socket, SocketCloser> nl(mnl_socket_open(NETLINK_GENERIC));
  if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return absl::InternalError(absl::StrCat("generic netlink socket: ", std::strerror(errno)));
  }
  int family = 0;
  absl::Status st = GenlRequest(
      nl.get(), GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
      [](nlmsghdr* nlh) { mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "netdev"); },
      [&](const nlattr* a) {
        if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID) family = mnl_attr_get_u16(a);
      });
  if (!st.ok() || family == 0) {
    return absl::UnimplementedError(
        "the kernel has no netdev netlink family (Linux 6.3+) to report XDP features");
  }
  std::optional<uint64_t> features;
  st = GenlRequest(
      nl.get(), static_cast<uint16_t>(family), kNetdevCmdDevGet,
      [&](nlmsghdr* nlh) {
        mnl_attr_put_u32(nlh, kNetdevADevIfindex, static_cast<uint32_t>(ifindex));
      },
      [&](const nlattr* a) {
        if (mnl_attr_get_type(a) == kNetdevADevXdpFeatures) features = mnl_attr_get_u64(a);
      });
  if (!st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("netdev dev-get of ifindex ", ifindex, ": ", st.message()));
  }
  if (!features) return absl::UnimplementedError("the netdev family reported no XDP features");
  return *features;
}

}  // namespace ila::internal
