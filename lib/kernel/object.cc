#include "kernel/object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "ila_xdp.skel.h"
#include "kernel/log_capture.h"

namespace ila::internal {
namespace {

struct SkeletonCloser {
  void operator()(ila_xdp* s) const { ila_xdp::destroy(s); }
};
using Skeleton = std::unique_ptr<ila_xdp, SkeletonCloser>;

// Whether this CPU (the one the programs run on) keeps loads in order with loads and stores with
// stores (xdp/barrier.h: the programs' smp_rmb and smp_wmb are then compiler barriers).
#if defined(__x86_64__) || defined(__i386__)
constexpr bool kCpuKeepsLoadsInOrder = true;
#else
constexpr bool kCpuKeepsLoadsInOrder = false;
#endif

// Opens the skeleton (not loaded) and applies `config`.
absl::StatusOr<Skeleton> OpenConfigured(const DataplaneConfig& config, LogCapture& log) {
  Skeleton skel(ila_xdp::open());
  if (!skel) {
    return absl::InternalError(absl::StrCat(
        "opening the embedded ILA BPF object failed: ", std::strerror(errno), "\n", log.Tail(10)));
  }
  skel->rodata->cfg_loads_ordered = kCpuKeepsLoadsInOrder;
  skel->rodata->cfg_miss_policy =
      config.miss_policy == MissPolicy::kDrop ? abi::ILA_MISS_DROP : abi::ILA_MISS_PASS;
  skel->rodata->cfg_moved_policy =
      config.moved_policy == MovedPolicy::kDrop ? abi::ILA_MOVED_DROP : abi::ILA_MOVED_FORWARD;
  skel->rodata->cfg_miss_interval_ns = static_cast<uint64_t>(config.miss_event_interval.count());
  skel->rodata->cfg_miss_event_rate = config.miss_event_rate;
  skel->rodata->cfg_miss_event_burst = config.miss_event_burst;
  if (config.forwarding_cache) {
    bpf_map__set_type(skel->maps.ila_mappings, BPF_MAP_TYPE_LRU_HASH);
    bpf_map__set_map_flags(skel->maps.ila_reverse, BPF_F_NO_PREALLOC);
  }
  // The slots hold every endpoint and, for a full table, every mapping; a forwarding cache's
  // mappings are in ila_mappings, which is otherwise at its smallest.
  const uint32_t slot_bits = MappingSlotBits(config);
  skel->rodata->cfg_slot_bits = slot_bits;
  skel->rodata->cfg_mappings_in_slots = !config.forwarding_cache;
  bpf_map__set_max_entries(skel->maps.ila_slots, 1u << slot_bits);
  bpf_map__set_max_entries(skel->maps.ila_slot_endpoints, 1u << slot_bits);
  bpf_map__set_max_entries(skel->maps.ila_mappings,
                           config.forwarding_cache ? config.max_mappings : 1);
  bpf_map__set_max_entries(skel->maps.ila_reverse,
                           config.forwarding_cache ? 2 * config.max_mappings : config.max_mappings);
  bpf_map__set_max_entries(skel->maps.ila_endpoints, config.max_endpoints);
  bpf_map__set_max_entries(skel->maps.ila_sources, config.max_endpoints);
  bpf_map__set_max_entries(skel->maps.ila_locators, config.max_locators);
  const uint32_t locator_bits = LocatorTableBits(config);
  skel->rodata->cfg_locator_bits = locator_bits;
  bpf_map__set_max_entries(skel->maps.ila_locator_table, (1u << locator_bits) + 1);
  bpf_map__set_max_entries(skel->maps.ila_sir_prefixes, config.max_sir_prefixes);
  bpf_map__set_max_entries(skel->maps.ila_prefix_rules, 2 * config.max_prefix_rules);
  bpf_map__set_max_entries(skel->maps.ila_cluster_locators, config.max_cluster_locators);
  bpf_map__set_max_entries(skel->maps.ila_reforward_locators,
                           config.max_locators + config.max_cluster_locators);
  const uint32_t nexthop_bits = NexthopCacheBits(config);
  skel->rodata->cfg_nexthop_bits = nexthop_bits;
  bpf_map__set_max_entries(skel->maps.ila_nexthop_cache, 1u << nexthop_bits);
  return skel;
}

}  // namespace

uint32_t MappingSlotBits(const DataplaneConfig& config) {
  const uint64_t keys = uint64_t{config.max_endpoints} +
                        (config.forwarding_cache ? 0 : uint64_t{config.max_mappings});
  uint32_t bits = 1;
  while (bits < 31 && (uint64_t{1} << bits) < 2 * keys) ++bits;
  return bits;
}

uint32_t LocatorTableBits(const DataplaneConfig& config) {
  uint32_t bits = 3;
  while (bits < 31 && (uint64_t{1} << bits) < 4 * uint64_t{config.max_locators}) ++bits;
  return bits;
}

uint32_t NexthopCacheBits(const DataplaneConfig& config) {
  uint32_t bits = 1;
  while (bits < 31 && (uint64_t{1} << bits) < 2 * uint64_t{config.max_nexthops}) ++bits;
  return bits;
}

namespace {

bool IsInternalMap(const bpf_map* m) {
  // .rodata and friends belong to one load; they are never pinned or reused.
  return std::strchr(bpf_map__name(m), '.') != nullptr;
}

}  // namespace

absl::StatusOr<LoadedObject> LoadObject(const DataplaneConfig& config,
                                        const std::map<std::string, int>* reuse) {
  LogCapture log;
  auto skel = OpenConfigured(config, log);
  if (!skel.ok()) return skel.status();
  bpf_map* map;
  if (reuse) {
    bpf_object__for_each_map(map, (*skel)->obj) {
      if (IsInternalMap(map)) continue;
      auto it = reuse->find(bpf_map__name(map));
      if (it == reuse->end()) continue;
      if (int err = bpf_map__reuse_fd(map, it->second); err != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("reusing map ", bpf_map__name(map), ": ", std::strerror(-err)));
      }
    }
  }
  if (int err = ila_xdp::load(skel->get()); err != 0) return LoadFailure(err, log);

