#include "attach/attach.h"

#include <linux/if_link.h>

#include <variant>
#include <vector>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "core/string_util.h"
#include "kernel/bpf_objects.h"
#include "kernel/netlink.h"
#include "kernel/tc_attach.h"
#include "kernel/xdp_attach.h"

namespace ila::internal {
namespace {

struct ModeReason {
  uint8_t code;
  const char* text;
};
constexpr ModeReason kModeReasons[] = {
    {abi::ILA_MODE_AUTO_NATIVE, "native: the driver supports XDP"},
    {abi::ILA_MODE_AUTO_GENERIC, "generic: native attach failed"},
    {abi::ILA_MODE_AUTO_TC_VETH,
     "tc: a veth (native XDP there turns the peer's TSO off, so TCP would cross as 1.5 KB "
     "segments; at tc 64 KB GSO packets stay whole)"},
    {abi::ILA_MODE_AUTO_TC_NO_NATIVE,
     "tc: the driver has no native XDP (generic XDP costs more than tc)"},
    {abi::ILA_MODE_PEER_TAKEOVER, "took over the interface's pass-through program atomically"},
};

}  // namespace

std::string ModeReasonText(uint8_t code) {
  for (const ModeReason& r : kModeReasons)
    if (r.code == code) return r.text;
  return "";
}

uint8_t ModeReasonCode(std::string_view reason) {
  for (const ModeReason& r : kModeReasons)
    if (!reason.empty() && reason.find(r.text) != std::string_view::npos) return r.code;
  return abi::ILA_MODE_ASKED;
}

// What is attached, before the mode's own details.
static Attachment NewAttachment(Role role, const ResolvedInterface& dev, AttachMode mode,
                                int prog_fd) {
  Attachment att;
  att.role = role;
  att.interface = dev.name;
  att.ifindex = InterfaceIndex(dev.ifindex);
  att.mode = mode;
  att.program_id = ProgramId(prog_fd);
  return att;
}

uint32_t ModeFlags(AttachMode mode) {
  return mode == AttachMode::kNative ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

absl::StatusOr<ResolvedInterface> Resolve(const InterfaceRef& ref) {
  if (const std::string* name = std::get_if<std::string>(&ref.id)) {
    auto idx = IndexOfInterface(*name);
    if (!idx.ok()) return idx.status();
    return ResolvedInterface{*idx, *name};
  }
  int ifindex = std::get<InterfaceIndex>(ref.id).value();
  auto name = InterfaceName(ifindex);
  if (!name.ok()) return name.status();
  return ResolvedInterface{ifindex, *name};
}

absl::StatusOr<Attachment> AttachXdp(int prog_fd, const ResolvedInterface& dev, Role role,
                                     AttachMode mode) {
  std::vector<AttachMode> tries;
  if (mode == AttachMode::kAuto)
    tries = {AttachMode::kNative, AttachMode::kGeneric};
  else
    tries = {mode};
  std::string failures;
  for (AttachMode m : tries) {
    auto done = LibxdpAttach(prog_fd, dev.ifindex, m == AttachMode::kNative);
    if (!done.ok() && !absl::IsFailedPrecondition(done.status())) {
      return absl::Status(
          done.status().code(),
          absl::StrCat("the ", Av(ToString(role)), " program: ", done.status().message()));
    }
    if (!done.ok()) {
      absl::StrAppend(&failures, failures.empty() ? "" : "; ", Av(ToString(m)), ": ",
                      done.status().message());
      continue;
    }
    Attachment att = NewAttachment(role, dev, m, prog_fd);
    att.multiprog = done->multiprog;
    att.libxdp_note = done->note;
    if (mode == AttachMode::kAuto) {
      att.mode_reason =
          m == AttachMode::kNative
              ? ModeReasonText(abi::ILA_MODE_AUTO_NATIVE)
              : absl::StrCat(ModeReasonText(abi::ILA_MODE_AUTO_GENERIC), " (", failures, ")");
    }
    return att;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "attaching the ", Av(ToString(role)), " program to ", dev.name, " failed: ", failures));
}

// Turns a veth uplink's transmit checksum offload off (see Attach).
absl::Status UplinkChecksumsInSoftware(int ifindex) {
  auto link = GetLink(ifindex);
  if (!link.ok() || link->kind != "veth") return absl::OkStatus();
  return SetTxChecksumOffload(std::nullopt, ifindex, false);
}

// Attaches the tc flavour of `role`'s program to `dev`'s clsact ingress.
absl::StatusOr<Attachment> AttachTc(int prog_fd, const ResolvedInterface& dev, Role role) {
  if (absl::Status st = AttachTcIngress(dev.ifindex, prog_fd); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("attaching the ", Av(ToString(role)), " program to ", dev.name,
                                     " at tc: ", st.message()));
  }
  Attachment att = NewAttachment(role, dev, AttachMode::kTc, prog_fd);
  att.libxdp_note = "tc (clsact ingress) filter, not XDP";
  return att;
}

// When `dev` runs a pass-through ila_peer_napi program (put there by the data plane of the host
// at the other end of its veth), swaps it for `prog_fd` atomically and returns the attachment;
// returns an attachment with ifindex 0 when there is no such program.
absl::StatusOr<Attachment> ReplacePeerNapi(int prog_fd, const ResolvedInterface& dev, Role role) {
  auto link = GetLink(dev.ifindex);
  if (!link.ok() || link->xdp_prog_id == 0) return Attachment{};
  OwnedFd current = ProgramById(link->xdp_prog_id);
  if (!current.valid()) return Attachment{};
  auto info = ProgInfo(current.get(), "the interface's XDP program");
  if (!info.ok() ||
      std::string_view(info->name) != std::string_view("ila_peer_napi").substr(0, 15)) {
    return Attachment{};
  }
  AttachMode mode =
      link->xdp_attached_mode == XDP_ATTACHED_SKB ? AttachMode::kGeneric : AttachMode::kNative;
  absl::Status st =
      SetXdp(dev.ifindex, prog_fd, ModeFlags(mode) | XDP_FLAGS_REPLACE, current.get());
  if (!st.ok()) return st;
  Attachment att = NewAttachment(role, dev, mode, prog_fd);
  att.mode_reason =
      absl::StrCat(Av(ToString(mode)), ": ", ModeReasonText(abi::ILA_MODE_PEER_TAKEOVER));
  att.libxdp_note = "attached by atomic replacement of a pass-through program (not through libxdp)";
  return att;
}

