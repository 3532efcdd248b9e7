// A cluster on one machine for the agent tests: a real etcd in its own network namespace, and
// each agent (the real ila-agent binary) in a namespace of its own with a veth to etcd's, so one
// host can be cut off from etcd while the others go on. Each agent's data plane is pinned in one
// private bpffs, so the test reads it with Dataplane::Open. Everything is removed on every exit
// path: agents stopped, their instances destroyed, namespaces deleted, bpffs unmounted.
#ifndef ILA_TESTS_CLUSTER_AGENT_BED_H_
#define ILA_TESTS_CLUSTER_AGENT_BED_H_

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "testbed/etcd_cluster.h"
#include "testbed/netns.h"
#include "testbed/process.h"

namespace ila::cluster_test {

// Why the agent tests cannot run here, or nullopt.
std::optional<std::string> SkipReason();

class AgentBed {
 public:
  struct Options {
    int hosts = 1;
    int lease_ttl_seconds = 3;
    // etcd serves clients over TLS and requires client certificates; agents get the files.
    bool tls = false;
    // etcd members (on one address, ports apart); agents are given every member's endpoint.
    int etcd_members = 1;
  };
  static absl::StatusOr<std::unique_ptr<AgentBed>> Create(const Options& options);
  ~AgentBed();

  // Host i (0-based) is "h<i+1>" with locator 2001:db8:<i+1>:0 for SIR prefix 3333:0:0:1.
  static std::string Name(int i) { return "h" + std::to_string(i + 1); }
  static Locator LocatorOf(int i) { return Locator(0x20010db800000000ull | uint64_t(i + 1) << 16); }
  static SirPrefix Prefix() { return SirPrefix(0x3333000000000001ull); }

  testbed::EtcdCluster& etcd() { return *etcd_; }
  // etcdctl against the cluster (inside etcd's namespace).
  absl::StatusOr<std::string> Etcdctl(const std::vector<std::string>& args);
  // Credentials every later Etcdctl() passes (--user=NAME:PASSWORD), once auth is enabled.
  void SetEtcdctlUser(std::string user_password) { etcdctl_user_ = std::move(user_password); }
  // etcdctl as another user (no credentials of SetEtcdctlUser).
  absl::StatusOr<std::string> EtcdctlAs(const std::string& user_password,
                                        const std::vector<std::string>& args);
  // argv in etcd's namespace (where etcdctl reaches the members), whatever its exit status.
  absl::StatusOr<testbed::CommandResult> ExecInEtcdNamespace(const std::vector<std::string>& argv);
  // Writes the SIR prefix record (what an operator does once).
  absl::Status PutPrefix();

  // Starts (or restarts) host i's agent and waits until its local API answers and it has read
  // the cluster once.
  absl::Status StartAgent(int i, const std::vector<std::string>& extra_args = {});
  // Sends `signal` to the agent and waits for it to exit.
  void StopAgent(int i, int signal = SIGKILL);
  // The agent's local API.
  absl::StatusOr<nlohmann::json> Call(int i, const nlohmann::json& request);
  absl::StatusOr<nlohmann::json> Status(int i) { return Call(i, {{"op", "status"}}); }
  // Host i's data plane, adopted from its pins (without keeping the next-hop cache).
  absl::StatusOr<std::unique_ptr<Dataplane>> Open(int i);
  // Cuts host i off from etcd (its veth to etcd's namespace down), or reconnects it.
  absl::Status Cut(int i, bool cut);
  const testbed::Netns& host_ns(int i) const { return hosts_[i]->ns; }
  const std::string& socket(int i) const { return hosts_[i]->socket; }
  // A directory of the bed's own (removed with it).
  const std::string& dir() const { return dir_; }
  // The private bpffs every agent pins its data plane in.
  const std::string& pin_root() const { return bpffs_; }
  // GET http://127.0.0.1:<port><path> inside host i's namespace: the body (HTTP/1.0, whole).
  absl::StatusOr<std::string> HttpGet(int i, int port, const std::string& path);
  // The agent's output so far (JSON lines), or the last one's when it was stopped.
  std::string AgentLog(int i);

 private:
  struct Host {
    explicit Host(testbed::Netns n) : ns(std::move(n)) {}
    testbed::Netns ns;
    std::optional<testbed::VethPair> link;
    std::string state_dir;
    std::string socket;
    std::unique_ptr<testbed::BackgroundProcess> agent;
    std::string last_log;  // the output of the agent last stopped
  };
  AgentBed() = default;
  Options options_;
  std::string bpffs_;
  std::string dir_;  // state dirs and sockets
  std::optional<testbed::Netns> etcd_ns_;
  std::unique_ptr<testbed::EtcdCluster> etcd_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::string etcdctl_user_;
};

// Polls `condition` every 20 ms until it holds (true) or `timeout` passes (false).
bool WaitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ila::cluster_test

#endif  // ILA_TESTS_CLUSTER_AGENT_BED_H_
