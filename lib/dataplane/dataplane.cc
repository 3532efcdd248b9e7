// ila::Dataplane: lifecycle (create, open, upgrade, destroy), attachments, stats.
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

namespace internal {

absl::Status MapError(const std::string& map, const char* op, int err) {
  bool full = err == ENOSPC || err == E2BIG;
  return absl::Status(full ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kInternal,
                      absl::StrCat("bpf map ", map, ": ", op, " failed: ", std::strerror(err),
                                   full ? " (the table is full)" : ""));
}

abi::ila_addr ToAbi(const Ipv6Address& a) {
  abi::ila_addr out;
  std::memcpy(out.bytes, a.bytes().data(), 16);
  return out;
}
Ipv6Address FromAbi(const abi::ila_addr& a) {
  return Ipv6Address::FromBytes(std::span<const uint8_t, 16>(a.bytes, 16));
}
void Put64(uint8_t (&out)[8], uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint64_t Get64(const uint8_t (&in)[8]) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

InDataplaneNetns::InDataplaneNetns(const DataplaneState& state) {
  if (state.netns.get() < 0) return;
  struct stat want {}, have {};
  if (fstat(state.netns.get(), &want) != 0 || stat("/proc/thread-self/ns/net", &have) != 0) {
    status_ = absl::InternalError(absl::StrCat("reading network namespaces: ", std::strerror(errno)));
    return;
  }
  if (want.st_ino == have.st_ino && want.st_dev == have.st_dev) return;
  saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_ < 0 || setns(state.netns.get(), CLONE_NEWNET) != 0) {
    status_ = absl::InternalError(absl::StrCat(
        "entering the data plane's network namespace (the thread is in another): ",
        std::strerror(errno)));
    if (saved_ >= 0) close(saved_);
    saved_ = -1;
  }
}

InDataplaneNetns::~InDataplaneNetns() {
  if (saved_ < 0) return;
  if (setns(saved_, CLONE_NEWNET) != 0) {
    // The thread would stay in the wrong namespace and every later call would misfire.
    std::perror("libila: returning to the caller's network namespace");
    std::abort();
  }
  close(saved_);
}

int DataplaneState::map_fd(const std::string& name) const {
  auto it = map_fds.find(name);
  return it == map_fds.end() ? -1 : it->second.get();
}

absl::Status DataplaneState::BindMaps() {
  for (const char* name :
       {"ila_mappings", "ila_slots", "ila_slot_endpoints", "ila_slot_state", "ila_reverse", "ila_locators",
        "ila_endpoints", "ila_sources",
        "ila_sir_prefixes", "ila_locator_table", "ila_tx_ports", "ila_cpus", "ila_steer", "ila_meta",
        "ila_attachments", "ila_stats", "ila_miss_events", "ila_nexthop_cache", "ila_nexthop_epoch"}) {
    if (map_fd(name) < 0) return absl::InternalError(absl::StrCat("map ", name, " is missing"));
  }
  auto slots = MappingSlots::Map(map_fd("ila_slots"), map_fd("ila_slot_endpoints"),
                                 map_fd("ila_slot_state"),
                                 MappingSlotBits(config),
                                 config.forwarding_cache ? 0 : config.max_mappings);
  if (!slots.ok()) return slots.status();
  slot_table = std::shared_ptr<const MappingSlots>(std::move(*slots));
  mappings = config.forwarding_cache
                 ? MappingStore(TypedMap<abi::ila_mapping_key, abi::ila_mapping_value>(
                       map_fd("ila_mappings"), "ila_mappings"))
                 : MappingStore(slot_table);
  reverse = {map_fd("ila_reverse"), "ila_reverse"};
  locators = {map_fd("ila_locators"), "ila_locators"};
  auto locator_table = LocatorSlots::Map(map_fd("ila_locator_table"), LocatorTableBits(config));
  if (!locator_table.ok()) return locator_table.status();
  locator_slots = std::move(*locator_table);
  // A writer that died between the record and the table left them apart: the record wins.
  auto locator_record = locators.Dump();
  if (!locator_record.ok()) return locator_record.status();
  if (absl::Status st = locator_slots->Sync(*locator_record); !st.ok()) return st;
  endpoints = {map_fd("ila_endpoints"), "ila_endpoints"};
  sources = {map_fd("ila_sources"), "ila_sources"};
  sir_prefixes = {map_fd("ila_sir_prefixes"), "ila_sir_prefixes"};
  tx_ports = {map_fd("ila_tx_ports"), "ila_tx_ports"};
  cpus = {map_fd("ila_cpus"), "ila_cpus"};
  steer = {map_fd("ila_steer"), "ila_steer"};
  meta = {map_fd("ila_meta"), "ila_meta"};
  attachment_records = {map_fd("ila_attachments"), "ila_attachments"};
  stats = {map_fd("ila_stats"), "ila_stats"};
  nexthop_epoch = {map_fd("ila_nexthop_epoch"), "ila_nexthop_epoch"};
  return absl::OkStatus();
}

absl::Status DataplaneState::SetEndpointLocked(const abi::ila_endpoint_key& key,
                                               const abi::ila_endpoint_value& value) {
  auto before = endpoints.Lookup(key);
  if (!before.ok()) return before.status();
  if (absl::Status st = endpoints.Update(key, value); !st.ok()) return st;
  absl::Status st = slot_table->SetEndpoint(abi::ila_mapping_key{key.sir}, value);
  if (!st.ok()) {
    // Back to what was there: the record and the slot agree again.
    if (before->has_value()) {
      (void)endpoints.Update(key, **before);
    } else {
      (void)endpoints.Delete(key);
    }
  }
  return st;
}

void DataplaneState::DropEndpointLocked(const abi::ila_endpoint_key& key) {
  (void)slot_table->ClearEndpoint(abi::ila_mapping_key{key.sir});
  (void)endpoints.Delete(key);
}

bool DataplaneState::EndpointUsesInterfaceLocked(int ifindex) {
  auto src = sources.Lookup(abi::ila_source_key{static_cast<uint32_t>(ifindex)});
  return src.ok() && src->has_value();
}

bool DataplaneState::XdpAttachedLocked() const {
  for (const auto& [ifindex, a] : attached)
    if (a.mode != AttachMode::kTc) return true;
  // Also what other processes attached to this instance (their records are in ila_attachments).
  auto records = attachment_records.Dump();
  if (!records.ok()) return true;  // unknown: give the pass-through program, which is harmless
  for (const auto& [ifindex, rec] : *records)
    if (rec.native != 2) return true;
  return false;
}

absl::Status DataplaneState::AddRedirectTargetLocked(int ifindex, bool xdp_attaching) {
  bpf_devmap_val val{};
  val.ifindex = static_cast<uint32_t>(ifindex);
  if (absl::Status st = tx_ports.Update(static_cast<uint32_t>(ifindex), val); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("making ifindex ", ifindex,
                                                " a redirect target: ", st.message()));
  }
  // The tc programs redirect skbs, which a veth delivers without help; and a pass-through program
  // on the far end of a veth would turn this end's segmentation offload off.
  if (!xdp_attaching && !XdpAttachedLocked()) return absl::OkStatus();
  absl::Status st = GivePeerNapiLocked(ifindex);
  if (!st.ok()) (void)tx_ports.Delete(static_cast<uint32_t>(ifindex));
  return st;
}

