// The cluster's control plane for the topology (topology.h) when it runs as a real deployment
// would: an etcd server in a namespace of its own on a management network (IPv4 10.77.0.0/16, apart
// from the IPv6 underlay), and one ila-agent process per host and ILA router, each in that node's
// namespace with a management veth, owning the node's data plane (pinned in one private bpffs).
// Containers are attached and moved with the agent's own command line (`ila-agent attach`), as an
// orchestrator's script or ila-cni would; the topology reads the data planes through
// Dataplane::Open.
//
// Cleanup: the destructor stops every agent, stops etcd, deletes the management namespace and
// unmounts the bpffs (the data planes' pins go with it; the topology detaches them first).
#ifndef ILA_EXAMPLES_CLUSTER_CONTROL_H_
#define ILA_EXAMPLES_CLUSTER_CONTROL_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "testbed/etcd_cluster.h"
#include "testbed/netns.h"
#include "testbed/process.h"

namespace ila::demo {

// "3333:0:0:1": a SIR prefix as the cluster's etcd keys write it (docs/cluster.md).
std::string SirPrefixKey(SirPrefix prefix);

class ClusterControl {
 public:
  // `ns_prefix` names the management namespace ("<ns_prefix>etcd"); `agent_path` is the
  // ila-agent binary.
  static absl::StatusOr<std::unique_ptr<ClusterControl>> Start(
      const std::string& ns_prefix, std::string agent_path,
      std::function<void(const std::string&)> log);
  ~ClusterControl();
  ClusterControl(const ClusterControl&) = delete;
  ClusterControl& operator=(const ClusterControl&) = delete;

  testbed::EtcdCluster& etcd() { return *etcd_; }
  absl::StatusOr<std::string> Etcdctl(const std::vector<std::string>& args);

  // Starts node `name`'s agent in `ns` (a management veth first, the first time): `ila-agent run
  // --host name` with the etcd endpoint, the pins, a state directory, a socket and `args`; waits
  // until it has read the cluster once (within `ready_timeout`). A second call restarts it (same
  // state and pins).
  absl::Status StartAgent(const std::string& name, const testbed::Netns& ns,
                          const std::vector<std::string>& args,
                          std::chrono::seconds ready_timeout = std::chrono::seconds(15));
  // Sends `signal` to the agent and waits for it to exit.
  void StopAgent(const std::string& name, int signal);
  // `ila-agent <command> --socket <its socket> <args>`; the output, or an error with it.
  absl::StatusOr<std::string> AgentCommand(const std::string& name, const std::string& command,
                                           const std::vector<std::string>& args);
  // Node `name`'s agent's local API socket (what ila-cni's agentSocket names).
  std::string AgentSocket(const std::string& name) const { return Socket(name); }
  // Where node `name`'s data plane is pinned.
  PinLocation Pins(const std::string& name) const { return {bpffs_, name}; }
  std::string AgentLog(const std::string& name);
  // Cuts node `name` off from etcd (its management veth down), or reconnects it.
  absl::Status Cut(const std::string& name, bool cut);
  // The agent's process id (0 when it is not running).
  int AgentPid(const std::string& name) const;

 private:
  struct Agent {
    const testbed::Netns* ns = nullptr;
    int index = 0;
    std::optional<testbed::VethPair> link;
    std::vector<std::string> args;
    std::unique_ptr<testbed::BackgroundProcess> process;
    std::string last_log;
  };
  ClusterControl() = default;
  std::string Socket(const std::string& name) const { return dir_ + "/" + name + ".sock"; }
  std::string agent_path_;
  std::function<void(const std::string&)> log_;
  std::string dir_;
  std::string bpffs_;
  std::optional<testbed::Netns> mgmt_;
  std::unique_ptr<testbed::EtcdCluster> etcd_;
  std::map<std::string, Agent> agents_;
};

}  // namespace ila::demo

#endif  // ILA_EXAMPLES_CLUSTER_CONTROL_H_
