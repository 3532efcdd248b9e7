// Shared pieces of the end-to-end tests: the skip reason, building the two-host topology of
// examples/topology.h, counters by name, and the check that nothing is left behind.
#ifndef ILA_TESTS_E2E_E2E_SUPPORT_H_
#define ILA_TESTS_E2E_E2E_SUPPORT_H_

#include <memory>
#include <optional>
#include <string>

#include "ila/stats.h"
#include "topology.h"
#include "traffic.h"

namespace ila::e2e {

// Why the end-to-end tests cannot run here (no BPF, no namespaces, a missing tool), or nullopt.
std::optional<std::string> SkipReason();

// Options with the tag of the e2e tests ("ilae2e").
demo::TopologyOptions Options();

// Builds the topology (REQUIREs success) and checks that every program runs in native mode.
std::unique_ptr<demo::Topology> MakeTopology(const demo::TopologyOptions& options = Options());

// Tears the topology down and checks that no namespace of it remains.
void TearDownAndCheck(std::unique_ptr<demo::Topology>& topo);

// The packets of counter `name`; REQUIREs that the data plane has such a counter.
uint64_t Packets(const Stats& stats, const std::string& name);

Stats HostStats(demo::Topology& topo, int host);
Stats RouterStats(demo::Topology& topo);

// ping from a container to another container's SIR address; the exit status is 0 on success.
testbed::CommandResult Ping(demo::Topology& topo, const std::string& from, const std::string& to,
                            int count = 3);

// One ping each way between the hosts' containers, so that every underlay neighbour is resolved
// (the first packet to an unresolved neighbour goes through the kernel: pass_no_neighbour).
void WarmUp(demo::Topology& topo);

}  // namespace ila::e2e

#endif  // ILA_TESTS_E2E_E2E_SUPPORT_H_
