// Data plane counters: one per outcome (forwarded, handed to the kernel, dropped, each with its
// reason), packets and bytes, summed over CPUs.
#ifndef ILA_STATS_H_
#define ILA_STATS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ila {

enum class CounterKind { kForwarded, kPassed, kDropped, kObservation };

struct Counter {
  std::string_view name;  // stable snake_case name, e.g. "drop_spoofed_source"
  CounterKind kind;
  std::string_view help;  // one line, for `ilactl stats` and Prometheus HELP
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct Stats {
  std::vector<Counter> counters;  // every counter, in a fixed order, zeros included

  // The counter with `name`; packets and bytes 0 for an unknown name.
  const Counter& Get(std::string_view name) const;
  uint64_t Packets(std::string_view name) const { return Get(name).packets; }
  uint64_t TotalDropped() const;
  // Per-counter difference (this - earlier), for deltas around an action.
  Stats Since(const Stats& earlier) const;
  // Prometheus text exposition format (ila_packets_total{reason="..."} and ila_bytes_total).
  std::string ToPrometheus() const;
  // One line per non-zero counter: "  drop_spoofed_source  3 pkts  180 bytes".
  std::string ToText() const;
};

// Every counter name the data plane has, in order.
std::vector<std::string_view> CounterNames();

}  // namespace ila

#endif  // ILA_STATS_H_
