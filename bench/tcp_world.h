// The two-host topology of the tcp benchmark (tcp_bench.cc): containers, hosts, a fabric, and
// each method applied to it and removed again.
#ifndef ILA_BENCH_TCP_WORLD_H_
#define ILA_BENCH_TCP_WORLD_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "ila/dataplane.h"
#include "ila/kernel_probe.h"
#include "testbed/netns.h"
#include "worlds.h"

namespace ila::bench::tcp {

using testbed::Netns;
using testbed::NetnsEntered;
using testbed::VethPair;

inline constexpr ChecksumMode kMode = ChecksumMode::kNeutralMapAuto;
inline const char* const kMethods[] = {"ila",   "ila_tc",     "plain",         "plain_no_offload",
                                       "vxlan", "srv6_encap", "srv6_encap_red"};

// The kernel features a method needs (the others need only veths and routing).
std::vector<KernelFeature> FeaturesOf(const std::string& method);
// libila's methods: every program at XDP (native), or at tc (AttachMode::kTc: container and
// uplink programs), which keeps the containers' offloads and GSO packets whole end to end.
inline bool IsIla(const std::string& method) { return method == "ila" || method == "ila_tc"; }
inline SirPrefix Sir() { return SirPrefix(0x20010db800000001ull); }

struct Side {
  std::string tag;            // "a", "b"
  std::optional<Netns> c, h;  // container, host
  std::string eth, vc, up;    // container's interface, host's container veth, host's uplink
  SirAddress sir;
  MacAddress mac;
  Locator locator;
  std::string up_addr, fabric_addr, sid, vx_mac;
  std::unique_ptr<Dataplane> dp;  // created once; attached only while the method is ila
};

struct TcpWorld : World {
  std::optional<Netns> fab;
  Side side[2];
  std::optional<VethPair> links[4];  // after the namespaces: destroyed first
  std::string attached;              // the method currently applied ("" none)
  ~TcpWorld() override {
    for (Side& s : side) {
      if (!s.dp || !s.h) continue;
      if (auto in = NetnsEntered::Enter(*s.h); in.ok()) s.dp.reset();
    }
  }
  // Runs `cmd` (sh) in a namespace, the error saying where.
  static absl::Status Sh(const Netns& ns, const std::string& cmd) {
    absl::Status st = ns.Run(cmd);
    if (st.ok()) return st;
    return absl::Status(st.code(), absl::StrCat("in ", ns.name(), ": ", st.message()));
  }
  absl::Status Apply(const std::string& method);
  absl::Status Remove(const std::string& method);
};

// The route MTU containers get under `method`: 1500 minus its outer headers.
int EncapMtu(const std::string& method);
// The world, built on first use (the previous world is destroyed first).
absl::StatusOr<TcpWorld*> Build();

}  // namespace ila::bench::tcp

#endif  // ILA_BENCH_TCP_WORLD_H_
