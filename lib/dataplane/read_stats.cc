// ila::Dataplane's counters, summed over CPUs or per CPU.
#include "ila/dataplane.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "attach/attach.h"
#include "ila/kernel_probe.h"
#include "kernel/bpf_objects.h"
#include "dataplane/dataplane_state.h"
#include "nexthop/nexthop_keeper.h"
#include "kernel/tc_attach.h"
#include "kernel/log_capture.h"
#include "kernel/netlink.h"
#include "kernel/object.h"
#include "core/string_util.h"

namespace ila {

using internal::Av;

namespace internal {
Stats MakeStats(const std::array<abi::ila_stat_value, abi::ILA_STAT__COUNT>& totals);
int CounterIndex(std::string_view name);
}  // namespace internal

absl::StatusOr<Stats> Dataplane::ReadStats() const {
  std::array<abi::ila_stat_value, abi::ILA_STAT__COUNT> totals{};
  for (uint32_t i = 0; i < abi::ILA_STAT__COUNT; ++i) {
    auto per_cpu = state_->stats.Lookup(i);
    if (!per_cpu.ok()) return per_cpu.status();
    for (const abi::ila_stat_value& v : *per_cpu) {
      totals[i].packets += v.packets;
      totals[i].bytes += v.bytes;
    }
  }
  return internal::MakeStats(totals);
}

absl::StatusOr<std::vector<uint64_t>> Dataplane::ReadCounterPerCpu(std::string_view name) const {
  int index = internal::CounterIndex(name);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("no counter named \"", Av(name), "\""));
  }
  auto per_cpu = state_->stats.Lookup(static_cast<uint32_t>(index));
  if (!per_cpu.ok()) return per_cpu.status();
  std::vector<uint64_t> out;
  for (const abi::ila_stat_value& v : *per_cpu) out.push_back(v.packets);
  return out;
}

}  // namespace ila
