#include "testbed/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <set>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "testbed/process_internal.h"

namespace ila::testbed {
namespace {

using Clock = std::chrono::steady_clock;
using internal::PathExists;
using internal::RunCommandImpl;

// Debian's Abseil has its own string_view; absl::StrCat cannot take std::string_view directly.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr size_t kMaxIfName = 15;  // IFNAMSIZ - 1
constexpr char kUniquePrefix[] = "ilat-";

std::string Errno(int err) { return std::strerror(err); }

// Process-wide counters so that every namespace and interface of this process gets its own name.
std::atomic<unsigned> netns_counter{0};
std::atomic<unsigned> ifname_counter{0};

std::string NetnsPath(std::string_view name) { return absl::StrCat("/run/netns/", Av(name)); }

// A command that must run even after a stop was requested (creation that something will own, and
// cleanup); error with its output when it exits non-zero.
absl::Status RunToEnd(const std::vector<std::string>& argv) {
  auto r = RunCommandImpl(argv, Duration(10000), "", /*honour_stop=*/false);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), "` failed (exit status ",
                                            r->exit_code, "): ", r->output));
  }
  return absl::OkStatus();
}

}  // namespace

// ----- Netns --------------------------------------------------------------------------------

absl::StatusOr<Netns> Netns::Create(std::string_view prefix) {
  // A process killed outright (a fatal signal in a test) could not delete its namespaces: the
  // first namespace a process makes sweeps those of processes that no longer exist.
  static std::once_flag swept;
  std::call_once(swept, [] { (void)RemoveStaleUniqueNamespaces(); });
  std::string name;
  // Skip names a crashed earlier process with the same pid may have left behind.
  do {
    name = absl::StrCat(kUniquePrefix, Av(prefix), "-", getpid(), "-", netns_counter.fetch_add(1));
  } while (PathExists(NetnsPath(name)));
  return CreateNamed(name);
}

absl::StatusOr<Netns> Netns::CreateNamed(const std::string& name) {
  const std::string path = NetnsPath(name);
  if (PathExists(path)) {
    return absl::AlreadyExistsError("network namespace " + name + " already exists");
  }
  // Not interruptible: a stop arriving while `ip netns add` runs would otherwise kill it after the
  // namespace exists but before anything owns it, and the namespace would outlive the process.
  absl::Status added = RunToEnd({"ip", "netns", "add", name});
  OwnedFd fd;
  if (added.ok()) fd = OwnedFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (PathExists(path)) (void)RunToEnd({"ip", "netns", "del", name});
    if (!added.ok()) {
      return absl::Status(added.code(),
                          absl::StrCat("creating network namespace ", name, ": ", added.message()));
    }
    return absl::InternalError("opening " + path + ": " + Errno(err));
  }
  Netns ns(name, std::move(fd));  // owned from here: failures below delete it
  if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
  // DAD would keep new IPv6 addresses "tentative" (unusable) for about a second. "default" covers
  // interfaces created later in this namespace; the kernel honours DAD if either "all" or the
  // interface's own setting asks for it, so both are cleared.
  for (const char* key : {"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"}) {
    if (absl::Status st = ns.Sysctl(key, "0"); !st.ok()) return st;
  }
  if (absl::Status st = ns.Ip({"link", "set", "lo", "up"}); !st.ok()) return st;
  return ns;
}

Netns::Netns(Netns&& other) noexcept
    : name_(std::exchange(other.name_, {})), fd_(std::move(other.fd_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (absl::Status st = Delete(); !st.ok()) {
      std::fprintf(stderr, "warning: %s\n", std::string(st.message()).c_str());
    }
    name_ = std::exchange(other.name_, {});
    fd_ = std::move(other.fd_);
  }
  return *this;
}

Netns::~Netns() {
  if (absl::Status st = Delete(); !st.ok()) {
    std::fprintf(stderr, "warning: %s\n", std::string(st.message()).c_str());
  }
}

absl::Status Netns::Delete() {
  fd_.Reset();  // first: an open descriptor keeps the namespace, and its links, alive
  if (name_.empty()) return absl::OkStatus();
  std::string name = std::exchange(name_, {});
  if (!PathExists(NetnsPath(name))) return absl::OkStatus();
  if (absl::Status st = RunToEnd({"ip", "netns", "del", name}); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("deleting network namespace ", name, ": ", st.message()));
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

absl::StatusOr<std::string> Netns::RunOutput(std::string_view cmd) const {
  return ExecChecked({"sh", "-c", std::string(cmd)});
}

absl::Status Netns::Sysctl(const std::string& key, const std::string& value) const {
  // /proc/sys/net shows the namespace of the thread that opens it.
  auto entered = NetnsEntered::Enter(*this);
  if (!entered.ok()) return entered.status();
  const std::string path = "/proc/sys/" + key;
  OwnedFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::InternalError("opening " + path + " in " + name_ + ": " + Errno(errno));
  }
  const ssize_t n = write(fd.get(), value.data(), value.size());
  if (n != static_cast<ssize_t>(value.size())) {
    return absl::InternalError("writing " + value + " to " + path + " in " + name_ + ": " +
                               Errno(errno));
  }
  return absl::OkStatus();
}

