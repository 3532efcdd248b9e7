// The demo's network namespaces (topology.h: Netns, NetnsScope, stale namespace cleanup).
#include "topology.h"
#include "process_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace ila::demo {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(int err) { return std::strerror(err); }

}  // namespace

using internal::PathExists;
using internal::RunCommandImpl;

// ----- Network namespaces --------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Netns>> Netns::Create(const std::string& name) {
  const std::string path = "/run/netns/" + name;
  if (PathExists(path)) {
    return absl::AlreadyExistsError("network namespace " + name + " already exists");
  }
  // Not interruptible: a stop arriving while `ip netns add` runs would otherwise kill it after the
  // namespace exists but before anything owns it, and the namespace would outlive the process.
  auto added = RunCommandImpl({"ip", "netns", "add", name}, Duration(10000), "", false);
  int fd = -1;
  if (added.ok() && added->exit_code == 0) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (PathExists(path))
      (void)RunCommandImpl({"ip", "netns", "del", name}, Duration(10000), "", false);
    if (!added.ok()) return added.status();
    if (added->exit_code != 0) {
      return absl::InternalError(absl::StrCat("`ip netns add ", name, "` failed (exit status ",
                                              added->exit_code, "): ", added->output));
    }
    return absl::InternalError("opening " + path + ": " + Errno(err));
  }
  std::unique_ptr<Netns> ns(new Netns(name, fd));  // owned from here: failures below delete it
  if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
  // DAD would keep new addresses tentative for a second; "default" covers links created later.
  for (const char* key : {"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"}) {
    if (absl::Status st = ns->Sysctl(key, "0"); !st.ok()) return st;
  }
  if (absl::Status st = ns->Ip({"link", "set", "lo", "up"}); !st.ok()) return st;
  return ns;
}

Netns::~Netns() {
  if (absl::Status st = Delete(); !st.ok()) {
    std::fprintf(stderr, "warning: %s\n", std::string(st.message()).c_str());
  }
}

absl::Status Netns::Delete() {
  if (fd_ >= 0) {
    close(fd_);  // an open fd would keep the namespace, and its links, alive
    fd_ = -1;
  }
  if (name_.empty()) return absl::OkStatus();
  std::string name = std::exchange(name_, {});
  if (!PathExists("/run/netns/" + name)) return absl::OkStatus();
  // Cleanup must happen even after a stop was requested.
  auto r = RunCommandImpl({"ip", "netns", "del", name}, Duration(10000), "", false);
  if (!r.ok())
    return absl::InternalError("deleting network namespace " + name + ": " +
                               std::string(r.status().message()));
  if (r->exit_code != 0) {
    return absl::InternalError("deleting network namespace " + name + ": " + r->output);
  }
  return absl::OkStatus();
}

absl::Status Netns::Ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ip", "-n", name_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(argv).status();
}

absl::Status Netns::IpBatch(const std::vector<std::string>& commands) const {
  std::string input = absl::StrJoin(commands, "\n") + "\n";
  auto out = RunChecked({"ip", "-6", "-n", name_, "-batch", "-"}, Duration(30000), input);
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat(out.status().message(), "\nbatch:\n", input));
  }
  return absl::OkStatus();
}

absl::StatusOr<CommandResult> Netns::Exec(const std::vector<std::string>& argv,
                                          Duration timeout) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full, timeout);
}

absl::StatusOr<std::string> Netns::ExecChecked(const std::vector<std::string>& argv,
                                               Duration timeout) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunChecked(full, timeout);
}

absl::Status Netns::Sysctl(const std::string& key, const std::string& value) const {
  // /proc/sys/net shows the namespace of the thread that opens it.
  auto scope = NetnsScope::Enter(*this);
  if (!scope.ok()) return scope.status();
  const std::string path = "/proc/sys/" + key;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError("opening " + path + " in " + name_ + ": " + Errno(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return absl::InternalError("writing " + value + " to " + path + " in " + name_ + ": " +
                               Errno(err));
  }
  return absl::OkStatus();
}

absl::Status Netns::WaitForAddresses(Duration timeout) const {
  const auto deadline = Clock::now() + timeout;
  std::string last;
  while (true) {
    // One line per address: "2: up    inet6 fe80::.../64 scope link tentative ...".
    auto out = RunChecked({"ip", "-6", "-n", name_, "-o", "addr", "show"});
    if (!out.ok()) return out.status();
    auto links = RunChecked({"ip", "-n", name_, "-o", "link", "show", "up"});
    if (!links.ok()) return links.status();
    // Tokens of each line: index, interface, family, address/len, ..., flags.
    std::set<std::string> with_link_local;
    bool ready = true;
    std::istringstream addrs(*out);
    std::string line;
    while (std::getline(addrs, line)) {
      std::istringstream words(line);
      std::vector<std::string> w{std::istream_iterator<std::string>(words),
                                 std::istream_iterator<std::string>()};
      if (w.size() < 4) continue;
      if (std::find(w.begin(), w.end(), "tentative") != w.end()) ready = false;
      if (w[3].rfind("fe80:", 0) == 0) with_link_local.insert(w[1]);
    }
    std::istringstream up(*links);
    while (ready && std::getline(up, line)) {
      std::istringstream words(line);
      std::string index, ifname;
      words >> index >> ifname;
      // ip may add lines of its own ("Error: Peer netns reference is invalid." while another
      // namespace is being deleted): only "<index>: <name>..." lines describe links.
      if (index.size() < 2 || index.back() != ':' ||
          index.find_first_not_of("0123456789") != index.size() - 1) {
        continue;
      }
      ifname = ifname.substr(0, ifname.find_first_of("@:"));
      if (ifname != "lo" && !ifname.empty()) ready = with_link_local.contains(ifname);
    }
    if (ready) return absl::OkStatus();
    last = *out;
    if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError("addresses in " + name_ + " still not usable after " +
                                         std::to_string(timeout.count()) + " ms:\n" + last);
    }
    usleep(20000);
  }
}

absl::StatusOr<NetnsScope> NetnsScope::Enter(const Netns& ns) {
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) return absl::InternalError("opening /proc/thread-self/ns/net: " + Errno(errno));
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    int err = errno;
    close(original);
    return absl::InternalError("entering network namespace " + ns.name() + ": " + Errno(err));
  }
  return NetnsScope(original);
}

NetnsScope::NetnsScope(NetnsScope&& other) noexcept
    : original_(std::exchange(other.original_, -1)) {}

NetnsScope::~NetnsScope() {
  if (original_ < 0) return;
  if (setns(original_, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "fatal: cannot return to the original network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
  close(original_);
}

std::vector<std::string> NamespacesWithPrefix(const std::string& prefix) {
  std::vector<std::string> found;
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return found;
  while (const dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  closedir(dir);
  return found;
}

std::vector<std::string> RemoveStaleNamespaces(const std::string& tag) {
  std::vector<std::string> removed;
  const std::string prefix = tag + "-";
  for (const std::string& name : NamespacesWithPrefix(prefix)) {
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789") != dash) {
      continue;  // not one of ours
    }
    const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // its process is alive
    if (auto pids = RunCommandImpl({"ip", "netns", "pids", name}, Duration(5000), "", false);
        pids.ok()) {
      std::istringstream in(pids->output);
      long stray;
      while (in >> stray) kill(static_cast<pid_t>(stray), SIGKILL);
    }
    auto r = RunCommandImpl({"ip", "netns", "del", name}, Duration(10000), "", false);
    if (r.ok() && r->exit_code == 0) removed.push_back(name);
  }
  return removed;
}

}  // namespace ila::demo
