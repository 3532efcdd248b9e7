#include "testbed/kernel.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <unistd.h>

namespace ila::testbed {

std::optional<std::string> BpfUnavailableReason() {
  static const std::optional<std::string> reason = []() -> std::optional<std::string> {
    const struct bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K,
         .dst_reg = BPF_REG_0,
         .src_reg = 0,
         .off = 0,
         .imm = XDP_PASS},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "ila_probe", "GPL", insns, 2, nullptr);
    if (fd < 0) {
      return std::string("cannot load an XDP program (bpf(BPF_PROG_LOAD): ") +
             std::strerror(errno) + "); run as root on a kernel with BPF";
    }
    unsigned char frame[64] = {};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame));
    int err = bpf_prog_test_run_opts(fd, &opts);
    int saved = errno;
    close(fd);
    if (err) {
      return std::string("BPF_PROG_TEST_RUN on XDP is not permitted: ") + std::strerror(saved);
    }
    return std::nullopt;
  }();
  return reason;
}

std::optional<std::string> FeatureMissingReason(KernelFeature feature) {
  static std::mutex mu;
  static std::map<KernelFeature, std::optional<std::string>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(feature);
  if (it != cache.end()) return it->second;
  std::optional<std::string> reason;
  auto probe = ProbeKernelFeature(feature);
  if (!probe.ok()) {
    reason = "kernel feature " + std::string(ToString(feature)) +
             " could not be probed: " + std::string(probe.status().message());
  } else if (!probe->available) {
    reason = "kernel feature " + std::string(ToString(feature)) + ": " + probe->detail;
  }
  cache.emplace(feature, reason);
  return reason;
}

}  // namespace ila::testbed