absl::Status Netns::EnableForwarding() const { return Sysctl("net/ipv6/conf/all/forwarding", "1"); }

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

// ----- NetnsEntered -------------------------------------------------------------------------

absl::StatusOr<NetnsEntered> NetnsEntered::Enter(const Netns& ns) {
  // thread-self, not self: namespaces are per thread, and /proc/self names the main thread.
  OwnedFd original(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!original.valid()) {
    return absl::InternalError("opening /proc/thread-self/ns/net: " + Errno(errno));
  }
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    return absl::InternalError("entering network namespace " + ns.name() + ": " + Errno(errno));
  }
  return NetnsEntered(std::move(original));
}

NetnsEntered::~NetnsEntered() {
  if (!original_.valid()) return;
  if (setns(original_.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "fatal: cannot return to the original network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
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
  if (auto out = RunChecked(add); !out.ok()) return out.status();
  // Owned from here: failures below delete the pair.
  VethPair pair(a.netns->name(), a.name, b.name);

  for (const VethEnd* end : {&a, &b}) {
    const std::string& ns = end->netns->name();
    for (const std::string& addr : end->addresses) {
      std::vector<std::string> cmd = {"ip", "-n", ns, "addr", "add", addr, "dev", end->name};
      if (addr.find(':') != std::string::npos) cmd.push_back("nodad");
      if (auto out = RunChecked(cmd); !out.ok()) return out.status();
    }
    if (auto out = RunChecked({"ip", "-n", ns, "link", "set", end->name, "up"}); !out.ok()) {
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
  absl::Status st = RunToEnd({"ip", "-n", a_ns_, "link", "del", a_name_});
  // "Cannot find device": the peer's namespace went first, or the link was moved away (it then
  // dies with the namespace it is in). Neither needs a warning.
  if (!st.ok() && st.message().find("Cannot find device") == absl::string_view::npos) {
    std::fprintf(stderr, "warning: could not delete veth %s in %s: %s\n", a_name_.c_str(),
                 a_ns_.c_str(), std::string(st.message()).c_str());
  }
}

// ----- Finding namespaces -------------------------------------------------------------------

std::vector<std::string> NamespacesWithPrefix(const std::string& prefix) {
  std::vector<std::string> found;
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return found;  // no namespace was ever added
  while (const dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  closedir(dir);
  return found;
}

namespace {

// Deletes namespace `name` if process `pid_text` (decimal) no longer exists, after killing what
// still runs inside it. Returns whether it did.
bool RemoveIfOwnerDead(const std::string& name, const std::string& pid_text) {
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) {
    return false;  // not one of ours
  }
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  if (kill(pid, 0) == 0 || errno != ESRCH) return false;  // its process is alive
  if (auto pids = RunCommandImpl({"ip", "netns", "pids", name}, Duration(5000), "", false);
      pids.ok()) {
    std::istringstream in(pids->output);
    long stray;
    while (in >> stray) kill(static_cast<pid_t>(stray), SIGKILL);
  }
  return RunToEnd({"ip", "netns", "del", name}).ok();
}

}  // namespace

std::vector<std::string> RemoveStaleNamespaces(const std::string& tag) {
  std::vector<std::string> removed;
  const std::string prefix = tag + "-";
  for (const std::string& name : NamespacesWithPrefix(prefix)) {
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash != std::string::npos && RemoveIfOwnerDead(name, rest.substr(0, dash))) {
      removed.push_back(name);
    }
  }
  return removed;
}

std::vector<std::string> RemoveStaleUniqueNamespaces() {
  std::vector<std::string> removed;
  for (const std::string& name : NamespacesWithPrefix(kUniquePrefix)) {
    // "ilat-<prefix>-<pid>-<n>": the pid is the next to last field.
    const size_t last = name.rfind('-');
    const size_t before = last == std::string::npos ? last : name.rfind('-', last - 1);
    if (before == std::string::npos || before < sizeof(kUniquePrefix) - 1) continue;
    if (RemoveIfOwnerDead(name, name.substr(before + 1, last - before - 1))) {
      removed.push_back(name);
    }
  }
  return removed;
}

std::vector<std::string> LeftoverNetnsOfThisProcess() {
  std::vector<std::string> found;
  const std::string tag = absl::StrCat("-", getpid(), "-");
  for (const std::string& name : NamespacesWithPrefix(kUniquePrefix)) {
    const size_t at = name.rfind(tag);
    if (at == std::string::npos) continue;
    const std::string rest = name.substr(at + tag.size());
    if (!rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos) {
      found.push_back(name);
    }
  }
  return found;
}

std::optional<std::string> NetnsUnavailableReason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    if (geteuid() != 0) return "network namespaces need root";
    if (auto v = RunChecked({"ip", "-V"}); !v.ok()) {
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
