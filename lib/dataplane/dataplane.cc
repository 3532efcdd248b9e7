// ila::Dataplane: create, open, destroy, the next-hop keeper, program fds; names of modes and
// roles, pin locations. (Upgrade: upgrade.cc.)
#include "ila/dataplane.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
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
#include "kernel/log_capture.h"
#include "kernel/netlink.h"
#include "kernel/object.h"
#include "core/string_util.h"

namespace ila {

using internal::DataplaneState;
using internal::Prog;
using internal::ProgFor;

std::string_view ToString(AttachMode mode) {
  switch (mode) {
    case AttachMode::kNative: return "native";
    case AttachMode::kGeneric: return "generic";
    case AttachMode::kAuto: return "auto";
    case AttachMode::kTc: return "tc";
  }
  return "unknown";
}

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kContainer: return "container";
    case Role::kUplink: return "uplink";
    case Role::kRouter: return "router";
  }
  return "unknown";
}

absl::StatusOr<std::string> PinLocation::Directory() const {
  std::string name = instance;
  if (name.empty()) {
    struct stat st {};
    if (stat("/proc/thread-self/ns/net", &st) != 0) {
      return absl::InternalError(
          absl::StrCat("reading this thread's network namespace: ", std::strerror(errno)));
    }
    name = absl::StrCat("netns-", st.st_ino);
  }
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("invalid instance name \"", name, "\""));
  }
  return absl::StrCat(root, "/", name);
}

Dataplane::Dataplane(std::shared_ptr<DataplaneState> state)
    : state_(state),
      mappings_(state),
      locators_(state),
      endpoints_(state),
      sir_prefixes_(state),
      prefix_rules_(state),
      cluster_locators_(std::move(state)) {}

