// Dataplane::Upgrade: this build's programs in place of the running ones, against the same maps,
// on every interface and cpumap entry or, after a failure, on none.
#include <linux/bpf.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "attach/attach.h"
#include "core/string_util.h"
#include "dataplane/dataplane_state.h"
#include "ila/dataplane.h"
#include "kernel/bpf_objects.h"
#include "kernel/object.h"
#include "kernel/pinning.h"

namespace ila {

using internal::Av;
using internal::DataplaneState;
using internal::Prog;
using internal::ProgFor;

namespace {

// A cpumap entry Upgrade gave the new program, and the entry as it was (its program by fd).
struct CpuSwap {
  uint32_t cpu = 0;
  bpf_cpumap_val old_val{};
  OwnedFd old_prog;
};
// An interface Upgrade gave the new program, and the one it ran before.
struct InterfaceSwap {
  Attachment* a = nullptr;
  int old_fd = -1;
  OwnedFd held;  // old_fd when it is not one of the state's program fds
  int new_fd = -1;
};

using Progs = std::array<OwnedFd, internal::kProgCount>;

// Gives every steered cpumap entry, then every attached interface, its program from `fresh`, each
// swap atomic against the program it replaces (so no interface is ever without one). Each swap
// done is appended to `cpus` or `ifaces`; the first failure stops it and is returned.
absl::Status SwapAll(DataplaneState& s, const Progs& fresh, std::vector<CpuSwap>& cpus,
                     std::vector<InterfaceSwap>& ifaces) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  const int new_cpu_prog = fresh[static_cast<size_t>(Prog::kUplinkCpu)].get();
  for (uint32_t cpu = 0; cpu < ILA_MAX_STEER_CPUS; ++cpu) {
    auto entry = s.cpus.Lookup(cpu);
    if (!entry.ok() || !entry->has_value() || (*entry)->qsize == 0) continue;
    CpuSwap sw{cpu, **entry, internal::ProgramById((*entry)->bpf_prog.id)};
    sw.old_val.bpf_prog.fd = sw.old_prog.get();  // a lookup gives the id, an update takes an fd
    bpf_cpumap_val val = **entry;
    val.bpf_prog.fd = new_cpu_prog;
    if (absl::Status st = s.cpus.Update(cpu, val); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("upgrading the program of cpumap entry ", cpu,
                                                  ": ", st.message()));
    }
    cpus.push_back(std::move(sw));
  }
  for (auto& [ifindex, a] : s.attached) {
    Prog p = ProgFor(a.role, !a.steer_cpus.empty(), a.mode);
    InterfaceSwap sw{&a, s.prog(p), OwnedFd(), fresh[static_cast<size_t>(p)].get()};
    if (a.program_id != 0 && internal::ProgramId(sw.old_fd) != a.program_id) {
      // Adopted from a process whose program fds we hold only through the pins of a later
      // upgrade: fetch the attached program itself.
      sw.held = internal::ProgramById(a.program_id);
      sw.old_fd = sw.held.get();
    }
    absl::Status st =
        sw.old_fd < 0
            ? absl::FailedPreconditionError(absl::StrCat("its program ", a.program_id, " is gone"))
            : internal::SwapProgram(a, sw.old_fd, sw.new_fd);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat("upgrading the ", Av(ToString(a.role)),
                                                  " program on ", a.interface, ": ", st.message()));
    }
    ifaces.push_back(std::move(sw));
  }
  return absl::OkStatus();
}

// Puts every swap back, newest first, with the same atomic replace reversed: what the failed
// Upgrade's error goes on to say ("; rolled back: ..." or "; rollback incomplete: ...").
std::string RollBack(DataplaneState& s, std::vector<InterfaceSwap>& ifaces,
                     std::vector<CpuSwap>& cpus) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  std::string failed;
  for (auto it = ifaces.rbegin(); it != ifaces.rend(); ++it) {
    absl::Status st = internal::SwapProgram(*it->a, it->new_fd, it->old_fd);
    if (st.ok()) continue;
    // It keeps the new program: the attachment says so, for Detach and for other processes.
    it->a->program_id = internal::ProgramId(it->new_fd);
    s.RecordAttachmentLocked(it->a->ifindex.value());
    absl::StrAppend(&failed, failed.empty() ? "" : "; ", "putting the old program back on ",
                    it->a->interface, " failed, it runs the new one: ", st.message());
  }
  for (auto it = cpus.rbegin(); it != cpus.rend(); ++it) {
    absl::Status st = s.cpus.Update(it->cpu, it->old_val);
    if (st.ok()) continue;
    absl::StrAppend(&failed, failed.empty() ? "" : "; ",
                    "putting the old program back on cpumap "
                    "entry ",
                    it->cpu, " failed, it runs the new one: ", st.message());
  }
  if (!failed.empty()) return absl::StrCat("; rollback incomplete: ", failed);
  return "; rolled back: every interface and cpumap entry upgraded before it runs its old program "
         "again";
}

}  // namespace

absl::Status Dataplane::Upgrade() {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  std::map<std::string, int> reuse;
  for (const auto& [name, fd] : state_->map_fds) reuse[name] = fd.get();
  auto fresh = internal::LoadObject(state_->config, &reuse);
  if (!fresh.ok()) return fresh.status();

  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  // All or none: a host where some interfaces run the new programs and some the old is one no
  // caller asked for, so a failed swap puts back every swap made before it.
  std::vector<CpuSwap> cpus;
  std::vector<InterfaceSwap> ifaces;
  if (absl::Status st = SwapAll(*state_, fresh->progs, cpus, ifaces); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat(st.message(), RollBack(*state_, ifaces, cpus)));
  }
  for (const InterfaceSwap& sw : ifaces) {
    sw.a->program_id = internal::ProgramId(sw.new_fd);
    state_->RecordAttachmentLocked(sw.a->ifindex.value());
  }
  state_->prog_fds = std::move(fresh->progs);
  if (state_->pin_dir) return internal::RepinPrograms(state_->prog_fds, *state_->pin_dir);
  return absl::OkStatus();
}

}  // namespace ila
