#include "testbed/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace ila::testbed {
namespace {

// Debian's Abseil has its own string_view; absl::StrCat cannot take std::string_view directly.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr size_t kMaxIfName = 15;  // IFNAMSIZ - 1

std::string ErrnoText(int err) { return std::strerror(err); }

std::string Joined(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

// Process-wide counters so that every fixture in this process gets a distinct name.
std::atomic<unsigned> netns_counter{0};
std::atomic<unsigned> ifname_counter{0};

std::string NetnsPath(std::string_view name) { return absl::StrCat("/run/netns/", Av(name)); }

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: empty argv");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const int err = errno;
    return absl::InternalError(absl::StrCat("pipe2 for `", Joined(argv), "`: ", ErrnoText(err)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // stdout and stderr both go to the pipe (dup2 clears O_CLOEXEC on the copies); stdin is empty.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid;
  const int spawn_err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawn_err != 0) {
    close(pipe_fds[0]);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run `", Joined(argv), "`: ", ErrnoText(spawn_err)));
  }

  std::string output;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
    if (n > 0) {
      output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipe_fds[0]);

  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) {
      const int err = errno;
      return absl::InternalError(
          absl::StrCat("waitpid for `", Joined(argv), "`: ", ErrnoText(err)));
    }
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    const std::string how = WIFEXITED(wstatus)
                                ? absl::StrCat("exited with status ", WEXITSTATUS(wstatus))
                                : absl::StrCat("was killed by signal ", WTERMSIG(wstatus));
    return absl::InternalError(absl::StrCat("`", Joined(argv), "` ", how, "; output:\n", output));
  }
  return output;
}

// ----- Netns --------------------------------------------------------------------------------

absl::StatusOr<Netns> Netns::Create(std::string_view prefix) {
  const pid_t pid = getpid();
  std::string name;
  // Skip names a crashed earlier process with the same pid may have left behind.
  do {
    name = absl::StrCat("ilat-", Av(prefix), "-", pid, "-", netns_counter.fetch_add(1));
  } while (PathExists(NetnsPath(name)));

  if (auto out = RunCommand({"ip", "netns", "add", name}); !out.ok()) {
    return absl::Status(out.status().code(), absl::StrCat("creating network namespace ", name, ": ",
                                                          out.status().message()));
  }
  const int fd = open(NetnsPath(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    (void)RunCommand({"ip", "netns", "del", name});
    return absl::InternalError(absl::StrCat("opening ", NetnsPath(name), ": ", ErrnoText(err)));
  }
  // From here on the object owns the namespace, so any failure below still deletes it.
  Netns ns(name, fd);
  if (auto out = RunCommand({"ip", "-n", name, "link", "set", "lo", "up"}); !out.ok()) {
    return out.status();
  }
  // DAD would keep new IPv6 addresses "tentative" (unusable) for about a second. "default" covers
  // interfaces created later in this namespace; the kernel honours DAD if either "all" or the
  // interface's own setting asks for it, so both are cleared.
  if (absl::Status s = ns.Run("sysctl -q -w net.ipv6.conf.all.accept_dad=0 "
                              "net.ipv6.conf.default.accept_dad=0");
      !s.ok()) {
    return s;
  }
  return ns;
}

Netns::Netns(Netns&& other) noexcept
    : name_(std::exchange(other.name_, {})), fd_(std::exchange(other.fd_, -1)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    Destroy();
    name_ = std::exchange(other.name_, {});
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Netns::~Netns() { Destroy(); }

void Netns::Destroy() {
  // Close our reference first: an open fd keeps the namespace (and its interfaces) alive even
  // after its name is removed.
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (name_.empty()) return;
  if (auto out = RunCommand({"ip", "netns", "del", name_}); !out.ok()) {
    std::fprintf(stderr, "warning: could not delete network namespace %s: %s\n", name_.c_str(),
                 std::string(out.status().message()).c_str());
  }
  name_.clear();
}

absl::StatusOr<std::string> Netns::RunOutput(std::string_view cmd) const {
  return RunCommand({"ip", "netns", "exec", name_, "sh", "-c", std::string(cmd)});
}

absl::Status Netns::Run(std::string_view cmd) const { return RunOutput(cmd).status(); }

absl::Status Netns::EnableForwarding() const {
  return Run("sysctl -q -w net.ipv6.conf.all.forwarding=1");
}

// ----- NetnsEntered -------------------------------------------------------------------------

absl::StatusOr<NetnsEntered> NetnsEntered::Enter(const Netns& ns) {
  // thread-self, not self: namespaces are per thread, and /proc/self names the main thread.
  const int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    const int err = errno;
    return absl::InternalError(absl::StrCat("opening /proc/thread-self/ns/net: ", ErrnoText(err)));
  }
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    const int err = errno;
    close(original);
    return absl::InternalError(
        absl::StrCat("setns into network namespace ", ns.name(), ": ", ErrnoText(err)));
  }
  return NetnsEntered(original);
}

