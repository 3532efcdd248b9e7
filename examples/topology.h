// A two-host ILA overlay built from network namespaces, for the demo (examples/two_host_demo.cc)
// and the end-to-end tests (tests/e2e/). Everything ILA goes through the public API
// (include/ila/); `ip` builds the namespaces, links and routes.
//
//                       ILA router "ilr" (ila_router on its "up")
//                            | fd00:0:c1::/64
//   host1 --- fd00:0:a1::/64 --- r1 === fd00:0:12::/64 (MTU option) === r2 --- fd00:0:b2::/64 --- host2
//   locator 2001:db8:aaaa:1           plain kernel IPv6 forwarding                 locator 2001:db8:bbbb:2
//    |  |                                                                               |  |
//  c1a  c1b   containers, SIR prefix 2001:db8:0:1::/64                                c2a  c2b
//
// - r1 and r2 route each host's locators (its /48) to it and every SIR prefix (2001:db8:0::/48) to
//   the ILA router. Hosts route the SIR prefixes and everything else to their underlay router.
// - Every host runs its own ila::Dataplane: from_uplink on "up", from_container on each container's
//   host-side veth ("veth-<name>"), its locator in locators(). The ILA router runs the router role.
// - Each container namespace has "eth0" with its SIR address /128 and a default route via fe80::1,
//   the link-local address of the host side of its veth.
// - The mapping table is the same everywhere: every host and the router map every container's SIR
//   address to the locator of the host it is on.
//
// Names: every namespace is "<tag>-<pid>-<serial>-<role>", so topologies can coexist (tests run side
// by side); interface names are fixed, since each lives in a namespace of its own topology.
//
// Cleanup: Topology's destructor (or Teardown()) detaches and unloads every data plane inside its
// namespace and deletes every namespace, which takes every link with it. On SIGINT/SIGTERM (see
// testbed::InstallStopSignalHandlers) running commands and transfers stop, the caller's calls
// return CANCELLED, and the caller unwinds into that destructor.
#ifndef ILA_EXAMPLES_TOPOLOGY_H_
#define ILA_EXAMPLES_TOPOLOGY_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "ila/types.h"
#include "cluster_control.h"
#include "testbed/netns.h"
#include "testbed/process.h"

namespace ila::demo {

// The test bed's namespaces and processes (testbed/netns.h, testbed/process.h), which the topology
// is made of.
using testbed::CommandResult;
using testbed::Duration;
using testbed::NamespacesWithPrefix;
using testbed::Netns;
using testbed::NetnsEntered;
using testbed::RemoveStaleNamespaces;
using testbed::StopRequested;

// ----- The topology --------------------------------------------------------------------------

struct TopologyOptions {
  std::string tag = "ila";  // first part of every namespace name
  // Checksum mode of every mapping and locator.
  ChecksumMode csum_mode = ChecksumMode::kAdjustTransport;
  int underlay_mtu = 1500;  // MTU of the r1 - r2 link (containers and other links have 1500)
  // The library's default: containers and uplinks at tc (veths), the router at native XDP.
  AttachMode attach_mode = AttachMode::kAuto;
  // How containers are attached when not as attach_mode (e.g. kTc: at tc, keeping their offloads).
  std::optional<AttachMode> container_attach_mode;
  // How host uplinks are attached when not as attach_mode (kTc with containers at tc: no XDP on
  // any veth the containers' traffic crosses).
  std::optional<AttachMode> uplink_attach_mode;
  DataplaneConfig host_config;
  DataplaneConfig router_config;
  // Create the four containers c1a, c1b (host1) and c2a, c2b (host2) with their mappings.
  bool default_containers = true;
  // More SIR prefixes to register on hosts and router (no mappings; routed to the ILA router).
  std::vector<SirPrefix> extra_sir_prefixes;
  // More tenants: SIR prefixes whose containers (AddContainer with the prefix) live on the hosts
  // beside Sir()'s. Each host has a locator for each (LocatorFor), in the host's /48.
  std::vector<SirPrefix> tenant_prefixes;
  // Rules linking SIR prefixes (tenants reach only their own prefix without one), on every host
  // and the router.
  std::vector<PrefixRule> prefix_rules;
  // Each host's cluster locator table holds the other host's locators (as ila-agent keeps it):
  // Packet Too Big quoting what the ILA router translated reaches the sender as sent.
  bool cluster_locators = true;
  // Run the control plane as a cluster does (cluster_control.h): etcd on a management network and
  // one ila-agent (this binary) per host and the ILA router, owning their data planes; containers
  // are attached and moved through the agents, and every host learns mappings from etcd. Empty:
  // the topology drives each data plane through the library itself.
  std::string agent_path;
  // Narration of what is being done, one line per call (nullptr: quiet).
  std::function<void(const std::string&)> log;
};

enum class MoveMode {
  kNewNamespace,   // a new container namespace on the new host (a restart elsewhere): the old one
                   // and everything running in it are gone
  kKeepNamespace,  // the container namespace stays (as with live migration): it gets a new veth to
                   // the new host and loses the old one, so its sockets keep running
};

class Topology {
 public:
  static constexpr int kHosts = 2;

