// Interface lookups over rtnetlink (RTM_GETLINK): names, indexes, MACs, link details.
#include "kernel/netlink.h"
#include "kernel/netlink_wire.h"

#include <linux/if_arp.h>

namespace ila::internal {

using namespace rtnl;  // NOLINT: this file is written in rtnl's terms

absl::Status rtnl::ParseLink(std::span<const uint8_t> payload, std::string_view what,
                             LinkInfo* link, std::vector<uint8_t>* mac,
                             std::optional<int>* echoed_target_nsid) {
  if (payload.size() < sizeof(ifinfomsg)) return Malformed(what);
  const auto ifi = Load<ifinfomsg>(payload);
  link->ifindex = ifi.ifi_index;
  link->type = ifi.ifi_type;
  AttrReader r(payload.subspan(Align4(sizeof(ifinfomsg))));
  std::optional<uint32_t> drv_id, skb_id, hw_id;
  while (auto a = r.Next()) {
    switch (a->type) {
      case IFLA_IFNAME: link->name = AttrString(*a); break;
      case IFLA_MTU:
        if (auto v = AttrValue<uint32_t>(*a)) link->mtu = *v;
        break;
      case IFLA_LINK:
        if (auto v = AttrValue<int32_t>(*a)) link->peer_ifindex = *v;
        break;
      case IFLA_LINK_NETNSID:
        if (auto v = AttrValue<int32_t>(*a)) link->peer_netnsid = *v;
        break;
      case IFLA_TARGET_NETNSID:
        if (auto v = AttrValue<int32_t>(*a)) *echoed_target_nsid = *v;
        break;
      case IFLA_ADDRESS:
        if (mac) mac->assign(a->payload.begin(), a->payload.end());
        break;
      case IFLA_LINKINFO: {
        AttrReader info(a->payload);
        while (auto i = info.Next()) {
          if (i->type == IFLA_INFO_KIND) link->kind = AttrString(*i);
        }
        if (info.malformed()) return Malformed(what);
        break;
      }
      case IFLA_XDP: {
        AttrReader xdp(a->payload);
        while (auto x = xdp.Next()) {
          switch (x->type) {
            case IFLA_XDP_ATTACHED:
              if (auto v = AttrValue<uint8_t>(*x)) link->xdp_attached_mode = *v;
              break;
            case IFLA_XDP_PROG_ID:
              if (auto v = AttrValue<uint32_t>(*x)) link->xdp_prog_id = *v;
              break;
            case IFLA_XDP_DRV_PROG_ID: drv_id = AttrValue<uint32_t>(*x); break;
            case IFLA_XDP_SKB_PROG_ID: skb_id = AttrValue<uint32_t>(*x); break;
            case IFLA_XDP_HW_PROG_ID: hw_id = AttrValue<uint32_t>(*x); break;
            default: break;
          }
        }
        if (xdp.malformed()) return Malformed(what);
        break;
      }
      default: break;
    }
  }
  if (r.malformed()) return Malformed(what);
  // With programs in several modes the kernel omits IFLA_XDP_PROG_ID; prefer the driver one.
  if (link->xdp_prog_id == 0)
    link->xdp_prog_id = drv_id.value_or(skb_id.value_or(hw_id.value_or(0)));
  return absl::OkStatus();
}

absl::StatusOr<LinkInfo> rtnl::QueryLink(std::optional<int> netnsid, int ifindex,
                                         std::string_view name, std::vector<uint8_t>* mac) {
  const std::string which = name.empty() ? absl::StrCat("interface index ", ifindex)
                                         : absl::StrCat("interface \"", Av(name), "\"");
  const std::string what = absl::StrCat("reading ", which, " in ", NetnsPhrase(netnsid));
  auto sock = RouteSocket::Open(what);
  if (!sock.ok()) return sock.status();
  if (netnsid && !sock->strict()) {
    return absl::UnimplementedError(absl::StrCat(
        what,
        ": the kernel lacks NETLINK_GET_STRICT_CHK, so it could silently ignore "
        "IFLA_TARGET_NETNSID and answer for this namespace instead (Linux 4.20+ needed)"));
  }

  Request req(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  req.PutFamilyHeader(ifi);
  if (!name.empty()) req.PutString(IFLA_IFNAME, name, "IFLA_IFNAME");
  if (netnsid) req.PutS32(IFLA_TARGET_NETNSID, *netnsid, "IFLA_TARGET_NETNSID");
  // Statistics are most of a link message and nobody here needs them.
  req.PutU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS, "IFLA_EXT_MASK");

  std::optional<LinkInfo> link;
  std::optional<int> echoed_nsid;
  std::optional<KernelError> kerr;
  absl::Status s = sock->Transact(
      req, what,
      [&](const nlmsghdr& h, std::span<const uint8_t> payload) -> absl::Status {
        if (h.nlmsg_type != RTM_NEWLINK || link) return absl::OkStatus();
        link.emplace();
        return ParseLink(payload, what, &*link, mac, &echoed_nsid);
      },
      &kerr);
  if (!s.ok()) {
    // An unknown IFLA_TARGET_NETNSID gets a bare EINVAL (rtnl_get_net_ns_capable() sets no
    // extended-ack message), which deserves a clearer word.
    if (kerr && kerr->err == EINVAL && netnsid && kerr->message.empty()) {
      return absl::NotFoundError(absl::StrCat(what, ": ", NetnsPhrase(netnsid),
                                              " is unknown here (kernel: ", kerr->Describe(), ")"));
    }
    if (kerr && kerr->err == ENODEV) {
      return absl::NotFoundError(
          name.empty()
              ? absl::StrCat("no interface with index ", ifindex, " in ", NetnsPhrase(netnsid))
              : absl::StrCat("no interface named ", Av(name), " in ", NetnsPhrase(netnsid)));
    }
    return s;
  }
  if (!link) {
    return absl::InternalError(absl::StrCat(what, ": the kernel acknowledged without a link"));
  }
  // The kernel echoes IFLA_TARGET_NETNSID when it honoured it; anything else means the answer is
  // about some other namespace.
  if (netnsid && echoed_nsid != netnsid) {
    return absl::InternalError(absl::StrCat(
        what, ": the kernel's answer does not confirm it came from ", NetnsPhrase(netnsid)));
  }
  return *std::move(link);
}

absl::StatusOr<int> IndexOfInterface(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", Av(name), "\" is not a valid interface name (1 to ", IFNAMSIZ - 1, " bytes)"));
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("interface name contains a NUL byte");
  }
  auto link = QueryLink(std::nullopt, 0, name, nullptr);
  if (!link.ok()) return link.status();
  return link->ifindex;
}