absl::Status DataplaneState::GivePeerNapiLocked(int ifindex) {
  if (peer_napi.contains(ifindex)) return absl::OkStatus();
  // XDP_REDIRECT into a veth is only delivered when the receiving peer runs NAPI, which it does
  // when it has an XDP program (or GRO). Give it a pass-through program when it has none.
  auto link = GetLink(ifindex);
  if (!link.ok() || link->kind != "veth" || link->peer_ifindex == 0) return absl::OkStatus();
  auto peer = link->peer_netnsid ? GetLinkInNetns(*link->peer_netnsid, link->peer_ifindex)
                                 : GetLink(link->peer_ifindex);
  if (!peer.ok() || peer->xdp_prog_id != 0) return absl::OkStatus();
  int fd = prog(Prog::kPeerNapi);
  absl::Status st = SetXdpInNetns(link->peer_netnsid, link->peer_ifindex, fd,
                                  XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, std::nullopt);
  if (!st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("giving the veth peer of ifindex ", ifindex,
                                     " a pass-through XDP program (redirects into a veth are "
                                     "delivered only when its peer has one): ",
                                     st.message()));
  }
  peer_napi[ifindex] = PeerNapi{link->peer_netnsid, link->peer_ifindex, ProgramId(fd)};
  return absl::OkStatus();
}

