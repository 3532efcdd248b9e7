// Reading the data plane's BPF maps from a test, around the library: the process's map of a given
// name, and the reverse map (ILA address -> SIR address) as it is.
#ifndef ILA_TESTS_SUPPORT_BPF_MAPS_H_
#define ILA_TESTS_SUPPORT_BPF_MAPS_H_

#include <bpf/bpf.h>
#include <dirent.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "ila/types.h"
#include "kernel/bpf_map.h"

namespace ila::testing {

// The fd of the process's BPF map called `name` with the highest id (the newest data plane's).
inline int FindMap(const std::string& name) {
  int found = -1;
  uint32_t found_id = 0;
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    if (name == info.name && info.id >= found_id) {
      found = fd;
      found_id = info.id;
    }
  }
  closedir(d);
  REQUIRE(found >= 0);
  return found;
}

// The reverse map (ila_reverse) as ILA address -> SIR address; each key once.
inline std::map<Ipv6Address, Ipv6Address> ReverseMap() {
  using Bytes16 = std::array<uint8_t, 16>;
  using Bytes24 = std::array<uint8_t, 24>;
  ila::internal::TypedMap<Bytes16, Bytes24> rev(FindMap("ila_reverse"), "ila_reverse");
  auto all = rev.Dump();
  REQUIRE(all.ok());
  std::map<Ipv6Address, Ipv6Address> out;
  for (const auto& [k, v] : *all) {
    Bytes16 sir;
    std::memcpy(sir.data(), v.data(), 16);
    bool fresh = out.emplace(Ipv6Address::FromBytes(k), Ipv6Address::FromBytes(sir)).second;
    CHECK(fresh);
  }
  return out;
}

}  // namespace ila::testing

#endif  // ILA_TESTS_SUPPORT_BPF_MAPS_H_
