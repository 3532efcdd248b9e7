// ila::Dataplane: loading the skeleton, attaching through libxdp, the shared state's lifecycle.
#include "ila/dataplane.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <deque>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dataplane_state.h"
#include "ila_xdp.skel.h"
#include "netlink.h"
#include "string_util.h"

namespace ila {

using internal::Av;
using internal::DataplaneState;

namespace internal {

absl::Status MapError(const std::string& map, const char* op, int err) {
  return absl::Status(err == ENOSPC || err == E2BIG ? absl::StatusCode::kResourceExhausted
                                                    : absl::StatusCode::kInternal,
                      absl::StrCat("bpf map ", map, ": ", op, " failed: ", std::strerror(err),
                                   err == E2BIG || err == ENOSPC ? " (the table is full)" : ""));
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

namespace {

// libbpf and libxdp report through process-wide print callbacks; while one of our calls runs, the
// lines are collected here so that errors can carry them (the verifier log, libxdp's reasons).
absl::Mutex g_log_mu;
std::deque<std::string>* g_log ABSL_GUARDED_BY(g_log_mu) = nullptr;

void CollectLine(const char* format, va_list args) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), format, args);
  if (!g_log) return;
  for (absl::string_view line : absl::StrSplit(buf, '\n', absl::SkipEmpty())) {
    g_log->emplace_back(line);
    if (g_log->size() > 400) g_log->pop_front();
  }
}
int LibbpfPrint(enum libbpf_print_level, const char* format, va_list args) {
  CollectLine(format, args);
  return 0;
}
int LibxdpPrint(enum libxdp_print_level, const char* format, va_list args) {
  CollectLine(format, args);
  return 0;
}

// Collects library log lines for the lifetime of the object; one at a time per process.
class LogCapture {
 public:
  LogCapture() ABSL_EXCLUSIVE_LOCK_FUNCTION(g_log_mu) {
    g_log_mu.Lock();
    g_log = &lines_;
    old_bpf_ = libbpf_set_print(LibbpfPrint);
    old_xdp_ = libxdp_set_print(LibxdpPrint);
  }
  ~LogCapture() ABSL_UNLOCK_FUNCTION(g_log_mu) {
    libbpf_set_print(old_bpf_);
    libxdp_set_print(old_xdp_);
    g_log = nullptr;
    g_log_mu.Unlock();
  }
  std::string Tail(size_t n, std::string_view containing = "") const {
    std::vector<std::string> picked;
    for (const std::string& l : lines_) {
      if (containing.empty() || l.find(containing) != std::string::npos) picked.push_back(l);
    }
    size_t from = picked.size() > n ? picked.size() - n : 0;
    return absl::StrJoin(picked.begin() + static_cast<long>(from), picked.end(), "\n");
  }

 private:
  std::deque<std::string> lines_;
  libbpf_print_fn_t old_bpf_;
  libxdp_print_fn_t old_xdp_;
};

// Names the first missing kernel feature the data plane needs, by probing it; "" if none is.
std::string MissingKernelFeature() {
  if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr) != 1) {
    return "BPF program type XDP (probe: libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP))";
  }
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_DEVMAP_HASH, nullptr) != 1) {
    return "map type DEVMAP_HASH (Linux 5.4+)";
  }
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERCPU_ARRAY, nullptr) != 1) {
    return "map type PERCPU_ARRAY";
  }
  if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_fib_lookup, nullptr) != 1) {
    return "helper bpf_fib_lookup in XDP programs (Linux 4.18+)";
  }
  if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_redirect_map, nullptr) != 1) {
    return "helper bpf_redirect_map in XDP programs";
  }
  return "";
}

}  // namespace

DataplaneState::~DataplaneState() {
  if (skel) ila_xdp::destroy(skel);
}

bool DataplaneState::EndpointUsesInterfaceLocked(int ifindex) {
  auto src = sources.Lookup(abi::ila_source_key{static_cast<uint32_t>(ifindex)});
  return src.ok() && src->has_value();
}

