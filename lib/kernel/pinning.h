// Pinning an instance in bpffs: <dir>/maps/<name>, <dir>/progs/<name>.
#ifndef ILA_LIB_KERNEL_PINNING_H_
#define ILA_LIB_KERNEL_PINNING_H_

#include <array>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kernel/object.h"

namespace ila::internal {

// OK when `dir` is (or would be made) on a bpffs. With `mount_default`, a /sys/fs/bpf that is not
// a bpffs is mounted (as systemd does at boot) where the mount lasts; anything else is an error
// saying how to fix it.
absl::Status CheckBpffs(const std::string& dir, bool mount_default = false);
// Pins every map and program at `dir` (refused when an instance is pinned there already); nothing
// is left half-pinned on failure.
absl::Status PinInstance(const std::map<std::string, OwnedFd>& maps,
                         const std::array<OwnedFd, kProgCount>& progs, const std::string& dir);
// Replaces the pinned programs by `progs` (after an upgrade).
absl::Status RepinPrograms(const std::array<OwnedFd, kProgCount>& progs, const std::string& dir);
absl::Status RemovePins(const std::string& dir);
// Opens every pinned map and program of the instance at `dir`; names whatever is missing.
absl::Status OpenPins(const std::string& dir, std::map<std::string, OwnedFd>* maps,
                      std::array<OwnedFd, kProgCount>* progs, const std::vector<MapSpec>& expected);

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_PINNING_H_
