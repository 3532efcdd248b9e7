// The topologies the benchmarks run in. At most one is alive at a time (each HostFixture moves the
// thread into its host namespace; nesting them would leave the thread in a dead namespace), so
// asking for another destroys the current one. Benchmarks are registered so that those sharing a
// world run one after another.
#ifndef ILA_BENCH_WORLDS_H_
#define ILA_BENCH_WORLDS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench_support.h"

namespace ila::bench {

// The checksum modes of iproute2 (the Linux-compat variant costs the same as adj-transport).
inline constexpr ChecksumMode kModes[] = {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                                          ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction};

// One frame through one program, and what it must do there (checked before it is timed).
struct PathCase {
  std::string name;
  int prog_fd = -1;
  Bytes frame;
  InterfaceIndex ingress_ifindex;
  int verdict = 0;      // expected XDP_* verdict
  std::string counter;  // data plane counter it must increment ("" for the baselines)
};

class World {
 public:
  virtual ~World() = default;
};

// The HostFixture topology with one mapping per checksum mode (remote destinations behind L2), one
// locator of this host per checksum mode, and the sinks of the live runs.
struct PathsWorld : World {
  std::unique_ptr<testbed::HostFixture> host;
  BenchSkel skel;
  BaselineSkel base;
  std::map<std::string, PathCase> cases;
  std::map<ChecksumMode, SirAddress> remote;  // mapped to L2 with that mode
  std::map<ChecksumMode, Locator> locator;    // this host's locator with that mode
  bool live_ready = false;
  ~PathsWorld() override;

  static SirAddress Unmapped() { return {testbed::HostFixture::Sir(), Identifier(0xdead)}; }
  // Frames of the live runs: from c1 to a remote container, and from the fabric to c1.
  Bytes ContainerFrame(ChecksumMode mode) const;
  Bytes UplinkFrame(ChecksumMode mode) const;
  // The live runs' sinks (replacing the pass-through programs the data plane put on the veth
  // peers) and the kernel routes of the forwarding comparison. Idempotent.
  absl::Status PrepareLive();
  // The uplink re-attached with cpumap steering to `cpus`; returns the fd of the steering
  // program (which bench_refresh can tail-call like the direct one). Idempotent.
  absl::StatusOr<int> SteeredUplinkFd(const std::vector<int>& cpus);
  OwnedFd steered;  // the steering program
};
absl::StatusOr<PathsWorld*> GetPathsWorld();

// A host whose mapping table is sized for, and filled with, `size` mappings (neutral-map-auto, all
// behind L2), and the reference hash with the same keys.
struct ScaleWorld : World {
  size_t size = 0;
  std::unique_ptr<testbed::HostFixture> host;
  BenchSkel skel;
  std::vector<SirAddress> sirs;
  std::vector<Ipv6Address> uniform;  // destinations drawn uniformly (with replacement) from sirs
  SirAddress hot;
  double load_seconds = 0;
  SlotTableShape slots;  // of the data plane's slot table, which bench_slots_lookup reads
  ~ScaleWorld() override;
};
absl::StatusOr<ScaleWorld*> GetScaleWorld(size_t size);

// No topology: a private network namespace (so that nothing the control-plane runs create is in
// the machine's own) in which tables are created and filled without attaching anything.
struct ControlWorld : World {
  std::optional<testbed::Netns> ns;
  std::optional<testbed::NetnsEntered> entered;
  // The last table loaded with N mappings, for the Get and List runs.
  std::map<size_t, std::unique_ptr<Dataplane>> loaded;
  ~ControlWorld() override;
};
absl::StatusOr<ControlWorld*> GetControlWorld();

// For worlds defined next to their benchmarks (tcp_bench.cc): the current world, and replacing it
// (the previous one is destroyed first).
World* CurrentWorld();
World* SetWorld(std::unique_ptr<World> w);

// Destroys the current world (at exit, before the benchmark library shuts down).
void DestroyWorlds();

}  // namespace ila::bench

#endif  // ILA_BENCH_WORLDS_H_