absl::Status DataplaneState::AddRedirectTargetLocked(int ifindex) {
  bpf_devmap_val val{};
  val.ifindex = static_cast<uint32_t>(ifindex);
  if (absl::Status st = tx_ports.Update(static_cast<uint32_t>(ifindex), val); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("making ifindex ", ifindex,
                                                " a redirect target: ", st.message()));
  }
  if (peer_napi.contains(ifindex)) return absl::OkStatus();
  // XDP_REDIRECT into a veth is only delivered when the receiving peer runs NAPI, which it does
  // when it has an XDP program (or GRO). Give it a pass-through program when it has none.
  auto link = GetLink(ifindex);
  if (!link.ok() || link->kind != "veth" || link->peer_ifindex == 0) return absl::OkStatus();
  auto peer = link->peer_netnsid ? GetLinkInNetns(*link->peer_netnsid, link->peer_ifindex)
                                 : GetLink(link->peer_ifindex);
  if (!peer.ok() || peer->xdp_prog_id != 0) return absl::OkStatus();
  int fd = bpf_program__fd(skel->progs.ila_peer_napi);
  absl::Status st = SetXdpInNetns(link->peer_netnsid, link->peer_ifindex, fd,
                                  XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, std::nullopt);
  if (!st.ok()) {
    (void)tx_ports.Delete(static_cast<uint32_t>(ifindex));
    return absl::Status(st.code(),
                        absl::StrCat("giving the veth peer of ifindex ", ifindex,
                                     " a pass-through XDP program (redirects into a veth are "
                                     "delivered only when its peer has one): ",
                                     st.message()));
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(fd, &info, &len);
  peer_napi[ifindex] = PeerNapi{link->peer_netnsid, link->peer_ifindex, info.id};
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

}  // namespace internal

std::string_view ToString(AttachMode mode) {
  switch (mode) {
    case AttachMode::kNative: return "native";
    case AttachMode::kGeneric: return "generic";
    case AttachMode::kAuto: return "auto";
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

Dataplane::Dataplane(std::shared_ptr<DataplaneState> state)
    : state_(state), mappings_(state), locators_(state), endpoints_(state), sir_prefixes_(state) {}

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Create(const DataplaneConfig& config) {
  if (config.max_mappings == 0 || config.max_endpoints == 0 || config.max_locators == 0 ||
      config.max_sir_prefixes == 0) {
    return absl::InvalidArgumentError("DataplaneConfig: every max_* size must be at least 1");
  }
  auto state = std::make_shared<DataplaneState>();
  state->config = config;

  internal::LogCapture log;
  ila_xdp* skel = ila_xdp::open();
  if (!skel) {
    return absl::InternalError(absl::StrCat("opening the embedded ILA BPF object failed: ",
                                            std::strerror(errno), "\n", log.Tail(10)));
  }
  state->skel = skel;
  skel->rodata->cfg_miss_policy =
      config.miss_policy == MissPolicy::kDrop ? abi::ILA_MISS_DROP : abi::ILA_MISS_PASS;
  skel->rodata->cfg_moved_policy =
      config.moved_policy == MovedPolicy::kDrop ? abi::ILA_MOVED_DROP : abi::ILA_MOVED_FORWARD;
  bpf_map__set_max_entries(skel->maps.ila_mappings, config.max_mappings);
  bpf_map__set_max_entries(skel->maps.ila_reverse, config.max_mappings);
  bpf_map__set_max_entries(skel->maps.ila_endpoints, config.max_endpoints);
  bpf_map__set_max_entries(skel->maps.ila_sources, config.max_endpoints);
  bpf_map__set_max_entries(skel->maps.ila_locators, config.max_locators);
  bpf_map__set_max_entries(skel->maps.ila_sir_prefixes, config.max_sir_prefixes);

  if (int err = ila_xdp::load(skel); err != 0) {
    int e = -err;
    if (e == EPERM || e == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(
          "loading the ILA XDP programs: ", std::strerror(e),
          " (needs CAP_BPF and CAP_NET_ADMIN, i.e. root)\n", log.Tail(5)));
    }
    std::string missing = internal::MissingKernelFeature();
    if (!missing.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("this kernel lacks ", missing, ", which the ILA data plane needs"));
    }
    return absl::InternalError(absl::StrCat("loading the ILA XDP programs failed (",
                                            std::strerror(e), "); last lines of the log:\n",
                                            log.Tail(25)));
  }

  auto map = [&](bpf_map* m) { return std::pair(bpf_map__fd(m), std::string(bpf_map__name(m))); };
  {
    auto [fd, name] = map(skel->maps.ila_mappings);
    state->mappings = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_reverse);
    state->reverse = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_locators);
    state->locators = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_endpoints);
    state->endpoints = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_sources);
    state->sources = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_sir_prefixes);
    state->sir_prefixes = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_tx_ports);
    state->tx_ports = {fd, name};
  }
  {
    auto [fd, name] = map(skel->maps.ila_stats);
    state->stats = {fd, name};
  }
  return std::unique_ptr<Dataplane>(new Dataplane(std::move(state)));
}

