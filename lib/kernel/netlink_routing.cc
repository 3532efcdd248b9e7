// The routing configuration a per-locator FIB answer depends on, and the monitor of its changes
// (netlink.h, for the next-hop cache).
#include "kernel/netlink.h"
#include "kernel/netlink_wire.h"

namespace ila::internal {

using namespace rtnl;  // NOLINT: this file is written in rtnl's terms

// ----- Routing configuration, for the next-hop cache -----------------------------------------

namespace {

// Runs one dump request with family header `header` and hands every reply of `reply_type` to
// `on_reply` (its payload starts with the reply's family header).
template <typename Header>
absl::Status Dump(uint16_t request_type, const Header& header, uint16_t reply_type,
                  std::string_view what,
                  const std::function<absl::Status(std::span<const uint8_t>)>& on_reply) {
  auto sock = RouteSocket::Open(what);
  if (!sock.ok()) return sock.status();
  Request req(request_type, NLM_F_REQUEST | NLM_F_DUMP);
  req.PutFamilyHeader(header);
  return sock->Transact(req, what, [&](const nlmsghdr& m, std::span<const uint8_t> payload) {
    if (m.nlmsg_type != reply_type) return absl::OkStatus();
    return on_reply(payload);
  });
}

std::string RuleObstacle(std::span<const uint8_t> payload, std::string_view what,
                         absl::Status* error) {
  if (payload.size() < sizeof(fib_rule_hdr)) {
    *error = Malformed(what);
    return "";
  }
  const auto h = Load<fib_rule_hdr>(payload);
  uint32_t priority = 0;
  uint32_t table = h.table;
  bool selectors = h.dst_len != 0 || h.src_len != 0 || h.tos != 0 || h.action != FR_ACT_TO_TBL;
  AttrReader r(payload.subspan(Align4(sizeof(fib_rule_hdr))));
  while (auto a = r.Next()) {
    switch (a->type) {
      case FRA_PRIORITY: priority = AttrValue<uint32_t>(*a).value_or(0); break;
      case FRA_TABLE: table = AttrValue<uint32_t>(*a).value_or(table); break;
      case FRA_IIFNAME:
      case FRA_OIFNAME:
      case FRA_FWMARK:
      case FRA_L3MDEV:
      case FRA_UID_RANGE:
      case FRA_IP_PROTO:
      case FRA_SPORT_RANGE:
      case FRA_DPORT_RANGE: selectors = true; break;
      case FRA_SUPPRESS_PREFIXLEN:
      case FRA_SUPPRESS_IFGROUP:
        // Always reported; -1 means unset.
        if (AttrValue<int32_t>(*a).value_or(-1) != -1) selectors = true;
        break;
      default: break;
    }
  }
  if (r.malformed()) *error = Malformed(what);
  const bool is_default = !selectors && ((priority == 0 && table == RT_TABLE_LOCAL) ||
                                         (priority == 32766 && table == RT_TABLE_MAIN));
  if (is_default) return "";
  return absl::StrCat("an IPv6 policy rule (priority ", priority, ", table ", table,
                      ") can make the route depend on more than the destination");
}

std::string RouteObstacle(std::span<const uint8_t> payload, std::string_view what,
                          absl::Status* error) {
  if (payload.size() < sizeof(rtmsg)) {
    *error = Malformed(what);
    return "";
  }
  const auto rt = Load<rtmsg>(payload);
  if (rt.rtm_family != AF_INET6) return "";
  std::string dst = "::";
  bool multipath = false, nexthop_object = false;
  uint32_t table = rt.rtm_table;
  AttrReader r(payload.subspan(Align4(sizeof(rtmsg))));
  while (auto a = r.Next()) {
    if (a->type == RTA_DST && a->payload.size() == 16) {
      char text[INET6_ADDRSTRLEN];
      dst = inet_ntop(AF_INET6, a->payload.data(), text, sizeof(text)) ? text : "?";
    } else if (a->type == RTA_MULTIPATH) {
      multipath = true;
    } else if (a->type == RTA_NH_ID) {
      nexthop_object = true;
    } else if (a->type == RTA_TABLE) {
      table = AttrValue<uint32_t>(*a).value_or(table);
    }
  }
  if (r.malformed()) *error = Malformed(what);
  const std::string route = absl::StrCat(dst, "/", rt.rtm_dst_len, " (table ", table, ")");
  if (multipath) {
    return absl::StrCat("the multipath route ", route, " spreads flows by hash over next hops");
  }
  if (nexthop_object) {
    return absl::StrCat("the route ", route, " uses a next-hop object (possibly a group)");
  }
  if (rt.rtm_src_len != 0) {
    return absl::StrCat("the source-specific route ", route,
                        " makes the route depend on the source");
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> PerLocatorRoutingObstacle() {
  std::string obstacle;
  absl::Status error;
  auto keep_first = [&](std::string o) {
    if (obstacle.empty() && !o.empty()) obstacle = std::move(o);
  };

  fib_rule_hdr rule{};
  rule.family = AF_INET6;
  const std::string rules_what = "listing IPv6 policy rules";
  absl::Status st = Dump(RTM_GETRULE, rule, RTM_NEWRULE, rules_what, [&](auto payload) {
    keep_first(RuleObstacle(payload, rules_what, &error));
    return error;
  });
  if (!st.ok()) return st;

  rtmsg route{};
  route.rtm_family = AF_INET6;
  const std::string routes_what = "listing IPv6 routes";
  st = Dump(RTM_GETROUTE, route, RTM_NEWROUTE, routes_what, [&](auto payload) {
    if (obstacle.empty()) keep_first(RouteObstacle(payload, routes_what, &error));
    return error;
  });
  if (!st.ok()) return st;

  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  const std::string links_what = "listing interfaces";
  std::map<int, std::string> names;
  st = Dump(RTM_GETLINK, link, RTM_NEWLINK, links_what, [&](auto payload) {
    LinkInfo info;
    std::optional<int> unused;
    if (absl::Status s = ParseLink(payload, links_what, &info, nullptr, &unused); !s.ok()) return s;
    names[info.ifindex] = info.name;
    if (info.kind == "vrf") {
      keep_first(absl::StrCat("the VRF device ", info.name,
                              " gives its interfaces their own routing table"));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;

  netconfmsg conf{};
  conf.ncm_family = AF_INET6;
  const std::string conf_what = "reading IPv6 forwarding settings";
  st = Dump(RTM_GETNETCONF, conf, RTM_NEWNETCONF, conf_what, [&](auto payload) {
    std::optional<int32_t> ifindex, forwarding;
    AttrReader r(payload.subspan(Align4(sizeof(netconfmsg))));
    while (auto a = r.Next()) {
      if (a->type == NETCONFA_IFINDEX) ifindex = AttrValue<int32_t>(*a);
      if (a->type == NETCONFA_FORWARDING) forwarding = AttrValue<int32_t>(*a);
    }
    if (r.malformed()) return Malformed(conf_what);
    // Per interface only (not "all"/"default"), and lo never receives what XDP forwards.
    if (ifindex && *ifindex > 1 && forwarding && *forwarding == 0) {
      auto name = names.find(*ifindex);
      keep_first(absl::StrCat(
          "IPv6 forwarding is off on ",
          name == names.end() ? absl::StrCat("interface index ", *ifindex) : name->second,
          ", and the FIB refuses to forward what arrives there"));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return obstacle;
}

absl::StatusOr<RoutingMonitor> RoutingMonitor::Open() {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) {
    const int err = errno;
    return absl::Status(
        absl::ErrnoToStatusCode(err),
        absl::StrCat("opening a NETLINK_ROUTE socket to watch routing changes: ", ErrnoText(err)));
  }
  RoutingMonitor m(fd);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    const int err = errno;
    return absl::Status(
        absl::ErrnoToStatusCode(err),
        absl::StrCat("binding a netlink socket to watch routing changes: ", ErrnoText(err)));
  }
  // Bursts (an interface going down withdraws its routes one message each) must not overflow it;
  // FORCE needs CAP_NET_ADMIN, the plain size is the fallback.
  const int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  for (int group : {RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE,
                    RTNLGRP_IPV6_RULE, RTNLGRP_IPV6_NETCONF, RTNLGRP_NEXTHOP}) {
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0) {
      const int err = errno;
      return absl::Status(absl::ErrnoToStatusCode(err),
                          absl::StrCat("subscribing to rtnetlink group ", group,
                                       " to watch routing changes: ", ErrnoText(err)));
    }
  }
  return m;
}

RoutingMonitor::RoutingMonitor(RoutingMonitor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

RoutingMonitor::~RoutingMonitor() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<RoutingChange> RoutingMonitor::Drain(bool obstructed) {
  RoutingChange change;
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    const ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_TRUNC);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return change;
      if (err == ENOBUFS) {
        change.overflow = change.invalidate = change.reevaluate = true;
        continue;
      }
      return absl::Status(absl::ErrnoToStatusCode(err),
                          absl::StrCat("reading routing notifications: ", ErrnoText(err)));
    }
    if (static_cast<size_t>(n) > buf.size()) {  // truncated: its content is unknown
      change.overflow = change.invalidate = change.reevaluate = true;
      buf.resize(static_cast<size_t>(n));
      continue;
    }
    std::span<const uint8_t> rest(buf.data(), static_cast<size_t>(n));
    while (rest.size() >= sizeof(nlmsghdr)) {
      const auto h = Load<nlmsghdr>(rest);
      if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > rest.size()) break;
      auto payload = rest.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
      rest = rest.subspan(std::min<size_t>(Align4(h.nlmsg_len), rest.size()));
      switch (h.nlmsg_type) {
        case RTM_NEWNEIGH:
        case RTM_DELNEIGH:
          // Only IPv6 neighbours are next hops here.
          if (payload.size() >= sizeof(ndmsg) && Load<ndmsg>(payload).ndm_family == AF_INET6)
            change.invalidate = true;
          break;
        case RTM_NEWADDR:
        case RTM_DELADDR: change.invalidate = true; break;
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
          change.invalidate = true;
          absl::Status ignored;
          if (obstructed || !RouteObstacle(payload, "", &ignored).empty()) change.reevaluate = true;
          break;
        }
        case RTM_NEWLINK:
        case RTM_DELLINK: {
          // A VRF changes which table its interfaces use; other link changes reach routes and
          // forwarding through their own notifications.
          change.invalidate = true;
          LinkInfo link;
          std::optional<int> unused;
          if (!ParseLink(payload, "", &link, nullptr, &unused).ok() || link.kind == "vrf")
            change.reevaluate = true;
          break;
        }
        case RTM_NEWRULE:
        case RTM_DELRULE:
        case RTM_NEWNETCONF:
        case RTM_DELNETCONF:
        case RTM_NEWNEXTHOP:
        case RTM_DELNEXTHOP: change.invalidate = change.reevaluate = true; break;
        default: break;
      }
    }
  }
}

}  // namespace ila::internal