absl::Status DataplaneState::GivePeerNapiToTargetsLocked() {
  auto targets = tx_ports.Dump();
  if (!targets.ok()) return targets.status();
  for (const auto& [ifindex, val] : *targets) {
    if (absl::Status st = GivePeerNapiLocked(static_cast<int>(ifindex)); !st.ok()) return st;
    if (attached.contains(static_cast<int>(ifindex))) RecordAttachmentLocked(static_cast<int>(ifindex));
  }
  return absl::OkStatus();
}

absl::Status DataplaneState::DropRedirectTargetLocked(int ifindex) {
  if (attached.contains(ifindex) || extra_targets.contains(ifindex) ||
      EndpointUsesInterfaceLocked(ifindex)) {
    return absl::OkStatus();
  }
  absl::Status st = tx_ports.Delete(static_cast<uint32_t>(ifindex));
  if (absl::IsNotFound(st)) st = absl::OkStatus();
  auto peer = peer_napi.find(ifindex);
  if (peer != peer_napi.end()) {
    // Remove the pass-through program only if it is still the one we put there.
    auto link = peer->second.netnsid ? GetLinkInNetns(*peer->second.netnsid, peer->second.ifindex)
                                     : GetLink(peer->second.ifindex);
    if (link.ok() && link->xdp_prog_id == peer->second.prog_id) {
      absl::Status d = SetXdpInNetns(peer->second.netnsid, peer->second.ifindex, -1,
                                     XDP_FLAGS_DRV_MODE, std::nullopt);
      if (st.ok()) st = d;
    }
    peer_napi.erase(peer);
  }
  return st;
}

void DataplaneState::RecordAttachmentLocked(int ifindex) {
  auto it = attached.find(ifindex);
  if (it == attached.end()) {
    (void)attachment_records.Delete(static_cast<uint32_t>(ifindex));
    return;
  }
  const Attachment& a = it->second;
  abi::ila_attachment rec{};
  rec.role = static_cast<uint8_t>(a.role);
  rec.native = a.mode == AttachMode::kTc ? 2 : a.mode == AttachMode::kNative;
  rec.multiprog = a.multiprog;
  rec.steered = !a.steer_cpus.empty();
  rec.prog_id = a.program_id;
  rec.mode_reason = ModeReasonCode(a.mode_reason);
  rec.peer_netnsid = -1;
  if (auto p = peer_napi.find(ifindex); p != peer_napi.end()) {
    rec.peer_ifindex = static_cast<uint32_t>(p->second.ifindex);
    rec.peer_netnsid = p->second.netnsid.value_or(-1);
    rec.peer_prog_id = p->second.prog_id;
  }
  (void)attachment_records.Update(static_cast<uint32_t>(ifindex), rec);
}

}  // namespace internal

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
      return absl::InternalError(absl::StrCat("reading this thread's network namespace: ",
                                              std::strerror(errno)));
    }
    name = absl::StrCat("netns-", st.st_ino);
  }
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("invalid instance name \"", name, "\""));
  }
  return absl::StrCat(root, "/", name);
}

Dataplane::Dataplane(std::shared_ptr<DataplaneState> state)
    : state_(state), mappings_(state), locators_(state), endpoints_(state), sir_prefixes_(state) {}

