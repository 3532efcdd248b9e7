#include "kernel/netlink.h"




#include <arpa/inet.h>
#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/fib_rules.h>
#include <linux/netconf.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/string_util.h"
#include "kernel/owned_fd.h"

namespace ila::internal {
namespace {

// How long to wait for the kernel's answer. rtnetlink requests are handled synchronously in the
// sendmsg() call, so the answer is already queued when recv() runs; the timeout only guards against
// a wedged socket turning into a hung control plane.
constexpr int kReplyTimeoutSeconds = 5;

// Netlink messages and attributes are both aligned to 4 bytes (NLMSG_ALIGNTO == NLA_ALIGNTO).
constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

std::string ErrnoText(int err) { return std::strerror(err); }

// ----- Request building ---------------------------------------------------------------------

// One netlink request: a header, a fixed family header, then attributes (possibly nested). Every
// attribute records a label so that the kernel's NLMSGERR_ATTR_OFFS ("this attribute is the bad
// one") can be reported by name.
class Request {
 public:
  Request(uint16_t type, uint16_t flags) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    // Constructed in place rather than appended: GCC's -O3 array-bounds analysis misreads an
    // append to the empty vector as an out-of-bounds move.
    const auto* bytes = reinterpret_cast<const uint8_t*>(&h);
    buf_.assign(bytes, bytes + sizeof(h));
  }

  template <typename T>
  void PutFamilyHeader(const T& t) {
    Append(&t, sizeof(t));
  }

  void PutAttr(uint16_t type, const void* data, size_t len, const char* label) {
    const size_t total = NLA_HDRLEN + len;
    if (total > UINT16_MAX) {
      too_big_ = true;
      return;
    }
    labels_.emplace_back(buf_.size(), label);
    nlattr a{};
    a.nla_len = static_cast<uint16_t>(total);
    a.nla_type = type;
    Append(&a, sizeof(a));
    Append(data, len);
  }
  void PutU32(uint16_t type, uint32_t v, const char* label) { PutAttr(type, &v, sizeof(v), label); }
  void PutS32(uint16_t type, int32_t v, const char* label) { PutAttr(type, &v, sizeof(v), label); }
  void PutString(uint16_t type, std::string_view s, const char* label) {
    std::string z(s);  // the kernel wants the terminating NUL inside the attribute
    PutAttr(type, z.c_str(), z.size() + 1, label);
  }

  // Starts a nested attribute; EndNest(returned offset) fixes up its length.
  size_t BeginNest(uint16_t type, const char* label) {
    const size_t at = buf_.size();
    PutAttr(static_cast<uint16_t>(type | NLA_F_NESTED), nullptr, 0, label);
    return at;
  }
  void EndNest(size_t at) {
    const size_t len = buf_.size() - at;
    if (len > UINT16_MAX) {
      too_big_ = true;
      return;
    }
    const auto len16 = static_cast<uint16_t>(len);
    std::memcpy(buf_.data() + at + offsetof(nlattr, nla_len), &len16, sizeof(len16));
  }

  // Stamps length and sequence number; the result is ready for send().
  absl::StatusOr<std::span<const uint8_t>> Finish(uint32_t seq) {
    if (too_big_ || buf_.size() > UINT32_MAX) {
      return absl::InternalError("netlink request does not fit its length fields");
    }
    const auto len = static_cast<uint32_t>(buf_.size());
    std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof(len));
    std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof(seq));
    return std::span<const uint8_t>(buf_);
  }

  // The label of the attribute that starts at byte `offset` of the request, or "".
  std::string LabelAt(uint32_t offset) const {
    for (const auto& [at, label] : labels_) {
      if (at == offset) return label;
    }
    return "";
  }

 private:
  void Append(const void* data, size_t len) {
    const size_t at = buf_.size();
    buf_.resize(at + Align4(len), 0);  // padding stays zeroed
    if (len > 0) std::memcpy(buf_.data() + at, data, len);
  }

  std::vector<uint8_t> buf_;
  std::vector<std::pair<size_t, std::string>> labels_;
  bool too_big_ = false;
};

// ----- Reply parsing ------------------------------------------------------------------------

// Reads a trivially copyable T from the front of `bytes` (which must be large enough); memcpy
// because netlink buffers carry no alignment guarantee beyond 4 bytes.
template <typename T>
T Load(std::span<const uint8_t> bytes) {
  T t;
  std::memcpy(&t, bytes.data(), sizeof(T));
  return t;
}

