// What the running kernel lets a test do, probed rather than assumed, and the skip convention.
#ifndef ILA_TESTS_SUPPORT_KERNEL_H_
#define ILA_TESTS_SUPPORT_KERNEL_H_

#include <iostream>
#include <optional>
#include <string>

#include "ila/kernel_probe.h"

namespace ila::testing {

// Why a test needing `feature` cannot run here ("kernel feature test_run_live_frames: bpf(...):
// Operation not permitted (EPERM)"), or nullopt when the kernel has it (ila::ProbeKernelFeature,
// asked once per process and feature).
std::optional<std::string> FeatureMissingReason(KernelFeature feature);

// Why BPF programs cannot be loaded and run here, or nullopt when they can (probed by loading a
// one-instruction XDP program and running it with BPF_PROG_TEST_RUN).
std::optional<std::string> BpfUnavailableReason();

}  // namespace ila::testing

// Ends the current test as skipped (ctest matches "ILA_SKIP: ") when `reason` holds a reason.
#define ILA_SKIP_IF(reason_opt)                                    \
  do {                                                             \
    if (auto ila_skip_reason_ = (reason_opt)) {                    \
      std::cout << "ILA_SKIP: " << *ila_skip_reason_ << std::endl; \
      return;                                                      \
    }                                                              \
  } while (0)

#endif  // ILA_TESTS_SUPPORT_KERNEL_H_
