// The fixed configuration the differential fuzzer runs against (issue 16 item 11): a HostFixture
// (testbed/host_fixture.h) with its tables filled so that every checksum mode and identifier type
// the API accepts, and every verdict and counter of the container, uplink and router programs, is
// reachable. The same description is what the reference model (model.h) reads: the model knows
// the configuration, never the maps.
//
//   SIR prefixes   S  2001:db8:0:1::/64 (the fixture's), S2 2001:db8:0:2222::/64, S3
//                  2001:db8:0:3333::/64; a rule links S and S3 (S2 is on its own)
//   this host      L1 adj-transport, L1n neutral-map, L1a neutral-map-auto, L1x no-action,
//                  L1c adj-transport-linux-compat (all for S); L1s (sum equal to S's) and L1m (sum
//                  S's - 0x1000), where neutral restores meet one's-complement 0xffff; L1t for S2, L1u
//                  for S3
//   cluster        L2 (adj-transport) and L3 (neutral-map-auto), both for S: quoted ILA addresses
//                  under them that no mapping made are still translated back
//   re-forward     L1's R1 (this host: arrivals delivered or dropped, drop_reforward_loop) and
//                  L2's R2 (the cluster's: where packets re-forwarded to L2 go)
//   routes         L2, L2s, L2m via the fabric (redirected), L3 via a gateway without neighbour,
//                  L4 unreachable, L5 out of an interface that is no redirect target, L6 none
//   endpoints      c1h: S::1, S::1:0, S2::1, S3::1; c2h: S::2, S::1000:0:0:42 (C-bit), S::abcd:ffff,
//                  S::2000:0:0:5, S2::2
//   mappings       every mode x {luid, use-format} to L2, identifiers ending 0x0000 and 0xffff,
//                  C-bit SIRs, mappings to L3..L6, containers that moved away (S::7..S::b), S::2
//                  (here, but also mapped), S2's and S3's; S::d and S::e, gone from here but still mapped
//                  to this host's L1n and L1
#ifndef ILA_TESTS_FUZZ_WORLD_H_
#define ILA_TESTS_FUZZ_WORLD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "ila/mapping.h"
#include "ila/types.h"
#include "testbed/host_fixture.h"
#include "testbed/packet.h"

namespace ila::fuzz {

using testbed::Bytes;

// The fixture's interfaces, by name: the model never needs an interface index (and the runner
// hands HostFixture's own values straight to Run, whatever their type).
enum class Iface { kC1h, kC2h, kUplink };
// The programs under test.
enum class Program { kContainer, kUplink, kRouter };
std::string_view ToString(Iface iface);
std::string_view ToString(Program program);

// What the host's FIB does with a locator's /64.
enum class RouteKind {
  kGateway,          // via the fabric's gateway, whose neighbour entry is permanent
  kNoNeighbour,      // via a gateway that has no neighbour entry
  kUnreachable,      // an unreachable route
  kNotRedirectable,  // via an interface that is not one of the data plane's redirect targets
  kNone,             // no route at all
};

struct LocalEndpoint {
  SirAddress sir;
  Iface iface;
  MacAddress mac;  // the container's
};

struct Route {
  Locator locator;
  RouteKind kind;
};

struct World {
  MissPolicy miss_policy = MissPolicy::kPassToRouter;
  MovedPolicy moved_policy = MovedPolicy::kForward;
  std::vector<SirPrefix> sir_prefixes;
  std::vector<PrefixRule> prefix_rules;        // the pairs of prefixes that may reach each other
  std::vector<LocatorEntry> locators;          // this host's
  std::vector<LocatorEntry> cluster_locators;  // the other hosts' (ClusterLocatorTable)
  std::vector<LocalEndpoint> endpoints;
  // Containers that left this host while their mapping named one of its locators (BuildHost
  // registers them, maps them, and removes them: the control plane refuses such a mapping for an
  // address with no endpoint here). Not in `endpoints`; their mappings are in `mappings`.
  std::vector<LocalEndpoint> departed;
  std::vector<Mapping> mappings;
  std::vector<Route> routes;  // remote locators; a locator not listed has no route
  uint32_t mtu = 1500;        // of every route's egress
  // Known once the fixture exists (HostFixture reads them from the kernel).
  MacAddress uplink_mac, c1h_mac, c2h_mac;
  MacAddress fabric_mac = testbed::HostFixture::FabricMac();

  // Lookups by the full 128-bit address (nullptr: none).
  const LocalEndpoint* EndpointOf(const Ipv6Address& a) const;
  const Mapping* MappingOf(const Ipv6Address& a) const;
  // The entry of a locator, or of the locator a re-forward locator stands for (then *reforward).
  const LocatorEntry* LocatorOf(uint64_t locator, bool* reforward = nullptr) const;
  const LocatorEntry* ClusterLocatorOf(uint64_t locator) const;
  // The re-forward locator that stands for `locator` (this host's or the cluster's), if any.
  std::optional<Locator> ReforwardOf(uint64_t locator) const;
  bool InSirPrefix(const Ipv6Address& a) const;
  bool IsSirPrefix(uint64_t prefix) const;
  bool Linked(uint64_t from, uint64_t to) const;  // a rule links the two prefixes
  RouteKind RouteOf(uint64_t locator) const;
  bool HasEndpointOn(Iface iface) const;
  MacAddress HostSideMac(Iface iface) const;
};

// The world above, with the given load-time policies (MACs still unknown).
World DesignedWorld(MissPolicy miss, MovedPolicy moved);

// A fixture holding `world` (its MACs filled in from the fixture), or what could not be set up.
absl::StatusOr<std::unique_ptr<testbed::HostFixture>> BuildHost(World& world);

// Addresses the generator and the tests name.
namespace addr {
inline constexpr SirPrefix kS{0x20010db800000001ull};
inline constexpr SirPrefix kS2{0x20010db800002222ull};
inline constexpr SirPrefix kS3{0x20010db800003333ull};
inline constexpr Locator kL1{0x20010db8aaaa0001ull};
inline constexpr Locator kL2{0x20010db8bbbb0002ull};
inline constexpr MacAddress kOtherHostMac({0x02, 0, 0, 0, 0x99, 0x99});
inline constexpr MacAddress kMulticastMac({0x33, 0x33, 0, 0, 0, 0x01});
inline constexpr MacAddress kBroadcastMac({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
}  // namespace addr

}  // namespace ila::fuzz

#endif  // ILA_TESTS_FUZZ_WORLD_H_
