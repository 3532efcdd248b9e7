// What the running kernel lets a test, a benchmark or the demo do, probed rather than assumed.
#ifndef ILA_TESTBED_KERNEL_H_
#define ILA_TESTBED_KERNEL_H_

#include <optional>
#include <string>

#include "ila/kernel_probe.h"

namespace ila::testbed {

// Why something needing `feature` cannot run here ("kernel feature test_run_live_frames: bpf(...):
// Operation not permitted (EPERM)"), or nullopt when the kernel has it (ila::ProbeKernelFeature,
// asked once per process and feature).
std::optional<std::string> FeatureMissingReason(KernelFeature feature);

// Why BPF programs cannot be loaded and run here, or nullopt when they can (probed by loading a
// one-instruction XDP program and running it with BPF_PROG_TEST_RUN).
std::optional<std::string> BpfUnavailableReason();

}  // namespace ila::testbed

#endif  // ILA_TESTBED_KERNEL_H_