Dataplane::~Dataplane() { (void)DetachAll(); }

int Dataplane::program_fd(Role role) const {
  switch (role) {
    case Role::kContainer: return bpf_program__fd(state_->skel->progs.ila_from_container);
    case Role::kUplink: return bpf_program__fd(state_->skel->progs.ila_from_uplink);
    case Role::kRouter: return bpf_program__fd(state_->skel->progs.ila_router);
  }
  return -1;
}

namespace {

struct ResolvedInterface {
  int ifindex;
  std::string name;
};

absl::StatusOr<ResolvedInterface> Resolve(const InterfaceRef& ref) {
  if (const std::string* name = std::get_if<std::string>(&ref.id)) {
    auto idx = internal::InterfaceIndex(*name);
    if (!idx.ok()) return idx.status();
    return ResolvedInterface{*idx, *name};
  }
  int ifindex = std::get<int>(ref.id);
  auto name = internal::InterfaceName(ifindex);
  if (!name.ok()) return name.status();
  return ResolvedInterface{ifindex, *name};
}

// Attaches `prog_fd` with libxdp, trying native before generic under kAuto.
absl::StatusOr<internal::AttachRecord> AttachWithLibxdp(int prog_fd, const ResolvedInterface& dev,
                                                        Role role, AttachMode mode) {
  internal::AttachRecord rec;
  rec.attachment.role = role;
  rec.attachment.interface = dev.name;
  rec.attachment.ifindex = dev.ifindex;

  std::vector<AttachMode> tries;
  if (mode == AttachMode::kAuto) tries = {AttachMode::kNative, AttachMode::kGeneric};
  else tries = {mode};

  std::string failures;
  for (AttachMode m : tries) {
    internal::LogCapture log;
    int fd = dup(prog_fd);  // libxdp closes the fd it was given when the program is closed
    if (fd < 0) return absl::InternalError(absl::StrCat("dup: ", std::strerror(errno)));
    xdp_program* prog = xdp_program__from_fd(fd);
    if (long err = libxdp_get_error(prog); err) {
      close(fd);
      return absl::InternalError(absl::StrCat("libxdp cannot use the ", Av(ToString(role)),
                                              " program: ", std::strerror(static_cast<int>(-err))));
    }
    xdp_attach_mode xmode = m == AttachMode::kNative ? XDP_MODE_NATIVE : XDP_MODE_SKB;
    int err = xdp_program__attach(prog, dev.ifindex, xmode, 0);
    if (err == 0) {
      rec.program = prog;
      rec.attachment.mode = m;
      if (mode == AttachMode::kAuto) {
        rec.attachment.mode_reason =
            m == AttachMode::kNative
                ? "native: the driver supports XDP"
                : absl::StrCat("generic: native attach failed (", failures, ")");
      }
      xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(dev.ifindex);
      if (!libxdp_get_error(mp) && mp) {
        rec.attachment.multiprog = !xdp_multiprog__is_legacy(mp);
        xdp_multiprog__close(mp);
      }
      if (!rec.attachment.multiprog) {
        std::string why = log.Tail(2, "ispatcher");
        if (why.empty()) why = log.Tail(2);
        rec.attachment.libxdp_note = absl::StrCat(
            "libxdp attached one program to the interface (no multi-program dispatcher)",
            why.empty() ? "" : ": ", why);
      }
      return rec;
    }
    xdp_program__close(prog);
    std::string tail = log.Tail(3);
    absl::StrAppend(&failures, failures.empty() ? "" : "; ", Av(ToString(m)), ": ",
                    std::strerror(-err), tail.empty() ? "" : " [", tail, tail.empty() ? "" : "]");
  }
  return absl::FailedPreconditionError(absl::StrCat("attaching the ", Av(ToString(role)),
                                                    " program to ", dev.name, " failed: ",
                                                    failures));
}

}  // namespace