struct Attr {
  uint16_t type;  // with NLA_F_NESTED / NLA_F_NET_BYTEORDER masked off
  std::span<const uint8_t> payload;
};

// Walks the attributes packed in a byte range. A truncated or self-inconsistent attribute ends the
// walk and marks the range malformed, so callers never read past what the kernel sent.
class AttrReader {
 public:
  explicit AttrReader(std::span<const uint8_t> bytes) : rest_(bytes) {}

  std::optional<Attr> Next() {
    if (rest_.size() < NLA_HDRLEN) {
      if (!rest_.empty()) malformed_ = true;
      return std::nullopt;
    }
    const auto a = Load<nlattr>(rest_);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > rest_.size()) {
      malformed_ = true;
      rest_ = {};
      return std::nullopt;
    }
    Attr out{static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK),
             rest_.subspan(NLA_HDRLEN, a.nla_len - NLA_HDRLEN)};
    // The last attribute's padding may be missing; never step past the end.
    rest_ = rest_.subspan(std::min<size_t>(Align4(a.nla_len), rest_.size()));
    return out;
  }

  bool malformed() const { return malformed_; }

 private:
  std::span<const uint8_t> rest_;
  bool malformed_ = false;
};

template <typename T>
std::optional<T> AttrValue(const Attr& a) {
  if (a.payload.size() < sizeof(T)) return std::nullopt;
  return Load<T>(a.payload);
}

// A NUL-terminated string attribute; tolerates a missing NUL by stopping at the payload's end.
std::string AttrString(const Attr& a) {
  const auto* p = reinterpret_cast<const char*>(a.payload.data());
  return std::string(p, strnlen(p, a.payload.size()));
}

absl::Status Malformed(std::string_view what) {
  return absl::InternalError(
      absl::StrCat("malformed netlink reply from the kernel while ", Av(what)));
}

// What the kernel said about a failed request: errno plus, with NETLINK_EXT_ACK, a message and the
// offending attribute.
struct KernelError {
  int err = 0;
  std::string message;                   // NLMSGERR_ATTR_MSG
  std::string bad_attr;                  // label of the attribute at NLMSGERR_ATTR_OFFS
  std::optional<uint32_t> missing_type;  // NLMSGERR_ATTR_MISS_TYPE

  std::string Describe() const {
    std::string s = ErrnoText(err);
    if (!message.empty()) absl::StrAppend(&s, " (kernel says: ", message, ")");
    if (!bad_attr.empty()) absl::StrAppend(&s, " [rejected attribute ", bad_attr, "]");
    if (missing_type) absl::StrAppend(&s, " [missing attribute type ", *missing_type, "]");
    return s;
  }
};

// Parses the payload of an NLMSG_ERROR message. Returns nullopt for a malformed one.
std::optional<KernelError> ParseError(const nlmsghdr& h, std::span<const uint8_t> payload,
                                      const Request& req) {
  if (payload.size() < sizeof(nlmsgerr)) return std::nullopt;
  const auto e = Load<nlmsgerr>(payload);
  KernelError out;
  out.err = -e.error;
  if (out.err == 0 || !(h.nlmsg_flags & NLM_F_ACK_TLVS)) return out;
  // The TLVs follow the echoed request: just its header when the ack is capped, else all of it.
  size_t tlv_at = sizeof(nlmsgerr);
  if (!(h.nlmsg_flags & NLM_F_CAPPED)) {
    if (e.msg.nlmsg_len < sizeof(nlmsghdr)) return std::nullopt;
    tlv_at += e.msg.nlmsg_len - sizeof(nlmsghdr);
  }
  tlv_at = Align4(tlv_at);
  if (tlv_at > payload.size()) return out;  // no room for TLVs after all
  AttrReader r(payload.subspan(tlv_at));
  while (auto a = r.Next()) {
    switch (a->type) {
      case NLMSGERR_ATTR_MSG:
        out.message = AttrString(*a);
        break;
      case NLMSGERR_ATTR_OFFS:
        if (auto off = AttrValue<uint32_t>(*a)) out.bad_attr = req.LabelAt(*off);
        break;
      case NLMSGERR_ATTR_MISS_TYPE:
        out.missing_type = AttrValue<uint32_t>(*a);
        break;
      default:
        break;
    }
  }
  return out;
}

// ----- Transport ----------------------------------------------------------------------------