  struct Host {
    std::string name;  // "host1", "host2"
    std::unique_ptr<Netns> ns;
    Locator locator;      // for Sir(); every locator of the host is in locator's /48
    Ipv6Address address;  // of its uplink, in the underlay (not in the locator /64)
    Ipv6Address gateway;  // its underlay router's address on that link
    std::string uplink = "up";
    std::unique_ptr<Dataplane> dp;
    Attachment uplink_attachment;
  };
  struct Container {
    std::string name;  // "c1a"
    std::unique_ptr<Netns> ns;
    int host = 0;  // index into hosts
    SirAddress sir;
    MacAddress mac;
    std::string host_veth;        // "veth-c1a", in the host's namespace
    std::string ifname = "eth0";  // in the container's namespace
    Attachment attachment;
    // With agents: from `ila-agent attach` until every other data plane had its mapping.
    std::chrono::milliseconds converged{0};
  };
  struct Router {
    std::unique_ptr<Netns> ns;
    Ipv6Address address;
    std::string interface = "up";
    std::unique_ptr<Dataplane> dp;
    Attachment attachment;
  };

  static absl::StatusOr<std::unique_ptr<Topology>> Create(const TopologyOptions& options);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  // Detaches and unloads every data plane and deletes every namespace (idempotent). The first
  // error, if any; it still removes everything it can.
  absl::Status Teardown();

  // The SIR prefix of the containers: 2001:db8:0:1::/64.
  static SirPrefix Sir();
  const TopologyOptions& options() const { return options_; }
  const Netns& r1() const { return *r1_; }
  const Netns& r2() const { return *r2_; }
  Host& host(int i) { return hosts_[static_cast<size_t>(i)]; }
  Router& ila_router() { return router_; }
  // nullptr when there is no such container.
  Container* container(const std::string& name);
  std::vector<std::string> container_names() const;
  // Every namespace of this topology.
  std::vector<std::string> namespace_names() const;
  // "<tag>-<pid>-<serial>-": the prefix of every namespace name of this topology.
  const std::string& name_prefix() const { return prefix_; }

  // Host i's locator for SIR prefix `prefix` (Sir() or one of options().tenant_prefixes).
  Locator LocatorFor(int i, SirPrefix prefix) const;

  // Creates a container on host `host` with SIR address `prefix` + `id`: its namespace, its veth,
  // AttachContainer on the host, and its mapping on every host and the router.
  absl::StatusOr<Container*> AddContainer(const std::string& name, int host, Identifier id,
                                          SirPrefix prefix = Sir());
  // Moves a container to another host; see MoveMode. The order keeps packets flowing: attach on
  // the new host, update the mapping on every host and the router, switch the container's
  // default route, then detach on the old host (whose moved-policy forwards stragglers).
  absl::Status MoveContainer(const std::string& name, int to_host, MoveMode mode);

  // Runs fn with host i's (the router's) data plane while the calling thread is inside that
  // host's namespace, which every Dataplane call that names an interface needs.
  absl::Status OnHost(int i, const std::function<absl::Status(Dataplane&)>& fn);
  absl::Status OnRouter(const std::function<absl::Status(Dataplane&)>& fn);
  absl::StatusOr<Stats> HostStats(int i) const;
  absl::StatusOr<Stats> RouterStats() const;

  // Sets the mapping of `sir` to `locator` on every host and the router.
  absl::Status MapEverywhere(const SirAddress& sir, Locator locator);

  // The agents' control plane (options().agent_path), or nullptr.
  ClusterControl* cluster() { return cluster_.get(); }
  // Waits until every host other than `except_host` (-1: none) and the ILA router map `sir` to
  // `locator` (agents: what etcd says reaches every data plane). The time it took.
  absl::StatusOr<std::chrono::milliseconds> WaitForMapping(
      const SirAddress& sir, Locator locator, int except_host = -1,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // `ping -6 -c count` from a container; the result whatever ping's exit status.
  absl::StatusOr<CommandResult> Ping(const std::string& from, const Ipv6Address& to, int count = 3,
                                     const std::vector<std::string>& extra_args = {});

 private:
  explicit Topology(TopologyOptions options) : options_(std::move(options)) {}
  absl::Status Build();
  // The steps of Build.
  absl::Status MakeNamespaces();
  absl::Status PlumbUnderlay();
  absl::Status StartRouter(const std::vector<SirPrefix>& prefixes);
  absl::Status StartHost(int i, const std::vector<SirPrefix>& prefixes);
  absl::Status AddLocators(int i, SirPrefix p, Dataplane& d);
  void Log(const std::string& line) const;
  std::string NsName(const std::string& role) const { return prefix_ + role; }
  absl::StatusOr<std::unique_ptr<Netns>> NewNetns(const std::string& role);
  absl::StatusOr<std::unique_ptr<Dataplane>> MakeDataplane(const Netns& ns,
                                                           const DataplaneConfig& config);
  // Creates the container side: veth between host and the namespace, addresses, routes.
  absl::Status PlumbContainer(const Container& c, const Host& h, const Netns& cns,
                              const std::string& ifname);
  absl::Status AttachContainerOnHost(Container& c, int host, bool move = false);
  // With agents (cluster_topology.cc).
  absl::Status StartCluster(const std::vector<SirPrefix>& prefixes);
  absl::Status StartRouterAgent();
  absl::Status StartHostAgent(int i);
  absl::StatusOr<Container*> AddContainerNoWait(const std::string& name, int host, Identifier id,
                                                SirPrefix prefix);
  std::vector<const Netns*> AllNamespaces() const;
  absl::Status DestroyDataplane(const Netns* ns, std::unique_ptr<Dataplane>& dp);

  TopologyOptions options_;
  std::string prefix_;
  std::unique_ptr<Netns> r1_, r2_;
  std::vector<Host> hosts_;
  Router router_;
  std::vector<std::unique_ptr<Container>> containers_;
  std::unique_ptr<ClusterControl> cluster_;
  bool torn_down_ = false;
};

}  // namespace ila::demo

#endif  // ILA_EXAMPLES_TOPOLOGY_H_
