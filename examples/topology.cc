#include "topology.h"

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

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop.store(true); }

std::string Errno(int err) { return std::strerror(err); }

std::string Joined(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Spawns argv in its own process group (a Ctrl-C on the terminal reaches only us; we stop the
// children ourselves), stdout+stderr into `out_fd`, stdin from `in_fd` (or /dev/null when -1).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int in_fd, int out_fd) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run `", Joined(argv), "`: ", Errno(err)));
  }
  return pid;
}

int ExitCode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Terminates the process group of `pid` and reaps it: SIGTERM, then SIGKILL after `grace`.
int TerminateAndReap(pid_t pid, Duration grace) {
  kill(-pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  int wstatus = 0;
  while (true) {
    pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) return ExitCode(wstatus);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() > deadline) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
      return ExitCode(wstatus);
    }
    usleep(10000);
  }
}

std::atomic<unsigned> g_topology_serial{0};

const SirPrefix kSir(0x20010db800000001ull);       // 2001:db8:0:1::/64
constexpr char kSirAggregate[] = "2001:db8:0::/48";  // every SIR prefix, routed to the ILA router

std::string Net64(uint64_t high) { return Ipv6Address::FromHalves(high, 0).ToString() + "/64"; }

}  // namespace

// ----- Stopping ------------------------------------------------------------------------------

void RequestStop() { g_stop.store(true); }
bool StopRequested() { return g_stop.load(); }

void InstallStopSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR and look at the flag
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
}

absl::Status CheckNotStopped() {
  if (StopRequested()) return absl::CancelledError("stopped by a signal");
  return absl::OkStatus();
}

// ----- Child processes -----------------------------------------------------------------------

namespace {

// RunCommand; with honour_stop false it runs even after a stop was requested (cleanup).
absl::StatusOr<CommandResult> RunCommandImpl(const std::vector<std::string>& argv,
                                             Duration timeout, const std::string& input,
                                             bool honour_stop) {
  auto stopped = [honour_stop] { return honour_stop && StopRequested(); };
  if (stopped()) return absl::CancelledError("stopped by a signal");
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2: " + Errno(errno));
  int in[2] = {-1, -1};
  if (!input.empty() && pipe2(in, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError("pipe2: " + Errno(errno));
  }
  auto pid = Spawn(argv, in[0], out[1]);
  close(out[1]);
  if (in[0] >= 0) close(in[0]);
  if (!pid.ok()) {
    close(out[0]);
    if (in[1] >= 0) close(in[1]);
    return pid.status();
  }
  if (in[1] >= 0) {
    // Inputs are small (ip batches): they fit the pipe buffer.
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(in[1], input.data() + off, input.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(in[1]);
  }

  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  std::string why_killed;
  bool eof = false;
  while (!eof) {
    if (stopped()) {
      why_killed = "stopped by a signal";
      break;
    }
    if (Clock::now() > deadline) {
      why_killed = absl::StrCat("did not finish within ", timeout.count(), " ms");
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      eof = true;
    }
  }
  close(out[0]);
  if (!why_killed.empty()) {
    TerminateAndReap(*pid, Duration(1000));
    absl::StatusCode code =
        stopped() ? absl::StatusCode::kCancelled : absl::StatusCode::kDeadlineExceeded;
    return absl::Status(code, absl::StrCat("`", Joined(argv), "` ", why_killed, "; output:\n",
                                           result.output));
  }
  // The output is closed; the child is exiting (or has detached its output, which ours do not).
  int wstatus = 0;
  while (true) {
    pid_t r = waitpid(*pid, &wstatus, WNOHANG);
    if (r == *pid) break;
    if (r < 0 && errno != EINTR) return absl::InternalError("waitpid: " + Errno(errno));
    if (stopped() || Clock::now() > deadline) {
      TerminateAndReap(*pid, Duration(1000));
      return absl::DeadlineExceededError(absl::StrCat("`", Joined(argv), "` did not exit"));
    }
    usleep(2000);
  }
  result.exit_code = ExitCode(wstatus);
  return result;
}

}  // namespace

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, Duration timeout,
                                         const std::string& input) {
  return RunCommandImpl(argv, timeout, input, /*honour_stop=*/true);
}

absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv, Duration timeout,
                                       const std::string& input) {
  auto r = RunCommand(argv, timeout, input);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string out = r->output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return absl::InternalError(
        absl::StrCat("`", Joined(argv), "` failed (exit status ", r->exit_code, "): ", out));
  }
  return std::move(r->output);
}