// A NETLINK_ROUTE socket in the calling thread's current network namespace (sockets are bound to
// the namespace they are created in, which is what makes setns()'d threads work).
class RouteSocket {
 public:
  static absl::StatusOr<RouteSocket> Open(std::string_view what) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
      const int err = errno;
      return absl::Status(
          absl::ErrnoToStatusCode(err),
          absl::StrCat("opening a NETLINK_ROUTE socket for ", Av(what), ": ", ErrnoText(err)));
    }
    RouteSocket s(fd);
    const int one = 1;
    // Extended acks carry the kernel's human-readable reason, far more useful than EINVAL alone.
    // CAP_ACK keeps acks from echoing the whole request. Both are best effort (old kernels).
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    // Strict checking makes the kernel reject GET requests carrying attributes it does not
    // understand instead of silently ignoring them. Without it a kernel lacking
    // IFLA_TARGET_NETNSID would answer about the link with that ifindex in *our* namespace.
    s.strict_ = setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one)) == 0;
    timeval tv{};
    tv.tv_sec = kReplyTimeoutSeconds;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
      const int err = errno;
      return absl::InternalError(absl::StrCat("setting SO_RCVTIMEO on a netlink socket for ",
                                              Av(what), ": ", ErrnoText(err)));
    }
    return s;
  }

  RouteSocket(RouteSocket&& o) noexcept : fd_(std::exchange(o.fd_, -1)), strict_(o.strict_) {}
  RouteSocket& operator=(RouteSocket&&) = delete;
  RouteSocket(const RouteSocket&) = delete;
  ~RouteSocket() {
    if (fd_ >= 0) close(fd_);
  }

  bool strict() const { return strict_; }

  // Sends `req` (always with NLM_F_ACK, so that every request ends in exactly one NLMSG_ERROR) and
  // hands each reply message other than the ack to `on_reply`. Returns the kernel's error, if any,
  // described in terms of `what`.
  absl::Status Transact(
      Request& req, std::string_view what,
      const std::function<absl::Status(const nlmsghdr&, std::span<const uint8_t>)>& on_reply,
      std::optional<KernelError>* kernel_error = nullptr) {
    const uint32_t seq = ++seq_;
    auto bytes = req.Finish(seq);
    if (!bytes.ok()) return bytes.status();
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent;
    do {
      sent = sendto(fd_, bytes->data(), bytes->size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      const int err = errno;
      return absl::Status(
          absl::ErrnoToStatusCode(err),
          absl::StrCat("sending netlink request for ", Av(what), ": ", ErrnoText(err)));
    }
    if (static_cast<size_t>(sent) != bytes->size()) {
      return absl::InternalError(absl::StrCat("short netlink send for ", Av(what)));
    }

    std::vector<uint8_t> buf;
    for (;;) {
      // Peek to learn the datagram's full size, so nothing is ever truncated.
      ssize_t n;
      do {
        n = recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC);
      } while (n < 0 && errno == EINTR);
      if (n >= 0) {
        buf.resize(std::max<size_t>(static_cast<size_t>(n), 1));
        sockaddr_nl from{};
        socklen_t from_len = sizeof(from);
        do {
          n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                       &from_len);
        } while (n < 0 && errno == EINTR);
        if (n >= 0 && from.nl_pid != 0) continue;  // not from the kernel: ignore
      }
      if (n < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          return absl::DeadlineExceededError(
              absl::StrCat("no netlink reply from the kernel within ", kReplyTimeoutSeconds,
                           " s while ", Av(what)));
        }
        return absl::Status(
            absl::ErrnoToStatusCode(err),
            absl::StrCat("receiving netlink reply while ", Av(what), ": ", ErrnoText(err)));
      }
      std::span<const uint8_t> rest(buf.data(), static_cast<size_t>(n));
      while (rest.size() >= sizeof(nlmsghdr)) {
        const auto h = Load<nlmsghdr>(rest);
        if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > rest.size()) return Malformed(what);
        auto payload = rest.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
        rest = rest.subspan(std::min<size_t>(Align4(h.nlmsg_len), rest.size()));
        if (h.nlmsg_seq != seq) continue;  // a stale answer to an earlier request
        if (h.nlmsg_type == NLMSG_ERROR) {
          auto e = ParseError(h, payload, req);
          if (!e) return Malformed(what);
          if (e->err == 0) return absl::OkStatus();
          if (kernel_error) *kernel_error = *e;
          return absl::Status(absl::ErrnoToStatusCode(e->err),
                              absl::StrCat(Av(what), ": ", e->Describe()));
        }
        if (h.nlmsg_type == NLMSG_DONE) return absl::OkStatus();
        if (h.nlmsg_type == NLMSG_NOOP || h.nlmsg_type == NLMSG_OVERRUN) continue;
        if (absl::Status s = on_reply(h, payload); !s.ok()) return s;
      }
    }
  }

 private:
  explicit RouteSocket(int fd) : fd_(fd) {}

  int fd_;
  bool strict_ = false;
  uint32_t seq_ = 0;
};