NetnsEntered::NetnsEntered(NetnsEntered&& other) noexcept
    : original_fd_(std::exchange(other.original_fd_, -1)) {}

NetnsEntered::~NetnsEntered() {
  if (original_fd_ < 0) return;
  if (setns(original_fd_, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "fatal: cannot return to the original network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
  close(original_fd_);
}

// ----- Interfaces ---------------------------------------------------------------------------

std::string UniqueIfName(std::string_view prefix) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  unsigned n = ifname_counter.fetch_add(1);
  std::string counter;
  do {
    counter.insert(counter.begin(), kDigits[n % 36]);
    n /= 36;
  } while (n != 0);
  const std::string suffix =
      absl::StrCat("-", absl::Hex(static_cast<unsigned>(getpid())), "-", counter);
  const size_t room = suffix.size() < kMaxIfName ? kMaxIfName - suffix.size() : 0;
  return absl::StrCat(Av(prefix.substr(0, room)), suffix);
}

absl::StatusOr<VethPair> VethPair::Create(const VethEnd& a, const VethEnd& b) {
  for (const VethEnd* end : {&a, &b}) {
    if (end->netns == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("veth end ", end->name, " has no netns"));
    }
    if (end->name.empty() || end->name.size() > kMaxIfName) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad interface name \"", end->name, "\" (1 to 15 bytes)"));
    }
  }
  std::vector<std::string> add = {"ip", "-n", a.netns->name(), "link", "add", a.name};
  if (!a.mac.empty()) add.insert(add.end(), {"address", a.mac});
  add.insert(add.end(), {"type", "veth", "peer", "name", b.name});
  if (!b.mac.empty()) add.insert(add.end(), {"address", b.mac});
  add.insert(add.end(), {"netns", b.netns->name()});
  if (auto out = RunCommand(add); !out.ok()) return out.status();
  // Owned from here: failures below delete the pair.
  VethPair pair(a.netns->name(), a.name, b.name);

  for (const VethEnd* end : {&a, &b}) {
    const std::string& ns = end->netns->name();
    for (const std::string& addr : end->addresses) {
      std::vector<std::string> cmd = {"ip", "-n", ns, "addr", "add", addr, "dev", end->name};
      if (addr.find(':') != std::string::npos) cmd.push_back("nodad");
      if (auto out = RunCommand(cmd); !out.ok()) return out.status();
    }
    if (auto out = RunCommand({"ip", "-n", ns, "link", "set", end->name, "up"}); !out.ok()) {
      return out.status();
    }
  }
  return pair;
}

VethPair::VethPair(VethPair&& other) noexcept
    : a_ns_(std::exchange(other.a_ns_, {})),
      a_name_(std::move(other.a_name_)),
      b_name_(std::move(other.b_name_)) {}

VethPair::~VethPair() {
  if (a_ns_.empty()) return;
  // If a_ns_ is already gone, so is the veth (a namespace takes its virtual devices with it).
  if (!PathExists(NetnsPath(a_ns_))) return;
  auto out = RunCommand({"ip", "-n", a_ns_, "link", "del", a_name_});
  // "Cannot find device": the peer's namespace went first, or the test moved the link away (it then
  // dies with the namespace it is in). Neither needs a warning.
  if (!out.ok() && out.status().message().find("Cannot find device") == absl::string_view::npos) {
    std::fprintf(stderr, "warning: could not delete veth %s in %s: %s\n", a_name_.c_str(),
                 a_ns_.c_str(), std::string(out.status().message()).c_str());
  }
}

// ----- Probes -------------------------------------------------------------------------------

std::vector<std::string> LeftoverNetnsOfThisProcess() {
  std::vector<std::string> found;
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return found;  // no namespace was ever added: nothing left over
  const std::string tag = absl::StrCat("-", getpid(), "-");
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name.rfind("ilat-", 0) != 0) continue;
    const size_t at = name.rfind(tag);
    if (at == std::string_view::npos) continue;
    const std::string_view rest = name.substr(at + tag.size());
    if (!rest.empty() && rest.find_first_not_of("0123456789") == std::string_view::npos) {
      found.emplace_back(name);
    }
  }
  closedir(dir);
  return found;
}

std::optional<std::string> NetnsUnavailableReason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    if (geteuid() != 0) return "network namespace tests need root";
    if (auto v = RunCommand({"ip", "-V"}); !v.ok()) {
      return absl::StrCat("iproute2's ip is unavailable: ", v.status().message());
    }
    auto ns = Netns::Create("probe");
    if (!ns.ok()) {
      return absl::StrCat("cannot create a network namespace: ", ns.status().message());
    }
    VethEnd a{&*ns, UniqueIfName("pa"), "", {}};
    VethEnd b{&*ns, UniqueIfName("pb"), "", {}};
    if (auto pair = VethPair::Create(a, b); !pair.ok()) {
      return absl::StrCat("cannot create a veth pair: ", pair.status().message());
    }
    return std::nullopt;
  }();
  return reason;
}

}  // namespace ila::testbed
