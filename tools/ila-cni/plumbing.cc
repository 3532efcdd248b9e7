// The veth pair of a container over rtnetlink, framed with libmnl.
#include "plumbing.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ila/owned_fd.h"
#include "rtnl.h"

namespace ila::cni {
namespace {

// The host side's address: every container's gateway, the same on every host veth.
constexpr Ipv6Address kGateway = Ipv6Address::FromHalves(uint64_t{0xfe80} << 48, 1);

absl::Status CheckName(absl::string_view what, const std::string& name) {
  if (!name.empty() && name.size() < IFNAMSIZ) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("ila-cni: ", what, " '", name, "' is not 1 to ", IFNAMSIZ - 1, " characters"));
}

struct LinkState {
  int index = 0;
  bool up = false;
  MacAddress mac;
  int mtu = 0;
};

// The link called `name`; NotFound (ENODEV) when there is none.
absl::StatusOr<LinkState> GetLink(Netlink& nl, const std::string& name) {
  Request r(RTM_GETLINK, 0);
  r.Header<ifinfomsg>();
  mnl_attr_put_strz(r.get(), IFLA_IFNAME, name.c_str());
  LinkState link;
  absl::Status st = nl.Run(r, absl::StrCat("reading link ", name), [&](const nlmsghdr* m) {
    const auto* ifi = HeaderOf<ifinfomsg>(m);
    if (m->nlmsg_type != RTM_NEWLINK || ifi == nullptr) return;
    link.index = ifi->ifi_index;
    link.up = (ifi->ifi_flags & IFF_UP) != 0;
    std::vector<const nlattr*> tb = AttributesOf<ifinfomsg>(m, IFLA_MAX);
    std::array<uint8_t, 6> mac{};
    if (tb[IFLA_ADDRESS] != nullptr && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == mac.size()) {
      std::memcpy(mac.data(), mnl_attr_get_payload(tb[IFLA_ADDRESS]), mac.size());
      link.mac = MacAddress(mac);
    }
    link.mtu = static_cast<int>(U32(tb[IFLA_MTU]).value_or(0));
  });
  if (!st.ok()) return st;
  if (link.index == 0) return absl::InternalError("ila-cni: reading link " + name + ": no answer");
  return link;
}

absl::Status CreatePair(Netlink& host, const ContainerLink& link, int ns_fd) {
  Request r(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  r.Header<ifinfomsg>();
  nlmsghdr* nlh = r.get();
  mnl_attr_put_strz(nlh, IFLA_IFNAME, link.host_veth.c_str());
  // Both sides share the MTU: a veth drops what is larger than its peer's MTU.
  if (link.mtu > 0) mnl_attr_put_u32(nlh, IFLA_MTU, static_cast<uint32_t>(link.mtu));
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  // The peer is a link request of its own: an ifinfomsg, then its attributes.
  mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg));
  mnl_attr_put_strz(nlh, IFLA_IFNAME, link.container_if.c_str());
  mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(ns_fd));
  if (!link.mac.IsZero()) mnl_attr_put(nlh, IFLA_ADDRESS, 6, link.mac.bytes().data());
  if (link.mtu > 0) mnl_attr_put_u32(nlh, IFLA_MTU, static_cast<uint32_t>(link.mtu));
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return host.Run(r, absl::StrCat("creating veth ", link.host_veth, " with peer ",
                                  link.container_if, " in ", link.netns_path));
}

absl::Status DeleteLink(Netlink& nl, const std::string& name) {
  Request r(RTM_DELLINK, 0);
  r.Header<ifinfomsg>();
  mnl_attr_put_strz(r.get(), IFLA_IFNAME, name.c_str());
  return nl.Run(r, absl::StrCat("deleting ", name));
}

// `index` 0: by name.
absl::Status SetUp(Netlink& nl, int index, const std::string& name) {
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.Header<ifinfomsg>();
  ifi->ifi_index = index;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (index == 0) mnl_attr_put_strz(r.get(), IFLA_IFNAME, name.c_str());
  return nl.Run(r, absl::StrCat("bringing ", name, " up"));
}

