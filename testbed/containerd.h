// A private containerd (with runc) in a host's network namespace, for tests that run real
// containers: its own root, state, sockets and runc root in a temporary directory, the CRI plugin
// off. ctr runs each container (`ctr run --rm --cni`, in the foreground so that it runs CNI DEL
// when the container stops) in a private mount namespace in which /etc/cni/net.d, /opt/cni/bin and
// /var/lib/cni are this instance's own: the machine's are never read or written. ctr, not
// containerd, runs the CNI plugins, in the host's network namespace (nsenter, not `ip netns
// exec`, which would remount /sys and leave runc without cgroup mounts).
//
// Cleanup: the destructor kills the containers still running, stops containerd and removes its
// directory (and /run/containerd's shim directories if this instance made them).
// Thread safety: one thread.
#ifndef ILA_TESTBED_CONTAINERD_H_
#define ILA_TESTBED_CONTAINERD_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "testbed/process.h"

namespace ila::testbed {

struct ContainerdOptions {
  std::string netns;     // the host's network namespace (a name under /run/netns)
  std::string conflist;  // the CNI network configuration list (JSON text)
  // CNI plugins by type, made visible in /opt/cni/bin (Debian's /usr/lib/cni is searched too).
  std::map<std::string, std::string> plugins;
};

class Containerd {
 public:
  // Why these tests cannot run here (containerd, ctr, runc or busybox-static missing), or none.
  static std::optional<std::string> UnavailableReason();

  static absl::StatusOr<std::unique_ptr<Containerd>> Start(const ContainerdOptions& options);
  ~Containerd();
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;

  // Imports an image tarball (OCI layout, e.g. from testbed/make-busybox-image.sh).
  absl::Status ImportImage(const std::string& tarball);
  // Starts `ctr run --rm --cni <image> <id> <args...>` in the background; its output and exit
  // status (the container's) come with Wait().
  absl::Status Run(const std::string& id, const std::string& image,
                   const std::vector<std::string>& args);
  // Waits for container `id`'s ctr to exit (its CNI DEL done): the container's exit status and
  // the output.
  CommandResult Wait(const std::string& id, Duration timeout);
  // SIGKILL to the container's task (busybox as PID 1 ignores SIGTERM), then Wait().
  CommandResult Kill(const std::string& id, Duration timeout);
  // ctr with this instance's socket and namespace.
  absl::StatusOr<std::string> Ctr(const std::vector<std::string>& args);
  const std::string& dir() const { return dir_; }

 private:
  Containerd() = default;
  std::vector<std::string> CtrArgv(const std::vector<std::string>& args) const;
  std::string dir_;
  std::string netns_;
  bool made_run_dir_ = false;
  std::unique_ptr<BackgroundProcess> daemon_;
  std::map<std::string, std::unique_ptr<BackgroundProcess>> containers_;
};

}  // namespace ila::testbed

#endif  // ILA_TESTBED_CONTAINERD_H_