struct BackgroundProcess::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::string output;
  bool eof = false;
  std::thread reader;
};

absl::StatusOr<std::unique_ptr<BackgroundProcess>> BackgroundProcess::Start(
    const std::vector<std::string>& argv) {
  if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2: " + Errno(errno));
  auto pid = Spawn(argv, -1, out[1]);
  close(out[1]);
  if (!pid.ok()) {
    close(out[0]);
    return pid.status();
  }
  std::unique_ptr<BackgroundProcess> p(new BackgroundProcess());
  p->pid_ = *pid;
  p->shared_ = std::make_shared<Shared>();
  p->shared_->reader = std::thread([s = p->shared_.get(), fd = out[0]] {
    char buf[4096];
    while (true) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(s->mu);
      if (n <= 0) {
        s->eof = true;
        s->cv.notify_all();
        break;
      }
      s->output.append(buf, static_cast<size_t>(n));
      s->cv.notify_all();
    }
    close(fd);
  });
  return p;
}

bool BackgroundProcess::WaitForOutput(const std::string& text, Duration timeout) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  auto deadline = Clock::now() + timeout;
  while (shared_->output.find(text) == std::string::npos) {
    if (shared_->eof || StopRequested() || Clock::now() > deadline) return false;
    shared_->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  return true;
}

void BackgroundProcess::Reap(bool terminate, Duration timeout) {
  if (pid_ < 0) return;
  auto deadline = Clock::now() + timeout;
  int wstatus = 0;
  while (!terminate) {
    pid_t r = waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      exit_code_ = ExitCode(wstatus);
      pid_ = -1;
      break;
    }
    if ((r < 0 && errno != EINTR) || StopRequested() || Clock::now() > deadline) break;
    usleep(10000);
  }
  if (pid_ >= 0) {
    exit_code_ = TerminateAndReap(pid_, Duration(1000));
    pid_ = -1;
  }
  if (shared_->reader.joinable()) shared_->reader.join();
}

CommandResult BackgroundProcess::Finish(Duration timeout) {
  Reap(false, timeout);
  std::lock_guard<std::mutex> lock(shared_->mu);
  return CommandResult{exit_code_, shared_->output};
}

void BackgroundProcess::Signal(int sig) {
  if (pid_ >= 0) kill(pid_, sig);
}