absl::Status AddAddress(Netlink& nl, int index, const std::string& dev, const Ipv6Address& address,
                        int prefix) {
  Request r(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifa = r.Header<ifaddrmsg>();
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = static_cast<uint8_t>(prefix);
  ifa->ifa_flags = IFA_F_NODAD;
  ifa->ifa_index = static_cast<uint32_t>(index);
  mnl_attr_put(r.get(), IFA_LOCAL, 16, address.bytes().data());
  mnl_attr_put_u32(r.get(), IFA_FLAGS, IFA_F_NODAD);
  return nl.Run(r, absl::StrCat("adding ", address.ToString(), "/", prefix, " to ", dev));
}

struct Route {
  Ipv6Address dst;
  int prefix = 128;
  std::optional<Ipv6Address> gateway;
  int oif = 0;

  std::string Describe(const std::string& dev) const {
    return absl::StrCat(dst.ToString(), "/", prefix,
                        gateway ? absl::StrCat(" via ", gateway->ToString()) : "", " dev ", dev);
  }
};

absl::Status AddRoute(Netlink& nl, const Route& route, const std::string& dev) {
  Request r(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  auto* rtm = r.Header<rtmsg>();
  rtm->rtm_family = AF_INET6;
  rtm->rtm_dst_len = static_cast<uint8_t>(route.prefix);
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  if (route.prefix > 0) mnl_attr_put(r.get(), RTA_DST, 16, route.dst.bytes().data());
  if (route.gateway) mnl_attr_put(r.get(), RTA_GATEWAY, 16, route.gateway->bytes().data());
  mnl_attr_put_u32(r.get(), RTA_OIF, static_cast<uint32_t>(route.oif));
  return nl.Run(r, absl::StrCat("adding route ", route.Describe(dev)));
}

absl::Status AddNeighbour(Netlink& nl, int index, const std::string& dev, const MacAddress& mac) {
  // Replace, not exclusive: the kernel may have made an entry of its own once the link was up.
  Request r(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  auto* ndm = r.Header<ndmsg>();
  ndm->ndm_family = AF_INET6;
  ndm->ndm_ifindex = index;
  ndm->ndm_state = NUD_PERMANENT;
  mnl_attr_put(r.get(), NDA_DST, 16, kGateway.bytes().data());
  mnl_attr_put(r.get(), NDA_LLADDR, 6, mac.bytes().data());
  return nl.Run(r, absl::StrCat("adding neighbour ", kGateway.ToString(), " lladdr ",
                                mac.ToString(), " to ", dev));
}

// Deletes what a RTM_NEW* request of `type` (address, route, neighbour) added: the same message
// as RTM_DEL*. What is not there (any more) is success.
absl::Status Remove(Netlink& nl, Request& request, absl::string_view step) {
  absl::Status st = nl.Run(request, step);
  if (absl::IsNotFound(st) || absl::IsInvalidArgument(st) || absl::IsFailedPrecondition(st)) {
    return absl::OkStatus();  // ENOENT, ESRCH, EADDRNOTAVAIL, ENODEV: already gone
  }
  return st;
}

absl::Status DeleteAddress(Netlink& nl, int index, const std::string& dev,
                           const Ipv6Address& address, int prefix) {
  Request r(RTM_DELADDR, 0);
  auto* ifa = r.Header<ifaddrmsg>();
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = static_cast<uint8_t>(prefix);
  ifa->ifa_index = static_cast<uint32_t>(index);
  mnl_attr_put(r.get(), IFA_LOCAL, 16, address.bytes().data());
  return Remove(nl, r, absl::StrCat("removing ", address.ToString(), "/", prefix, " from ", dev));
}

absl::Status DeleteRoute(Netlink& nl, const Route& route, const std::string& dev) {
  Request r(RTM_DELROUTE, 0);
  auto* rtm = r.Header<rtmsg>();
  rtm->rtm_family = AF_INET6;
  rtm->rtm_dst_len = static_cast<uint8_t>(route.prefix);
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_scope = RT_SCOPE_NOWHERE;
  if (route.prefix > 0) mnl_attr_put(r.get(), RTA_DST, 16, route.dst.bytes().data());
  if (route.gateway) mnl_attr_put(r.get(), RTA_GATEWAY, 16, route.gateway->bytes().data());
  mnl_attr_put_u32(r.get(), RTA_OIF, static_cast<uint32_t>(route.oif));
  return Remove(nl, r, absl::StrCat("removing route ", route.Describe(dev)));
}

absl::Status DeleteNeighbour(Netlink& nl, int index, const std::string& dev) {
  Request r(RTM_DELNEIGH, 0);
  auto* ndm = r.Header<ndmsg>();
  ndm->ndm_family = AF_INET6;
  ndm->ndm_ifindex = index;
  mnl_attr_put(r.get(), NDA_DST, 16, kGateway.bytes().data());
  return Remove(nl, r, absl::StrCat("removing neighbour ", kGateway.ToString(), " from ", dev));
}

// Whether an IPv6 dump of `type` (family header T) holds a message `match` accepts.
template <typename T>
absl::StatusOr<bool> Contains(Netlink& nl, uint16_t type, absl::string_view step,
                              const std::function<bool(const nlmsghdr*, const T&)>& match) {
  Request r(type, NLM_F_DUMP);
  // Every rtnetlink family header starts with the family.
  *reinterpret_cast<uint8_t*>(r.Header<T>()) = AF_INET6;
  bool found = false;
  absl::Status st = nl.Run(r, step, [&](const nlmsghdr* m) {
    const T* header = HeaderOf<T>(m);
    if (header != nullptr && !found) found = match(m, *header);
  });
  if (!st.ok()) return st;
  return found;
}

absl::StatusOr<bool> HasAddress(Netlink& nl, int index, const Ipv6Address& address, int prefix) {
  return Contains<ifaddrmsg>(
      nl, RTM_GETADDR, "reading addresses", [&](const nlmsghdr* m, const ifaddrmsg& ifa) {
        std::vector<const nlattr*> tb = AttributesOf<ifaddrmsg>(m, IFA_MAX);
        return m->nlmsg_type == RTM_NEWADDR && ifa.ifa_index == static_cast<uint32_t>(index) &&
               ifa.ifa_prefixlen == prefix &&
               (PayloadIs(tb[IFA_ADDRESS], address.bytes()) ||
                PayloadIs(tb[IFA_LOCAL], address.bytes()));
      });
}

absl::StatusOr<bool> HasRoute(Netlink& nl, const Route& route) {
  return Contains<rtmsg>(
      nl, RTM_GETROUTE, "reading routes", [&](const nlmsghdr* m, const rtmsg& rtm) {
        std::vector<const nlattr*> tb = AttributesOf<rtmsg>(m, RTA_MAX);
        return m->nlmsg_type == RTM_NEWROUTE && rtm.rtm_dst_len == route.prefix &&
               U32(tb[RTA_TABLE]).value_or(rtm.rtm_table) == RT_TABLE_MAIN &&
               (route.prefix == 0 || PayloadIs(tb[RTA_DST], route.dst.bytes())) &&
               (!route.gateway || PayloadIs(tb[RTA_GATEWAY], route.gateway->bytes())) &&
               U32(tb[RTA_OIF]) == static_cast<uint32_t>(route.oif);
      });
}

absl::StatusOr<bool> HasNeighbour(Netlink& nl, int index, const MacAddress& mac) {
  return Contains<ndmsg>(
      nl, RTM_GETNEIGH, "reading neighbours", [&](const nlmsghdr* m, const ndmsg& ndm) {
        std::vector<const nlattr*> tb = AttributesOf<ndmsg>(m, NDA_MAX);
        return m->nlmsg_type == RTM_NEWNEIGH && ndm.ndm_ifindex == index &&
               (ndm.ndm_state & NUD_PERMANENT) && PayloadIs(tb[NDA_DST], kGateway.bytes()) &&
               PayloadIs(tb[NDA_LLADDR], mac.bytes());
      });
}

Route HostRoute(const Ipv6Address& sir, int oif) {
  return {.dst = sir, .prefix = 128, .gateway = std::nullopt, .oif = oif};
}
Route DefaultRoute(int oif) { return {.dst = {}, .prefix = 0, .gateway = kGateway, .oif = oif}; }

// Both namespaces of a call: the container's (held open) and a socket in each.
struct Sides {
  OwnedFd ns;
  Netlink host;
  Netlink container;
};

absl::StatusOr<Sides> Open(const ContainerLink& link) {
  if (absl::Status st = CheckName("host veth", link.host_veth); !st.ok()) return st;
  if (absl::Status st = CheckName("container interface", link.container_if); !st.ok()) return st;
  absl::StatusOr<OwnedFd> ns = OpenNetns(link.netns_path);
  if (!ns.ok()) return ns.status();
  absl::StatusOr<Netlink> host = Netlink::Open("");
  if (!host.ok()) return host.status();
  absl::StatusOr<Netlink> container = OpenIn(ns->get(), link.netns_path);
  if (!container.ok()) return container.status();
  return Sides{std::move(*ns), std::move(*host), std::move(*container)};
}

absl::StatusOr<Plumbed> Configure(Netlink& host, Netlink& container, const ContainerLink& link) {
  const std::string& hv = link.host_veth;
  const std::string& cif = link.container_if;
  const Ipv6Address sir = link.sir.address();
  absl::StatusOr<LinkState> h = GetLink(host, hv);
  if (!h.ok()) return h.status();
  absl::StatusOr<LinkState> c = GetLink(container, cif);
  if (!c.ok()) return c.status();
  // Links go up before routes: the kernel refuses a route whose nexthop device is down.
  const std::function<absl::Status()> steps[] = {
      [&] { return AddAddress(host, h->index, hv, kGateway, 64); },
      [&] { return AddAddress(container, c->index, cif, sir, 128); },
      [&] { return SetUp(host, h->index, hv); },
      [&] { return SetUp(container, c->index, cif); },
      [&] { return SetUp(container, 0, "lo"); },
      [&] { return AddRoute(host, HostRoute(sir, h->index), hv); },
      [&] { return AddRoute(container, DefaultRoute(c->index), cif); },
      [&] { return AddNeighbour(container, c->index, cif, h->mac); },
  };
  for (const auto& step : steps) {
    if (absl::Status st = step(); !st.ok()) return st;
  }
  return Plumbed{.host_mac = h->mac,
                 .container_mac = c->mac,
                 .host_ifindex = h->index,
                 .container_ifindex = c->index};
}

}  // namespace

absl::StatusOr<Plumbed> Plumb(const ContainerLink& link) {
  absl::StatusOr<Sides> sides = Open(link);
  if (!sides.ok()) return sides.status();
  if (absl::Status st = CreatePair(sides->host, link, sides->ns.get()); !st.ok()) return st;
  absl::StatusOr<Plumbed> plumbed = Configure(sides->host, sides->container, link);
  if (!plumbed.ok()) {
    // The peer, addresses, routes and neighbour all go with the host side.
    if (absl::Status st = DeleteLink(sides->host, link.host_veth); !st.ok()) {
      return absl::Status(plumbed.status().code(), absl::StrCat(plumbed.status().message(),
                                                                "; cleaning up: ", st.message()));
    }
  }
  return plumbed;
}

absl::StatusOr<Plumbed> Adopt(const ContainerLink& link) {
  absl::StatusOr<Sides> sides = Open(link);
  if (!sides.ok()) return sides.status();
  absl::StatusOr<Plumbed> plumbed = Configure(sides->host, sides->container, link);
  if (!plumbed.ok()) (void)Unadopt(link);
  return plumbed;
}

absl::Status Unadopt(const ContainerLink& link) {
  if (absl::Status st = CheckName("host veth", link.host_veth); !st.ok()) return st;
  absl::StatusOr<Netlink> host = Netlink::Open("");
  if (!host.ok()) return host.status();
  const Ipv6Address sir = link.sir.address();
  absl::StatusOr<LinkState> h = GetLink(*host, link.host_veth);
  if (h.ok()) {
    if (absl::Status st = DeleteRoute(*host, HostRoute(sir, h->index), link.host_veth); !st.ok()) {
      return st;
    }
    if (absl::Status st = DeleteAddress(*host, h->index, link.host_veth, kGateway, 64); !st.ok()) {
      return st;
    }
  } else if (!absl::IsNotFound(h.status())) {
    return h.status();
  }
  if (link.netns_path.empty()) return absl::OkStatus();
  absl::StatusOr<OwnedFd> ns = OpenNetns(link.netns_path);
  if (!ns.ok()) return absl::OkStatus();  // the namespace is gone, and all of it with it
  absl::StatusOr<Netlink> container = OpenIn(ns->get(), link.netns_path);
  if (!container.ok()) return container.status();
  absl::StatusOr<LinkState> c = GetLink(*container, link.container_if);
  if (!c.ok()) return absl::IsNotFound(c.status()) ? absl::OkStatus() : c.status();
  const std::string& cif = link.container_if;
  if (absl::Status st = DeleteRoute(*container, DefaultRoute(c->index), cif); !st.ok()) return st;
  if (absl::Status st = DeleteNeighbour(*container, c->index, cif); !st.ok()) return st;
  return DeleteAddress(*container, c->index, cif, sir, 128);
}

absl::Status Unplumb(const std::string& host_veth) {
  if (absl::Status st = CheckName("host veth", host_veth); !st.ok()) return st;
  absl::StatusOr<Netlink> host = Netlink::Open("");
  if (!host.ok()) return host.status();
  absl::Status st = DeleteLink(*host, host_veth);
  return absl::IsNotFound(st) ? absl::OkStatus() : st;  // ENODEV: already gone
}

absl::StatusOr<std::vector<std::string>> Differences(const ContainerLink& link) {
  absl::StatusOr<Sides> sides = Open(link);
  if (!sides.ok()) return sides.status();

  const std::string& hv = link.host_veth;
  const std::string& cif = link.container_if;
  const Ipv6Address sir = link.sir.address();
  std::vector<std::string> out;
  absl::Status failed;
  auto expect = [&](const absl::StatusOr<bool>& present, std::string missing) {
    if (!present.ok() && failed.ok()) failed = present.status();
    if (present.ok() && !*present) out.push_back(std::move(missing));
  };

  std::optional<MacAddress> host_mac;
  absl::StatusOr<LinkState> h = GetLink(sides->host, hv);
  if (absl::IsNotFound(h.status())) {
    out.push_back(absl::StrCat("host side veth '", hv, "' does not exist"));
  } else if (!h.ok()) {
    return h.status();
  } else {
    host_mac = h->mac;
    if (!h->up) out.push_back(absl::StrCat("host side veth ", hv, " is down"));
    expect(HasAddress(sides->host, h->index, kGateway, 64),
           absl::StrCat("host address ", kGateway.ToString(), "/64 on ", hv, " is missing"));
    const Route route = HostRoute(sir, h->index);
    expect(HasRoute(sides->host, route),
           absl::StrCat("host route ", route.Describe(hv), " is missing"));
  }

  absl::StatusOr<LinkState> c = GetLink(sides->container, cif);
  if (absl::IsNotFound(c.status())) {
    out.push_back(
        absl::StrCat("container interface '", cif, "' does not exist in ", link.netns_path));
  } else if (!c.ok()) {
    return c.status();
  } else {
    if (!c->up) out.push_back(absl::StrCat("container interface ", cif, " is down"));
    if (!link.mac.IsZero() && c->mac != link.mac) {
      out.push_back(absl::StrCat("container interface ", cif, " has MAC ", c->mac.ToString(),
                                 " instead of ", link.mac.ToString()));
    }
    if (link.mtu > 0 && c->mtu != link.mtu) {
      out.push_back(
          absl::StrCat("container interface ", cif, " has MTU ", c->mtu, " instead of ", link.mtu));
    }
    expect(HasAddress(sides->container, c->index, sir, 128),
           absl::StrCat("container address ", sir.ToString(), "/128 on ", cif, " is missing"));
    const Route route = DefaultRoute(c->index);
    expect(HasRoute(sides->container, route),
           absl::StrCat("container route ", route.Describe(cif), " is missing"));
    if (host_mac) {
      expect(HasNeighbour(sides->container, c->index, *host_mac),
             absl::StrCat("container neighbour ", kGateway.ToString(), " lladdr ",
                          host_mac->ToString(), " dev ", cif, " (permanent) is missing"));
    }
  }
  if (!failed.ok()) return failed;
  return out;
}

}  // namespace ila::cni
