// What ila-cni does for each CNI command (docs/cni.md):
//   ADD     the address (asked for, or allocated by the agent), the veth pair and its plumbing
//           (plumbing.h), then the agent attaches the container and publishes its mapping. A
//           failure at any step undoes the earlier ones: no veth, no mapping, no identifier.
//   DEL     the agent detaches what this container has (its mapping is released only while it is
//           still this host's: a DEL after a move leaves the new host's alone), then the veth
//           goes. Idempotent: a missing netns, veth or attachment is success.
//   CHECK   compares the plumbing, the attachment and the mapping with prevResult; every
//           difference is reported.
//   GC      detaches and removes this network's containers that are not among the runtime's
//           valid attachments (a DEL that never came).
//   STATUS  whether the agent answers and is in sync with etcd.
// The plugin never touches BPF maps: the agent is the one writer of the data plane.
//
// Thread safety: concurrent invocations (processes) are safe; the agent serialises its writes.
#ifndef ILA_CNI_COMMANDS_H_
#define ILA_CNI_COMMANDS_H_

#include <string>

#include "cni.h"

namespace ila::cni {

struct Outcome {
  int exit_code = 0;
  std::string output;  // stdout: a result, VERSION's answer, or an error object
};

// Reads the invocation and runs it.
Outcome Run(const Getenv& getenv, const std::string& stdin_text);

// What the agent's inventory calls a container this plugin attached: "<container id>/<ifname>",
// the runtime's name for an attachment (GC's cni.dev/valid-attachments).
std::string AttachmentName(const std::string& container_id, const std::string& ifname);

// The host side's veth name for (container id, ifname): "ila" + 12 hex digits of a stable hash,
// so that DEL and GC find it without a cache.
std::string HostVethName(const std::string& container_id, const std::string& ifname);

}  // namespace ila::cni

#endif  // ILA_CNI_COMMANDS_H_
