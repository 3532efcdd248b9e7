// rtnetlink sockets in a namespace, and the kernel's answers (rtnl.h).
#include "rtnl.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ila::cni {
namespace {

// Large enough for any one rtnetlink dump datagram (the kernel sizes them at most 32 KiB).
constexpr size_t kReceiveBuffer = 64 * 1024;

// The extended-ack message of an error reply, or "".
std::string ExtackMessage(const nlmsghdr* reply) {
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(reply));
  if (!(reply->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  // The TLVs follow the echoed request (only its header when NLM_F_CAPPED).
  size_t offset = sizeof(*err);
  if (!(reply->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  const auto* start = reinterpret_cast<const uint8_t*>(err) + offset;
  const auto* end = reinterpret_cast<const uint8_t*>(reply) + reply->nlmsg_len;
  std::string message;
  for (const auto* a = reinterpret_cast<const nlattr*>(start);
       start < end && mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const uint8_t*>(a)));
       a = mnl_attr_next(a)) {
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG) message = mnl_attr_get_str(a);
  }
  return message;
}

}  // namespace

absl::Status ErrnoError(int errnum, absl::string_view step, absl::string_view extack) {
  std::string message = absl::StrCat("ila-cni: ", step, ": ", std::strerror(errnum));
  if (!extack.empty()) absl::StrAppend(&message, " (extack: ", extack, ")");
  // absl reads EADDRNOTAVAIL as AlreadyExists; from rtnetlink it means an unusable address.
  return absl::Status(errnum == EADDRNOTAVAIL ? absl::StatusCode::kInvalidArgument
                                              : absl::ErrnoToStatusCode(errnum),
                      message);
}

absl::StatusOr<Netlink> Netlink::Open(std::string where) {
  Socket nl(mnl_socket_open(NETLINK_ROUTE), &mnl_socket_close);
  if (!nl) return ErrnoError(errno, absl::StrCat("opening a netlink socket", where));
  // Best effort: without extended acks, errors only lack the kernel's explanation.
  int one = 1;
  mnl_socket_setsockopt(nl.get(), NETLINK_EXT_ACK, &one, sizeof(one));
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return ErrnoError(errno, absl::StrCat("binding a netlink socket", where));
  }
  return Netlink(std::move(nl), std::move(where));
}

absl::Status Netlink::Run(Request& request, absl::string_view step,
                          const std::function<void(const nlmsghdr*)>& each) {
  nlmsghdr* nlh = request.get();
  const bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  nlh->nlmsg_flags =
      static_cast<uint16_t>(nlh->nlmsg_flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK));
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_.get(), nlh, nlh->nlmsg_len) < 0) {
    return ErrnoError(errno, absl::StrCat(step, where_, " (netlink send)"));
  }
  const uint32_t portid = mnl_socket_get_portid(nl_.get());
  std::vector<char> buf(kReceiveBuffer);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_.get(), buf.data(), buf.size());
    if (n < 0) return ErrnoError(errno, absl::StrCat(step, where_, " (netlink receive)"));
    int left = static_cast<int>(n);
    for (const auto* m = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(m, left);
         m = mnl_nlmsg_next(m, &left)) {
      if (m->nlmsg_seq != nlh->nlmsg_seq || m->nlmsg_pid != portid) continue;
      if (m->nlmsg_type != NLMSG_ERROR && m->nlmsg_type != NLMSG_DONE) {
        if (each) each(m);
        continue;
      }
      // Both start with the negated errno, 0 for success.
      int error = 0;
      if (mnl_nlmsg_get_payload_len(m) >= sizeof(error)) {
        std::memcpy(&error, mnl_nlmsg_get_payload(m), sizeof(error));
      }
      if (error == 0) return absl::OkStatus();
      return ErrnoError(-error, absl::StrCat(step, where_),
                        m->nlmsg_type == NLMSG_ERROR ? ExtackMessage(m) : "");
    }
  }
}

absl::StatusOr<OwnedFd> OpenNetns(const std::string& path) {
  OwnedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::NotFoundError(absl::StrCat("ila-cni: cannot open the network namespace ", path,
                                            ": ", std::strerror(errno)));
  }
  return fd;
}

// setns moves only the thread that calls it and a socket
// stays in the namespace it was created in, so a throwaway thread enters the namespace and opens
// the socket there; the calling thread never leaves its own.
absl::StatusOr<Netlink> OpenIn(int ns_fd, const std::string& path) {
  absl::StatusOr<Netlink> result = absl::UnknownError("ila-cni: no socket");
  std::thread([&] {
    if (setns(ns_fd, CLONE_NEWNET) == 0) {
      result = Netlink::Open(absl::StrCat(" in ", path));
    } else if (errno == EINVAL) {
      result = absl::NotFoundError(absl::StrCat("ila-cni: ", path, " is not a network namespace"));
    } else {
      result = ErrnoError(errno, absl::StrCat("entering the network namespace ", path));
    }
  }).join();
  return result;
}

}  // namespace ila::cni
