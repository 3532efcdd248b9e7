// libbpf and libxdp report through process-wide print callbacks. While a LogCapture lives, their
// lines are collected so that errors can carry them (the verifier log, libxdp's reasons).
#ifndef ILA_LIB_LOG_CAPTURE_H_
#define ILA_LIB_LOG_CAPTURE_H_

#include <deque>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ila::internal {

extern absl::Mutex g_log_mu;

// One capture at a time per process (the callbacks are global); others wait.
class LogCapture {
 public:
  LogCapture() ABSL_EXCLUSIVE_LOCK_FUNCTION(g_log_mu);
  ~LogCapture() ABSL_UNLOCK_FUNCTION(g_log_mu);
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // The last `n` lines, only those containing `containing` when given, joined by newlines.
  std::string Tail(size_t n, std::string_view containing = "") const;

 private:
  std::deque<std::string> lines_;
  void* old_bpf_;
  void* old_xdp_;
};

// The first kernel feature Dataplane::Create needs that this kernel lacks, by its probe name
// ("kernel feature ringbuf (bpf(BPF_MAP_CREATE): ...)"); "" when none is missing. Safe to call
// while holding a LogCapture.
std::string MissingKernelFeature();

}  // namespace ila::internal

#endif  // ILA_LIB_LOG_CAPTURE_H_