namespace {

absl::Status ValidateConfig(const DataplaneConfig& config) {
  if (config.max_mappings == 0 || config.max_endpoints == 0 || config.max_locators == 0 ||
      config.max_sir_prefixes == 0) {
    return absl::InvalidArgumentError("DataplaneConfig: every max_* size must be at least 1");
  }
  if (config.miss_event_interval.count() < 0) {
    return absl::InvalidArgumentError("DataplaneConfig: miss_event_interval is negative");
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
  m.forwarding_cache = c.forwarding_cache;
  m.max_mappings = c.max_mappings;
  m.max_endpoints = c.max_endpoints;
  m.max_locators = c.max_locators;
  m.max_sir_prefixes = c.max_sir_prefixes;
  m.nexthop_cache = c.nexthop_cache;
  m.max_nexthops = c.max_nexthops;
  m.nexthop_refresh_ms = static_cast<uint32_t>(c.nexthop_refresh.count());
  return m;
}

DataplaneConfig ConfigOf(const abi::ila_meta& m) {
  DataplaneConfig c;
  c.miss_policy = m.miss_policy == abi::ILA_MISS_DROP ? MissPolicy::kDrop : MissPolicy::kPassToRouter;
  c.moved_policy = m.moved_policy == abi::ILA_MOVED_DROP ? MovedPolicy::kDrop : MovedPolicy::kForward;
  c.miss_event_interval = std::chrono::nanoseconds(m.miss_interval_ns);
  c.forwarding_cache = m.forwarding_cache != 0;
  c.max_mappings = m.max_mappings;
  c.max_endpoints = m.max_endpoints;
  c.max_locators = m.max_locators;
  c.max_sir_prefixes = m.max_sir_prefixes;
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
  state->netns = internal::OwnedFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  state->map_fds = std::move(object->maps);
  state->prog_fds = std::move(object->progs);
  if (absl::Status st = state->BindMaps(); !st.ok()) return st;
  if (absl::Status st = state->meta.Update(0, MetaOf(config)); !st.ok()) return st;
  std::unique_ptr<Dataplane> dp(new Dataplane(state));
  if (absl::Status st = dp->StartNexthopKeeper(); !st.ok()) return st;
  if (dir) {
    if (absl::Status st = internal::PinInstance(state->map_fds, state->prog_fds, *dir); !st.ok()) return st;
    state->pin_dir = dir;
  }
  return dp;
}

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Open(const PinLocation& where,
                                                           const OpenOptions& options) {
  auto dir = where.Directory();
  if (!dir.ok()) return dir.status();
  if (absl::Status st = internal::CheckBpffs(*dir); !st.ok()) return st;

  // The options the instance was created with decide the sizes this build expects.
  std::string meta_path = *dir + "/maps/ila_meta";
  internal::OwnedFd meta_fd = internal::OpenPinned(meta_path);
  DataplaneConfig config;
  if (meta_fd.get() >= 0) {
    internal::TypedMap<uint32_t, abi::ila_meta> meta(meta_fd.get(), "ila_meta");
    auto info = internal::MapInfo(meta_fd.get(), "ila_meta");
    if (!info.ok()) return info.status();
    if (info->value_size != sizeof(abi::ila_meta)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ILA instance at ", *dir, " was made by a build with another layout (ila_meta value "
          "size ", info->value_size, ", this build's is ", sizeof(abi::ila_meta),
          "); refusing to misread it: upgrade with the matching build or Destroy it"));
    }
    auto m = meta.Lookup(0);
    if (!m.ok()) return m.status();
    if (!m->has_value() || (*m)->abi_version != ILA_ABI_VERSION) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ILA instance at ", *dir, " has map layout version ",
          m->has_value() ? (*m)->abi_version : 0, ", this build reads version ", ILA_ABI_VERSION,
          "; refusing to misread it"));
    }
    config = ConfigOf(**m);
  }
  config.pinning = where;
  auto expected = internal::ExpectedMaps(config);
  if (!expected.ok()) return expected.status();

  auto state = std::make_shared<DataplaneState>();
  state->config = config;
  state->netns = internal::OwnedFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (absl::Status st = internal::OpenPins(*dir, &state->map_fds, &state->prog_fds, *expected);
      !st.ok()) {
    return st;
  }
  for (const internal::MapSpec& spec : *expected) {
    std::string diff = internal::MapMismatch(state->map_fd(spec.name), spec);
    if (!diff.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ILA instance at ", *dir, " was made by a build with another map layout: ",
          spec.name, " has ", diff, "; refusing to misread it"));
    }
  }
  if (absl::Status st = state->BindMaps(); !st.ok()) return st;
  state->pin_dir = *dir;

  // Adopt the attachments another process made.
  auto records = state->attachment_records.Dump();
  if (!records.ok()) return records.status();
  absl::MutexLock lock(&state->mu);
  for (const auto& [ifindex, rec] : *records) {
    Attachment a;
    a.role = static_cast<Role>(rec.role);
    a.ifindex = static_cast<int>(ifindex);
    a.interface = internal::InterfaceName(a.ifindex).value_or(absl::StrCat("ifindex ", ifindex));
    a.mode = rec.native == 2 ? AttachMode::kTc
             : rec.native  ? AttachMode::kNative
                           : AttachMode::kGeneric;
    a.multiprog = rec.multiprog;
    a.program_id = rec.prog_id;
    a.mode_reason = internal::ModeReasonText(rec.mode_reason);
    if (a.mode == AttachMode::kTc) a.libxdp_note = "tc (clsact ingress) filter, not XDP";
    if (rec.steered) {
      auto steer = state->steer.Lookup(0);
      if (steer.ok() && steer->has_value()) {
        for (uint32_t i = 0; i < (*steer)->count && i < ILA_MAX_STEER_CPUS; ++i) {
          a.steer_cpus.push_back(static_cast<int>((*steer)->cpus[i]));
        }
      }
    }
    if (rec.peer_ifindex != 0) {
      state->peer_napi[a.ifindex] = internal::PeerNapi{
          rec.peer_netnsid < 0 ? std::nullopt : std::optional<int>(rec.peer_netnsid),
          static_cast<int>(rec.peer_ifindex), rec.peer_prog_id};
      a.peer_napi_attached = true;
    }
    state->attached[a.ifindex] = a;
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
    if (!state_->pin_dir && !state_->config.pinning) return state_->nexthop_epoch.Update(0, 0);
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
  s.enabled = epoch.ok() && epoch->has_value() && **epoch != 0;
  if (!s.enabled) {
    s.reason = !state_->config.nexthop_cache
                   ? "off in this instance's configuration"
                   : "no process keeps it: a long-lived controller (or ilactl keep) must hold the instance open";
  }
  return s;
}

