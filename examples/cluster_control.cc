// etcd and the agents of a topology (cluster_control.h).
#include "cluster_control.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "testbed/host_fixture.h"

namespace ila::demo {
namespace {

constexpr char kEtcdAddress[] = "10.77.0.1";

}  // namespace

std::string SirPrefixKey(SirPrefix p) {
  return absl::StrCat(absl::Hex(p.group(0)), ":", absl::Hex(p.group(1)), ":", absl::Hex(p.group(2)),
                      ":", absl::Hex(p.group(3)));
}

absl::StatusOr<std::unique_ptr<ClusterControl>> ClusterControl::Start(
    const std::string& ns_prefix, std::string agent_path,
    std::function<void(const std::string&)> log) {
  std::unique_ptr<ClusterControl> c(new ClusterControl());
  c->agent_path_ = std::move(agent_path);
  c->log_ = std::move(log);
  // Named with the process id: a demo killed outright leaves it, and the next run removes it
  // (testbed::RemoveStaleTemporaries, called by MountPrivateBpffs below).
  std::string tmpl = "/tmp/ila-cluster-" + std::to_string(getpid()) + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  c->dir_ = tmpl;
  auto bpffs = testbed::MountPrivateBpffs();
  if (!bpffs.ok()) return bpffs.status();
  c->bpffs_ = *bpffs;
  auto mgmt = testbed::Netns::CreateNamed(ns_prefix + "etcd");
  if (!mgmt.ok()) return mgmt.status();
  c->mgmt_.emplace(*std::move(mgmt));
  if (absl::Status s =
          c->mgmt_->Ip({"addr", "add", std::string(kEtcdAddress) + "/32", "dev", "lo"});
      !s.ok()) {
    return s;
  }
  if (c->log_)
    c->log_(absl::StrCat("etcd: a real etcd server (Debian's etcd-server) in ", c->mgmt_->name(),
                         " on ", kEtcdAddress, ", data in a temporary directory"));
  auto etcd = testbed::EtcdCluster::Start({.members = 1,
                                           .tls = false,
                                           .netns = c->mgmt_->name(),
                                           .listen_address = kEtcdAddress,
                                           .extra_args = {}});
  if (!etcd.ok()) return etcd.status();
  c->etcd_ = *std::move(etcd);
  return c;
}

ClusterControl::~ClusterControl() {
  for (auto& [name, agent] : agents_) StopAgent(name, SIGTERM);
  agents_.clear();  // the management veths
  etcd_.reset();
  mgmt_.reset();
  if (!bpffs_.empty()) testbed::UnmountPrivateBpffs(bpffs_);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::StatusOr<std::string> ClusterControl::Etcdctl(const std::vector<std::string>& args) {
  return etcd_->Etcdctl(args);
}

absl::Status ClusterControl::StartAgent(const std::string& name, const testbed::Netns& ns,
                                        const std::vector<std::string>& args,
                                        std::chrono::seconds ready_timeout) {
  auto [it, fresh] = agents_.try_emplace(name);
  Agent& a = it->second;
  if (fresh) {
    a.ns = &ns;
    a.index = static_cast<int>(agents_.size());
    a.args = args;
    const std::string net = absl::StrCat("10.77.", a.index, ".");
    auto link = testbed::VethPair::Create(
        {.netns = &ns, .name = "mgmt", .mac = "", .addresses = {net + "2/24"}},
        {.netns = &*mgmt_,
         .name = absl::StrCat("m-", name),
         .mac = "",
         .addresses = {net + "1/24"}});
    if (!link.ok()) return link.status();
    a.link.emplace(*std::move(link));
    if (absl::Status s =
            ns.Ip({"route", "add", std::string(kEtcdAddress) + "/32", "via", net + "1"});
        !s.ok()) {
      return s;
    }
  }
  if (a.process) StopAgent(name, SIGTERM);
  std::vector<std::string> argv = {"ip",          "netns",
                                   "exec",        ns.name(),
                                   agent_path_,   "run",
                                   "--host",      name,
                                   "--endpoints", etcd_->client_endpoints()[0],
                                   "--pin-root",  bpffs_,
                                   "--instance",  name,
                                   "--state-dir", dir_ + "/" + name,
                                   "--socket",    Socket(name),
                                   "--lease-ttl", "5",
                                   "--metrics",   "127.0.0.1:9469"};
  argv.insert(argv.end(), a.args.begin(), a.args.end());
  auto process = testbed::BackgroundProcess::Start(argv);
  if (!process.ok()) return process.status();
  a.process = *std::move(process);
  // Ready once it answers and has read the cluster.
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (absl::Status st = testbed::CheckNotStopped(); !st.ok()) return st;
    auto status = AgentCommand(name, "status", {});
    if (status.ok() && status->find("\"in_sync\": true") != std::string::npos) {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("ila-agent ", name, " did not get ready:\n", a.process->Output()));
}

void ClusterControl::StopAgent(const std::string& name, int signal) {
  auto it = agents_.find(name);
  if (it == agents_.end() || !it->second.process) return;
  it->second.process->Signal(signal);
  it->second.last_log = it->second.process->Finish(testbed::Duration(10000)).output;
  it->second.process.reset();
}

std::string ClusterControl::AgentLog(const std::string& name) {
  auto it = agents_.find(name);
  if (it == agents_.end()) return "";
  return it->second.process ? it->second.process->Output() : it->second.last_log;
}

absl::Status ClusterControl::Cut(const std::string& name, bool cut) {
  auto it = agents_.find(name);
  if (it == agents_.end()) return absl::NotFoundError("no agent " + name);
  const testbed::Netns& ns = *it->second.ns;
  if (absl::Status s = ns.Ip({"link", "set", "dev", "mgmt", cut ? "down" : "up"}); !s.ok() || cut) {
    return s;
  }
  // The link going down took the route to etcd with it.
  return ns.Ip({"route", "replace", std::string(kEtcdAddress) + "/32", "via",
                absl::StrCat("10.77.", it->second.index, ".1")});
}

int ClusterControl::AgentPid(const std::string& name) const {
  auto it = agents_.find(name);
  return it == agents_.end() || !it->second.process ? 0 : it->second.process->pid();
}

absl::StatusOr<std::string> ClusterControl::AgentCommand(const std::string& name,
                                                         const std::string& command,
                                                         const std::vector<std::string>& args) {
  std::vector<std::string> argv = {agent_path_, command, "--socket", Socket(name)};
  argv.insert(argv.end(), args.begin(), args.end());
  return testbed::RunChecked(argv, testbed::Duration(30000));
}

}  // namespace ila::demo