absl::StatusOr<Attachment> Dataplane::Attach(Role role, const InterfaceRef& interface,
                                             AttachMode mode,
                                             const std::optional<Endpoint>& endpoint) {
  auto dev = Resolve(interface);
  if (!dev.ok()) return dev.status();
  {
    absl::MutexLock lock(&state_->mu);
    if (auto it = state_->attached.find(dev->ifindex); it != state_->attached.end()) {
      return absl::AlreadyExistsError(absl::StrCat(dev->name, " already has the ",
                                                   Av(ToString(it->second.attachment.role)),
                                                   " program of this data plane"));
    }
  }
  // Register first: the container program drops traffic from interfaces without an endpoint.
  if (endpoint) {
    Endpoint ep = *endpoint;
    ep.ifindex = dev->ifindex;
    if (absl::Status st = endpoints_.Upsert(ep); !st.ok()) return st;
  }
  auto rec = AttachWithLibxdp(program_fd(role), *dev, role, mode);
  absl::MutexLock lock(&state_->mu);
  absl::Status target = rec.ok() ? state_->AddRedirectTargetLocked(dev->ifindex) : rec.status();
  if (!target.ok()) {
    // Nothing half-applied: undo what this call did.
    if (rec.ok()) {
      xdp_program__detach(rec->program, static_cast<int>(dev->ifindex),
                          rec->attachment.mode == AttachMode::kNative ? XDP_MODE_NATIVE
                                                                      : XDP_MODE_SKB,
                          0);
      xdp_program__close(rec->program);
    }
    if (endpoint) {
      (void)state_->endpoints.Delete(abi::ila_endpoint_key{internal::ToAbi(endpoint->sir.address())});
      (void)state_->sources.Delete(abi::ila_source_key{static_cast<uint32_t>(dev->ifindex)});
    }
    (void)state_->DropRedirectTargetLocked(dev->ifindex);
    return target;
  }
  rec->attachment.peer_napi_attached = state_->peer_napi.contains(dev->ifindex);
  state_->attached[dev->ifindex] = *rec;
  return rec->attachment;
}

absl::StatusOr<Attachment> Dataplane::AttachContainer(const ContainerAttach& request) {
  return Attach(Role::kContainer, request.interface, request.mode,
                Endpoint{0, request.sir, request.mac});
}

absl::StatusOr<Attachment> Dataplane::AttachUplink(const InterfaceAttach& request) {
  return Attach(Role::kUplink, request.interface, request.mode, std::nullopt);
}

absl::StatusOr<Attachment> Dataplane::AttachRouter(const InterfaceAttach& request) {
  return Attach(Role::kRouter, request.interface, request.mode, std::nullopt);
}

absl::Status Dataplane::DetachLocked(int ifindex) {
  auto it = state_->attached.find(ifindex);
  if (it == state_->attached.end()) {
    return absl::NotFoundError(absl::StrCat("ifindex ", ifindex, " has no program of this data plane"));
  }
  internal::AttachRecord rec = it->second;
  state_->attached.erase(it);
  absl::Status st;
  int err = xdp_program__detach(
      rec.program, ifindex,
      rec.attachment.mode == AttachMode::kNative ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
  if (err != 0 && err != -ENODEV) {
    st = absl::InternalError(absl::StrCat("detaching from ", rec.attachment.interface, ": ",
                                          std::strerror(-err)));
  }
  xdp_program__close(rec.program);
  if (rec.attachment.role == Role::kContainer) {
    abi::ila_source_key skey{static_cast<uint32_t>(ifindex)};
    auto src = state_->sources.Lookup(skey);
    if (src.ok() && src->has_value()) {
      (void)state_->endpoints.Delete(abi::ila_endpoint_key{(*src)->sir});
      (void)state_->sources.Delete(skey);
    }
  }
  absl::Status drop = state_->DropRedirectTargetLocked(ifindex);
  return st.ok() ? drop : st;
}

absl::Status Dataplane::Detach(const InterfaceRef& interface) {
  int ifindex;
  if (const int* idx = std::get_if<int>(&interface.id)) {
    ifindex = *idx;
  } else {
    auto dev = Resolve(interface);
    if (!dev.ok()) return dev.status();
    ifindex = dev->ifindex;
  }
  absl::MutexLock lock(&state_->mu);
  return DetachLocked(ifindex);
}

absl::Status Dataplane::DetachAll() {
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
  for (const auto& [ifindex, rec] : state_->attached) out.push_back(rec.attachment);
  return out;
}

absl::Status Dataplane::AddRedirectTarget(const InterfaceRef& interface) {
  auto dev = Resolve(interface);
  if (!dev.ok()) return dev.status();
  absl::MutexLock lock(&state_->mu);
  if (absl::Status st = state_->AddRedirectTargetLocked(dev->ifindex); !st.ok()) return st;
  state_->extra_targets.insert(dev->ifindex);
  return absl::OkStatus();
}

namespace internal {
Stats MakeStats(const std::array<abi::ila_stat_value, abi::ILA_STAT__COUNT>& totals);
}

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

}  // namespace ila
