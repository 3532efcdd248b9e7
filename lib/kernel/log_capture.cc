#include "kernel/log_capture.h"

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ila/kernel_probe.h"
#include "core/string_util.h"
#include "absl/strings/str_split.h"

namespace ila::internal {

absl::Mutex g_log_mu;

namespace {

std::deque<std::string>* g_log ABSL_GUARDED_BY(g_log_mu) = nullptr;

void CollectLine(const char* format, va_list args) {
  if (!g_log) return;
  // libbpf hands over the whole verifier log in one call: size the buffer to fit.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return;
  std::string buf(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(buf.data(), buf.size(), format, args);
  buf.resize(static_cast<size_t>(n));
  for (absl::string_view line : absl::StrSplit(buf, '\n', absl::SkipEmpty())) {
    g_log->emplace_back(line);
    if (g_log->size() > 2000) g_log->pop_front();
  }
}

int LibbpfPrint(enum libbpf_print_level, const char* format, va_list args) {
  CollectLine(format, args);
  return 0;
}
int LibxdpPrint(enum libxdp_print_level, const char* format, va_list args) {
  CollectLine(format, args);
  return 0;
}

}  // namespace

LogCapture::LogCapture() {
  g_log_mu.Lock();
  g_log = &lines_;
  old_bpf_ = reinterpret_cast<void*>(libbpf_set_print(LibbpfPrint));
  old_xdp_ = reinterpret_cast<void*>(libxdp_set_print(LibxdpPrint));
}

LogCapture::~LogCapture() {
  libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(old_bpf_));
  libxdp_set_print(reinterpret_cast<libxdp_print_fn_t>(old_xdp_));
  g_log = nullptr;
  g_log_mu.Unlock();
}

std::string LogCapture::Tail(size_t n, std::string_view containing) const {
  std::vector<std::string> picked;
  for (const std::string& l : lines_) {
    if (containing.empty() || l.find(containing) != std::string::npos) picked.push_back(l);
  }
  size_t from = picked.size() > n ? picked.size() - n : 0;
  return absl::StrJoin(picked.begin() + static_cast<long>(from), picked.end(), "\n");
}

std::string MissingKernelFeature() {
  // Only the probes that need no scratch namespace (and take no LogCapture: the caller holds one).
  for (int i = 0; i < kKernelFeatureCount; ++i) {
    auto f = static_cast<KernelFeature>(i);
    if (!RequiredForCreate(f)) continue;
    auto probe = ProbeKernelFeature(f);
    if (probe.ok() && !probe->available) {
      return absl::StrCat("kernel feature ", Av(ToString(f)), " (", probe->detail, ")");
    }
  }
  return "";
}

}  // namespace ila::internal