namespace {

absl::Status ValidateConfig(const DataplaneConfig& config) {
  if (config.max_mappings == 0 || config.max_endpoints == 0 || config.max_locators == 0 ||
      config.max_sir_prefixes == 0 || config.max_prefix_rules == 0 ||
      config.max_cluster_locators == 0) {
    return absl::InvalidArgumentError("DataplaneConfig: every max_* size must be at least 1");
  }
  if (config.miss_event_interval.count() < 0) {
    return absl::InvalidArgumentError("DataplaneConfig: miss_event_interval is negative");
  }
  if (config.miss_event_rate > 1000000000 ||
      (config.miss_event_rate != 0 && config.miss_event_burst == 0)) {
    return absl::InvalidArgumentError(
        "DataplaneConfig: miss_event_rate must be at most 10^9 a second, with a burst of at least "
        "1 (rate 0: no limit)");
  }
  if (config.max_mappings > (1u << 30)) {
    return absl::InvalidArgumentError("DataplaneConfig: max_mappings must be at most 2^30");
  }
  if (config.max_prefix_rules > (1u << 30)) {
    return absl::InvalidArgumentError("DataplaneConfig: max_prefix_rules must be at most 2^30");
  }
  if (config.max_nexthops == 0) {
    return absl::InvalidArgumentError("DataplaneConfig: every max_* size must be at least 1");
  }
  if (config.nexthop_refresh.count() < 0 || config.nexthop_refresh.count() > UINT32_MAX) {
    return absl::InvalidArgumentError(
        "DataplaneConfig: nexthop_refresh must be between 0 and 2^32-1 ms");
  }
  return absl::OkStatus();
}

abi::ila_meta MetaOf(const DataplaneConfig& c) {
  abi::ila_meta m{};
  m.abi_version = ILA_ABI_VERSION;
  m.miss_policy = c.miss_policy == MissPolicy::kDrop ? abi::ILA_MISS_DROP : abi::ILA_MISS_PASS;
  m.moved_policy =
      c.moved_policy == MovedPolicy::kDrop ? abi::ILA_MOVED_DROP : abi::ILA_MOVED_FORWARD;
  m.miss_interval_ns = static_cast<uint64_t>(c.miss_event_interval.count());
  m.miss_event_rate = c.miss_event_rate;
  m.miss_event_burst = c.miss_event_burst;
  m.forwarding_cache = c.forwarding_cache;
  m.max_mappings = c.max_mappings;
  m.max_endpoints = c.max_endpoints;
  m.max_locators = c.max_locators;
  m.max_sir_prefixes = c.max_sir_prefixes;
  m.max_prefix_rules = c.max_prefix_rules;
  m.max_cluster_locators = c.max_cluster_locators;
  m.nexthop_cache = c.nexthop_cache;
  m.max_nexthops = c.max_nexthops;
  m.nexthop_refresh_ms = static_cast<uint32_t>(c.nexthop_refresh.count());
  return m;
}

DataplaneConfig ConfigOf(const abi::ila_meta& m) {
  DataplaneConfig c;
  c.miss_policy =
      m.miss_policy == abi::ILA_MISS_DROP ? MissPolicy::kDrop : MissPolicy::kPassToRouter;
  c.moved_policy =
      m.moved_policy == abi::ILA_MOVED_DROP ? MovedPolicy::kDrop : MovedPolicy::kForward;
  c.miss_event_interval = std::chrono::nanoseconds(m.miss_interval_ns);
  c.miss_event_rate = m.miss_event_rate;
  c.miss_event_burst = m.miss_event_burst;
  c.forwarding_cache = m.forwarding_cache != 0;
  c.max_mappings = m.max_mappings;
  c.max_endpoints = m.max_endpoints;
  c.max_locators = m.max_locators;
  c.max_sir_prefixes = m.max_sir_prefixes;
  c.max_prefix_rules = m.max_prefix_rules;
  c.max_cluster_locators = m.max_cluster_locators;
  c.nexthop_cache = m.nexthop_cache != 0;
  c.max_nexthops = m.max_nexthops;
  c.nexthop_refresh = std::chrono::milliseconds(m.nexthop_refresh_ms);
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Create(const DataplaneConfig& config) {
  if (absl::Status st = ValidateConfig(config); !st.ok()) return st;
  std::optional<std::string> dir;
  if (config.pinning) {
    auto d = config.pinning->Directory();
    if (!d.ok()) return d.status();
    if (absl::Status st = internal::CheckBpffs(*d, /*mount_default=*/true); !st.ok()) return st;
    dir = *d;
  }
  auto object = internal::LoadObject(config, nullptr);
  if (!object.ok()) return object.status();
  auto state = std::make_shared<DataplaneState>();
  state->config = config;
  state->netns = OwnedFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  state->map_fds = std::move(object->maps);
  state->prog_fds = std::move(object->progs);
  if (absl::Status st = state->BindMaps(); !st.ok()) return st;
  if (absl::Status st = state->meta.Update(0, MetaOf(config)); !st.ok()) return st;
  std::unique_ptr<Dataplane> dp(new Dataplane(state));
  if (absl::Status st = dp->StartNexthopKeeper(); !st.ok()) return st;
  if (dir) {
    if (absl::Status st = internal::PinInstance(state->map_fds, state->prog_fds, *dir); !st.ok())
      return st;
    state->pin_dir = dir;
  }
  return dp;
}

namespace {

// The options a pinned instance was created with (they decide the sizes this build expects), or
// why this build must not read it. No ila_meta at all: the default options (OpenPins then names
// what is missing).
absl::StatusOr<DataplaneConfig> PinnedConfig(const std::string& dir) {
  OwnedFd meta_fd = internal::OpenPinned(dir + "/maps/ila_meta");
  if (meta_fd.get() < 0) return DataplaneConfig{};
  auto info = internal::MapInfo(meta_fd.get(), "ila_meta");
  if (!info.ok()) return info.status();
  if (info->value_size != sizeof(abi::ila_meta)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ILA instance at ", dir,
                     " was made by a build with another layout (ila_meta value "
                     "size ",
                     info->value_size, ", this build's is ", sizeof(abi::ila_meta),
                     "); refusing to misread it: upgrade with the matching build or Destroy it"));
  }
  internal::TypedMap<uint32_t, abi::ila_meta> meta(meta_fd.get(), "ila_meta");
  auto m = meta.Lookup(0);
  if (!m.ok()) return m.status();
  if (!m->has_value() || (*m)->abi_version != ILA_ABI_VERSION) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ILA instance at ", dir, " has map layout version ",
        m->has_value() ? (*m)->abi_version : 0, ", this build reads version ", ILA_ABI_VERSION,
        "; refusing to misread it. To move across layouts: create this build's instance beside "
        "it under another name, fill its tables, move the interfaces to it, then destroy the "
        "old one with the build that made it (docs/abi.md)"));
  }
  return ConfigOf(**m);
}

