#include "kernel/tc_attach.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernel/log_capture.h"

namespace ila::internal {
namespace {

constexpr uint32_t kHandle = 0x11a;
constexpr uint32_t kPriority = 1;

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

// The program id of libila's filter on `ifindex`: 0 when there is none; error otherwise.
absl::StatusOr<uint32_t> FilterProgramId(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kHandle, .priority = kPriority);
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL || err == -ENODEV) return 0u;  // no qdisc, filter or link
  if (err) {
    return absl::Status(
        absl::ErrnoToStatusCode(-err),
        absl::StrCat("querying the tc filter on ifindex ", ifindex, ": ", Errno(err)));
  }
  return opts.prog_id;
}

}  // namespace

absl::Status AttachTcIngress(int ifindex, int prog_fd) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = kHandle, .priority = kPriority);
  // libbpf prints the kernel's complaint about the missing qdisc; it belongs in errors, not on
  // stderr.
  LogCapture log;
  int err = bpf_tc_attach(&hook, &opts);
  if (err == -EINVAL || err == -ENOENT) {
    err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
      return absl::Status(absl::ErrnoToStatusCode(-err),
                          absl::StrCat("creating the clsact qdisc: ", Errno(err)));
    }
    opts.prog_id = 0;
    err = bpf_tc_attach(&hook, &opts);
  }
  if (err == -EEXIST) {
    return absl::FailedPreconditionError(
        "the interface already has a tc ingress filter at libila's handle 0x11a, priority 1");
  }
  if (err) {
    return absl::Status(
        absl::ErrnoToStatusCode(-err),
        absl::StrCat("adding the tc ingress filter: ", Errno(err), " ", log.Tail(2)));
  }
  return absl::OkStatus();
}

absl::Status ReplaceTcIngress(int ifindex, int prog_fd, uint32_t expected_prog_id) {
  LogCapture log;
  auto current = FilterProgramId(ifindex);
  if (!current.ok()) return current.status();
  if (*current != expected_prog_id) {
    return absl::FailedPreconditionError(absl::StrCat("the tc filter runs program ", *current,
                                                      ", not the expected ", expected_prog_id));
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kHandle,
              .priority = kPriority);
  if (int err = bpf_tc_attach(&hook, &opts); err) {
    return absl::Status(absl::ErrnoToStatusCode(-err),
                        absl::StrCat("replacing the tc ingress filter: ", Errno(err)));
  }
  return absl::OkStatus();
}

absl::Status DetachTcIngress(int ifindex, uint32_t prog_id) {
  LogCapture log;
  auto current = FilterProgramId(ifindex);
  if (!current.ok()) return current.status();
  if (*current == 0 || *current != prog_id) return absl::OkStatus();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kHandle, .priority = kPriority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -ENODEV) {
    return absl::Status(absl::ErrnoToStatusCode(-err),
                        absl::StrCat("removing the tc ingress filter: ", Errno(err)));
  }
  return absl::OkStatus();
}

}  // namespace ila::internal
