// What the two cluster benchmarks share (cluster_bench.cc, cluster_fanout_bench.cc): the SIR
// prefix and mapping records they write, percentiles, errors that unwind (so that the agents,
// etcd and the namespaces are torn down), and the JSON report.
#ifndef ILA_BENCH_CLUSTER_COMMON_H_
#define ILA_BENCH_CLUSTER_COMMON_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "ila/types.h"

namespace ila::bench_cluster {

using Clock = std::chrono::steady_clock;

inline const SirPrefix kPrefix(0x3333000000000001ull);
// A mapping to a host that is not there: every agent installs it, nothing is sent to it.
inline const std::string kValue =
    R"({"v":1,"host":"far","locator":"2001:db8:99:0","csum_mode":"no-action"})";

inline std::string MappingKey(uint64_t id) {
  return absl::StrCat("/ila/v1/mappings/3333:0:0:1/",
                      SirAddress{kPrefix, Identifier(id)}.ToString());
}

inline double Micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// Thrown, not exited: unwinding stops the agents and etcd and deletes the namespaces (main
// catches it).
[[noreturn]] inline void Die(const std::string& what, const absl::Status& s) {
  throw std::runtime_error(what + ": " + s.ToString());
}
template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(what, v.status());
  return *std::move(v);
}

// Writes the report to `out` (its directory made if needed); false when it cannot.
inline bool WriteReport(const std::string& out, const nlohmann::json& report) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(out).parent_path(), ec);
  std::ofstream file(out);
  file << report.dump(2) << "\n";
  return static_cast<bool>(file);
}

}  // namespace ila::bench_cluster

#endif  // ILA_BENCH_CLUSTER_COMMON_H_
