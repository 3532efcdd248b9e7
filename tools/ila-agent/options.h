// ila-agent's configuration: a JSON config file (--config FILE) and flags, flags winning; the
// names are the same in both (docs/cluster.md "Running the agent"), and etcd's connection flags
// are etcdctl's (--endpoints, --cacert, --cert, --key, --user, --password, --dial-timeout,
// --command-timeout).
#ifndef ILA_AGENT_OPTIONS_H_
#define ILA_AGENT_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent.h"

namespace ila::agent {

// Parses `args` (the words after `ila-agent run`). InvalidArgument naming the word or field.
[[nodiscard]] absl::StatusOr<AgentConfig> ParseAgentOptions(const std::vector<std::string>& args);

// "LOCATOR,SIR_PREFIX[,CSUM_MODE[,REFORWARD]]", e.g. "2001:db8:1:0,3333:0:0:1,neutral-map".
[[nodiscard]] absl::StatusOr<LocatorEntry> ParseLocatorOption(const std::string& text);

extern const char kAgentUsage[];

}  // namespace ila::agent

#endif  // ILA_AGENT_OPTIONS_H_