// Removes an attached program, only if it is still the one recorded.
absl::Status DetachProgram(const Attachment& a) {
  if (a.mode == AttachMode::kTc) return DetachTcIngress(a.ifindex.value(), a.program_id);
  OwnedFd fd = ProgramById(a.program_id);
  if (!fd.valid()) return absl::OkStatus();  // gone already (interface deleted)
  if (a.multiprog) {
    absl::Status st = LibxdpDetach(a.program_id, a.ifindex.value(), a.mode == AttachMode::kNative);
    if (!st.ok()) return absl::Status(st.code(), absl::StrCat(a.interface, ": ", st.message()));
    return absl::OkStatus();
  }
  absl::Status st = SetXdp(a.ifindex.value(), -1, ModeFlags(a.mode) | XDP_FLAGS_REPLACE, fd.get());
  if (absl::IsNotFound(st) || absl::IsFailedPrecondition(st)) return absl::OkStatus();
  return st;
}

absl::Status SwapProgram(const Attachment& a, int from_fd, int to_fd) {
  const int ifindex = a.ifindex.value();
  if (a.mode == AttachMode::kTc) return ReplaceTcIngress(ifindex, to_fd, ProgramId(from_fd));
  // Replacing the interface's program would throw the dispatcher out, and every other program
  // attached through it with it.
  if (a.multiprog) {
    return LibxdpReplace(ProgramId(from_fd), to_fd, ifindex, a.mode == AttachMode::kNative);
  }
  return SetXdp(ifindex, to_fd, ModeFlags(a.mode) | XDP_FLAGS_REPLACE, from_fd);
}

// An attach failure, prefixed with the kernel feature that is missing when the probe says so
// (on `dev` for native XDP).
absl::Status NameMissingFeature(const absl::Status& failure, KernelFeature feature,
                                const std::string& dev) {
  ProbeOptions where;
  if (feature == KernelFeature::kNativeXdp) where.interface = dev;
  auto probe = ProbeKernelFeature(feature, where);
  if (!probe.ok() || probe->available) return failure;
  std::string what = feature == KernelFeature::kNativeXdp
                         ? absl::StrCat(dev, " has no native XDP (probe ", Av(ToString(feature)))
                         : absl::StrCat("kernel feature ", Av(ToString(feature)), " is missing (");
  return absl::Status(failure.code(),
                      absl::StrCat(what, ": ", probe->detail, "): ", failure.message()));
}

absl::StatusOr<AttachPlan> PlanAttach(Role role, const ResolvedInterface& dev, AttachMode mode,
                                      bool steered) {
  if (mode == AttachMode::kTc && role == Role::kRouter) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tc mode is for container and uplink interfaces (the router program runs at XDP only); "
        "attach ",
        dev.name, " in native, generic or auto mode"));
  }
  if (mode == AttachMode::kTc && steered) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpumap steering is an XDP feature: attach ", dev.name,
                     " at tc without steering CPUs, or in native or generic mode with them"));
  }
  AttachPlan plan;
  plan.mode = mode;
  if (mode != AttachMode::kAuto || role == Role::kRouter || steered) return plan;
  auto link = GetLink(dev.ifindex);
  if (link.ok() && link->kind == "veth") {
    plan.mode = AttachMode::kTc;
    plan.reason = ModeReasonText(abi::ILA_MODE_AUTO_TC_VETH);
  } else {
    plan.mode = AttachMode::kNative;
    plan.tc_if_no_native = true;
    plan.reason = ModeReasonText(abi::ILA_MODE_AUTO_NATIVE);
  }
  return plan;
}

absl::StatusOr<Attachment> AttachByPlan(const AttachPlan& plan, int prog_fd, int tc_prog_fd,
                                        const ResolvedInterface& dev, Role role) {
  std::string reason = plan.reason;
  bool at_tc = plan.mode == AttachMode::kTc;
  absl::StatusOr<Attachment> att = Attachment{};
  if (!at_tc) {
    // A neighbour's data plane may have put its pass-through program on this interface (it is
    // the far end of that neighbour's veth): replace it atomically rather than fail with EBUSY.
    att = ReplacePeerNapi(prog_fd, dev, role);
    if (att.ok() && !att->ifindex.valid()) att = AttachXdp(prog_fd, dev, role, plan.mode);
    if (!att.ok() && plan.tc_if_no_native) {
      reason = absl::StrCat(ModeReasonText(abi::ILA_MODE_AUTO_TC_NO_NATIVE), " (",
                            att.status().message(), ")");
      at_tc = true;
    } else if (!att.ok() && plan.mode == AttachMode::kNative) {
      return NameMissingFeature(att.status(), KernelFeature::kNativeXdp, dev.name);
    }
  }
  if (at_tc) {
    att = AttachTc(tc_prog_fd, dev, role);
    if (!att.ok()) return NameMissingFeature(att.status(), KernelFeature::kTcClsact, dev.name);
  }
  if (att.ok() && !reason.empty() && att->mode_reason.empty()) att->mode_reason = reason;
  return att;
}

}  // namespace ila::internal
