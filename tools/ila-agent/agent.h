// ila-agent: one per host (or ILA router). Keeps the host's data plane equal to the cluster state
// in etcd (SyncLoop), keeps the host alive there (Liveness), and is the one long-lived writer of
// the host's data plane: local containers are attached and published through its local API
// (LocalApiServer), their ownership changed only by conditional transactions (Ownership).
//
// Thread safety: Start()/Stop() from one thread; the local API and the sync loop's observer
// serialise on the agent's mutex.
#ifndef ILA_AGENT_AGENT_H_
#define ILA_AGENT_AGENT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "allocator.h"
#include "cluster_state.h"
#include "dead_hosts.h"
#include "etcd/client.h"
#include "ila/dataplane.h"
#include "inventory.h"
#include "liveness.h"
#include "log.h"
#include "metrics.h"
#include "local_api.h"
#include "ownership.h"
#include "reconciler.h"
#include "sync_loop.h"

namespace ila::agent {

struct AgentConfig {
  std::string host;  // this host's name in the cluster
  HostRole role = HostRole::kHost;
  // This host's locators (its host record): one per SIR prefix its containers use.
  std::vector<LocatorEntry> locators;
  // The checksum mode of the mappings this host publishes for its containers.
  ChecksumMode mapping_csum_mode = ChecksumMode::kNoAction;
  std::string key_prefix = "/ila/";
  etcd::ClientOptions etcd;
  std::string state_dir = "/var/lib/ila-agent";  // inventory.json, lease
  std::string socket = "/run/ila-agent.sock";    // the local API
  std::chrono::seconds lease_ttl{10};
  // The data plane: Open()ed when pinned here already (an agent restart: no packet lost),
  // created with `dataplane` otherwise.
  PinLocation pins;
  DataplaneConfig dataplane;
  // Interfaces to attach as uplinks (routers: as the router role) at start, unless attached.
  std::vector<std::string> uplinks;
  SyncLoop::Options sync;
  // How often the local containers are checked against the interfaces that exist (a veth
  // deleted without a DEL) and the data plane's endpoints.
  std::chrono::milliseconds inventory_check{2000};
  LogLevel log_level = LogLevel::kInfo;
  // Identifier blocks and the grace period of released addresses.
  Allocator::Options allocation;
  // Prometheus metrics (GET /metrics); "" : none. Port 0 picks a free port (status says which).
  std::string metrics_address = "127.0.0.1:9469";
};

class Agent {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentConfig config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Stops the threads; the data plane stays (pinned) and the lease is left to expire unless
  // `revoke_lease` (a host that leaves the cluster for good).
  void Stop(bool revoke_lease = false);

  // The local API's requests (docs/cluster.md "Local API").
  nlohmann::json Handle(const nlohmann::json& request);

  [[nodiscard]] absl::Status AttachContainer(const LocalContainer& c, bool move);
  // `reserve`: keep the mapping reserved for the container's workload that long (0: release now).
  [[nodiscard]] absl::Status DetachContainer(
      const SirAddress& sir, std::chrono::seconds reserve = std::chrono::seconds(0));
  // A free address of `prefix` from this host's identifier blocks, held until attached (or until
  // the allocation's time runs out); Release() gives back one that was never attached.
  [[nodiscard]] absl::StatusOr<SirAddress> Allocate(SirPrefix prefix);
  [[nodiscard]] absl::Status Release(const SirAddress& sir);
  nlohmann::json Status() const;
  // One address as this host sees it: attached here (interface, MAC), its endpoint in the data
  // plane, and its mapping as etcd has it now (owner, locator). What ila-cni's CHECK compares.
  nlohmann::json Container(const SirAddress& sir);

  SyncLoop& sync() { return *sync_; }
  Dataplane& dataplane() { return *dataplane_; }
  etcd::Client& client() { return *client_; }

 private:
  Agent(AgentConfig config, Schema schema);
  absl::Status CheckSchemaVersion();
  // After a resync or mapping changes: a local container whose address another host now owns
  // has moved away, and is detached here.
  void OnState(const ClusterState& state);
  // Publishes every container of the inventory again (after a new lease, or at start).
  void Republish();
  // Containers whose interface is gone are detached and released; those whose endpoint is
  // missing from the data plane (pins wiped by a reboot) are attached again.
  void ReconcileInventory();
  // The inventory check, every config_.inventory_check, until Stop().
  void Maintain();
  // Miss events (forwarding cache): each destination's mapping is installed from the state.
  void ResolveMisses(std::unique_ptr<MissEventReader> reader);
  MappingRecord RecordFor(const SirAddress& sir, const std::string& workload = "") const;
  // The address the cluster keeps for `workload` in `prefix` (its mapping names it), if any.
  std::optional<SirAddress> AddressOfWorkload(SirPrefix prefix, const std::string& workload);
  // Deletes this host's reserved records whose time ran out (every inventory check).
  void ReleaseLapsedReservations();
  // `release`: give up the mapping too: deleted, or reserved for its workload until
  // `reserve_until` (unix seconds) when that is not 0.
  absl::Status DetachLocked(const SirAddress& sir, bool release, int64_t reserve_until = 0);

  AgentConfig config_;
  Schema schema_;
  std::unique_ptr<Dataplane> dataplane_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<SyncLoop> sync_;
  std::unique_ptr<Liveness> liveness_;
  std::unique_ptr<DeadHosts> dead_hosts_;
  std::unique_ptr<Ownership> ownership_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<LocalApiServer> api_;
  std::unique_ptr<MetricsServer> metrics_;
  std::thread sync_thread_;
  std::thread liveness_thread_;
  std::thread dead_hosts_thread_;
  std::thread maintenance_thread_;
  // Forwarding-cache hosts: installs what miss events ask for from the etcd-fed state.
  std::thread miss_thread_;
  std::atomic<uint64_t> misses_resolved_{0};
  std::atomic<uint64_t> misses_unknown_{0};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  mutable std::mutex mu_;  // guards inventory_ and attach/detach
  Inventory inventory_;
  bool opened_ = false;  // the data plane was adopted from pins (not created)
  bool stopped_ = false;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_AGENT_H_