BackgroundProcess::~BackgroundProcess() {
  if (shared_) Reap(true, Duration(0));
}

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
    if (PathExists(path)) (void)RunCommandImpl({"ip", "netns", "del", name}, Duration(10000), "", false);
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
  if (!r.ok()) return absl::InternalError("deleting network namespace " + name + ": " +
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
    return absl::Status(out.status().code(), absl::StrCat(out.status().message(), "\nbatch:\n",
                                                          input));
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
    if (dash == 0 || dash == std::string::npos ||
        rest.find_first_not_of("0123456789") != dash) {
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

// ----- The topology --------------------------------------------------------------------------

SirPrefix Topology::Sir() { return kSir; }

void Topology::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

absl::StatusOr<std::unique_ptr<Netns>> Topology::NewNetns(const std::string& role) {
  return Netns::Create(NsName(role));
}

absl::StatusOr<std::unique_ptr<Topology>> Topology::Create(const TopologyOptions& options) {
  std::unique_ptr<Topology> t(new Topology(options));
  for (const std::string& name : RemoveStaleNamespaces(options.tag)) {
    t->Log("removed " + name + ", left behind by a process that no longer exists");
  }
  t->prefix_ = absl::StrCat(options.tag, "-", getpid(), "-", g_topology_serial.fetch_add(1), "-");
  if (absl::Status st = t->Build(); !st.ok()) {
    (void)t->Teardown();  // nothing stays behind
    return st;
  }
  return t;
}

Topology::~Topology() {
  if (absl::Status st = Teardown(); !st.ok()) {
    std::fprintf(stderr, "warning: topology teardown: %s\n", std::string(st.message()).c_str());
  }
}

absl::StatusOr<std::unique_ptr<Dataplane>> Topology::MakeDataplane(const Netns& ns,
                                                                   const DataplaneConfig& config) {
  auto scope = NetnsScope::Enter(ns);
  if (!scope.ok()) return scope.status();
  return Dataplane::Create(config);
}

absl::Status Topology::Build() {
  hosts_.resize(kHosts);
  const std::string mtu = std::to_string(options_.underlay_mtu);
  const std::string csum(ToString(options_.csum_mode));

  Log("namespaces " + prefix_ + "{r1,r2,ilr,host1,host2}: the underlay, the ILA router, two hosts");
  auto r1 = NewNetns("r1");
  if (!r1.ok()) return r1.status();
  r1_ = std::move(*r1);
  auto r2 = NewNetns("r2");
  if (!r2.ok()) return r2.status();
  r2_ = std::move(*r2);
  auto ilr = NewNetns("ilr");
  if (!ilr.ok()) return ilr.status();
  router_.ns = std::move(*ilr);
  router_.address = *Ipv6Address::Parse("fd00:0:c1::2");
  for (int i = 0; i < kHosts; ++i) {
    Host& h = hosts_[static_cast<size_t>(i)];
    h.name = absl::StrCat("host", i + 1);
    auto ns = NewNetns(h.name);
    if (!ns.ok()) return ns.status();
    h.ns = std::move(*ns);
  }
  hosts_[0].locator = Locator(0x20010db8aaaa0001ull);
  hosts_[0].address = *Ipv6Address::Parse("fd00:0:a1::2");
  hosts_[0].gateway = *Ipv6Address::Parse("fd00:0:a1::1");
  hosts_[1].locator = Locator(0x20010db8bbbb0002ull);
  hosts_[1].address = *Ipv6Address::Parse("fd00:0:b2::2");
  hosts_[1].gateway = *Ipv6Address::Parse("fd00:0:b2::1");

  for (const Netns* ns : {r1_.get(), r2_.get(), router_.ns.get(), hosts_[0].ns.get(),
                          hosts_[1].ns.get()}) {
    if (absl::Status st = ns->Sysctl("net/ipv6/conf/all/forwarding", "1"); !st.ok()) return st;
  }

  // Underlay links, created from r1 / r2 with the peer placed straight into its namespace.
  const std::string& n_r2 = r2_->name();
  const std::string& n_h1 = hosts_[0].ns->name();
  const std::string& n_h2 = hosts_[1].ns->name();
  const std::string& n_ilr = router_.ns->name();
  Log("underlay links: r1 <-> r2 (MTU " + mtu + "), host1 <-> r1, host2 <-> r2, ilr <-> r1");
  if (absl::Status st = r1_->IpBatch({
          "link add to-r2 mtu " + mtu + " type veth peer name to-r1 mtu " + mtu + " netns " + n_r2,
          "link add to-h1 type veth peer name up netns " + n_h1,
          "link add to-ilr type veth peer name up netns " + n_ilr,
          "addr add fd00:0:12::1/64 dev to-r2 nodad",
          "addr add fd00:0:a1::1/64 dev to-h1 nodad",
          "addr add fd00:0:c1::1/64 dev to-ilr nodad",
          "link set to-r2 up",
          "link set to-h1 up",
          "link set to-ilr up",
      });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = r2_->IpBatch({
          "link add to-h2 type veth peer name up netns " + n_h2,
          "addr add fd00:0:12::2/64 dev to-r1 nodad",
          "addr add fd00:0:b2::1/64 dev to-h2 nodad",
          "link set to-r1 up",
          "link set to-h2 up",
      });
      !st.ok()) {
    return st;
  }

  const std::string l1 = Net64(hosts_[0].locator.value());
  const std::string l2 = Net64(hosts_[1].locator.value());
  Log("routes: r1/r2 route " + l1 + " to host1, " + l2 + " to host2 and " + kSirAggregate +
      " (SIR prefixes) to the ILA router");
  if (absl::Status st = r1_->IpBatch({
          "route add " + l1 + " via fd00:0:a1::2",
          "route add " + l2 + " via fd00:0:12::2",
          "route add fd00:0:b2::/64 via fd00:0:12::2",
          std::string("route add ") + kSirAggregate + " via fd00:0:c1::2",
      });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = r2_->IpBatch({
          "route add " + l2 + " via fd00:0:b2::2",
          "route add " + l1 + " via fd00:0:12::1",
          "route add fd00:0:a1::/64 via fd00:0:12::1",
          "route add fd00:0:c1::/64 via fd00:0:12::1",
          std::string("route add ") + kSirAggregate + " via fd00:0:12::1",
      });
      !st.ok()) {
    return st;
  }
  for (Host& h : hosts_) {
    const std::string gw = h.gateway.ToString();
    if (absl::Status st = h.ns->IpBatch({
            "addr add " + h.address.ToString() + "/64 dev up nodad",
            "link set dev up up",
            std::string("route add ") + kSirAggregate + " via " + gw,
            "route add default via " + gw,
        });
        !st.ok()) {
      return st;
    }
  }
  if (absl::Status st = router_.ns->IpBatch({
          "addr add fd00:0:c1::2/64 dev up nodad",
          "link set dev up up",
          "route add default via fd00:0:c1::1",
      });
      !st.ok()) {
    return st;
  }

  std::vector<SirPrefix> prefixes = {kSir};
  prefixes.insert(prefixes.end(), options_.extra_sir_prefixes.begin(),
                  options_.extra_sir_prefixes.end());

  // The ILA router: the router role on its only interface, the full mapping table.
  Log("ILA router: Dataplane::Create, sir_prefixes().Add, AttachRouter(\"up\")");
  auto rdp = MakeDataplane(*router_.ns, options_.router_config);
  if (!rdp.ok()) return rdp.status();
  router_.dp = std::move(*rdp);
  if (absl::Status st = OnRouter([&](Dataplane& dp) -> absl::Status {
        for (SirPrefix p : prefixes) {
          if (absl::Status s = dp.sir_prefixes().Add(p); !s.ok()) return s;
        }
        InterfaceAttach request{router_.interface, options_.attach_mode, {}};
        auto att = dp.AttachRouter(request);
        if (!att.ok()) return att.status();
        router_.attachment = *att;
        return absl::OkStatus();
      });
      !st.ok()) {
    return st;
  }

  for (int i = 0; i < kHosts; ++i) {
    Host& h = hosts_[static_cast<size_t>(i)];
    Log(h.name + ": Dataplane::Create, sir_prefixes().Add, locators().Upsert(" +
        h.locator.ToString() + " -> " + kSir.ToString() + ", " + csum + "), AttachUplink(\"up\")");
    auto dp = MakeDataplane(*h.ns, options_.host_config);
    if (!dp.ok()) return dp.status();
    h.dp = std::move(*dp);
    if (absl::Status st = OnHost(i, [&](Dataplane& d) -> absl::Status {
          for (SirPrefix p : prefixes) {
            if (absl::Status s = d.sir_prefixes().Add(p); !s.ok()) return s;
          }
          if (absl::Status s = d.locators().Upsert(
                  {.locator = h.locator, .sir_prefix = kSir, .csum_mode = options_.csum_mode});
              !s.ok()) {
            return s;
          }
          InterfaceAttach request{h.uplink, options_.uplink_attach_mode.value_or(options_.attach_mode),
                                  {}};
          auto att = d.AttachUplink(request);
          if (!att.ok()) return att.status();
          h.uplink_attachment = *att;
          return absl::OkStatus();
        });
        !st.ok()) {
      return st;
    }
  }

  if (options_.default_containers) {
    const std::pair<const char*, int> defaults[] = {{"c1a", 0}, {"c1b", 0}, {"c2a", 1}, {"c2b", 1}};
    for (const auto& [name, host] : defaults) {
      const uint64_t id = std::strtoull(name, nullptr, 16);  // "c1a" -> ::c1a
      auto c = AddContainerNoWait(name, host, Identifier(id));
      if (!c.ok()) return c.status();
    }
  }
  Log("waiting until every address is usable (the kernel's linkwatch can take a second)");
  for (const Netns* ns : AllNamespaces()) {
    if (absl::Status st = ns->WaitForAddresses(); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status Topology::PlumbContainer(const Container& c, const Host& h, const Netns& cns,
                                      const std::string& ifname) {
  const std::string sir = c.sir.ToString();
  if (absl::Status st = h.ns->IpBatch({
          "link add " + c.host_veth + " type veth peer name " + ifname + " netns " + cns.name(),
          "addr add fe80::1/64 dev " + c.host_veth + " nodad",
          "link set dev " + c.host_veth + " up",
          // The host kernel reaches the container too (for what XDP hands it).
          "route replace " + sir + "/128 dev " + c.host_veth,
      });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = cns.IpBatch({
          "link set dev " + ifname + " address " + c.mac.ToString(),
          "addr add " + sir + "/128 dev " + ifname + " nodad",
          "link set dev " + ifname + " up",
      });
      !st.ok()) {
    return st;
  }
  // Transmit checksum offload on the container side is turned off by AttachContainer itself.
  return absl::OkStatus();
}

absl::Status Topology::AttachContainerOnHost(Container& c, int host) {
  return OnHost(host, [&](Dataplane& dp) -> absl::Status {
    auto att = dp.AttachContainer(
        {.interface = c.host_veth,
         .sir = c.sir,
         .mac = c.mac,
         .mode = options_.container_attach_mode.value_or(options_.attach_mode)});
    if (!att.ok()) return att.status();
    c.attachment = *att;
    return absl::OkStatus();
  });
}

absl::StatusOr<Topology::Container*> Topology::AddContainer(const std::string& name, int host,
                                                            Identifier id) {
  auto c = AddContainerNoWait(name, host, id);
  if (!c.ok()) return c.status();
  for (const Netns* ns : std::initializer_list<const Netns*>{(*c)->ns.get(), hosts_[static_cast<size_t>(host)].ns.get()}) {
    if (absl::Status st = ns->WaitForAddresses(); !st.ok()) return st;
  }
  return c;
}

absl::StatusOr<Topology::Container*> Topology::AddContainerNoWait(const std::string& name,
                                                                  int host, Identifier id) {
  if (host < 0 || host >= kHosts) return absl::InvalidArgumentError("no such host");
  if (container(name) != nullptr) return absl::AlreadyExistsError("container " + name + " exists");
  auto c = std::make_unique<Container>();
  c->name = name;
  c->host = host;
  c->sir = SirAddress{kSir, id};
  c->mac = MacAddress({0x02, 0x00, 0x00, 0x00, static_cast<uint8_t>(id.value() >> 8),
                       static_cast<uint8_t>(id.value())});
  c->host_veth = "veth-" + name;
  c->ifname = "eth0";
  Host& h = hosts_[static_cast<size_t>(host)];
  Log("container " + name + " (" + c->sir.ToString() + ") on " + h.name + ": namespace, veth " +
      h.name + ":" + c->host_veth + " <-> " + name + ":eth0, AttachContainer, mapping -> " +
      h.locator.ToString() + " everywhere");
  auto ns = NewNetns(name);
  if (!ns.ok()) return ns.status();
  c->ns = std::move(*ns);
  Container* raw = c.get();
  containers_.push_back(std::move(c));  // owned (and cleaned up) from here
  if (absl::Status st = PlumbContainer(*raw, h, *raw->ns, raw->ifname); !st.ok()) return st;
  if (absl::Status st = raw->ns->Ip({"-6", "route", "add", "default", "via", "fe80::1", "dev",
                                     raw->ifname});
      !st.ok()) {
    return st;
  }
  if (absl::Status st = AttachContainerOnHost(*raw, host); !st.ok()) return st;
  if (absl::Status st = MapEverywhere(raw->sir, h.locator); !st.ok()) return st;
  return raw;
}

absl::Status Topology::MoveContainer(const std::string& name, int to_host, MoveMode mode) {
  Container* c = container(name);
  if (c == nullptr) return absl::NotFoundError("no container " + name);
  if (to_host < 0 || to_host >= kHosts || to_host == c->host) {
    return absl::InvalidArgumentError("cannot move " + name + " to host index " +
                                      std::to_string(to_host));
  }
  const int from_host = c->host;
  Host& from = hosts_[static_cast<size_t>(from_host)];
  Host& to = hosts_[static_cast<size_t>(to_host)];

  std::unique_ptr<Netns> new_ns;
  std::string new_if = "eth0";
  if (mode == MoveMode::kNewNamespace) {
    Log("new namespace for " + name + " on " + to.name + " (the old one goes once the old host has let go of it)");
    auto ns = NewNetns(name + "-on-" + to.name);
    if (!ns.ok()) return ns.status();
    new_ns = std::move(*ns);
  } else {
    new_if = c->ifname == "eth0" ? "eth1" : "eth0";
  }
  const Netns& target_ns = new_ns ? *new_ns : *c->ns;
  Log("veth " + to.name + ":" + c->host_veth + " <-> " + target_ns.name() + ":" + new_if +
      " with the same SIR address and MAC");
  if (absl::Status st = PlumbContainer(*c, to, target_ns, new_if); !st.ok()) return st;
  if (new_ns) {
    if (absl::Status st =
            new_ns->Ip({"-6", "route", "add", "default", "via", "fe80::1", "dev", new_if});
        !st.ok()) {
      return st;
    }
  }
  for (const Netns* ns : std::initializer_list<const Netns*>{&target_ns, to.ns.get()}) {
    if (absl::Status st = ns->WaitForAddresses(); !st.ok()) return st;
  }
  Log(to.name + ": AttachContainer(" + c->host_veth + ")");
  Attachment old_attachment = c->attachment;
  if (absl::Status st = AttachContainerOnHost(*c, to_host); !st.ok()) {
    c->attachment = old_attachment;
    (void)to.ns->Ip({"link", "del", c->host_veth});
    return st;
  }
  Log("mapping " + c->sir.ToString() + " -> " + to.locator.ToString() +
      " on every host and the ILA router");
  if (absl::Status st = MapEverywhere(c->sir, to.locator); !st.ok()) return st;
  if (!new_ns) {
    Log(name + ": default route via the new veth " + new_if);
    if (absl::Status st =
            c->ns->Ip({"-6", "route", "replace", "default", "via", "fe80::1", "dev", new_if});
        !st.ok()) {
      return st;
    }
  }
  Log(from.name + ": Detach(" + c->host_veth + ") and delete the old veth");
  absl::Status detached = OnHost(from_host, [&](Dataplane& dp) { return dp.Detach(c->host_veth); });
  absl::Status deleted = from.ns->Ip({"link", "del", c->host_veth});
  c->host = to_host;
  c->ifname = new_if;
  if (new_ns) {
    std::swap(c->ns, new_ns);
    if (absl::Status st = new_ns->Delete(); !st.ok() && deleted.ok()) deleted = st;
  }
  if (!detached.ok()) return detached;
  return deleted;
}

absl::Status Topology::OnHost(int i, const std::function<absl::Status(Dataplane&)>& fn) {
  if (i < 0 || i >= static_cast<int>(hosts_.size())) return absl::InvalidArgumentError("no such host");
  Host& h = hosts_[static_cast<size_t>(i)];
  if (!h.dp) return absl::FailedPreconditionError(h.name + " has no data plane");
  auto scope = NetnsScope::Enter(*h.ns);
  if (!scope.ok()) return scope.status();
  return fn(*h.dp);
}

absl::Status Topology::OnRouter(const std::function<absl::Status(Dataplane&)>& fn) {
  if (!router_.dp) return absl::FailedPreconditionError("the ILA router has no data plane");
  auto scope = NetnsScope::Enter(*router_.ns);
  if (!scope.ok()) return scope.status();
  return fn(*router_.dp);
}

absl::StatusOr<Stats> Topology::HostStats(int i) const {
  if (i < 0 || i >= static_cast<int>(hosts_.size()) || !hosts_[static_cast<size_t>(i)].dp) {
    return absl::InvalidArgumentError("no such host");
  }
  return hosts_[static_cast<size_t>(i)].dp->ReadStats();
}

absl::StatusOr<Stats> Topology::RouterStats() const {
  if (!router_.dp) return absl::FailedPreconditionError("the ILA router has no data plane");
  return router_.dp->ReadStats();
}

absl::Status Topology::MapEverywhere(const SirAddress& sir, Locator locator) {
  Mapping m{.sir = sir, .locator = locator, .csum_mode = options_.csum_mode,
            .ident_type = IdentifierType::kLuid};
  if (absl::Status st = OnRouter([&](Dataplane& dp) { return dp.mappings().Upsert(m); }); !st.ok()) {
    return st;
  }
  for (int i = 0; i < kHosts; ++i) {
    if (absl::Status st = OnHost(i, [&](Dataplane& dp) { return dp.mappings().Upsert(m); });
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

Topology::Container* Topology::container(const std::string& name) {
  for (auto& c : containers_) {
    if (c->name == name) return c.get();
  }
  return nullptr;
}

std::vector<std::string> Topology::container_names() const {
  std::vector<std::string> out;
  for (const auto& c : containers_) out.push_back(c->name);
  return out;
}

std::vector<const Netns*> Topology::AllNamespaces() const {
  std::vector<const Netns*> out;
  for (const Netns* ns : {r1_.get(), r2_.get(), router_.ns.get()}) {
    if (ns) out.push_back(ns);
  }
  for (const Host& h : hosts_) {
    if (h.ns) out.push_back(h.ns.get());
  }
  for (const auto& c : containers_) {
    if (c->ns) out.push_back(c->ns.get());
  }
  return out;
}

std::vector<std::string> Topology::namespace_names() const {
  std::vector<std::string> out;
  for (const Netns* ns : AllNamespaces()) out.push_back(ns->name());
  return out;
}

absl::StatusOr<CommandResult> Topology::Ping(const std::string& from, const Ipv6Address& to,
                                             int count, const std::vector<std::string>& extra_args) {
  Container* c = container(from);
  if (c == nullptr) return absl::NotFoundError("no container " + from);
  std::vector<std::string> argv = {"ping", "-6", "-n", "-c", std::to_string(count), "-i", "0.2",
                                   "-W", "1"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.push_back(to.ToString());
  return c->ns->Exec(argv, Duration(5000 + 1200 * count));
}

absl::Status Topology::DestroyDataplane(const Netns* ns, std::unique_ptr<Dataplane>& dp) {
  if (!dp) return absl::OkStatus();
  if (ns == nullptr) {
    dp.reset();
    return absl::OkStatus();
  }
  // Detaching names interfaces by index: it must happen inside the namespace they live in.
  auto scope = NetnsScope::Enter(*ns);
  if (!scope.ok()) return scope.status();
  absl::Status st = dp->DetachAll();
  dp.reset();
  return st;
}

absl::Status Topology::Teardown() {
  if (torn_down_) return absl::OkStatus();
  torn_down_ = true;
  absl::Status first;
  auto keep = [&first](absl::Status st) {
    if (first.ok() && !st.ok()) first = std::move(st);
  };
  for (Host& h : hosts_) keep(DestroyDataplane(h.ns.get(), h.dp));
  keep(DestroyDataplane(router_.ns.get(), router_.dp));
  for (auto& c : containers_) {
    if (c->ns) keep(c->ns->Delete());
  }
  for (Host& h : hosts_) {
    if (h.ns) keep(h.ns->Delete());
  }
  for (Netns* ns : {router_.ns.get(), r1_.get(), r2_.get()}) {
    if (ns) keep(ns->Delete());
  }
  for (const std::string& left : NamespacesWithPrefix(prefix_)) {
    keep(absl::InternalError("namespace " + left + " is still there after teardown"));
  }
  return first;
}

}  // namespace ila::demo
