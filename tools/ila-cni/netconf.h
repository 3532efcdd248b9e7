// ila-cni's network configuration (docs/cni.md), read from the invocation's JSON and checked
// field by field, and the address a container asks for.
//
//   {"cniVersion":"1.0.0","name":"ila","type":"ila-cni",
//    "sirPrefix":"2001:db8:0:1",              the network's SIR prefix (required)
//    "agentSocket":"/run/ila-agent.sock",     the host's ila-agent (default shown)
//    "mtu":1500,                              the container side's MTU (default: the kernel's)
//    "reservationSeconds":30,                 how long DEL keeps the address for the workload
//    "ipam":{"type":"host-local",...}}        addresses from an IPAM plugin instead of the agent
//
// A specific address (it must be in the SIR prefix) comes, first found first, from
// runtimeConfig.ips (the "ips" capability, Kubernetes' CRI), args.cni.ips (the conventions
// document's), or CNI_ARGS IP=<address>; without one the agent allocates.
//
// Thread safety: values only.
#ifndef ILA_CNI_NETCONF_H_
#define ILA_CNI_NETCONF_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "cni.h"
#include "ila/types.h"

namespace ila::cni {

struct NetConf {
  std::string name;
  SirPrefix sir_prefix;
  std::string agent_socket = "/run/ila-agent.sock";
  int mtu = 0;
  int reservation_seconds = 30;
  std::optional<SirAddress> requested = std::nullopt;
  // The runtime's workload identity when it gives one (Kubernetes: "<namespace>/<pod>"), else
  // the container id.
  std::string identity = {};
  nlohmann::json prev_result = nullptr;  // when chained, or for CHECK and DEL
  std::string ipam_type = {};            // the delegated IPAM plugin, if any
};

[[nodiscard]] std::variant<NetConf, Error> ReadNetConf(const Invocation& invocation);

}  // namespace ila::cni

#endif  // ILA_CNI_NETCONF_H_
