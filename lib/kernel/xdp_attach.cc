#include "kernel/xdp_attach.h"

#include <fcntl.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernel/bpf_objects.h"
#include "kernel/log_capture.h"

namespace ila::internal {

absl::StatusOr<LibxdpAttachment> LibxdpAttach(int prog_fd, int ifindex, bool native) {
  LogCapture log;
  int fd = fcntl(prog_fd, F_DUPFD_CLOEXEC, 3);  // libxdp closes the fd it is given
  if (fd < 0) return absl::InternalError(absl::StrCat("dup: ", std::strerror(errno)));
  xdp_program* prog = xdp_program__from_fd(fd);
  if (long err = libxdp_get_error(prog); err) {
    close(fd);
    return absl::InternalError(
        absl::StrCat("libxdp cannot use the program: ", std::strerror(static_cast<int>(-err))));
  }
  int err = xdp_program__attach(prog, ifindex, native ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
  if (err != 0) {
    xdp_program__close(prog);
    std::string tail = log.Tail(3);
    return absl::FailedPreconditionError(
        absl::StrCat(std::strerror(-err), tail.empty() ? "" : " [", tail, tail.empty() ? "" : "]"));
  }
  LibxdpAttachment a;
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (!libxdp_get_error(mp) && mp) {
    a.multiprog = !xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
  }
  if (!a.multiprog) {
    std::string why = log.Tail(2, "ispatcher");
    if (why.empty()) why = log.Tail(2, "bpffs");
    a.note = absl::StrCat("libxdp attached the program alone (no multi-program dispatcher)",
                          why.empty() ? "" : ": ", why);
  }
  xdp_program__close(prog);  // the attachment holds the program; the handle is not needed
  return a;
}

absl::Status LibxdpDetach(uint32_t prog_id, int ifindex, bool native) {
  xdp_program* prog = xdp_program__from_id(prog_id);
  if (libxdp_get_error(prog)) return absl::OkStatus();
  int err = xdp_program__detach(prog, ifindex, native ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
  xdp_program__close(prog);
  if (err && err != -ENOENT && err != -ENODEV) {
    return absl::InternalError(
        absl::StrCat("detaching from ifindex ", ifindex, ": ", std::strerror(-err)));
  }
  return absl::OkStatus();
}

namespace {

// Whether the interface runs libxdp's dispatcher with program `prog_id` in it.
bool DispatcherHolds(int ifindex, uint32_t prog_id) {
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (libxdp_get_error(mp) || !mp) return false;
  bool found = false;
  if (!xdp_multiprog__is_legacy(mp)) {
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p && !found;
         p = xdp_multiprog__next_prog(p, mp)) {
      found = xdp_program__id(p) == prog_id;
    }
  }
  xdp_multiprog__close(mp);
  return found;
}

}  // namespace

absl::Status LibxdpReplace(uint32_t old_prog_id, int new_prog_fd, int ifindex, bool native) {
  if (!DispatcherHolds(ifindex, old_prog_id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("libxdp's dispatcher on ifindex ", ifindex, " does not hold program ",
                     old_prog_id, " (the interface's XDP program was changed from outside)"));
  }
  // libxdp cannot swap one program of a dispatcher in place: each change builds a new dispatcher
  // and replaces the old one atomically. Adding the new program before removing the old keeps an
  // ILA program on the interface throughout (while both are in, a frame the old one passes also
  // meets the new one), and leaves the other programs in the dispatcher untouched.
  auto added = LibxdpAttach(new_prog_fd, ifindex, native);
  if (!added.ok()) {
    return absl::Status(
        added.status().code(),
        absl::StrCat("adding the new program to libxdp's dispatcher: ", added.status().message()));
  }
  absl::Status removed = LibxdpDetach(old_prog_id, ifindex, native);
  if (removed.ok()) return absl::OkStatus();
  absl::Status undone = LibxdpDetach(ProgramId(new_prog_fd), ifindex, native);
  return absl::Status(
      removed.code(),
      absl::StrCat("removing the old program from libxdp's dispatcher: ", removed.message(),
                   undone.ok() ? "; the new program was removed again"
                               : absl::StrCat("; removing the new program again failed too, the "
                                              "dispatcher holds both: ",
                                              undone.message())));
}

}  // namespace ila::internal
