// The tests' skip convention, and what they probe to decide (testbed/kernel.h).
#ifndef ILA_TESTS_SUPPORT_SKIP_H_
#define ILA_TESTS_SUPPORT_SKIP_H_

#include <iostream>

#include "testbed/kernel.h"

// Ends the current test as skipped (ctest matches "ILA_SKIP: ") when `reason` holds a reason.
#define ILA_SKIP_IF(reason_opt)                                    \
  do {                                                             \
    if (auto ila_skip_reason_ = (reason_opt)) {                    \
      std::cout << "ILA_SKIP: " << *ila_skip_reason_ << std::endl; \
      return;                                                      \
    }                                                              \
  } while (0)

#endif  // ILA_TESTS_SUPPORT_SKIP_H_