absl::StatusOr<std::string> InterfaceName(int ifindex) {
  if (ifindex <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface index ", ifindex));
  }
  auto link = QueryLink(std::nullopt, ifindex, "", nullptr);
  if (!link.ok()) return link.status();
  return link->name;
}

absl::StatusOr<std::array<uint8_t, 6>> InterfaceMac(int ifindex) {
  if (ifindex <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface index ", ifindex));
  }
  std::vector<uint8_t> addr;
  auto link = QueryLink(std::nullopt, ifindex, "", &addr);
  if (!link.ok()) return link.status();
  std::array<uint8_t, 6> mac{};
  if (addr.size() != mac.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("interface ", link->name, " (index ", ifindex, ") has a ", addr.size(),
                     "-byte hardware address, not an Ethernet MAC"));
  }
  std::copy(addr.begin(), addr.end(), mac.begin());
  return mac;
}

absl::Status RequireEthernet(int ifindex, std::string_view what) {
  auto link = GetLink(ifindex);
  if (!link.ok()) return link.status();
  if (link->type == ARPHRD_ETHER) return absl::OkStatus();
  std::string type = link->type == ARPHRD_LOOPBACK ? "loopback"
                     : link->type == ARPHRD_NONE   ? "none, as tun and wireguard devices"
                                                   : absl::StrCat(link->type);
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(what), ": ", link->name, " is not an Ethernet interface (link type ",
                   type, "); the data plane reads and writes Ethernet frames"));
}

absl::StatusOr<LinkInfo> GetLink(int ifindex) {
  if (ifindex <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface index ", ifindex));
  }
  return QueryLink(std::nullopt, ifindex, "", nullptr);
}

absl::StatusOr<LinkInfo> GetLinkInNetns(int netnsid, int ifindex) {
  if (ifindex <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface index ", ifindex));
  }
  if (netnsid < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid network namespace id ", netnsid));
  }
  return QueryLink(netnsid, ifindex, "", nullptr);
}

}  // namespace ila::internal
