// A private containerd for tests (containerd.h).
#include "testbed/containerd.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace ila::testbed {
namespace {

constexpr char kNamespace[] = "ila";  // containerd's namespace for everything here

bool Executable(const char* path) { return access(path, X_OK) == 0; }

absl::Status Write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  return f ? absl::OkStatus() : absl::InternalError("cannot write " + path);
}

}  // namespace

std::optional<std::string> Containerd::UnavailableReason() {
  for (const char* tool :
       {"/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc", "/usr/bin/busybox"}) {
    if (!Executable(tool)) {
      return absl::StrCat(tool, " is not installed (Debian's containerd, runc, busybox-static)");
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Containerd>> Containerd::Start(const ContainerdOptions& options) {
  std::unique_ptr<Containerd> c(new Containerd());
  c->netns_ = options.netns;
  // Named with the process id: one left by a process killed outright is removed by the next
  // (testbed::RemoveStaleTemporaries).
  std::string tmpl = absl::StrCat("/tmp/ila-containerd-", getpid(), "-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", strerror(errno)));
  }
  c->dir_ = tmpl;
  const std::string& d = c->dir_;
  // The shim's directories under /run/containerd are fixed; they go with this instance if it
  // made them.
  struct stat st {};
  c->made_run_dir_ = stat("/run/containerd", &st) != 0;
  std::error_code ec;
  for (const char* sub : {"/root", "/state", "/opt", "/runc", "/etc-upper/cni/net.d", "/etc-work",
                          "/varlib-upper/cni", "/varlib-work", "/optcni/cni/bin"}) {
    std::filesystem::create_directories(d + sub, ec);
    if (ec) return absl::InternalError(absl::StrCat("mkdir ", d, sub, ": ", ec.message()));
  }
  for (const auto& [type, path] : options.plugins) {
    std::filesystem::create_symlink(path, d + "/optcni/cni/bin/" + type, ec);
    if (ec) return absl::InternalError(absl::StrCat("symlink ", type, ": ", ec.message()));
  }
  if (absl::Status s = Write(d + "/etc-upper/cni/net.d/10-test.conflist", options.conflist);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Write(d + "/config.toml",
                             absl::StrCat("version = 2\n"
                                          "root = \"",
                                          d, "/root\"\nstate = \"", d,
                                          "/state\"\n"
                                          "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                          "[grpc]\n  address = \"",
                                          d, "/containerd.sock\"\n[ttrpc]\n  address = \"", d,
                                          "/containerd.sock.ttrpc\"\n[debug]\n  address = \"", d,
                                          "/debug.sock\"\n"
                                          "[plugins.\"io.containerd.internal.v1.opt\"]\n"
                                          "  path = \"",
                                          d, "/opt\"\n"));
      !s.ok()) {
    return s;
  }
  // ctr's mount namespace: /etc and /var/lib as overlays (the CNI config and cache land in this
  // directory), /opt replaced; then into the host's network namespace.
  if (absl::Status s =
          Write(d + "/ctr.sh",
                absl::StrCat("set -e\n"
                             "mount -t overlay overlay -o lowerdir=/etc,upperdir=",
                             d, "/etc-upper,workdir=", d,
                             "/etc-work /etc\n"
                             "mount -t overlay overlay -o lowerdir=/var/lib,upperdir=",
                             d, "/varlib-upper,workdir=", d, "/varlib-work /var/lib\n",
                             "mount --bind ", d, "/optcni /opt\n", "exec nsenter --net=/run/netns/",
                             options.netns, " \"$@\"\n"));
      !s.ok()) {
    return s;
  }
  auto daemon = BackgroundProcess::Start({"nsenter", "--net=/run/netns/" + options.netns,
                                          "containerd", "--config", d + "/config.toml"});
  if (!daemon.ok()) return daemon.status();
  c->daemon_ = *std::move(daemon);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    auto v = RunCommand(c->CtrArgv({"version"}), Duration(5000));
    if (v.ok() && v->exit_code == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("containerd did not start:\n" + c->daemon_->Output());
    }
    if (absl::Status s = CheckNotStopped(); !s.ok()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return c;
}

std::vector<std::string> Containerd::CtrArgv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ctr", "-a", dir_ + "/containerd.sock", "-n", kNamespace};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

absl::StatusOr<std::string> Containerd::Ctr(const std::vector<std::string>& args) {
  return RunChecked(CtrArgv(args), Duration(60000));
}

absl::Status Containerd::ImportImage(const std::string& tarball) {
  auto out = Ctr({"image", "import", tarball});
  return out.ok() ? absl::OkStatus() : out.status();
}

absl::Status Containerd::Run(const std::string& id, const std::string& image,
                             const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"unshare", "-m", "--propagation",
                                   "private", "sh", dir_ + "/ctr.sh"};
  // No cgroup of its own: runc would leave a "default" directory in every hierarchy.
  const std::vector<std::string> run =
      CtrArgv({"run", "--rm", "--cni", "--cgroup", "", "--runc-root", dir_ + "/runc", image, id});
  argv.insert(argv.end(), run.begin(), run.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = BackgroundProcess::Start(argv);
  if (!p.ok()) return p.status();
  containers_[id] = *std::move(p);
  return absl::OkStatus();
}

CommandResult Containerd::Wait(const std::string& id, Duration timeout) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return {-1, "no container " + id};
  CommandResult r = it->second->Finish(timeout);
  containers_.erase(it);
  return r;
}

CommandResult Containerd::Kill(const std::string& id, Duration timeout) {
  (void)RunCommand(CtrArgv({"task", "kill", "-s", "KILL", id}), Duration(10000));
  return Wait(id, timeout);
}

Containerd::~Containerd() {
  std::vector<std::string> ids;
  for (const auto& [id, p] : containers_) ids.push_back(id);
  for (const std::string& id : ids) (void)Kill(id, Duration(20000));
  if (daemon_) {
    daemon_->Signal(SIGTERM);
    (void)daemon_->Finish(Duration(10000));
  }
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  if (made_run_dir_) std::filesystem::remove_all("/run/containerd", ignored);
}

}  // namespace ila::testbed
