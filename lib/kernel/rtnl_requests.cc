#include "kernel/rtnl_requests.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/string_util.h"

namespace ila::internal {
namespace {

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

// The extended-ack message of an error reply, or "".
std::string ExtackMessage(const nlmsghdr* reply) {
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(reply));
  if (!(reply->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  // The TLVs follow the echoed request header (only its header when NLM_F_CAPPED).
  size_t offset = sizeof(*err);
  if (!(reply->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  const auto* start = reinterpret_cast<const uint8_t*>(err) + offset;
  const auto* end = reinterpret_cast<const uint8_t*>(reply) + reply->nlmsg_len;
  if (start >= end) return "";
  std::string message;
  for (const auto* a = reinterpret_cast<const nlattr*>(start);
       mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const uint8_t*>(a)));
       a = mnl_attr_next(a)) {
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG) message = mnl_attr_get_str(a);
  }
  return message;
}

// Sends `request` (with NLM_F_ACK) and waits for the kernel's answer.
absl::Status Transact(nlmsghdr* request, std::string_view what) {
  std::unique_ptr<mnl_socket, SocketCloser> nl(mnl_socket_open(NETLINK_ROUTE));
  if (!nl) return absl::InternalError(absl::StrCat("netlink socket: ", std::strerror(errno)));
  int one = 1;
  mnl_socket_setsockopt(nl.get(), NETLINK_EXT_ACK, &one, sizeof(one));
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return absl::InternalError(absl::StrCat("netlink bind: ", std::strerror(errno)));
  }
  request->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  request->nlmsg_seq = static_cast<uint32_t>(time(nullptr));
  if (mnl_socket_sendto(nl.get(), request, request->nlmsg_len) < 0) {
    return absl::InternalError(absl::StrCat(Av(what), ": netlink send: ", std::strerror(errno)));
  }
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  ssize_t n = mnl_socket_recvfrom(nl.get(), buf.data(), buf.size());
  if (n < 0)
    return absl::InternalError(absl::StrCat(Av(what), ": netlink receive: ", std::strerror(errno)));
  const auto* reply = reinterpret_cast<const nlmsghdr*>(buf.data());
  if (!mnl_nlmsg_ok(reply, static_cast<int>(n)) || reply->nlmsg_type != NLMSG_ERROR) {
    return absl::InternalError(absl::StrCat(Av(what), ": unexpected netlink reply"));
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(reply));
  if (err->error == 0) return absl::OkStatus();
  std::string extack = ExtackMessage(reply);
  return absl::Status(
      absl::ErrnoToStatusCode(-err->error),
      absl::StrCat(Av(what), ": ", std::strerror(-err->error), extack.empty() ? "" : ": ", extack));
}

nlmsghdr* NewLinkHeader(char* buf, uint16_t type, uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  return nlh;
}

}  // namespace

absl::Status CreateLink(std::string_view kind, std::string_view name, const LinkData& data) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = NewLinkHeader(buf.data(), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, std::string(name).c_str());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, std::string(kind).c_str());
  if (data) {
    nlattr* info_data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    data(nlh);
    mnl_attr_nest_end(nlh, info_data);
  }
  mnl_attr_nest_end(nlh, linkinfo);
  return Transact(nlh, absl::StrCat("creating a link of kind ", Av(kind)));
}

absl::Status CreateVethPair(std::string_view name, std::string_view peer) {
  std::string peer_name(peer);
  return CreateLink("veth", name, [&](nlmsghdr* nlh) {
    nlattr* p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name.c_str());
    mnl_attr_nest_end(nlh, p);
  });
}

absl::Status SetLinkUp(int ifindex) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = NewLinkHeader(buf.data(), RTM_NEWLINK, 0);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  ifm->ifi_index = ifindex;
  ifm->ifi_flags = IFF_UP;
  ifm->ifi_change = IFF_UP;
  return Transact(nlh, absl::StrCat("bringing ifindex ", ifindex, " up"));
}

absl::Status AddEncapRoute(const uint8_t (&dst)[16], int ifindex, uint16_t encap_type,
                           const std::function<void(nlmsghdr*)>& encap) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWROUTE;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET6;
  rtm->rtm_dst_len = 128;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put(nlh, RTA_DST, 16, dst);
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(ifindex));
  mnl_attr_put_u16(nlh, RTA_ENCAP_TYPE, encap_type);
  nlattr* nest = mnl_attr_nest_start(nlh, RTA_ENCAP);
  encap(nlh);
  mnl_attr_nest_end(nlh, nest);
  return Transact(nlh, "adding an encapsulation route");
}

}  // namespace ila::internal