std::optional<std::string> Dataplane::pin_directory() const { return state_->pin_dir; }
const DataplaneConfig& Dataplane::config() const { return state_->config; }

namespace {

Prog ProgFor(Role role, bool steered, AttachMode mode) {
  switch (role) {
    case Role::kContainer: return mode == AttachMode::kTc ? Prog::kTcContainer : Prog::kContainer;
    case Role::kUplink:
      return mode == AttachMode::kTc ? Prog::kTcUplink : steered ? Prog::kSteer : Prog::kUplink;
    case Role::kRouter: return Prog::kRouter;
  }
  return Prog::kContainer;
}


}  // namespace

int Dataplane::program_fd(Role role, AttachMode mode) const {
  return state_->prog(ProgFor(role, false, mode));
}
int Dataplane::uplink_cpu_program_fd() const { return state_->prog(Prog::kUplinkCpu); }

absl::Status Dataplane::Upgrade() {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  std::map<std::string, int> reuse;
  for (const auto& [name, fd] : state_->map_fds) reuse[name] = fd.get();
  auto fresh = internal::LoadObject(state_->config, &reuse);
  if (!fresh.ok()) return fresh.status();

  absl::MutexLock lock(&state_->mu);
  // Steered uplinks: the cpumap entries run the cpumap-side program; swap it first (each entry
  // update is atomic), then the driver-level programs, each atomically against the one it
  // replaces, so no interface is ever without a program.
  int new_cpu_prog = fresh->progs[static_cast<size_t>(Prog::kUplinkCpu)].get();
  for (uint32_t cpu = 0; cpu < ILA_MAX_STEER_CPUS; ++cpu) {
    auto entry = state_->cpus.Lookup(cpu);
    if (!entry.ok() || !entry->has_value() || (*entry)->qsize == 0) continue;
    bpf_cpumap_val val = **entry;
    val.bpf_prog.fd = new_cpu_prog;
    if (absl::Status st = state_->cpus.Update(cpu, val); !st.ok()) return st;
  }
  for (auto& [ifindex, a] : state_->attached) {
    Prog p = ProgFor(a.role, !a.steer_cpus.empty(), a.mode);
    int new_fd = fresh->progs[static_cast<size_t>(p)].get();
    int old_fd = state_->prog(p);
    internal::OwnedFd attached_fd;
    if (a.program_id != 0 && internal::ProgramId(old_fd) != a.program_id) {
      // Adopted from a process whose program fds we hold only through the pins of a later
      // upgrade: fetch the attached program itself.
      attached_fd = internal::ProgramById(a.program_id);
      old_fd = attached_fd.get();
    }
    absl::Status st =
        a.mode == AttachMode::kTc
            ? internal::ReplaceTcIngress(ifindex, new_fd, a.program_id)
            : internal::SetXdp(ifindex, new_fd, internal::ModeFlags(a.mode) | XDP_FLAGS_REPLACE, old_fd);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat("upgrading the ", Av(ToString(a.role)),
                                                  " program on ", a.interface, ": ", st.message()));
    }
    a.program_id = internal::ProgramId(new_fd);
    state_->RecordAttachmentLocked(ifindex);
  }
  state_->prog_fds = std::move(fresh->progs);
  if (state_->pin_dir) return internal::RepinPrograms(state_->prog_fds, *state_->pin_dir);
  return absl::OkStatus();
}

