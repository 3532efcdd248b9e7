// ila::Dataplane: loads the ILA XDP programs, attaches them to interfaces, and hands out the typed
// tables that drive them.
//
//   auto dp = ila::Dataplane::Create({});
//   dp->sir_prefixes().Add(prefix);
//   dp->AttachUplink({.interface = "eth0"});                  // arrivals for this host's locators
//   dp->AttachContainer({.interface = "veth-c1", .sir = ..., .mac = ...});
//   dp->mappings().Upsert({.sir = ..., .locator = ..., .csum_mode = ...});
//   dp->ReadStats();
//
// Thread safety: a Dataplane may be used from several threads; attach/detach calls are serialised
// internally and table calls are safe as documented in mapping.h. Destroying the Dataplane detaches
// everything it attached (unless Release() was called) and unloads the programs.
#ifndef ILA_DATAPLANE_H_
#define ILA_DATAPLANE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/mapping.h"
#include "ila/stats.h"
#include "ila/types.h"

namespace ila {
namespace internal {
class NexthopKeeper;
}  // namespace internal

// What from_container does with a SIR destination that has no mapping.
enum class MissPolicy {
  kPassToRouter,  // hand it untranslated to the kernel, whose routes lead to an ILA router
  kDrop,
};
// What from_uplink does with an arrival for a container that is no longer on this host.
enum class MovedPolicy {
  kForward,  // translate to the mapping's current locator and forward (locator to locator)
  kDrop,
};

// Where a restartable instance keeps its state: <root>/<instance>/{maps,progs}/ in a bpffs.
struct PinLocation {
  std::string root = "/sys/fs/bpf/ila";
  // Default: "netns-<inode of the calling thread's network namespace>", so instances of
  // different namespaces on one machine never collide.
  std::string instance;
  // The directory this names (resolving the default instance name).
  [[nodiscard]] absl::StatusOr<std::string> Directory() const;
};

struct DataplaneConfig {
  MissPolicy miss_policy = MissPolicy::kPassToRouter;
  MovedPolicy moved_policy = MovedPolicy::kForward;
  // The full mapping table is an open-addressing table of the smallest power of two of 32-byte
  // slots, with as many 32-byte endpoint cells, at least twice max_mappings + max_endpoints
  // (16 MiB for the defaults; 128 MiB for 1M mappings), plus a hash for ICMPv6 error translation
  // (lib/tables/mapping_slots.h).
  uint32_t max_mappings = 65536;
  uint32_t max_endpoints = 4096;
  // This host's locators: the programs find them in an open-addressing table of at least four
  // 32-byte entries per locator (a locator whose probe run of 8 is full of others is refused with
  // ResourceExhausted; practically never at that size).
  uint32_t max_locators = 256;
  uint32_t max_sir_prefixes = 256;
  // Rules that let two SIR prefixes reach each other (PrefixRuleTable).
  uint32_t max_prefix_rules = 1024;
  // The other hosts' locators (ClusterLocatorTable).
  uint32_t max_cluster_locators = 4096;
  // A host next to an ILA router can hold a bounded forwarding cache instead of the full table:
  // the mapping table becomes an LRU of max_mappings entries; what it evicts misses, goes to the
  // router (miss policy pass), and raises a miss event so the control plane can install it again.
  bool forwarding_cache = false;
  // Next-hop cache: the programs store bpf_fib_lookup's answer per destination locator (routes
  // through a gateway only) and reuse it, skipping the FIB walk that is most of a remote packet's
  // cost. This process keeps it correct: a thread in the data plane's namespace listens to
  // rtnetlink and invalidates every entry on any IPv6 route, rule, neighbour, link, address or
  // forwarding change, and switches the cache off while routing is something a per-locator answer
  // cannot represent (policy rules, multipath or source-specific routes, forwarding off on an
  // interface). The programs use it only while a keeper's lease lasts (renewed every 250 ms for
  // 1 s): without a live Dataplane keeping it (the last one was destroyed, or killed), it is off.
  bool nexthop_cache = true;
  // Locators remembered: the cache has the next power of two at least twice this many entries,
  // each holding the locator last learned among those that hash to it.
  uint32_t max_nexthops = 4096;
  // Invalidate at least this often even without a change notification (path MTU exceptions and a
  // lost notification are not announced); zero: only on notifications.
  std::chrono::milliseconds nexthop_refresh = std::chrono::seconds(1);
  // At most one miss event per destination per interval (0: one per missed packet).
  std::chrono::nanoseconds miss_event_interval = std::chrono::seconds(1);
  // At most this many miss events a second from one container interface, on average, and this
  // many at once (rate 0: no limit). What is over the budget is counted (miss_event_limited) and
  // carried in the next event's `suppressed`: a container that sprays unmapped destinations
  // cannot crowd out the others' events.
  uint32_t miss_event_rate = 100;
  uint32_t miss_event_burst = 256;
  // Pin maps, programs and the attachment records so that the data plane outlives this process
  // and another can Open() it. Without it, destroying the Dataplane detaches everything.
  std::optional<PinLocation> pinning;
};

enum class AttachMode {
  kNative,   // driver XDP; fails where the driver has none
  kGeneric,  // skb XDP; works everywhere, slower
  // The default. Containers and uplinks: tc on a veth (native XDP there turns the peer's TSO
  // off: measured side by side, container TCP 3.1 Gbit/s with XDP on the veths against 16.1 at
  // tc and 15.3 for plain routing); native XDP where the driver has it (physical NICs), else tc
  // (generic XDP costs more than tc). Routers and uplinks with cpumap steering, which need XDP:
  // native, else generic. The Attachment says which, and why (kept with the pins).
  kAuto,
  // Containers and uplinks (not routers, not with cpumap steering): the program at tc (clsact
  // ingress, sched_cls) instead of XDP. For veth: a native XDP program there turns its peer's
  // segmentation offload off (and libila the container's checksum offload), so TCP crosses as
  // 1.5 KB segments; with containers and uplinks at tc, 64 KB GSO packets are translated once
  // each and stay whole from socket to socket (the uplink program delivers with
  // bpf_redirect_peer). Same decisions, counters and maps as the XDP programs.
  kTc,
};
std::string_view ToString(AttachMode mode);

// An interface by name or by index, in the network namespace the Dataplane acts in.
struct InterfaceRef {
  std::variant<std::string, InterfaceIndex> id;
  InterfaceRef(std::string name) : id(std::move(name)) {}    // NOLINT: implicit on purpose
  InterfaceRef(const char* name) : id(std::string(name)) {}  // NOLINT
  InterfaceRef(InterfaceIndex index) : id(index) {}          // NOLINT
};

enum class Role { kContainer, kUplink, kRouter };
std::string_view ToString(Role role);

// What an attach call achieved.
struct Attachment {
  Role role;
  std::string interface;
  InterfaceIndex ifindex;
  AttachMode mode = AttachMode::kNative;  // native or generic: what is really in use
  std::string mode_reason;                // why auto ended where it did ("" when asked directly)
  // libxdp's multi-program dispatcher when true; false when libxdp fell back to one program per
  // interface (the dispatcher cannot load on kernels that refuse freplace, as here).
  bool multiprog = false;
  std::string libxdp_note;  // libxdp's reason for the fallback, when it gave one
  // The container side of a veth got a pass-through XDP program so that redirects into the veth
  // are delivered (veth needs NAPI on the receiving peer).
  bool peer_napi_attached = false;
  // Uplink with cpumap steering: the CPUs flows are spread over (empty: not steered).
  std::vector<int> steer_cpus;
  uint32_t program_id = 0;  // kernel id of the attached program
};

struct ContainerAttach {
  InterfaceRef interface;
  SirAddress sir;
  MacAddress mac;  // the container's MAC
  AttachMode mode = AttachMode::kAuto;
};
struct InterfaceAttach {
  InterfaceRef interface;
  AttachMode mode = AttachMode::kAuto;
  // Uplinks only: spread arrivals over these CPUs through a cpumap. The driver-level program then
  // only checks the locator and hashes the flow; translation and delivery run on the chosen CPU.
  // Every packet of a flow goes to one CPU. CPU numbers must be below 64.
  std::vector<int> steer_cpus;
};

// A SIR destination that a container sent to and that has no mapping here.
struct MissEvent {
  SirAddress destination;
  InterfaceIndex ifindex;   // the container interface it came from
  uint64_t suppressed = 0;  // misses to this destination since the previous event, not reported
};

// Delivers miss events from the data plane (a BPF ring buffer). Poll from one thread at a time;
// fd() can be added to an epoll set.
class MissEventReader {
 public:
  virtual ~MissEventReader() = default;
  virtual int fd() const = 0;
  // Calls `on_event` for every event available, waiting up to `timeout` for the first one.
  // Returns how many were delivered.
  [[nodiscard]] virtual absl::StatusOr<size_t> Poll(
      std::chrono::milliseconds timeout, const std::function<void(const MissEvent&)>& on_event) = 0;
};

// The next-hop cache (DataplaneConfig::nexthop_cache) as this Dataplane sees it.
struct NexthopCacheState {
  bool kept = false;           // this Dataplane runs the keeper
  bool enabled = false;        // the programs use stored FIB answers now (kept here or elsewhere)
  std::string reason;          // why not, when off
  uint64_t invalidations = 0;  // epochs this keeper started (each retires every stored answer)
};

struct OpenOptions {
  // Keep the next-hop cache from this process (when the instance was created with
  // nexthop_cache). A short-lived tool should leave it to the long-lived controller (its keeper
  // would start epochs, each a FIB walk per locator, for nothing); at most 16 processes keep one
  // instance at once.
  bool keep_nexthop_cache = true;
};

class Dataplane {
 public:
  // Loads the programs (the object is embedded in the library) with `config`. Errors name the
  // probed kernel feature that is missing, or carry the tail of the verifier log.
  //
  // With config.pinning, the instance is pinned and Create refuses (AlreadyExists) when one is
  // already pinned there: Open() it, or Destroy() it first.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Dataplane>> Create(
      const DataplaneConfig& config);
  // Adopts a pinned instance that another (possibly exited) process created: its maps, programs,
  // attachments and options. Packets keep flowing throughout. Refused, with what is wrong, when
  // nothing is pinned there, when the instance is incomplete, or when it was made by a build whose
  // map layout differs from this one's; bpffs not mounted is named as such.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Dataplane>> Open(
      const PinLocation& where, const OpenOptions& options = {});
  // Replaces every attached program by this build's, against the same maps, atomically per
  // interface (no moment without a program); counters and tables carry on. All interfaces or
  // none: when one swap fails, every one made before it is put back, and the error names the
  // interface and says it rolled back (or which interface a failed put-back left on the new
  // program). Behind libxdp's dispatcher, only our program in it is replaced.
  [[nodiscard]] absl::Status Upgrade();
  // Detaches everything and removes the pins: the only way a pinned instance goes away.
  [[nodiscard]] absl::Status Destroy();
  // A pinned instance is left running when the Dataplane is destroyed; an unpinned one is
  // detached.
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Registers the endpoint and attaches from_container to its host-side interface.
  [[nodiscard]] absl::StatusOr<Attachment> AttachContainer(const ContainerAttach& request);
  // Attaches from_uplink; the interface also becomes a redirect target for translated traffic.
  [[nodiscard]] absl::StatusOr<Attachment> AttachUplink(const InterfaceAttach& request);
  // Attaches the router role.
  [[nodiscard]] absl::StatusOr<Attachment> AttachRouter(const InterfaceAttach& request);
  // Detaches what this Dataplane attached to the interface, and unregisters the endpoint on it.
  [[nodiscard]] absl::Status Detach(const InterfaceRef& interface);
  // Detaches everything this Dataplane attached.
  [[nodiscard]] absl::Status DetachAll();
  std::vector<Attachment> attachments() const;

  // Makes an interface a redirect target without attaching anything (e.g. a second uplink that
  // only transmits).
  [[nodiscard]] absl::Status AddRedirectTarget(const InterfaceRef& interface);

  MappingTable& mappings() { return mappings_; }
  LocatorTable& locators() { return locators_; }
  EndpointTable& endpoints() { return endpoints_; }
  SirPrefixTable& sir_prefixes() { return sir_prefixes_; }
  PrefixRuleTable& prefix_rules() { return prefix_rules_; }
  ClusterLocatorTable& cluster_locators() { return cluster_locators_; }

  [[nodiscard]] absl::StatusOr<Stats> ReadStats() const;
  // Per-CPU values of one counter (index = CPU), e.g. to see work spread by cpumap steering.
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> ReadCounterPerCpu(
      std::string_view name) const;

  [[nodiscard]] absl::StatusOr<std::unique_ptr<MissEventReader>> OpenMissEvents();

  NexthopCacheState nexthop_cache() const;

  // The pin directory, when pinned.
  std::optional<std::string> pin_directory() const;
  const DataplaneConfig& config() const;

  // File descriptors of the loaded programs, for tests and benchmarks that run them with
  // BPF_PROG_TEST_RUN.
  // (`mode` kTc: the tc flavour, which exists for the container and uplink roles.)
  int program_fd(Role role, AttachMode mode = AttachMode::kNative) const;
  // The cpumap-side program of the uplink (runs on the steered-to CPU).
  int uplink_cpu_program_fd() const;

 private:
  explicit Dataplane(std::shared_ptr<internal::DataplaneState> state);
  absl::StatusOr<Attachment> Attach(Role role, const InterfaceRef& interface, AttachMode mode,
                                    const std::optional<Endpoint>& endpoint,
                                    const std::vector<int>& steer_cpus);
  absl::Status DetachLocked(InterfaceIndex ifindex);
  absl::Status StartNexthopKeeper();
  std::shared_ptr<internal::DataplaneState> state_;
  // Declared after state_: stopped (cache switched off) before the maps' fds close.
  std::unique_ptr<internal::NexthopKeeper> nexthop_keeper_;
  MappingTable mappings_;
  LocatorTable locators_;
  EndpointTable endpoints_;
  SirPrefixTable sir_prefixes_;
  PrefixRuleTable prefix_rules_;
  ClusterLocatorTable cluster_locators_;
};

}  // namespace ila

#endif  // ILA_DATAPLANE_H_