  LoadedObject out;
  bpf_object__for_each_map(map, (*skel)->obj) {
    if (IsInternalMap(map)) continue;
    int fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return absl::InternalError(absl::StrCat("dup: ", std::strerror(errno)));
    out.maps.emplace(bpf_map__name(map), OwnedFd(fd));
  }
  for (size_t i = 0; i < kProgCount; ++i) {
    bpf_program* prog = bpf_object__find_program_by_name((*skel)->obj, kProgNames[i]);
    if (!prog) return absl::InternalError(absl::StrCat("program ", kProgNames[i], " is missing"));
    int fd = fcntl(bpf_program__fd(prog), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return absl::InternalError(absl::StrCat("dup: ", std::strerror(errno)));
    out.progs[i] = OwnedFd(fd);
  }
  return out;
}

absl::Status LoadBpfObject(bpf_object* obj, const LogCapture& log) {
  int err = bpf_object__load(obj);
  return err == 0 ? absl::OkStatus() : LoadFailure(err, log);
}

absl::Status LoadFailure(int err, const LogCapture& log) {
  int e = -err;
  if (e == EPERM) {
    return absl::PermissionDeniedError(absl::StrCat(
        "loading the ILA XDP programs: ", std::strerror(e),
        " (needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN, i.e. root)\n", log.Tail(5)));
  }
  std::string missing = MissingKernelFeature();
  if (!missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("this kernel lacks ", missing, ", which the ILA data plane needs"));
  }
  // A map the kernel could not create (its size: memory, or a count past the map type's limit)
  // fails the load before any program reaches the verifier: say so, not "rejected".
  std::string map_failed = log.Tail(1, "failed to create");
  if (!map_failed.empty()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the kernel could not create a map of the sizes asked for (", std::strerror(e),
        "): ", map_failed,
        "; ask for fewer mappings, endpoints or locators, or give the kernel the memory"));
  }
  std::string failed = log.Tail(1, "failed to load:");
  return absl::InternalError(absl::StrCat("the kernel rejected the BPF programs (",
                                          std::strerror(e), ")", failed.empty() ? "" : ": ", failed,
                                          "; last lines of the verifier log:\n", log.Tail(25)));
}

absl::StatusOr<std::vector<MapSpec>> ExpectedMaps(const DataplaneConfig& config) {
  LogCapture log;
  auto skel = OpenConfigured(config, log);
  if (!skel.ok()) return skel.status();
  std::vector<MapSpec> out;
  bpf_map* map;
  bpf_object__for_each_map(map, (*skel)->obj) {
    if (IsInternalMap(map)) continue;
    out.push_back({bpf_map__name(map), static_cast<uint32_t>(bpf_map__type(map)),
                   bpf_map__key_size(map), bpf_map__value_size(map), bpf_map__max_entries(map)});
  }
  return out;
}

std::string MapMismatch(int fd, const MapSpec& want) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    return absl::StrCat("cannot read its description: ", std::strerror(errno));
  }
  std::string diff;
  auto add = [&](const char* what, uint32_t have, uint32_t expect) {
    if (have != expect) {
      absl::StrAppend(&diff, diff.empty() ? "" : ", ", what, " ", have,
                      " where this build expects ", expect);
    }
  };
  add("type", info.type, want.type);
  add("key size", info.key_size, want.key_size);
  add("value size", info.value_size, want.value_size);
  return diff;
}

}  // namespace ila::internal
