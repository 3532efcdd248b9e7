// DataplaneState: the maps, programs and attachments every part of a Dataplane shares, and
// the wire conversions done once.
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

namespace ila::internal {

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
  for (uint8_t byte : in) v = (v << 8) | byte;
  return v;
}

InDataplaneNetns::InDataplaneNetns(const DataplaneState& state) {
  if (state.netns.get() < 0) return;
  struct stat want {
  }, have{};
  if (fstat(state.netns.get(), &want) != 0 || stat("/proc/thread-self/ns/net", &have) != 0) {
    status_ =
        absl::InternalError(absl::StrCat("reading network namespaces: ", std::strerror(errno)));
    return;
  }
  if (want.st_ino == have.st_ino && want.st_dev == have.st_dev) return;
  saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_ < 0 || setns(state.netns.get(), CLONE_NEWNET) != 0) {
    status_ = absl::InternalError(
        absl::StrCat("entering the data plane's network namespace (the thread is in another): ",
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
  for (const char* name : {"ila_mappings",
                           "ila_slots",
                           "ila_slot_endpoints",
                           "ila_slot_state",
                           "ila_reverse",
                           "ila_locators",
                           "ila_endpoints",
                           "ila_sources",
                           "ila_sir_prefixes",
                           "ila_locator_table",
                           "ila_tx_ports",
                           "ila_cpus",
                           "ila_steer",
                           "ila_meta",
                           "ila_attachments",
                           "ila_interfaces",
                           "ila_stats",
                           "ila_miss_events",
                           "ila_miss_budgets",
                           "ila_nexthop_cache",
                           "ila_nexthop_epoch",
                           "ila_prefix_rules",
                           "ila_cluster_locators",
                           "ila_locator_filter",
                           "ila_reforward_locators"}) {
    if (map_fd(name) < 0) return absl::InternalError(absl::StrCat("map ", name, " is missing"));
  }
  // One writers' lock for the instance, which the slot tables' writers take too (it is re-entrant:
  // a table write holds it already, so a slot write costs no second file lock).
  auto meta_info = MapInfo(map_fd("ila_meta"), "bpf map ila_meta");
  if (!meta_info.ok()) return meta_info.status();
  instance_lock = std::make_unique<MapLock>(map_fd("ila_meta"), meta_info->id, "ila_meta");
  auto slots =
      MappingSlots::Map(map_fd("ila_slots"), map_fd("ila_slot_endpoints"), map_fd("ila_slot_state"),
                        MappingSlotBits(config), config.forwarding_cache ? 0 : config.max_mappings,
                        instance_lock.get());
  if (!slots.ok()) return slots.status();
  slot_table = std::shared_ptr<const MappingSlots>(std::move(*slots));
  mappings = config.forwarding_cache
                 ? MappingStore(TypedMap<abi::ila_mapping_key, abi::ila_mapping_value>(
                       map_fd("ila_mappings"), "ila_mappings"))
                 : MappingStore(slot_table);
  reverse = {map_fd("ila_reverse"), "ila_reverse"};
  locators = {map_fd("ila_locators"), "ila_locators"};
  auto locator_table =
      LocatorSlots::Map(map_fd("ila_locator_table"), LocatorTableBits(config), instance_lock.get());
  if (!locator_table.ok()) return locator_table.status();
  locator_slots = std::move(*locator_table);
  // A writer that died between the record and the table left them apart: the record wins (read
  // under the table's writer lock, so a live writer in another process is never undone).
  if (absl::Status st = locator_slots->Sync([&] { return locators.Dump(); }); !st.ok()) return st;
  endpoints = {map_fd("ila_endpoints"), "ila_endpoints"};
  sources = {map_fd("ila_sources"), "ila_sources"};
  sir_prefixes = {map_fd("ila_sir_prefixes"), "ila_sir_prefixes"};
  prefix_rules = {map_fd("ila_prefix_rules"), "ila_prefix_rules"};
  cluster_locators = {map_fd("ila_cluster_locators"), "ila_cluster_locators"};
  reforward_locators = {map_fd("ila_reforward_locators"), "ila_reforward_locators"};
  locator_filter = {map_fd("ila_locator_filter"), "ila_locator_filter"};
  tx_ports = {map_fd("ila_tx_ports"), "ila_tx_ports"};
  cpus = {map_fd("ila_cpus"), "ila_cpus"};
  steer = {map_fd("ila_steer"), "ila_steer"};
  meta = {map_fd("ila_meta"), "ila_meta"};
  attachment_records = {map_fd("ila_attachments"), "ila_attachments"};
  interfaces = {map_fd("ila_interfaces"), "ila_interfaces"};
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

std::vector<abi::ila_endpoint_key> DataplaneState::EndpointsOnLocked(int ifindex) const {
  std::vector<abi::ila_endpoint_key> out;
  auto all = endpoints.Dump();
  if (!all.ok()) return out;
  for (const auto& [key, value] : *all) {
    if (value.ifindex == static_cast<uint32_t>(ifindex)) out.push_back(key);
  }
  return out;
}

void DataplaneState::RefreshSourceLocked(int ifindex) {
  abi::ila_source_key skey{static_cast<uint32_t>(ifindex)};
  auto on = EndpointsOnLocked(ifindex);
  if (on.empty()) {
    (void)sources.Delete(skey);
    return;
  }
  auto now = sources.Lookup(skey);
  if (now.ok() && now->has_value()) {
    for (const auto& key : on)
      if (std::memcmp(key.sir.bytes, (*now)->sir.bytes, 16) == 0) return;  // still one of them
  }
  (void)sources.Update(skey, abi::ila_source_value{on.front().sir});
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
    return absl::Status(
        st.code(), absl::StrCat("making ifindex ", ifindex, " a redirect target: ", st.message()));
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
    if (attached.contains(static_cast<int>(ifindex)))
      RecordAttachmentLocked(static_cast<int>(ifindex));
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

absl::Status DataplaneState::RecordInterfaceLocked(int ifindex) {
  auto mac = InterfaceMac(ifindex);
  if (!mac.ok()) return mac.status();
  const uint32_t slot = abi::ila_interface_slot(static_cast<uint32_t>(ifindex));
  auto now = interfaces.Lookup(slot);
  if (!now.ok()) return now.status();
  if (now->has_value() && (*now)->ifindex != 0 &&
      (*now)->ifindex != static_cast<uint32_t>(ifindex)) {
    return absl::FailedPreconditionError(
        absl::StrCat("ifindex ", ifindex, " and ifindex ", (*now)->ifindex,
                     " (an uplink or router of this data plane already) share entry ", slot,
                     " of ila_interfaces (ifindex modulo ", ILA_INTERFACE_SLOTS,
                     "); attach an interface whose index differs in its low bits"));
  }
  abi::ila_interface_value v{};
  v.ifindex = static_cast<uint32_t>(ifindex);
  std::memcpy(v.mac, mac->data(), sizeof(v.mac));
  absl::Status st = interfaces.Update(slot, v);
  if (st.ok()) return st;
  return absl::Status(st.code(),
                      absl::StrCat("recording ifindex ", ifindex, "'s MAC: ", st.message()));
}

void DataplaneState::ForgetInterfaceLocked(int ifindex) {
  const uint32_t slot = abi::ila_interface_slot(static_cast<uint32_t>(ifindex));
  auto now = interfaces.Lookup(slot);
  if (now.ok() && now->has_value() && (*now)->ifindex == static_cast<uint32_t>(ifindex)) {
    (void)interfaces.Update(slot, abi::ila_interface_value{});
  }
}

Prog ProgFor(Role role, bool steered, AttachMode mode) {
  switch (role) {
    case Role::kContainer: return mode == AttachMode::kTc ? Prog::kTcContainer : Prog::kContainer;
    case Role::kUplink:
      return mode == AttachMode::kTc ? Prog::kTcUplink : steered ? Prog::kSteer : Prog::kUplink;
    case Role::kRouter: return Prog::kRouter;
  }
  return Prog::kContainer;
}

}  // namespace ila::internal
