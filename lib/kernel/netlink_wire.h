// rtnetlink framing for lib/kernel/'s netlink code (links.cc, netns.cc, routing.cc): building a
// request with labelled attributes, walking a reply's attributes, the kernel's extended ack, and a
// NETLINK_ROUTE socket with one request in flight. Written by hand rather than with libmnl
// because every attribute carries a label so that the kernel's NLMSGERR_ATTR_OFFS names the
// rejected attribute in errors, and replies are checked against the request's sequence number and
// namespace; new netlink code (rtnl_requests.cc, netdev_features.cc) uses libmnl.
#ifndef ILA_LIB_KERNEL_NETLINK_WIRE_H_
#define ILA_LIB_KERNEL_NETLINK_WIRE_H_

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
#include "kernel/netlink.h"
#include "ila/owned_fd.h"

namespace ila::internal::rtnl {

// How long to wait for the kernel's answer. rtnetlink requests are handled synchronously in the
// sendmsg() call, so the answer is already queued when recv() runs; the timeout only guards against
// a wedged socket turning into a hung control plane.
constexpr int kReplyTimeoutSeconds = 5;

// Netlink messages and attributes are both aligned to 4 bytes (NLMSG_ALIGNTO == NLA_ALIGNTO).
constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

inline std::string ErrnoText(int err) { return std::strerror(err); }

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
inline std::string AttrString(const Attr& a) {
  const auto* p = reinterpret_cast<const char*>(a.payload.data());
  return std::string(p, strnlen(p, a.payload.size()));
}

inline absl::Status Malformed(std::string_view what) {
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
inline std::optional<KernelError> ParseError(const nlmsghdr& h, std::span<const uint8_t> payload,
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
      case NLMSGERR_ATTR_MSG: out.message = AttrString(*a); break;
      case NLMSGERR_ATTR_OFFS:
        if (auto off = AttrValue<uint32_t>(*a)) out.bad_attr = req.LabelAt(*off);
        break;
      case NLMSGERR_ATTR_MISS_TYPE: out.missing_type = AttrValue<uint32_t>(*a); break;
      default: break;
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

// "network namespace id N", or "this network namespace".
inline std::string NetnsPhrase(std::optional<int> netnsid) {
  return netnsid ? absl::StrCat("network namespace id ", *netnsid)
                 : std::string("this network namespace");
}

// Parses one RTM_NEWLINK message. `mac` receives IFLA_ADDRESS when asked for
// (netlink_links.cc).
absl::Status ParseLink(std::span<const uint8_t> payload, std::string_view what, LinkInfo* link,
                       std::vector<uint8_t>* mac, std::optional<int>* echoed_target_nsid);
// RTM_GETLINK for one link of the calling thread's namespace (or of the one it knows as
// `netnsid`), by index (name empty) or by name (ifindex 0); `mac` receives IFLA_ADDRESS when asked
// for (netlink_links.cc).
absl::StatusOr<LinkInfo> QueryLink(std::optional<int> netnsid, int ifindex, std::string_view name,
                                   std::vector<uint8_t>* mac);

}  // namespace ila::internal::rtnl

#endif  // ILA_LIB_KERNEL_NETLINK_WIRE_H_
