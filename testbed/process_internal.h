// What the test bed's namespace code (netns.cc) shares with its process code (process.cc).
#ifndef ILA_TESTBED_PROCESS_INTERNAL_H_
#define ILA_TESTBED_PROCESS_INTERNAL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "testbed/process.h"

namespace ila::testbed::internal {

bool PathExists(const std::string& path);
// RunCommand, optionally ignoring a stop request (cleanup must run after one).
absl::StatusOr<CommandResult> RunCommandImpl(const std::vector<std::string>& argv, Duration timeout,
                                             const std::string& input, bool honour_stop);

}  // namespace ila::testbed::internal

#endif  // ILA_TESTBED_PROCESS_INTERNAL_H_
