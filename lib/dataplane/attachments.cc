// ila::Dataplane's attachments: the attach policy (which mode, in which order, and what to
// undo), detaching, redirect targets.
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
using internal::DataplaneState;
using internal::Prog;
using internal::ProgFor;

namespace {

absl::Status ConfigureSteering(DataplaneState& s, const std::vector<int>& cpus)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  int possible = libbpf_num_possible_cpus();
  if (cpus.size() > ILA_MAX_STEER_CPUS) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", ILA_MAX_STEER_CPUS, " steering CPUs"));
  }
  abi::ila_steer_config cfg{};
  for (int cpu : cpus) {
    if (cpu < 0 || cpu >= possible || cpu >= static_cast<int>(ILA_MAX_STEER_CPUS)) {
      return absl::InvalidArgumentError(absl::StrCat("steering CPU ", cpu,
                                                     " does not exist (this "
                                                     "machine has CPUs 0 to ",
                                                     possible - 1, ")"));
    }
    cfg.cpus[cfg.count++] = static_cast<uint32_t>(cpu);
  }
  for (int cpu : cpus) {
    bpf_cpumap_val val{};
    val.qsize = 2048;
    val.bpf_prog.fd = s.prog(Prog::kUplinkCpu);
    if (absl::Status st = s.cpus.Update(static_cast<uint32_t>(cpu), val); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("steering to CPU ", cpu, ": ", st.message()));
    }
  }
  return s.steer.Update(0, cfg);
}

// Undoes what an Attach call did so far, so that nothing is half-applied.
void UndoAttachLocked(DataplaneState& s, const Attachment* att,
                      const std::optional<Endpoint>& endpoint, int ifindex)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  if (att) (void)internal::DetachProgram(*att);
  if (endpoint) {
    s.DropEndpointLocked(abi::ila_endpoint_key{internal::ToAbi(endpoint->sir.address())});
    s.RefreshSourceLocked(ifindex);
  }
  (void)s.DropRedirectTargetLocked(ifindex);
  s.ForgetInterfaceLocked(ifindex);
}

// Frames must carry complete checksums wherever an XDP program may see them: a veth that leaves
// them to offload hands the receiving side's XDP program only the pseudo-header sum, which is
// wrong once translated or redirected. So the container side of an XDP-attached container veth
// computes its own (at tc the skb keeps its checksum state, and the container its offloads),
// and, once tc-attached containers exist, so does a veth uplink attached at XDP, for their GSO
// packets leaving toward hosts whose uplinks run XDP too. An uplink at tc keeps its offloads:
// the far hosts' uplinks are taken to be at tc as well (a veth fabric is one deployment, in one
// mode), and a physical NIC completes checksums itself.
absl::Status SetChecksumsForLocked(DataplaneState& s, Role role, AttachMode mode,
                                   const internal::ResolvedInterface& dev)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  const bool container_side = role == Role::kContainer && mode != AttachMode::kTc;
  bool tc_containers = false;
  for (const auto& [ifindex, a] : s.attached) {
    if (role == Role::kContainer && mode == AttachMode::kTc && a.role == Role::kUplink &&
        a.mode != AttachMode::kTc) {
      (void)internal::UplinkChecksumsInSoftware(ifindex);
    }
    tc_containers |= a.role == Role::kContainer && a.mode == AttachMode::kTc;
  }
  if (!container_side && !(role == Role::kUplink && mode != AttachMode::kTc && tc_containers)) {
    return absl::OkStatus();
  }
  auto link = internal::GetLink(dev.ifindex);
  if (!link.ok() || link->kind != "veth" || link->peer_ifindex == 0) return absl::OkStatus();
  absl::Status st =
      container_side ? internal::SetTxChecksumOffload(link->peer_netnsid, link->peer_ifindex, false)
                     : internal::SetTxChecksumOffload(std::nullopt, dev.ifindex, false);
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(container_side ? "preparing the container side of "
                                                             : "preparing uplink ",
                                              dev.name, ": ", st.message()));
}

}  // namespace

