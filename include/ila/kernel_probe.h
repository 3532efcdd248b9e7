// ila::ProbeKernel: what the running kernel offers libila, asked rather than assumed.
//
//   auto probe = ila::ProbeKernel();
//   if (!probe->Has(ila::KernelFeature::kTestRunLiveFrames)) ...
//   std::cout << probe->ToText();            // `ilactl probe` prints the same
//
// Kernels of one version differ: distributions and vendors build without modules, without seg6
// lwtunnels or pktgen, or harden BPF (e.g. refusing BPF_PROG_TEST_RUN live frames and freplace
// programs with EPERM). Each feature is probed by doing the smallest real thing that needs it
// (loading a program, creating a map, a link or a route, binding a socket) in a scratch network
// namespace that disappears with the probe, so the probe leaves nothing behind and touches no
// interface of the caller's namespace (except ProbeOptions::interface, which is only bound to).
// A feature that is missing says what the kernel answered.
//
// Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for the scratch namespace); without it the
// features are reported missing with EPERM, which is also the truth for that caller.
// Thread-safe; each call probes afresh (about 50-200 ms).
#ifndef ILA_KERNEL_PROBE_H_
#define ILA_KERNEL_PROBE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ila {

// The names (ToString) are stable: tests, skip messages, `ilactl probe -j` and docs/kernels.md
// use them.
enum class KernelFeature {
  kBtf,                // "btf": /sys/kernel/btf/vmlinux
  kBpffs,              // "bpffs": /sys/fs/bpf is a mounted bpffs (pinning)
  kDevmap,             // "devmap": BPF_MAP_TYPE_DEVMAP_HASH (redirect targets)
  kCpumap,             // "cpumap": BPF_MAP_TYPE_CPUMAP (uplink steering)
  kRingbuf,            // "ringbuf": BPF_MAP_TYPE_RINGBUF (miss events)
  kMmapableArray,      // "mmapable_array": BPF_F_MMAPABLE arrays, mapped (slot tables)
  kBpfLoop,            // "bpf_loop": helper bpf_loop in XDP (long probe sequences)
  kFibLookup,          // "fib_lookup": helper bpf_fib_lookup in XDP
  kCheckMtu,           // "check_mtu": helper bpf_check_mtu in XDP
  kNativeXdp,          // "native_xdp": driver-mode XDP (on a veth, or ProbeOptions::interface)
  kXdpFrags,           // "xdp_frags": XDP programs that accept multi-buffer frames
  kTcClsact,           // "tc_clsact": clsact qdisc with a direct-action BPF filter
  kTcxLink,            // "tcx_link": BPF links at tcx ingress (Linux 6.6+)
  kTestRunLiveFrames,  // "test_run_live_frames": BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
  kAfXdpCopy,          // "af_xdp_copy": AF_XDP sockets bound in copy mode
  kAfXdpZeroCopy,      // "af_xdp_zero_copy": AF_XDP zero-copy on ProbeOptions::interface
  kLibxdpMultiprog,    // "libxdp_multiprog": libxdp's multi-program dispatcher (needs freplace)
  kVxlan,              // "vxlan": vxlan links (benchmark peer)
  kSeg6,               // "seg6": seg6 encapsulation routes (benchmark peer: SRv6)
  kSeg6Local,          // "seg6local": seg6local routes (benchmark peer: SRv6 decapsulation)
  kIp6tnl,             // "ip6tnl": ip6tnl links (benchmark peer: IPv6-in-IPv6)
  kGeneve,             // "geneve": geneve links (benchmark peer)
  kPktgen,             // "pktgen": the kernel packet generator (/proc/net/pktgen)
};
inline constexpr int kKernelFeatureCount = 23;

std::string_view ToString(KernelFeature feature);
// The feature named by ToString; InvalidArgument listing the names otherwise.
absl::StatusOr<KernelFeature> ParseKernelFeature(std::string_view name);
// What in libila (or its tests and benchmarks) uses the feature, and what degrades without it.
std::string_view FeatureUse(KernelFeature feature);
// Whether Dataplane::Create cannot load the programs without it.
bool RequiredForCreate(KernelFeature feature);

struct FeatureProbe {
  KernelFeature feature = KernelFeature::kBtf;
  bool available = false;
  // For a missing feature, what the kernel answered ("bpf(BPF_PROG_TEST_RUN): Operation not
  // permitted"); for an available one, a note or "".
  std::string detail;
};

struct ProbeOptions {
  // Also probe native XDP and AF_XDP zero-copy on this interface of the caller's namespace (a NIC
  // to be used as an uplink); by default they are probed on a scratch veth, where zero-copy never
  // exists.
  std::optional<std::string> interface;
};

struct KernelProbe {
  std::string kernel_release;            // uname -r
  std::optional<std::string> interface;  // ProbeOptions::interface, when given
  std::vector<FeatureProbe> features;    // every KernelFeature, in enum order

  bool Has(KernelFeature feature) const;
  const FeatureProbe& Get(KernelFeature feature) const;
  // One line a feature: "native_xdp            yes" / "test_run_live_frames  no  (EPERM ...)".
  std::string ToText() const;
};

// Probes every feature. Error only when the probe itself cannot run (e.g. no scratch namespace
// can be made: then every netns-dependent feature would be unknown, not missing).
[[nodiscard]] absl::StatusOr<KernelProbe> ProbeKernel(const ProbeOptions& options = {});
// Probes one feature (a scratch namespace is made only if the feature needs one).
[[nodiscard]] absl::StatusOr<FeatureProbe> ProbeKernelFeature(KernelFeature feature,
                                                              const ProbeOptions& options = {});

}  // namespace ila

#endif  // ILA_KERNEL_PROBE_H_