// ----- RTM_GETLINK --------------------------------------------------------------------------

std::string NetnsPhrase(std::optional<int> netnsid) {
  return netnsid ? absl::StrCat("network namespace id ", *netnsid)
                 : std::string("this network namespace");
}

// Parses one RTM_NEWLINK message. `mac` receives IFLA_ADDRESS when asked for.
absl::Status ParseLink(std::span<const uint8_t> payload, std::string_view what, LinkInfo* link,
                       std::vector<uint8_t>* mac, std::optional<int>* echoed_target_nsid) {
  if (payload.size() < sizeof(ifinfomsg)) return Malformed(what);
  const auto ifi = Load<ifinfomsg>(payload);
  link->ifindex = ifi.ifi_index;
  AttrReader r(payload.subspan(Align4(sizeof(ifinfomsg))));
  std::optional<uint32_t> drv_id, skb_id, hw_id;
  while (auto a = r.Next()) {
    switch (a->type) {
      case IFLA_IFNAME:
        link->name = AttrString(*a);
        break;
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
            case IFLA_XDP_DRV_PROG_ID:
              drv_id = AttrValue<uint32_t>(*x);
              break;
            case IFLA_XDP_SKB_PROG_ID:
              skb_id = AttrValue<uint32_t>(*x);
              break;
            case IFLA_XDP_HW_PROG_ID:
              hw_id = AttrValue<uint32_t>(*x);
              break;
            default:
              break;
          }
        }
        if (xdp.malformed()) return Malformed(what);
        break;
      }
      default:
        break;
    }
  }
  if (r.malformed()) return Malformed(what);
  // With programs in several modes the kernel omits IFLA_XDP_PROG_ID; prefer the driver one.
  if (link->xdp_prog_id == 0)
    link->xdp_prog_id = drv_id.value_or(skb_id.value_or(hw_id.value_or(0)));
  return absl::OkStatus();
}

// RTM_GETLINK for one link, by index (name empty) or by name (ifindex 0).
absl::StatusOr<LinkInfo> QueryLink(std::optional<int> netnsid, int ifindex, std::string_view name,
                                   std::vector<uint8_t>* mac) {
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

}  // namespace

