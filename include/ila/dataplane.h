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

struct DataplaneConfig {
  MissPolicy miss_policy = MissPolicy::kPassToRouter;
  MovedPolicy moved_policy = MovedPolicy::kForward;
  uint32_t max_mappings = 65536;
  uint32_t max_endpoints = 4096;
  uint32_t max_locators = 256;
  uint32_t max_sir_prefixes = 256;
};

enum class AttachMode {
  kNative,   // driver XDP; fails where the driver has none
  kGeneric,  // skb XDP; works everywhere, slower
  kAuto,     // native, else generic (the Attachment says which, and why)
};
std::string_view ToString(AttachMode mode);

// An interface by name (in the current network namespace) or by index.
struct InterfaceRef {
  std::variant<std::string, int> id;
  InterfaceRef(std::string name) : id(std::move(name)) {}  // NOLINT: implicit on purpose
  InterfaceRef(const char* name) : id(std::string(name)) {}  // NOLINT
  InterfaceRef(int ifindex) : id(ifindex) {}                  // NOLINT
};

enum class Role { kContainer, kUplink, kRouter };
std::string_view ToString(Role role);

// What an attach call achieved.
struct Attachment {
  Role role;
  std::string interface;
  int ifindex = 0;
  AttachMode mode = AttachMode::kNative;  // native or generic: what is really in use
  std::string mode_reason;                // why auto ended where it did ("" when asked directly)
  // libxdp's multi-program dispatcher when true; false when libxdp fell back to one program per
  // interface (the dispatcher cannot load on kernels that refuse freplace, as here).
  bool multiprog = false;
  std::string libxdp_note;  // libxdp's reason for the fallback, when it gave one
  // The container side of a veth got a pass-through XDP program so that redirects into the veth
  // are delivered (veth needs NAPI on the receiving peer).
  bool peer_napi_attached = false;
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
};

class Dataplane {
 public:
  // Loads the programs (the object is embedded in the library) with `config`. Errors name the
  // probed kernel feature that is missing, or carry the tail of the verifier log.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Dataplane>> Create(
      const DataplaneConfig& config);
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

  [[nodiscard]] absl::StatusOr<Stats> ReadStats() const;

  // File descriptors of the loaded programs, for tests and benchmarks that run them with
  // BPF_PROG_TEST_RUN.
  int program_fd(Role role) const;

 private:
  explicit Dataplane(std::shared_ptr<internal::DataplaneState> state);
  absl::StatusOr<Attachment> Attach(Role role, const InterfaceRef& interface, AttachMode mode,
                                    const std::optional<Endpoint>& endpoint);
  absl::Status DetachLocked(int ifindex);
  std::shared_ptr<internal::DataplaneState> state_;
  MappingTable mappings_;
  LocatorTable locators_;
  EndpointTable endpoints_;
  SirPrefixTable sir_prefixes_;
};

}  // namespace ila

#endif  // ILA_DATAPLANE_H_