// The attachment `rec` records (made by this or another process) on `ifindex`.
Attachment AdoptedAttachment(DataplaneState& s, uint32_t ifindex, const abi::ila_attachment& rec)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  Attachment a;
  a.role = static_cast<Role>(rec.role);
  a.ifindex = InterfaceIndex(static_cast<int>(ifindex));
  a.interface =
      internal::InterfaceName(a.ifindex.value()).value_or(absl::StrCat("ifindex ", ifindex));
  a.mode = rec.native == 2 ? AttachMode::kTc
           : rec.native    ? AttachMode::kNative
                           : AttachMode::kGeneric;
  a.multiprog = rec.multiprog;
  a.program_id = rec.prog_id;
  a.mode_reason = internal::ModeReasonText(rec.mode_reason);
  if (a.mode == AttachMode::kTc) a.libxdp_note = "tc (clsact ingress) filter, not XDP";
  if (rec.steered) {
    auto steer = s.steer.Lookup(0);
    if (steer.ok() && steer->has_value()) {
      for (uint32_t i = 0; i < (*steer)->count && i < ILA_MAX_STEER_CPUS; ++i) {
        a.steer_cpus.push_back(static_cast<int>((*steer)->cpus[i]));
      }
    }
  }
  if (rec.peer_ifindex != 0) {
    s.peer_napi[a.ifindex.value()] = internal::PeerNapi{
        rec.peer_netnsid < 0 ? std::nullopt : std::optional<int>(rec.peer_netnsid),
        static_cast<int>(rec.peer_ifindex), rec.peer_prog_id};
    a.peer_napi_attached = true;
  }
  return a;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Open(const PinLocation& where,
                                                           const OpenOptions& options) {
  auto dir = where.Directory();
  if (!dir.ok()) return dir.status();
  if (absl::Status st = internal::CheckBpffs(*dir); !st.ok()) return st;
  auto config = PinnedConfig(*dir);
  if (!config.ok()) return config.status();
  config->pinning = where;
  auto expected = internal::ExpectedMaps(*config);
  if (!expected.ok()) return expected.status();

  auto state = std::make_shared<DataplaneState>();
  state->config = *config;
  state->netns = OwnedFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (absl::Status st = internal::OpenPins(*dir, &state->map_fds, &state->prog_fds, *expected);
      !st.ok()) {
    return st;
  }
  for (const internal::MapSpec& spec : *expected) {
    std::string diff = internal::MapMismatch(state->map_fd(spec.name), spec);
    if (!diff.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ILA instance at ", *dir, " was made by a build with another map layout: ", spec.name,
          " has ", diff, "; refusing to misread it"));
    }
  }
  if (absl::Status st = state->BindMaps(); !st.ok()) return st;
  state->pin_dir = *dir;

  // Adopt the attachments another process made.
  auto records = state->attachment_records.Dump();
  if (!records.ok()) return records.status();
  {
    absl::MutexLock lock(&state->mu);
    for (const auto& [ifindex, rec] : *records) {
      state->attached[static_cast<int>(ifindex)] = AdoptedAttachment(*state, ifindex, rec);
    }
  }
  std::unique_ptr<Dataplane> dp(new Dataplane(std::move(state)));
  if (options.keep_nexthop_cache) {
    if (absl::Status st = dp->StartNexthopKeeper(); !st.ok()) return st;
  }
  return dp;
}

Dataplane::~Dataplane() {
  if (!state_->pin_dir) (void)DetachAll();
}

absl::Status Dataplane::Destroy() {
  absl::Status st = DetachAll();
  if (state_->pin_dir) {
    absl::Status removed = internal::RemovePins(*state_->pin_dir);
    if (st.ok()) st = removed;
    state_->pin_dir.reset();
  }
  return st;
}

absl::Status Dataplane::StartNexthopKeeper() {
  if (!state_->config.nexthop_cache) {
    // Nobody keeps it in this process; another process may (a pinned instance), so leave it.
    if (!state_->pin_dir && !state_->config.pinning) {
      return state_->nexthop_epoch.Update(0, abi::ila_nexthop_lease{});
    }
    return absl::OkStatus();
  }
  auto keeper = internal::NexthopKeeper::Start(state_->netns.get(), state_->nexthop_epoch.fd(),
                                               state_->config.nexthop_refresh);
  if (!keeper.ok()) return keeper.status();
  nexthop_keeper_ = *std::move(keeper);
  return absl::OkStatus();
}

NexthopCacheState Dataplane::nexthop_cache() const {
  if (nexthop_keeper_) return nexthop_keeper_->state();
  NexthopCacheState s;
  auto epoch = state_->nexthop_epoch.Lookup(0);
  s.enabled = epoch.ok() && epoch->has_value() && internal::NexthopKeeper::InUse(**epoch);
  if (!s.enabled) {
    s.reason = !state_->config.nexthop_cache ? "off in this instance's configuration"
                                             : "no process keeps it: a long-lived controller (or "
                                               "ilactl keep) must hold the instance open";
  }
  return s;
}

std::optional<std::string> Dataplane::pin_directory() const { return state_->pin_dir; }
const DataplaneConfig& Dataplane::config() const { return state_->config; }

int Dataplane::program_fd(Role role, AttachMode mode) const {
  return state_->prog(ProgFor(role, false, mode));
}
int Dataplane::uplink_cpu_program_fd() const { return state_->prog(Prog::kUplinkCpu); }

}  // namespace ila