absl::StatusOr<Attachment> Dataplane::Attach(Role role, const InterfaceRef& interface,
                                             AttachMode mode,
                                             const std::optional<Endpoint>& endpoint,
                                             const std::vector<int>& steer_cpus) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  auto dev = internal::Resolve(interface);
  if (!dev.ok()) return dev.status();
  if (absl::Status st = internal::RequireEthernet(
          dev->ifindex, absl::StrCat("attaching the ", Av(ToString(role)), " program"));
      !st.ok()) {
    return st;
  }
  auto plan = internal::PlanAttach(role, *dev, mode, !steer_cpus.empty());
  if (!plan.ok()) return plan.status();
  {
    internal::StateWriterLock lock(*state_);
    if (!lock.status().ok()) return lock.status();
    if (auto it = state_->attached.find(dev->ifindex); it != state_->attached.end()) {
      return absl::AlreadyExistsError(absl::StrCat(dev->name, " already has the ",
                                                   Av(ToString(it->second.role)),
                                                   " program of this data plane"));
    }
    if (!steer_cpus.empty()) {
      if (absl::Status st = ConfigureSteering(*state_, steer_cpus); !st.ok()) return st;
    }
  }
  // Record the MAC first: an uplink's or router's XDP program translates only frames sent to it.
  if (role != Role::kContainer) {
    internal::StateWriterLock lock(*state_);
    if (!lock.status().ok()) return lock.status();
    if (absl::Status st = state_->RecordInterfaceLocked(dev->ifindex); !st.ok()) return st;
  }
  // Register first: the container program drops traffic from interfaces without an endpoint.
  if (endpoint) {
    Endpoint ep = *endpoint;
    ep.ifindex = InterfaceIndex(dev->ifindex);
    if (absl::Status st = endpoints_.Upsert(ep); !st.ok()) return st;
  }
  absl::StatusOr<Attachment> att =
      internal::AttachByPlan(*plan, state_->prog(ProgFor(role, !steer_cpus.empty(), plan->mode)),
                             state_->prog(ProgFor(role, false, AttachMode::kTc)), *dev, role);
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  absl::Status st =
      att.ok() ? state_->AddRedirectTargetLocked(dev->ifindex, att->mode != AttachMode::kTc)
               : att.status();
  // The first XDP program: the targets added while there were only tc programs need their peers'
  // pass-through programs now.
  if (st.ok() && att->mode != AttachMode::kTc && !state_->XdpAttachedLocked()) {
    st = state_->GivePeerNapiToTargetsLocked();
  }
  if (st.ok()) st = SetChecksumsForLocked(*state_, role, att->mode, *dev);
  if (!st.ok()) {
    UndoAttachLocked(*state_, att.ok() ? &*att : nullptr, endpoint, dev->ifindex);
    return st;
  }
  att->steer_cpus = steer_cpus;
  att->peer_napi_attached = state_->peer_napi.contains(dev->ifindex);
  state_->attached[dev->ifindex] = *att;
  state_->RecordAttachmentLocked(dev->ifindex);
  return *att;
}

absl::StatusOr<Attachment> Dataplane::AttachContainer(const ContainerAttach& request) {
  return Attach(Role::kContainer, request.interface, request.mode,
                Endpoint{InterfaceIndex(), request.sir, request.mac}, {});
}

absl::StatusOr<Attachment> Dataplane::AttachUplink(const InterfaceAttach& request) {
  return Attach(Role::kUplink, request.interface, request.mode, std::nullopt, request.steer_cpus);
}

absl::StatusOr<Attachment> Dataplane::AttachRouter(const InterfaceAttach& request) {
  if (!request.steer_cpus.empty()) {
    return absl::InvalidArgumentError("cpumap steering is an uplink option");
  }
  return Attach(Role::kRouter, request.interface, request.mode, std::nullopt, {});
}

absl::Status Dataplane::DetachLocked(InterfaceIndex index) {
  const int ifindex = index.value();
  auto it = state_->attached.find(ifindex);
  if (it == state_->attached.end()) {
    return absl::NotFoundError(
        absl::StrCat("ifindex ", ifindex, " has no program of this data plane"));
  }
  Attachment a = it->second;
  state_->attached.erase(it);
  absl::Status st = internal::DetachProgram(a);
  if (a.role == Role::kContainer) {
    // Every address the container had on this interface (one registered on another interface
    // since stays there).
    for (const auto& key : state_->EndpointsOnLocked(ifindex)) state_->DropEndpointLocked(key);
    state_->RefreshSourceLocked(ifindex);
  }
  absl::Status drop = state_->DropRedirectTargetLocked(ifindex);
  state_->ForgetInterfaceLocked(ifindex);
  state_->RecordAttachmentLocked(ifindex);
  return st.ok() ? drop : st;
}

absl::Status Dataplane::Detach(const InterfaceRef& interface) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  InterfaceIndex ifindex;
  if (const InterfaceIndex* idx = std::get_if<InterfaceIndex>(&interface.id)) {
    ifindex = *idx;  // an interface that is gone can still be detached by its index
  } else {
    auto dev = internal::Resolve(interface);
    if (!dev.ok()) return dev.status();
    ifindex = InterfaceIndex(dev->ifindex);
  }
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  return DetachLocked(ifindex);
}

absl::Status Dataplane::DetachAll() {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  absl::Status first;
  while (!state_->attached.empty()) {
    absl::Status st = DetachLocked(InterfaceIndex(state_->attached.begin()->first));
    if (first.ok()) first = st;
  }
  std::set<int> extra = std::move(state_->extra_targets);
  state_->extra_targets.clear();
  for (int ifindex : extra) (void)state_->DropRedirectTargetLocked(ifindex);
  return first;
}

std::vector<Attachment> Dataplane::attachments() const {
  absl::MutexLock lock(&state_->mu);
  std::vector<Attachment> out;
  for (const auto& [ifindex, a] : state_->attached) out.push_back(a);
  return out;
}

absl::Status Dataplane::AddRedirectTarget(const InterfaceRef& interface) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  auto dev = internal::Resolve(interface);
  if (!dev.ok()) return dev.status();
  internal::StateWriterLock lock(*state_);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = state_->AddRedirectTargetLocked(dev->ifindex); !st.ok()) return st;
  state_->extra_targets.insert(dev->ifindex);
  return absl::OkStatus();
}

}  // namespace ila
