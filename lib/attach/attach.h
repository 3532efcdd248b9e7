// Attaching the data plane's programs to interfaces, at XDP or at tc, and what an Attachment says
// about it (mode, the reason for it, libxdp's dispatcher): the policy over kernel/'s mechanisms.
// The Dataplane decides what to attach where (dataplane/); this folder does one attach or detach.
#ifndef ILA_LIB_ATTACH_ATTACH_H_
#define ILA_LIB_ATTACH_ATTACH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "ila/kernel_probe.h"

namespace ila::internal {

struct ResolvedInterface {
  int ifindex;
  std::string name;
};
// The interface `ref` names, in the calling thread's namespace.
absl::StatusOr<ResolvedInterface> Resolve(const InterfaceRef& ref);

// Which mode an attach request ends in (kAuto resolved) and why.
struct AttachPlan {
  AttachMode mode = AttachMode::kNative;  // never kAuto for containers and uplinks
  bool tc_if_no_native = false;           // native XDP first, tc if the driver has none
  std::string reason;                     // Attachment::mode_reason when it is set here
};
// kAuto for containers and uplinks: tc on a veth (native XDP there turns the peer's TSO off);
// native XDP where the driver has it, else tc (never generic XDP, which costs more than tc).
// Routers and steered uplinks need XDP: kAuto stays, for AttachXdp's native-else-generic. Refuses
// tc for a router or with steering.
absl::StatusOr<AttachPlan> PlanAttach(Role role, const ResolvedInterface& dev, AttachMode mode,
                                      bool steered);
// Attaches as `plan` says: `prog_fd` in the plan's mode, or `tc_prog_fd` at tc (planned, or the
// fallback when native XDP fails). A failure names the missing kernel feature when the probe
// finds one.
absl::StatusOr<Attachment> AttachByPlan(const AttachPlan& plan, int prog_fd, int tc_prog_fd,
                                        const ResolvedInterface& dev, Role role);

// XDP_FLAGS_* of a native or generic mode.
uint32_t ModeFlags(AttachMode mode);

// Why an attachment runs in its mode: the text Attachment::mode_reason starts with, for each code
// persisted in ila_attachments (abi.h enum ila_mode_reason), so that Open() reports it too.
std::string ModeReasonText(uint8_t code);
uint8_t ModeReasonCode(std::string_view reason);

// Attaches `prog_fd` at XDP: in `mode`, or under kAuto native before generic (the reason says
// which and why). The error names the role, the interface and every mode tried.
absl::StatusOr<Attachment> AttachXdp(int prog_fd, const ResolvedInterface& dev, Role role,
                                     AttachMode mode);
// Attaches the tc flavour of `role`'s program to `dev`'s clsact ingress.
absl::StatusOr<Attachment> AttachTc(int prog_fd, const ResolvedInterface& dev, Role role);
// When `dev` runs a pass-through ila_peer_napi program (put there by the data plane of the host
// at the other end of its veth), swaps it for `prog_fd` atomically and returns the attachment;
// returns an attachment with ifindex 0 when there is no such program.
absl::StatusOr<Attachment> ReplacePeerNapi(int prog_fd, const ResolvedInterface& dev, Role role);
// Removes an attached program, only if it is still the one recorded.
absl::Status DetachProgram(const Attachment& a);
// Swaps the program `a` runs, `from_fd`, for `to_fd`, atomically and only if the interface still
// runs `from_fd`: the tc filter's program, the interface's XDP program (XDP_FLAGS_REPLACE), or,
// behind libxdp's dispatcher, our program within the dispatcher (its other programs stay).
// Upgrade swaps with it, and swaps back with it to roll back.
absl::Status SwapProgram(const Attachment& a, int from_fd, int to_fd);
// Turns a veth uplink's transmit checksum offload off (frames an XDP program redirects carry no
// checksum state; see Dataplane::Attach).
absl::Status UplinkChecksumsInSoftware(int ifindex);
// An attach failure, prefixed with the kernel feature that is missing when the probe says so (on
// `dev` for native XDP).
absl::Status NameMissingFeature(const absl::Status& failure, KernelFeature feature,
                                const std::string& dev);

}  // namespace ila::internal

#endif  // ILA_LIB_ATTACH_ATTACH_H_
