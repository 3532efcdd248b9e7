// Network namespace ids, running work in another namespace, XDP attachment over netlink and
// checksum offload (netlink.h).
#include "kernel/netlink.h"
#include "kernel/netlink_wire.h"

namespace ila::internal {

using namespace rtnl;  // NOLINT: this file is written in rtnl's terms

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

}  // namespace ila::internal
