// Child processes and stopping on a signal, for the tests, the benchmarks and the demo: one way to
// run a command (no shell, with a timeout, its output collected), one for a command left running
// in the background, and one process-wide stop flag that every wait of the test bed checks.
#ifndef ILA_TESTBED_PROCESS_H_
#define ILA_TESTBED_PROCESS_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ila::testbed {

using Duration = std::chrono::milliseconds;

// ----- Stopping on a signal ------------------------------------------------------------------

// Sets the stop flag (async-signal-safe); every wait below checks it.
void RequestStop();
bool StopRequested();
// SIGINT, SIGTERM and SIGHUP set the stop flag instead of killing the process.
void InstallStopSignalHandlers();
// CANCELLED if a stop was requested, else OK.
absl::Status CheckNotStopped();

// ----- Child processes -----------------------------------------------------------------------

struct CommandResult {
  int exit_code = 0;   // the child's exit status; 128 + signal if it was killed by one
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (no shell) with `input` on stdin. Error (with the output) when it cannot be started,
// does not finish within `timeout` (it is then killed), or a stop was requested; otherwise the
// result, whatever the exit status.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         Duration timeout = Duration(30000),
                                         const std::string& input = "");
// The same, but a non-zero exit status is an error carrying the output.
absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv,
                                       Duration timeout = Duration(30000),
                                       const std::string& input = "");

// A child running in the background (e.g. tcpdump, an iperf3 server) whose output is collected.
// The destructor terminates it if it still runs.
class BackgroundProcess {
 public:
  static absl::StatusOr<std::unique_ptr<BackgroundProcess>> Start(
      const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // Waits until `text` appears in the output (true) or the process exits or the timeout passes.
  bool WaitForOutput(const std::string& text, Duration timeout);
  // Waits up to `timeout` for the process to exit, then terminates it; returns the whole output.
  CommandResult Finish(Duration timeout);
  // The output collected so far (the process keeps running).
  std::string Output() const;
  // Sends `sig` to the process (not to its children).
  void Signal(int sig);
  int pid() const { return pid_; }

 private:
  BackgroundProcess() = default;
  void Reap(bool terminate, Duration timeout);
  struct Shared;
  std::shared_ptr<Shared> shared_;
  int pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace ila::testbed

#endif  // ILA_TESTBED_PROCESS_H_