namespace {

absl::Status ConfigureSteering(DataplaneState& s, const std::vector<int>& cpus)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  int possible = libbpf_num_possible_cpus();
  if (cpus.size() > ILA_MAX_STEER_CPUS) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", ILA_MAX_STEER_CPUS, " steering CPUs"));
  }
  abi::ila_steer_config cfg{};
  for (int cpu : cpus) {
    if (cpu < 0 || cpu >= possible || cpu >= static_cast<int>(ILA_MAX_STEER_CPUS)) {
      return absl::InvalidArgumentError(absl::StrCat("steering CPU ", cpu, " does not exist (this "
                                                     "machine has CPUs 0 to ", possible - 1, ")"));
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

}  // namespace

absl::StatusOr<Attachment> Dataplane::Attach(Role role, const InterfaceRef& interface,
                                             AttachMode mode,
                                             const std::optional<Endpoint>& endpoint,
                                             const std::vector<int>& steer_cpus) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  auto dev = internal::Resolve(interface);
  if (!dev.ok()) return dev.status();
  if (mode == AttachMode::kTc && role == Role::kRouter) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tc mode is for container and uplink interfaces (the router program runs at XDP only); "
        "attach ", dev->name, " in native, generic or auto mode"));
  }
  if (mode == AttachMode::kTc && !steer_cpus.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cpumap steering is an XDP feature: attach ", dev->name,
        " at tc without steering CPUs, or in native or generic mode with them"));
  }
  // kAuto for containers and uplinks: tc on a veth; native XDP where the driver has it, else tc
  // (never generic XDP, which costs more than tc). Routers and steered uplinks need XDP: native,
  // else generic (AttachWithLibxdp).
  std::string auto_reason;
  bool native_else_tc = false;
  if (mode == AttachMode::kAuto && role != Role::kRouter && steer_cpus.empty()) {
    auto link = internal::GetLink(dev->ifindex);
    if (link.ok() && link->kind == "veth") {
      mode = AttachMode::kTc;
      auto_reason = internal::ModeReasonText(abi::ILA_MODE_AUTO_TC_VETH);
    } else {
      mode = AttachMode::kNative;
      native_else_tc = true;
      auto_reason = internal::ModeReasonText(abi::ILA_MODE_AUTO_NATIVE);
    }
  }
  {
    absl::MutexLock lock(&state_->mu);
    if (auto it = state_->attached.find(dev->ifindex); it != state_->attached.end()) {
      return absl::AlreadyExistsError(absl::StrCat(dev->name, " already has the ",
                                                   Av(ToString(it->second.role)),
                                                   " program of this data plane"));
    }
    if (!steer_cpus.empty()) {
      if (absl::Status st = ConfigureSteering(*state_, steer_cpus); !st.ok()) return st;
    }
  }
  // Register first: the container program drops traffic from interfaces without an endpoint.
  if (endpoint) {
    Endpoint ep = *endpoint;
    ep.ifindex = dev->ifindex;
    if (absl::Status st = endpoints_.Upsert(ep); !st.ok()) return st;
  }
  int prog_fd = state_->prog(ProgFor(role, !steer_cpus.empty(), mode));
  absl::StatusOr<Attachment> att = Attachment{};
  if (mode != AttachMode::kTc) {
    // A neighbour's data plane may have put its pass-through program on this interface (it is
    // the far end of that neighbour's veth): replace it atomically rather than fail with EBUSY.
    att = internal::ReplacePeerNapi(prog_fd, *dev, role);
    if (att.ok() && att->ifindex == 0) att = internal::AttachXdp(prog_fd, *dev, role, mode);
    if (!att.ok() && native_else_tc) {
      auto_reason = absl::StrCat(internal::ModeReasonText(abi::ILA_MODE_AUTO_TC_NO_NATIVE), " (",
                                 att.status().message(), ")");
      mode = AttachMode::kTc;
      prog_fd = state_->prog(ProgFor(role, false, mode));
    } else if (!att.ok() && mode == AttachMode::kNative) {
      att = internal::NameMissingFeature(att.status(), KernelFeature::kNativeXdp, dev->name);
    }
  }
  if (mode == AttachMode::kTc) {
    att = internal::AttachTc(prog_fd, *dev, role);
    if (!att.ok()) att = internal::NameMissingFeature(att.status(), KernelFeature::kTcClsact, dev->name);
  }
  if (att.ok() && !auto_reason.empty() && att->mode_reason.empty()) att->mode_reason = auto_reason;
  absl::MutexLock lock(&state_->mu);
  absl::Status target =
      att.ok() ? state_->AddRedirectTargetLocked(dev->ifindex, att->mode != AttachMode::kTc)
               : att.status();
  // The first XDP program: the targets added while there were only tc programs need their peers'
  // pass-through programs now.
  if (target.ok() && att->mode != AttachMode::kTc && !state_->XdpAttachedLocked()) {
    target = state_->GivePeerNapiToTargetsLocked();
  }
  if (!target.ok()) {
    // Nothing half-applied: undo what this call did.
    if (att.ok()) (void)internal::DetachProgram(*att);
    if (endpoint) {
      state_->DropEndpointLocked(abi::ila_endpoint_key{internal::ToAbi(endpoint->sir.address())});
      (void)state_->sources.Delete(abi::ila_source_key{static_cast<uint32_t>(dev->ifindex)});
    }
    (void)state_->DropRedirectTargetLocked(dev->ifindex);
    return target;
  }
  // Frames must carry complete checksums wherever an XDP program may see them: a veth that leaves
  // them to offload hands the receiving side's XDP program only the pseudo-header sum, which is
  // wrong once translated or redirected. So the container side of an XDP-attached container veth
  // computes its own (at tc the skb keeps its checksum state, and the container its offloads),
  // and, once tc-attached containers exist, so does a veth uplink attached at XDP, for their GSO
  // packets leaving toward hosts whose uplinks run XDP too. An uplink at tc keeps its offloads:
  // the far hosts' uplinks are taken to be at tc as well (a veth fabric is one deployment, in one
  // mode), and a physical NIC completes checksums itself.
  const bool container_side = role == Role::kContainer && mode != AttachMode::kTc;
  if (role == Role::kContainer && mode == AttachMode::kTc) {
    for (const auto& [ifindex, a] : state_->attached) {
      if (a.role == Role::kUplink && a.mode != AttachMode::kTc) {
        (void)internal::UplinkChecksumsInSoftware(ifindex);
      }
    }
  }
  bool tc_containers = false;
  for (const auto& [ifindex, a] : state_->attached) {
    tc_containers |= a.role == Role::kContainer && a.mode == AttachMode::kTc;
  }
  if (container_side || (role == Role::kUplink && mode != AttachMode::kTc && tc_containers)) {
    auto link = internal::GetLink(dev->ifindex);
    if (link.ok() && link->kind == "veth" && link->peer_ifindex != 0) {
      absl::Status st =
          container_side
              ? internal::SetTxChecksumOffload(link->peer_netnsid, link->peer_ifindex, false)
              : internal::SetTxChecksumOffload(std::nullopt, dev->ifindex, false);
      if (!st.ok()) {
        (void)internal::DetachProgram(*att);
        if (endpoint) {
          state_->DropEndpointLocked(
              abi::ila_endpoint_key{internal::ToAbi(endpoint->sir.address())});
          (void)state_->sources.Delete(abi::ila_source_key{static_cast<uint32_t>(dev->ifindex)});
        }
        (void)state_->DropRedirectTargetLocked(dev->ifindex);
        return absl::Status(st.code(), absl::StrCat(container_side ? "preparing the container side of "
                                                                   : "preparing uplink ",
                                                    dev->name, ": ", st.message()));
      }
    }
  }
  att->steer_cpus = steer_cpus;
  att->peer_napi_attached = state_->peer_napi.contains(dev->ifindex);
  state_->attached[dev->ifindex] = *att;
  state_->RecordAttachmentLocked(dev->ifindex);
  return *att;
}

