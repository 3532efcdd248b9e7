// What the running kernel lets a test do, probed rather than assumed, and the skip convention.
#ifndef ILA_TESTS_SUPPORT_KERNEL_H_
#define ILA_TESTS_SUPPORT_KERNEL_H_

#include <iostream>
#include <optional>
#include <string>

namespace ila::testing {

// Why BPF programs cannot be loaded and run here, or nullopt when they can (probed by loading a
// one-instruction XDP program and running it with BPF_PROG_TEST_RUN).
std::optional<std::string> BpfUnavailableReason();

}  // namespace ila::testing

// Ends the current test as skipped (ctest matches "ILA_SKIP: ") when `reason` holds a reason.
#define ILA_SKIP_IF(reason_opt)                                        \
  do {                                                                 \
    if (auto ila_skip_reason_ = (reason_opt)) {                        \
      std::cout << "ILA_SKIP: " << *ila_skip_reason_ << std::endl;     \
      return;                                                          \
    }                                                                  \
  } while (0)

#endif  // ILA_TESTS_SUPPORT_KERNEL_H_
