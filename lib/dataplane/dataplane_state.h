// The state one Dataplane and its tables share: owned fds of the loaded (or adopted) object, typed
// views of its maps, and the bookkeeping of attachments and redirect targets.
#ifndef ILA_LIB_DATAPLANE_STATE_H_
#define ILA_LIB_DATAPLANE_STATE_H_

#include <arpa/inet.h>
#include <linux/bpf.h>

#include <map>
#include <memory>
#include <optional>
#include <set>

#include "abi.h"
#include "tables/locator_slots.h"
#include "kernel/map_writer_lock.h"
#include "tables/mapping_slots.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kernel/bpf_map.h"
#include "ila/dataplane.h"
#include "kernel/object.h"
#include "kernel/pinning.h"

namespace ila::internal {

// A pass-through program this library put on the far end of a veth, to be removed on detach.
struct PeerNapi {
  std::optional<int> netnsid;
  int ifindex = 0;
  uint32_t prog_id = 0;
};

struct DataplaneState {
  DataplaneConfig config;
  // The network namespace the data plane was created or opened in: interface names and indexes
  // mean something only there, so calls made from a thread elsewhere enter it (InDataplaneNetns).
  OwnedFd netns;
  std::optional<std::string> pin_dir;  // set when pinned
  std::map<std::string, OwnedFd> map_fds;
  std::array<OwnedFd, kProgCount> prog_fds;

  // Every SIR address's slot (mapping of a full table, local endpoint), and the mappings: in the
  // slots, or a forwarding cache's LRU hash.
  std::shared_ptr<const MappingSlots> slot_table;
  MappingStore mappings;
  TypedMap<abi::ila_addr, abi::ila_reverse_value> reverse;
  // This host's locators: the record, and the table the programs look them up in (LocatorTable
  // writes both).
  TypedMap<abi::ila_locator_key, abi::ila_locator_value> locators;
  std::unique_ptr<const LocatorSlots> locator_slots;
  TypedMap<abi::ila_endpoint_key, abi::ila_endpoint_value> endpoints;
  TypedMap<abi::ila_source_key, abi::ila_source_value> sources;
  TypedMap<abi::ila_sir_prefix_key, abi::ila_sir_prefix_value> sir_prefixes;
  TypedMap<abi::ila_prefix_rule_key, abi::ila_prefix_rule_value> prefix_rules;
  TypedMap<abi::ila_locator_key, abi::ila_locator_value> cluster_locators;
  TypedMap<uint32_t, abi::ila_locator_filter> locator_filter;
  // A locator (this host's or the cluster's) -> its host's re-forward locator.
  TypedMap<abi::ila_locator_key, abi::ila_locator_key> reforward_locators;
  TypedMap<uint32_t, bpf_devmap_val> tx_ports;
  TypedMap<uint32_t, bpf_cpumap_val> cpus;
  TypedMap<uint32_t, abi::ila_steer_config> steer;
  TypedMap<uint32_t, abi::ila_meta> meta;
  TypedMap<uint32_t, abi::ila_attachment> attachment_records;
  TypedMap<uint32_t, abi::ila_interface_value> interfaces;
  PerCpuArray<abi::ila_stat_value> stats;
  TypedMap<uint32_t, abi::ila_nexthop_lease> nexthop_epoch;

  int prog(Prog p) const { return prog_fds[static_cast<size_t>(p)].get(); }
  int map_fd(const std::string& name) const;
  // Builds the typed views from map_fds; names a missing map.
  absl::Status BindMaps();

  // Serialises every writer of every table and of the attachments, with instance_lock (both held
  // through StateWriterLock): validations read across tables (a mapping needs its SIR prefix; a
  // prefix cannot go while mappings use it), so one lock keeps them coherent. `mu` orders this
  // process's threads; instance_lock, this process against the others with the instance open (a
  // controller, ila-agent, ilactl).
  absl::Mutex mu;
  std::unique_ptr<MapLock> instance_lock;                  // on ila_meta; set by BindMaps
  std::map<int, Attachment> attached ABSL_GUARDED_BY(mu);  // by ifindex
  std::set<int> extra_targets ABSL_GUARDED_BY(mu);         // AddRedirectTarget
  std::map<int, PeerNapi> peer_napi ABSL_GUARDED_BY(mu);   // redirect target -> its peer's program

  // Adds an interface to the devmap, and if it is a veth whose peer has no XDP program, gives the
  // peer a pass-through program so that redirected frames are delivered: when an XDP program of
  // this data plane is attached or `xdp_attaching` (with tc programs only, nothing needs one).
  absl::Status AddRedirectTargetLocked(int ifindex, bool xdp_attaching = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::Status GivePeerNapiLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // For the first XDP attachment: pass-through programs for every target added before it.
  absl::Status GivePeerNapiToTargetsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Whether any XDP (not tc) program of this data plane is attached, by this process or another.
  bool XdpAttachedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes the devmap entry (and the peer's pass-through program) unless an attachment or
  // endpoint still needs it.
  absl::Status DropRedirectTargetLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool EndpointUsesInterfaceLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // An endpoint in ila_endpoints and in its address's slot (both or neither).
  absl::Status SetEndpointLocked(const abi::ila_endpoint_key& key,
                                 const abi::ila_endpoint_value& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void DropEndpointLocked(const abi::ila_endpoint_key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The SIR addresses whose endpoint is interface `ifindex` (an interface may serve several: a
  // container with several addresses).
  std::vector<abi::ila_endpoint_key> EndpointsOnLocked(int ifindex) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Makes ila_sources[ifindex] say whether the interface has an endpoint (it names one of its
  // addresses: the programs read it only to tell an unregistered interface from a spoofed
  // source).
  void RefreshSourceLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Persists an attachment (and the peer program of its interface) in ila_attachments.
  void RecordAttachmentLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Records the interface's MAC in ila_interfaces for the programs (uplinks and routers: XDP
  // translates only frames sent to it), and forgets it.
  absl::Status RecordInterfaceLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ForgetInterfaceLocked(int ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

// Holds DataplaneState::mu and its instance_lock while alive. status(): why the instance lock could
// not be taken (the caller returns it; mu is held regardless).
class ABSL_SCOPED_LOCKABLE StateWriterLock {
 public:
  explicit StateWriterLock(DataplaneState& s) ABSL_EXCLUSIVE_LOCK_FUNCTION(s.mu) : s_(s) {
    s.mu.Lock();
    if (s.instance_lock) file_lock_.emplace(*s.instance_lock);
  }
  ~StateWriterLock() ABSL_UNLOCK_FUNCTION() {
    file_lock_.reset();
    s_.mu.Unlock();
  }
  StateWriterLock(const StateWriterLock&) = delete;
  StateWriterLock& operator=(const StateWriterLock&) = delete;

  absl::Status status() const { return file_lock_ ? file_lock_->status() : absl::OkStatus(); }

 private:
  DataplaneState& s_;
  std::optional<MapWriterLock> file_lock_;
};

// The program that `role` runs in `mode` (steered: an uplink with cpumap steering).
Prog ProgFor(Role role, bool steered, AttachMode mode);

// Scope guard: while alive, the calling thread is in the data plane's network namespace (entered
// with setns only when the thread is elsewhere, and left again on destruction).
class InDataplaneNetns {
 public:
  explicit InDataplaneNetns(const DataplaneState& state);
  ~InDataplaneNetns();
  InDataplaneNetns(const InDataplaneNetns&) = delete;
  InDataplaneNetns& operator=(const InDataplaneNetns&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  int saved_ = -1;
  absl::Status status_;
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