absl::StatusOr<Attachment> Dataplane::AttachContainer(const ContainerAttach& request) {
  return Attach(Role::kContainer, request.interface, request.mode,
                Endpoint{0, request.sir, request.mac}, {});
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

absl::Status Dataplane::DetachLocked(int ifindex) {
  auto it = state_->attached.find(ifindex);
  if (it == state_->attached.end()) {
    return absl::NotFoundError(absl::StrCat("ifindex ", ifindex, " has no program of this data plane"));
  }
  Attachment a = it->second;
  state_->attached.erase(it);
  absl::Status st = internal::DetachProgram(a);
  if (a.role == Role::kContainer) {
    abi::ila_source_key skey{static_cast<uint32_t>(ifindex)};
    auto src = state_->sources.Lookup(skey);
    if (src.ok() && src->has_value()) {
      // The address may have been registered on another interface since: that endpoint stays.
      abi::ila_endpoint_key ekey{(*src)->sir};
      auto ep = state_->endpoints.Lookup(ekey);
      if (ep.ok() && ep->has_value() && (*ep)->ifindex == static_cast<uint32_t>(ifindex)) {
        state_->DropEndpointLocked(ekey);
      }
      (void)state_->sources.Delete(skey);
    }
  }
  absl::Status drop = state_->DropRedirectTargetLocked(ifindex);
  state_->RecordAttachmentLocked(ifindex);
  return st.ok() ? drop : st;
}

absl::Status Dataplane::Detach(const InterfaceRef& interface) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  int ifindex;
  if (const int* idx = std::get_if<int>(&interface.id)) {
    ifindex = *idx;
  } else {
    auto dev = internal::Resolve(interface);
    if (!dev.ok()) return dev.status();
    ifindex = dev->ifindex;
  }
  absl::MutexLock lock(&state_->mu);
  return DetachLocked(ifindex);
}

