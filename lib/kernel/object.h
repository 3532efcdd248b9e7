// The ILA BPF object: loading it from the embedded skeleton into file descriptors this library
// owns, and what its maps look like (for checking a pinned instance against this build).
#ifndef ILA_LIB_OBJECT_H_
#define ILA_LIB_OBJECT_H_

#include <linux/bpf.h>
#include <unistd.h>

#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "ila/owned_fd.h"

struct bpf_object;

namespace ila::internal {

enum class Prog {
  kContainer,
  kUplink,
  kRouter,
  kSteer,
  kUplinkCpu,
  kPeerNapi,
  kTcContainer,
  kTcUplink
};
inline constexpr size_t kProgCount = 8;
inline constexpr std::array<const char*, kProgCount> kProgNames = {
    "ila_from_container",    "ila_from_uplink",   "ila_router",
    "ila_uplink_steer",      "ila_uplink_cpu",    "ila_peer_napi",
    "ila_tc_from_container", "ila_tc_from_uplink"};

// log2 of the slot count of ila_slots for `config`: the smallest power of two at least twice the
// keys it may hold (open addressing at a load factor of at most 1/2): max_endpoints, plus
// max_mappings for a full table (a forwarding cache keeps its mappings in the LRU hash
// ila_mappings).
uint32_t MappingSlotBits(const DataplaneConfig& config);

// log2 of the entry count of ila_locator_table for `config`: at least four entries per locator
// (and eight in all), so that a locator's probe run practically never fills.
uint32_t LocatorTableBits(const DataplaneConfig& config);

// log2 of the entry count of ila_nexthop_cache for `config`: the smallest power of two at least
// twice max_nexthops (direct-mapped by a hash of the locator, so that few locators share an entry).
uint32_t NexthopCacheBits(const DataplaneConfig& config);

struct MapSpec {
  std::string name;
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
};

// The object loaded: every map and program as an owned fd.
struct LoadedObject {
  std::map<std::string, OwnedFd> maps;
  std::array<OwnedFd, kProgCount> progs;
};

// Loads the embedded object with `config`'s load-time options and sizes. With `reuse`, the maps of
// that name are not created but taken from the given fds (a running instance's), which the kernel
// checks for compatibility. Errors carry the verifier log's tail or the missing feature.
absl::StatusOr<LoadedObject> LoadObject(const DataplaneConfig& config,
                                        const std::map<std::string, int>* reuse);

// Loads an opened BPF object, turning failure into a Status that says why: permission, the
// kernel feature that is missing (probed), or the program the verifier rejected with the last lines
// of its log. `log` must have been capturing since before the object was opened.
class LogCapture;
absl::Status LoadBpfObject(bpf_object* obj, const LogCapture& log);
// The same explanation for a libbpf load error code `err` (negative errno).
absl::Status LoadFailure(int err, const LogCapture& log);

// The maps this build expects for `config`: name, type, key and value sizes, max_entries.
absl::StatusOr<std::vector<MapSpec>> ExpectedMaps(const DataplaneConfig& config);

// Compares a map fd against its expected spec: "" when it matches, else what differs. max_entries
// is not compared (the instance's own configuration decides it).
std::string MapMismatch(int fd, const MapSpec& want);

}  // namespace ila::internal

#endif  // ILA_LIB_OBJECT_H_
