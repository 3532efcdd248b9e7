#include "kernel/pinning.h"

#include <bpf/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace ila::internal {
namespace {

// Creates the directories of `dir` that do not exist yet, each 0700: the pins give whoever can
// open them the maps (the mapping table, the counters) and the programs. Existing ones (a shared
// root) keep their mode.
absl::Status MakeDirs(const std::string& dir) {
  std::filesystem::path path;
  for (const auto& part : std::filesystem::path(dir)) {
    path /= part;
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(
          absl::StrCat("creating ", path.string(), ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status Pin(int fd, const std::string& path) {
  if (bpf_obj_pin(fd, path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("pinning ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

bool OnBpffs(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

// Whether this process shares the mount namespace of PID 1 (of its PID namespace): a mount made
// there outlives the process. In a namespace of its own (`ip netns exec` makes one) it would
// vanish with the process, and the pins with it.
bool InInitsMountNamespace() {
  struct stat self {
  }, init{};
  return stat("/proc/self/ns/mnt", &self) == 0 && stat("/proc/1/ns/mnt", &init) == 0 &&
         self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

}  // namespace

absl::Status CheckBpffs(const std::string& dir, bool mount_default) {
  // The nearest existing ancestor must be on a bpffs (the directories below it are made later).
  std::filesystem::path p(dir);
  while (!p.empty() && !std::filesystem::exists(p)) p = p.parent_path();
  if (!p.empty() && OnBpffs(p.string())) return absl::OkStatus();
  // The conventional place, not mounted (some systems boot without it): mount it, as systemd
  // and iproute2 would. Nowhere else: another directory is the caller's to choose.
  const std::string kDefault = "/sys/fs/bpf";
  bool under_default = dir == kDefault || dir.rfind(kDefault + "/", 0) == 0;
  if (mount_default && under_default && std::filesystem::is_directory(kDefault) &&
      !OnBpffs(kDefault)) {
    if (!InInitsMountNamespace()) {
      return absl::FailedPreconditionError(
          "/sys/fs/bpf is not a bpffs, and this process has a mount namespace of its own (`ip "
          "netns exec` makes one), where a bpffs mounted now would vanish with it and the pins "
          "too: mount one in the machine's namespace (`mount -t bpf bpf /sys/fs/bpf`) and use "
          "`ilactl -n NETNS`, or pin under a bpffs outside /sys (--root)");
    }
    if (mount("bpf", kDefault.c_str(), "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "/sys/fs/bpf is not a bpffs and mounting one there failed (", std::strerror(errno),
          "): run `mount -t bpf bpf /sys/fs/bpf` as root, or pin under another bpffs (--root)"));
    }
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no bpffs is mounted at or above ", dir, " (", p.empty() ? std::string("/") : p.string(),
      " is not a bpf filesystem): mount one with `mount -t bpf bpf /sys/fs/bpf`. Note that `ip "
      "netns exec` remounts /sys, so an instance pinned in the host's /sys/fs/bpf is not "
      "visible there: enter only the network namespace (setns, `ilactl -n NETNS`) or pin under "
      "a bpffs mounted outside /sys"));
}

absl::Status PinInstance(const std::map<std::string, OwnedFd>& maps,
                         const std::array<OwnedFd, kProgCount>& progs, const std::string& dir) {
  if (absl::Status st = CheckBpffs(dir, true); !st.ok()) return st;
  if (std::filesystem::exists(dir + "/maps") || std::filesystem::exists(dir + "/progs")) {
    return absl::AlreadyExistsError(
        absl::StrCat("an ILA instance is already pinned at ", dir,
                     ": adopt it with Dataplane::Open(), or remove it with Destroy() first"));
  }
  if (absl::Status st = MakeDirs(dir + "/maps"); !st.ok()) return st;
  if (absl::Status st = MakeDirs(dir + "/progs"); !st.ok()) return st;
  absl::Status st;
  for (const auto& [name, fd] : maps) {
    st = Pin(fd.get(), dir + "/maps/" + name);
    if (!st.ok()) break;
  }
  for (size_t i = 0; st.ok() && i < kProgCount; ++i) {
    st = Pin(progs[i].get(), dir + "/progs/" + kProgNames[i]);
  }
  if (!st.ok()) (void)RemovePins(dir);  // nothing half-made
  return st;
}

absl::Status RepinPrograms(const std::array<OwnedFd, kProgCount>& progs, const std::string& dir) {
  for (size_t i = 0; i < kProgCount; ++i) {
    std::string path = dir + "/progs/" + kProgNames[i];
    unlink(path.c_str());
    if (absl::Status st = Pin(progs[i].get(), path); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status RemovePins(const std::string& dir) {
  // What PinInstance made, and nothing else: the pins (files) in maps/ and progs/, then those two
  // directories and the instance's own, each only once empty. Never recursively: whatever else
  // someone put there stays, and is named.
  std::vector<std::string> left;
  for (const char* sub : {"/maps", "/progs"}) {
    const std::string d = dir + sub;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(d, ec)) {
      if (!entry.is_directory(ec) && unlink(entry.path().c_str()) != 0) {
        left.push_back(entry.path().string());
      }
    }
    if (rmdir(d.c_str()) != 0 && errno != ENOENT) left.push_back(d);
  }
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string p = entry.path().string();
      if (std::find(left.begin(), left.end(), p) == left.end()) left.push_back(p);
    }
    if (left.empty()) left.push_back(dir);
  }
  if (!left.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("removed the instance's pins, but left in place what it did not make: ",
                     absl::StrJoin(left, ", ")));
  }
  return absl::OkStatus();
}

absl::Status OpenPins(const std::string& dir, std::map<std::string, OwnedFd>* maps,
                      std::array<OwnedFd, kProgCount>* progs,
                      const std::vector<MapSpec>& expected) {
  if (absl::Status st = CheckBpffs(dir); !st.ok()) return st;
  if (!std::filesystem::exists(dir)) {
    return absl::NotFoundError(absl::StrCat("no ILA instance is pinned at ", dir));
  }
  std::vector<std::string> missing;
  for (const MapSpec& spec : expected) {
    std::string path = dir + "/maps/" + spec.name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      missing.push_back("maps/" + spec.name);
      continue;
    }
    (*maps)[spec.name] = OwnedFd(fd);
  }
  for (size_t i = 0; i < kProgCount; ++i) {
    std::string path = dir + "/progs/" + kProgNames[i];
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      missing.push_back(std::string("progs/") + kProgNames[i]);
      continue;
    }
    (*progs)[i] = OwnedFd(fd);
  }
  if (missing.size() == expected.size() + kProgCount) {
    return absl::NotFoundError(absl::StrCat("no ILA instance is pinned at ", dir));
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ILA instance at ", dir, " is incomplete (half removed?): missing ",
        absl::StrJoin(missing, ", "), "; remove the directory and create the instance again"));
  }
  return absl::OkStatus();
}

}  // namespace ila::internal