absl::Status Dataplane::DetachAll() {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  absl::MutexLock lock(&state_->mu);
  absl::Status first;
  while (!state_->attached.empty()) {
    absl::Status st = DetachLocked(state_->attached.begin()->first);
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
  absl::MutexLock lock(&state_->mu);
  if (absl::Status st = state_->AddRedirectTargetLocked(dev->ifindex); !st.ok()) return st;
  state_->extra_targets.insert(dev->ifindex);
  return absl::OkStatus();
}

namespace internal {
Stats MakeStats(const std::array<abi::ila_stat_value, abi::ILA_STAT__COUNT>& totals);
int CounterIndex(std::string_view name);
}  // namespace internal

absl::StatusOr<Stats> Dataplane::ReadStats() const {
  std::array<abi::ila_stat_value, abi::ILA_STAT__COUNT> totals{};
  for (uint32_t i = 0; i < abi::ILA_STAT__COUNT; ++i) {
    auto per_cpu = state_->stats.Lookup(i);
    if (!per_cpu.ok()) return per_cpu.status();
    for (const abi::ila_stat_value& v : *per_cpu) {
      totals[i].packets += v.packets;
      totals[i].bytes += v.bytes;
    }
  }
  return internal::MakeStats(totals);
}

absl::StatusOr<std::vector<uint64_t>> Dataplane::ReadCounterPerCpu(std::string_view name) const {
  int index = internal::CounterIndex(name);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("no counter named \"", Av(name), "\""));
  }
  auto per_cpu = state_->stats.Lookup(static_cast<uint32_t>(index));
  if (!per_cpu.ok()) return per_cpu.status();
  std::vector<uint64_t> out;
  for (const abi::ila_stat_value& v : *per_cpu) out.push_back(v.packets);
  return out;
}

}  // namespace ila
