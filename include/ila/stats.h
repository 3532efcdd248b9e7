// Data plane counters: one per outcome (forwarded, handed to the kernel, dropped, each with its
// reason), packets and bytes, summed over CPUs.
#ifndef ILA_STATS_H_
#define ILA_STATS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ila {

// Every counter's stable snake_case name, in the data plane's order.
inline constexpr std::string_view kCounterNames[] = {
    "tx_remote",
    "tx_local",
    "rx_delivered",
    "rx_reforwarded",
    "router_forwarded",
    "pass_not_ipv6",
    "pass_link_local",
    "pass_not_sir",
    "pass_not_local_locator",
    "pass_hop_limit",
    "pass_miss",
    "pass_no_neighbour",
    "pass_fib",
    "pass_egress_not_redirectable",
    "drop_spoofed_source",
    "drop_unregistered_interface",
    "drop_miss",
    "drop_router_miss",
    "drop_endpoint_gone",
    "drop_truncated",
    "drop_bad_version",
    "drop_bad_length",
    "transport_not_adjusted",
    "icmp_inner_translated",
    "icmp_inner_unknown",
    "miss_event",
    "miss_event_lost",
    "steered",
    "nexthop_learned",
    "nexthop_hit",
    "drop_vlan_tagged",
    "pass_not_for_this_host",
    "miss_event_limited",
    "drop_loop",
    "drop_cross_prefix",
    "drop_cross_prefix_arrival",
    "drop_ila_destination",
    "pass_too_big",
    "drop_reforward_loop",
};
inline constexpr size_t kCounterCount = sizeof(kCounterNames) / sizeof(kCounterNames[0]);

// A counter's name, checked: a literal that names no counter does not compile
// (Packets("tx_remtoe") is an error, not a silent zero); a name known only at run time goes
// through Parse, which says NotFound.
class CounterName {
 public:
  consteval CounterName(const char* name) : index_(IndexOf(name)) {}  // NOLINT: implicit
  static absl::StatusOr<CounterName> Parse(std::string_view name);
  std::string_view str() const { return kCounterNames[index_]; }
  size_t index() const { return index_; }

 private:
  struct FromIndex {};
  CounterName(FromIndex, size_t index) : index_(index) {}
  static consteval size_t IndexOf(std::string_view name) {
    for (size_t i = 0; i < kCounterCount; ++i)
      if (kCounterNames[i] == name) return i;
    throw "no counter has this name (ila::kCounterNames lists them)";
  }
  size_t index_;
};

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

  // The counter `name` (zeros in a Stats that holds no counters).
  const Counter& Get(CounterName name) const;
  uint64_t Packets(CounterName name) const { return Get(name).packets; }
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
