// What the feature probe's two halves share (lib/kernel/feature_probe.cc: the table, the public
// API and the probes that need no interface; lib/kernel/netns_probes.cc: the probes run in a
// scratch network namespace).
#ifndef ILA_LIB_KERNEL_PROBE_UTIL_H_
#define ILA_LIB_KERNEL_PROBE_UTIL_H_

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ila/kernel_probe.h"
#include "kernel/object.h"

namespace ila::internal {

// "Operation not permitted (EPERM)" for errno `err` (either sign).
std::string ErrnoText(int err);

inline FeatureProbe Yes(KernelFeature f, std::string note = "") {
  return {f, true, std::move(note)};
}
inline FeatureProbe No(KernelFeature f, std::string why) { return {f, false, std::move(why)}; }
inline FeatureProbe FromStatus(KernelFeature f, const absl::Status& st) {
  return st.ok() ? Yes(f) : No(f, std::string(st.message()));
}

// A two-instruction program of `type` returning `verdict`; on failure fd -1 and errno in *err.
OwnedFd LoadProgram(bpf_prog_type type, int verdict, uint32_t prog_flags, int* err);

// Runs the probes of `wanted` (all of them features that need interfaces) on a helper thread in a
// fresh network namespace with an up veth pair; appends one result per feature to `out`. Error
// only when no such namespace can be made.
absl::Status ProbeInScratchNetns(const std::vector<KernelFeature>& wanted,
                                 std::vector<FeatureProbe>* out);
// native_xdp or af_xdp_zero_copy of interface `name` of the caller's namespace, from the XDP
// features its driver announces (nothing is attached).
FeatureProbe ProbeOnInterface(KernelFeature f, const std::string& name);

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_PROBE_UTIL_H_