absl::StatusOr<int> InterfaceIndex(std::string_view name) {
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

namespace {

// RTM_GETNSID on an open socket: the id `sock`'s namespace has for the namespace of `netns_fd`,
// or -1 (NETNSA_NSID_NOT_ASSIGNED). Unlike link reports, this never assigns an id.
absl::StatusOr<int> QueryNsid(RouteSocket& sock, int netns_fd, std::string_view what) {
  Request req(RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK);
  rtgenmsg g{};
  g.rtgen_family = AF_UNSPEC;
  req.PutFamilyHeader(g);
  req.PutU32(NETNSA_FD, static_cast<uint32_t>(netns_fd), "NETNSA_FD");
  std::optional<int> nsid;
  absl::Status s = sock.Transact(
      req, what, [&](const nlmsghdr& h, std::span<const uint8_t> payload) -> absl::Status {
        if (h.nlmsg_type != RTM_NEWNSID) return absl::OkStatus();
        if (payload.size() < Align4(sizeof(rtgenmsg))) return Malformed(what);
        AttrReader r(payload.subspan(Align4(sizeof(rtgenmsg))));
        while (auto a = r.Next()) {
          if (a->type == NETNSA_NSID) nsid = AttrValue<int32_t>(*a);
        }
        return r.malformed() ? Malformed(what) : absl::OkStatus();
      });
  if (!s.ok()) return s;
  if (!nsid) return absl::InternalError(absl::StrCat(Av(what), ": the kernel's answer has no id"));
  return *nsid;
}

// Undoes the octal escapes (\040 for space, ...) /proc/self/mountinfo uses in paths.
std::string UnescapeMountPath(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto octal = [&](size_t k, char max) { return s[k] >= '0' && s[k] <= max; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1, '3') && octal(i + 2, '7') &&
        octal(i + 3, '7')) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Where a handle on some network namespace may be found, most likely first: this thread's own,
// nsfs bind mounts (`ip netns add`, container runtimes' /run/.../netns/...), then every process.
std::vector<std::string> NetnsCandidatePaths() {
  std::vector<std::string> paths = {"/proc/thread-self/ns/net"};
  if (FILE* f = std::fopen("/proc/self/mountinfo", "re")) {
    char* line = nullptr;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
      // "id parent maj:min root mountpoint options [optional...] - fstype source superoptions"
      std::string_view l(line);
      const size_t dash = l.find(" - ");
      if (dash == std::string_view::npos) continue;
      if (l.substr(dash + 3).rfind("nsfs ", 0) != 0) continue;
      std::vector<std::string_view> fields;
      size_t at = 0;
      while (at < dash && fields.size() < 5) {
        const size_t sp = l.find(' ', at);
        const size_t end = sp == std::string_view::npos || sp > dash ? dash : sp;
        fields.push_back(l.substr(at, end - at));
        at = end + 1;
      }
      if (fields.size() == 5) paths.push_back(UnescapeMountPath(fields[4]));
    }
    std::free(line);
    std::fclose(f);
  }
  if (DIR* proc = opendir("/proc")) {
    while (const dirent* e = readdir(proc)) {
      const std::string_view name = e->d_name;
      if (name.empty() || name.find_first_not_of("0123456789") != std::string_view::npos) continue;
      paths.push_back(absl::StrCat("/proc/", Av(name), "/ns/net"));
    }
    closedir(proc);
  }
  return paths;
}

// The name of `ifindex` in the calling thread's namespace, for messages; best effort.
std::string DescribeHere(int ifindex, std::string_view where) {
  auto link = QueryLink(std::nullopt, ifindex, "", nullptr);
  if (link.ok()) {
    return absl::StrCat("interface ", link->name, " (index ", ifindex, ") in ", Av(where));
  }
  return absl::StrCat("interface index ", ifindex, " in ", Av(where));
}

// RTM_SETLINK {IFLA_XDP} on link `ifindex` of the calling thread's namespace. `where` names that
// namespace in messages. Never carries IFLA_TARGET_NETNSID: in RTM_SETLINK that attribute does not
// select the namespace the link is looked up in, it *moves* the link into that namespace.
absl::Status SetXdpHere(int ifindex, int prog_fd, uint32_t flags, std::optional<int> expected_fd,
                        std::string_view where) {
  const std::string action = prog_fd >= 0 ? absl::StrCat("attaching XDP program fd ", prog_fd)
                                          : std::string("detaching the XDP program");
  const std::string what = absl::StrCat(action, " to interface index ", ifindex, " in ", Av(where));
  auto sock = RouteSocket::Open(what);
  if (!sock.ok()) return sock.status();

  Request req(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  req.PutFamilyHeader(ifi);
  const size_t nest = req.BeginNest(IFLA_XDP, "IFLA_XDP");
  req.PutS32(IFLA_XDP_FD, prog_fd, "IFLA_XDP_FD");
  if (flags != 0) req.PutU32(IFLA_XDP_FLAGS, flags, "IFLA_XDP_FLAGS");
  if (expected_fd) req.PutS32(IFLA_XDP_EXPECTED_FD, *expected_fd, "IFLA_XDP_EXPECTED_FD");
  req.EndNest(nest);

  std::optional<KernelError> kerr;
  absl::Status s = sock->Transact(
      req, what, [](const nlmsghdr&, std::span<const uint8_t>) { return absl::OkStatus(); }, &kerr);
  if (s.ok() || !kerr) return s;

  // Rephrase the refusal with the interface's name and a status code that fits XDP: EEXIST and
  // EBUSY mean "some other program is (or is not) attached", a precondition rather than a
  // missing-resource or retry-later condition.
  absl::StatusCode code = absl::ErrnoToStatusCode(kerr->err);
  if (kerr->err == EEXIST || kerr->err == EBUSY) code = absl::StatusCode::kFailedPrecondition;
  if (kerr->err == ENODEV) code = absl::StatusCode::kNotFound;
  std::string detail = absl::StrCat(action, " to ", DescribeHere(ifindex, where));
  if (expected_fd) absl::StrAppend(&detail, " in place of program fd ", *expected_fd);
  absl::StrAppend(&detail, " (flags 0x", absl::Hex(flags), "): ", kerr->Describe());
  return absl::Status(code, detail);
}

absl::Status ValidateXdpArgs(int ifindex, int prog_fd, uint32_t flags,
                             std::optional<int> expected_fd) {
  if (ifindex <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface index ", ifindex));
  }
  if (prog_fd < -1) {
    return absl::InvalidArgumentError(absl::StrCat("invalid XDP program fd ", prog_fd));
  }
  // The kernel ignores IFLA_XDP_EXPECTED_FD without XDP_FLAGS_REPLACE, and answers REPLACE without
  // it with a bare EINVAL; catch both mistakes here with a clearer message.
  if (expected_fd.has_value() != ((flags & XDP_FLAGS_REPLACE) != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "XDP change on interface index ", ifindex,
        ": an expected program fd must be given exactly when flags include XDP_FLAGS_REPLACE"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunInNetns(int netns_fd, const std::function<absl::Status()>& fn) {
  if (netns_fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid network namespace fd ", netns_fd));
  }
  // A fresh thread is moved instead of the caller's: the caller can never be left stranded in the
  // wrong namespace, and the worker's namespace dies with it. setns(CLONE_NEWNET) is allowed in
  // multi-threaded processes (unlike CLONE_NEWNS/CLONE_NEWUSER) and needs CAP_SYS_ADMIN.
  absl::Status result;
  try {
    std::thread worker([&] {
      if (setns(netns_fd, CLONE_NEWNET) != 0) {
        const int err = errno;
        result = absl::Status(absl::ErrnoToStatusCode(err),
                              absl::StrCat("entering network namespace fd ", netns_fd,
                                           " on a helper thread (setns): ", ErrnoText(err)));
        return;
      }
      result = fn();
    });
    worker.join();
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "starting a helper thread for network namespace fd ", netns_fd, ": ", e.what()));
  }
  return result;
}

absl::StatusOr<int> NetnsIdOf(int netns_fd) {
  const std::string what = absl::StrCat("looking up the id of network namespace fd ", netns_fd);
  if (netns_fd < 0) return absl::InvalidArgumentError(absl::StrCat(what, ": invalid fd"));
  auto sock = RouteSocket::Open(what);
  if (!sock.ok()) return sock.status();
  auto nsid = QueryNsid(*sock, netns_fd, what);
  if (!nsid.ok()) return nsid.status();
  if (*nsid < 0) {
    return absl::NotFoundError(
        absl::StrCat(what, ": this network namespace has no id for it (yet)"));
  }
  return *nsid;
}

absl::StatusOr<int> OpenNetnsById(int netnsid) {
  const std::string what = absl::StrCat("finding network namespace id ", netnsid);
  if (netnsid < 0) return absl::InvalidArgumentError(absl::StrCat(what, ": invalid id"));
  auto sock = RouteSocket::Open(what);
  if (!sock.ok()) return sock.status();
  std::set<std::pair<dev_t, ino_t>> seen;  // one question per namespace, not per process
  for (const std::string& path : NetnsCandidatePaths()) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // processes come and go; permissions vary: not an error
    OwnedFd owned(fd);
    struct stat st {};
    if (fstat(fd, &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) continue;
    auto nsid = QueryNsid(*sock, fd, what);
    if (!nsid.ok()) {
      // EINVAL and friends: not a network namespace (an nsfs mount of another type).
      continue;
    }
    if (*nsid == netnsid) {
      const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (dup < 0) {
        const int err = errno;
        return absl::Status(
            absl::ErrnoToStatusCode(err),
            absl::StrCat(what, ": duplicating the fd of ", path, ": ", ErrnoText(err)));
      }
      return dup;
    }
  }
  return absl::NotFoundError(
      absl::StrCat(what,
                   ": no process or nsfs mount visible here holds a namespace with that id (it may "
                   "have been deleted); pass a namespace fd instead"));
}

absl::Status SetXdp(int ifindex, int prog_fd, uint32_t flags, std::optional<int> expected_fd) {
  if (absl::Status s = ValidateXdpArgs(ifindex, prog_fd, flags, expected_fd); !s.ok()) return s;
  return SetXdpHere(ifindex, prog_fd, flags, expected_fd, "this network namespace");
}

absl::Status SetXdpInNetnsFd(int netns_fd, int ifindex, int prog_fd, uint32_t flags,
                             std::optional<int> expected_fd) {
  if (absl::Status s = ValidateXdpArgs(ifindex, prog_fd, flags, expected_fd); !s.ok()) return s;
  const std::string where = absl::StrCat("network namespace fd ", netns_fd);
  return RunInNetns(netns_fd,
                    [&] { return SetXdpHere(ifindex, prog_fd, flags, expected_fd, where); });
}

absl::Status SetXdpInNetns(std::optional<int> netnsid, int ifindex, int prog_fd, uint32_t flags,
                           std::optional<int> expected_fd) {
  if (absl::Status s = ValidateXdpArgs(ifindex, prog_fd, flags, expected_fd); !s.ok()) return s;
  if (!netnsid) return SetXdpHere(ifindex, prog_fd, flags, expected_fd, "this network namespace");
  auto fd = OpenNetnsById(*netnsid);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(),
                        absl::StrCat(prog_fd >= 0 ? "attaching an XDP program to"
                                                  : "detaching the XDP program from",
                                     " interface index ", ifindex, ": ", fd.status().message()));
  }
  OwnedFd owned(*fd);
  const std::string where = NetnsPhrase(netnsid);
  return RunInNetns(owned.get(),
                    [&] { return SetXdpHere(ifindex, prog_fd, flags, expected_fd, where); });
}

absl::Status SetTxChecksumOffload(std::optional<int> netnsid, int ifindex, bool on) {
  auto link = netnsid ? GetLinkInNetns(*netnsid, ifindex) : GetLink(ifindex);
  if (!link.ok()) return link.status();
  std::string name = link->name;
  auto apply = [&]() -> absl::Status {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    ethtool_value value{};
    value.cmd = ETHTOOL_STXCSUM;
    value.data = on ? 1 : 0;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_data = reinterpret_cast<char*>(&value);
    int rc = ioctl(sock, SIOCETHTOOL, &ifr);
    int err = errno;
    close(sock);
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("turning transmit checksum offload ",
                                              on ? "on" : "off", " on ", name, ": ",
                                              std::strerror(err)));
    }
    return absl::OkStatus();
  };
  if (!netnsid) return apply();
  auto fd = OpenNetnsById(*netnsid);
  if (!fd.ok()) return fd.status();
  absl::Status st = RunInNetns(*fd, apply);
  close(*fd);
  return st;
}

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
      case FRA_PRIORITY:
        priority = AttrValue<uint32_t>(*a).value_or(0);
        break;
      case FRA_TABLE:
        table = AttrValue<uint32_t>(*a).value_or(table);
        break;
      case FRA_IIFNAME:
      case FRA_OIFNAME:
      case FRA_FWMARK:
      case FRA_L3MDEV:
      case FRA_UID_RANGE:
      case FRA_IP_PROTO:
      case FRA_SPORT_RANGE:
      case FRA_DPORT_RANGE:
        selectors = true;
        break;
      case FRA_SUPPRESS_PREFIXLEN:
      case FRA_SUPPRESS_IFGROUP:
        // Always reported; -1 means unset.
        if (AttrValue<int32_t>(*a).value_or(-1) != -1) selectors = true;
        break;
      default:
        break;
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
    return absl::StrCat("the source-specific route ", route, " makes the route depend on the source");
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
      keep_first(absl::StrCat("IPv6 forwarding is off on ",
                              name == names.end() ? absl::StrCat("interface index ", *ifindex)
                                                  : name->second,
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
    return absl::Status(absl::ErrnoToStatusCode(err),
                        absl::StrCat("opening a NETLINK_ROUTE socket to watch routing changes: ",
                                     ErrnoText(err)));
  }
  RoutingMonitor m(fd);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        absl::StrCat("binding a netlink socket to watch routing changes: ",
                                     ErrnoText(err)));
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
        case RTM_DELADDR:
          change.invalidate = true;
          break;
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
          change.invalidate = true;
          absl::Status ignored;
          if (obstructed || !RouteObstacle(payload, "", &ignored).empty())
            change.reevaluate = true;
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
        case RTM_DELNEXTHOP:
          change.invalidate = change.reevaluate = true;
          break;
        default:
          break;
      }
    }
  }
}

}  // namespace ila::internal
