#include "log_capture.h"

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>
#include <vector>

#include "absl/strings/str_join.h"
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
  struct Probe {
    bool ok;
    const char* name;
  };
  const Probe probes[] = {
      {libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr) == 1,
       "BPF program type XDP (probe: libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP))"},
      {libbpf_probe_bpf_map_type(BPF_MAP_TYPE_DEVMAP_HASH, nullptr) == 1,
       "map type DEVMAP_HASH (Linux 5.4+)"},
      {libbpf_probe_bpf_map_type(BPF_MAP_TYPE_CPUMAP, nullptr) == 1, "map type CPUMAP"},
      {libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1,
       "map type RINGBUF (Linux 5.8+)"},
      {libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LRU_HASH, nullptr) == 1, "map type LRU_HASH"},
      {libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_fib_lookup, nullptr) == 1,
       "helper bpf_fib_lookup in XDP programs (Linux 4.18+)"},
      {libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_redirect_map, nullptr) == 1,
       "helper bpf_redirect_map in XDP programs"},
      {libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_ringbuf_reserve, nullptr) == 1,
       "helper bpf_ringbuf_reserve in XDP programs (Linux 5.8+)"},
  };
  for (const Probe& p : probes)
    if (!p.ok) return p.name;
  return "";
}

}  // namespace ila::internal
