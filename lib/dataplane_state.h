// The state one Dataplane and its tables share: the loaded skeleton, typed views of its maps, and
// the bookkeeping of what this process attached.
#ifndef ILA_LIB_DATAPLANE_STATE_H_
#define ILA_LIB_DATAPLANE_STATE_H_

#include <arpa/inet.h>
#include <linux/bpf.h>

#include <map>
#include <memory>
#include <optional>
#include <set>

#include "abi.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bpf_map.h"
#include "ila/dataplane.h"

struct ila_xdp;
struct xdp_program;

namespace ila::internal {

// A pass-through program this library put on the far end of a veth, to be removed on detach.
struct PeerNapi {
  std::optional<int> netnsid;
  int ifindex = 0;
  uint32_t prog_id = 0;
};

struct AttachRecord {
  Attachment attachment;
  xdp_program* program = nullptr;  // libxdp handle (holds a dup of the skeleton's program fd)
};

struct DataplaneState {
  DataplaneConfig config;
  ila_xdp* skel = nullptr;

  TypedMap<abi::ila_mapping_key, abi::ila_mapping_value> mappings;
  TypedMap<abi::ila_addr, abi::ila_reverse_value> reverse;
  TypedMap<abi::ila_locator_key, abi::ila_locator_value> locators;
  TypedMap<abi::ila_endpoint_key, abi::ila_endpoint_value> endpoints;
  TypedMap<abi::ila_source_key, abi::ila_source_value> sources;
  TypedMap<abi::ila_sir_prefix_key, abi::ila_sir_prefix_value> sir_prefixes;
  TypedMap<uint32_t, bpf_devmap_val> tx_ports;
  PerCpuArray<abi::ila_stat_value> stats;

  // Serialises every writer of every table: validations read across tables (a mapping needs its
  // SIR prefix; a prefix cannot go while mappings use it), so one lock keeps them coherent.
  absl::Mutex mu;
  // ifindex -> attachment; also tells which devmap entries belong to uplinks/routers.
  std::map<int, AttachRecord> attached ABSL_GUARDED_BY(mu);
  // Interfaces made redirect targets by AddRedirectTarget.
  std::set<int> extra_targets ABSL_GUARDED_BY(mu);
  // Redirect targets whose veth peer got our pass-through program (removed with the target).
  std::map<int, PeerNapi> peer_napi ABSL_GUARDED_BY(mu);

  ~DataplaneState();

  // Adds an interface to the devmap, and if it is a veth whose peer has no XDP program, gives the
  // peer a pass-through program so that redirected frames are delivered.
  absl::Status AddRedirectTargetLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes the devmap entry (and the peer's pass-through program) unless an attachment or
  // endpoint still needs it.
  absl::Status DropRedirectTargetLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool EndpointUsesInterfaceLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

// Wire conversions, done once here.
abi::ila_addr ToAbi(const Ipv6Address& a);
Ipv6Address FromAbi(const abi::ila_addr& a);
void Put64(uint8_t (&out)[8], uint64_t v);
uint64_t Get64(const uint8_t (&in)[8]);
inline uint16_t ToWire16(uint16_t v) { return htons(v); }
inline uint16_t FromWire16(uint16_t v) { return ntohs(v); }

}  // namespace ila::internal

#endif  // ILA_LIB_DATAPLANE_STATE_H_
