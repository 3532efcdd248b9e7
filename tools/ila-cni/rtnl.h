// An rtnetlink socket bound in a chosen network namespace, requests framed with libmnl, and the
// kernel's answers (errno and extended ack) as absl::Status. ila-cni's own: tools use libila's
// public API only, and lib/kernel's requests serve the library.
//
// Thread safety: a Netlink is used by one thread at a time; the functions may run concurrently.
#ifndef ILA_CNI_RTNL_H_
#define ILA_CNI_RTNL_H_

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ila/owned_fd.h"

namespace ila::cni {

// "ila-cni: <step>: <strerror>[ (extack: ...)]", with the errno's status code (EADDRNOTAVAIL,
// which absl reads as AlreadyExists, is InvalidArgument: an unusable address).
absl::Status ErrnoError(int errnum, absl::string_view step, absl::string_view extack = "");

// One request message; every request here is a few hundred bytes at most.
class Request {
 public:
  Request(uint16_t type, uint16_t flags) : nlh_(mnl_nlmsg_put_header(buf_.data())) {
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_flags = flags;
  }
  // Appends the (zeroed) family header that follows the netlink header.
  template <typename T>
  T* Header() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(T)));
  }
  nlmsghdr* get() { return nlh_; }

 private:
  alignas(nlmsghdr) std::array<char, 1024> buf_{};
  nlmsghdr* nlh_;
};

// A message's family header, or nullptr when the message is too short for one.
template <typename T>
const T* HeaderOf(const nlmsghdr* m) {
  if (mnl_nlmsg_get_payload_len(m) < sizeof(T)) return nullptr;
  return static_cast<const T*>(mnl_nlmsg_get_payload(m));
}

// The attributes after a message's family header T, by type (nullptr: absent).
template <typename T>
std::vector<const nlattr*> AttributesOf(const nlmsghdr* m, uint16_t max) {
  std::vector<const nlattr*> table(max + 1u, nullptr);
  mnl_attr_parse(
      m, sizeof(T),
      [](const nlattr* a, void* data) {
        auto& t = *static_cast<std::vector<const nlattr*>*>(data);
        if (mnl_attr_get_type(a) < t.size()) t[mnl_attr_get_type(a)] = a;
        return static_cast<int>(MNL_CB_OK);
      },
      &table);
  return table;
}

inline bool PayloadIs(const nlattr* a, std::span<const uint8_t> bytes) {
  return a != nullptr && mnl_attr_get_payload_len(a) == bytes.size() &&
         std::memcmp(mnl_attr_get_payload(a), bytes.data(), bytes.size()) == 0;
}

inline std::optional<uint32_t> U32(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) != sizeof(uint32_t)) return std::nullopt;
  return mnl_attr_get_u32(a);
}

// An rtnetlink socket, bound in the namespace it was opened in. `where` (" in <netns>", or ""
// for the caller's namespace) ends the name of every step in errors.
class Netlink {
  using Socket = std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)>;

 public:
  static absl::StatusOr<Netlink> Open(std::string where);

  // Sends `request` and hands every answer to `each`, up to the closing ack (NLM_F_ACK is added
  // to all but dumps) or NLMSG_DONE (dumps). The kernel's errno and extended ack become the error.
  absl::Status Run(Request& request, absl::string_view step,
                   const std::function<void(const nlmsghdr*)>& each = nullptr);

 private:
  Netlink(Socket nl, std::string where) : nl_(std::move(nl)), where_(std::move(where)) {}

  Socket nl_;
  std::string where_;
  uint32_t seq_ = 0;
};

// The namespace at `path` (CNI_NETNS), held open; NotFound naming the path when it cannot be.
absl::StatusOr<OwnedFd> OpenNetns(const std::string& path);
// A socket in the namespace `ns_fd` names (opened at `path`); the calling thread never leaves its
// own namespace.
absl::StatusOr<Netlink> OpenIn(int ns_fd, const std::string& path);

}  // namespace ila::cni

#endif  // ILA_CNI_RTNL_H_
