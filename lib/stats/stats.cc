#include "ila/stats.h"

#include <array>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/string_util.h"

namespace ila {
namespace internal {

struct CounterSpec {
  uint32_t index;
  std::string_view name;
  CounterKind kind;
  std::string_view help;
};

// Names for every abi::ila_stat, in enum order.
constexpr std::array<CounterSpec, abi::ILA_STAT__COUNT> kCounterSpecs = {{
    {abi::ILA_STAT_TX_REMOTE, "tx_remote", CounterKind::kForwarded,
     "translated SIR to ILA and redirected toward the destination's host"},
    {abi::ILA_STAT_TX_LOCAL, "tx_local", CounterKind::kForwarded,
     "container to container on this host, redirected without translation"},
    {abi::ILA_STAT_RX_DELIVERED, "rx_delivered", CounterKind::kForwarded,
     "translated ILA to SIR and redirected into a local container"},
    {abi::ILA_STAT_RX_REFORWARDED, "rx_reforwarded", CounterKind::kForwarded,
     "arrived for a container that moved; re-translated to its new locator and forwarded"},
    {abi::ILA_STAT_ROUTER_FORWARDED, "router_forwarded", CounterKind::kForwarded,
     "router role: translated SIR to ILA and forwarded"},
    {abi::ILA_STAT_PASS_NOT_IPV6, "pass_not_ipv6", CounterKind::kPassed,
     "not IPv6: handed to the kernel"},
    {abi::ILA_STAT_PASS_LINK_LOCAL, "pass_link_local", CounterKind::kPassed,
     "link-local or multicast (neighbour discovery, DAD, MLD): handed to the kernel"},
    {abi::ILA_STAT_PASS_NOT_SIR, "pass_not_sir", CounterKind::kPassed,
     "destination outside every SIR prefix: ordinary traffic for the kernel"},
    {abi::ILA_STAT_PASS_NOT_LOCAL_LOCATOR, "pass_not_local_locator", CounterKind::kPassed,
     "uplink: destination locator is not one of this host's"},
    {abi::ILA_STAT_PASS_HOP_LIMIT, "pass_hop_limit", CounterKind::kPassed,
     "hop limit <= 1: handed to the kernel to answer with Time Exceeded"},
    {abi::ILA_STAT_PASS_MISS, "pass_miss", CounterKind::kPassed,
     "no mapping: handed untranslated to the kernel, which routes it to an ILA router"},
    {abi::ILA_STAT_PASS_NO_NEIGHBOUR, "pass_no_neighbour", CounterKind::kPassed,
     "translated; next hop not resolved yet, so the kernel forwards it"},
    {abi::ILA_STAT_PASS_FIB, "pass_fib", CounterKind::kPassed,
     "translated; the route needs the kernel (unreachable, too big, local, ...)"},
    {abi::ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE, "pass_egress_not_redirectable",
     CounterKind::kPassed, "egress interface is not a redirect target: the kernel forwards it"},
    {abi::ILA_STAT_DROP_SPOOFED_SOURCE, "drop_spoofed_source", CounterKind::kDropped,
     "container sent from a source other than its registered SIR address"},
    {abi::ILA_STAT_DROP_UNREGISTERED_INTERFACE, "drop_unregistered_interface",
     CounterKind::kDropped, "arrived on a container interface with no registered endpoint"},
    {abi::ILA_STAT_DROP_MISS, "drop_miss", CounterKind::kDropped,
     "no mapping for a SIR destination (miss policy drop)"},
    {abi::ILA_STAT_DROP_ROUTER_MISS, "drop_router_miss", CounterKind::kDropped,
     "router role: no mapping for a SIR destination"},
    {abi::ILA_STAT_DROP_ENDPOINT_GONE, "drop_endpoint_gone", CounterKind::kDropped,
     "arrived for a container not on this host, and no mapping to forward it with"},
    {abi::ILA_STAT_DROP_TRUNCATED, "drop_truncated", CounterKind::kDropped,
     "frame shorter than its Ethernet or IPv6 header"},
    {abi::ILA_STAT_DROP_BAD_VERSION, "drop_bad_version", CounterKind::kDropped,
     "EtherType IPv6 with an IP version other than 6"},
    {abi::ILA_STAT_DROP_BAD_LENGTH, "drop_bad_length", CounterKind::kDropped,
     "IPv6 payload length runs past the end of the frame"},
    {abi::ILA_STAT_TRANSPORT_NOT_ADJUSTED, "transport_not_adjusted", CounterKind::kObservation,
     "adj-transport packet without a transport header right after IPv6: address only"},
    {abi::ILA_STAT_ICMP_INNER_TRANSLATED, "icmp_inner_translated", CounterKind::kObservation,
     "ICMPv6 error whose quoted destination was translated back to SIR"},
    {abi::ILA_STAT_ICMP_INNER_UNKNOWN, "icmp_inner_unknown", CounterKind::kObservation,
     "ICMPv6 error quoting a destination with no known mapping (left as is)"},
    {abi::ILA_STAT_MISS_EVENT, "miss_event", CounterKind::kObservation,
     "miss event sent to the control plane (rate-limited per destination)"},
    {abi::ILA_STAT_MISS_EVENT_LOST, "miss_event_lost", CounterKind::kObservation,
     "miss event due but the ring buffer was full (its count carries to the next event)"},
    {abi::ILA_STAT_STEERED, "steered", CounterKind::kObservation,
     "uplink: handed to another CPU through the cpumap (counted again there)"},
    {abi::ILA_STAT_NEXTHOP_LEARNED, "nexthop_learned", CounterKind::kObservation,
     "a FIB answer for a locator was stored in the next-hop cache"},
    {abi::ILA_STAT_NEXTHOP_HIT, "nexthop_hit", CounterKind::kObservation,
     "forwarded with the next-hop cache's answer instead of a FIB lookup"},
    {abi::ILA_STAT_DROP_VLAN_TAGGED, "drop_vlan_tagged", CounterKind::kDropped,
     "a container's frame with an 802.1Q or 802.1ad tag (the kernel would untag and route it)"},
    {abi::ILA_STAT_PASS_NOT_FOR_THIS_HOST, "pass_not_for_this_host", CounterKind::kPassed,
     "uplink or router: sent to another host's MAC, left to the kernel (which drops it)"},
    {abi::ILA_STAT_MISS_EVENT_LIMITED, "miss_event_limited", CounterKind::kObservation,
     "miss event due but the container interface's budget was spent (miss_event_rate)"},
    {abi::ILA_STAT_DROP_LOOP, "drop_loop", CounterKind::kDropped,
     "arrived for a container not here whose mapping names this host: forwarding would loop"},
    {abi::ILA_STAT_DROP_CROSS_PREFIX, "drop_cross_prefix", CounterKind::kDropped,
     "a container's packet to another SIR prefix that no rule links to its own"},
    {abi::ILA_STAT_DROP_CROSS_PREFIX_ARRIVAL, "drop_cross_prefix_arrival", CounterKind::kDropped,
     "uplink: arrived from another SIR prefix than the container's, and no rule links the two"},
    {abi::ILA_STAT_DROP_ILA_DESTINATION, "drop_ila_destination", CounterKind::kDropped,
     "a container addressed a locator of this host or the cluster directly (containers address "
     "SIR)"},
    {abi::ILA_STAT_PASS_TOO_BIG, "pass_too_big", CounterKind::kPassed,
     "too big for the route to its locator: to the kernel untranslated, whose Packet Too Big "
     "quotes the SIR destination"},
    {abi::ILA_STAT_DROP_REFORWARD_LOOP, "drop_reforward_loop", CounterKind::kDropped,
     "uplink: arrived on a re-forward locator (another host re-forwarded it) for a container not "
     "here: the hosts' mappings disagree, and forwarding again could bounce it"},
}};

constexpr bool SpecsInEnumOrder() {
  for (uint32_t i = 0; i < kCounterSpecs.size(); ++i)
    if (kCounterSpecs[i].index != i) return false;
  return true;
}
static_assert(SpecsInEnumOrder(), "kCounterSpecs must list every ila_stat in enum order");
constexpr bool NamesAsPublished() {
  if (kCounterCount != kCounterSpecs.size()) return false;
  for (size_t i = 0; i < kCounterCount; ++i)
    if (kCounterNames[i] != kCounterSpecs[i].name) return false;
  return true;
}
static_assert(NamesAsPublished(), "ila::kCounterNames (stats.h) must match kCounterSpecs");

Stats MakeStats(const std::array<abi::ila_stat_value, abi::ILA_STAT__COUNT>& totals) {
  Stats s;
  for (const CounterSpec& spec : kCounterSpecs) {
    s.counters.push_back(
        {spec.name, spec.kind, spec.help, totals[spec.index].packets, totals[spec.index].bytes});
  }
  return s;
}

int CounterIndex(std::string_view name) {
  for (const CounterSpec& spec : kCounterSpecs)
    if (spec.name == name) return static_cast<int>(spec.index);
  return -1;
}

}  // namespace internal

std::vector<std::string_view> CounterNames() {
  std::vector<std::string_view> out;
  for (const auto& spec : internal::kCounterSpecs) out.push_back(spec.name);
  return out;
}

const Counter& Stats::Get(CounterName name) const {
  if (name.index() < counters.size() && counters[name.index()].name == name.str()) {
    return counters[name.index()];
  }
  for (const Counter& c : counters)
    if (c.name == name.str()) return c;
  static const Counter kNone{"", CounterKind::kObservation, "", 0, 0};
  return kNone;  // a Stats with no counters: nothing counted
}

absl::StatusOr<CounterName> CounterName::Parse(std::string_view name) {
  for (size_t i = 0; i < kCounterCount; ++i) {
    if (kCounterNames[i] == name) return CounterName(FromIndex{}, i);
  }
  return absl::NotFoundError(absl::StrCat("no counter named \"", internal::Av(name), "\""));
}

uint64_t Stats::TotalDropped() const {
  uint64_t total = 0;
  for (const Counter& c : counters)
    if (c.kind == CounterKind::kDropped) total += c.packets;
  return total;
}

Stats Stats::Since(const Stats& earlier) const {
  Stats out = *this;
  for (Counter& c : out.counters) {
    auto name = CounterName::Parse(c.name);
    if (!name.ok()) continue;
    const Counter& e = earlier.Get(*name);
    c.packets -= e.packets;
    c.bytes -= e.bytes;
  }
  return out;
}

namespace {
std::string_view KindName(CounterKind k) {
  switch (k) {
    case CounterKind::kForwarded: return "forwarded";
    case CounterKind::kPassed: return "passed";
    case CounterKind::kDropped: return "dropped";
    case CounterKind::kObservation: return "observed";
  }
  return "";
}
}  // namespace

std::string Stats::ToPrometheus() const {
  using internal::Av;
  std::string out =
      "# HELP ila_packets_total Packets seen by the ILA XDP programs, by outcome.\n"
      "# TYPE ila_packets_total counter\n";
  for (const Counter& c : counters) {
    absl::StrAppend(&out, "ila_packets_total{reason=\"", Av(c.name), "\",kind=\"",
                    Av(KindName(c.kind)), "\"} ", c.packets, "\n");
  }
  out +=
      "# HELP ila_bytes_total Bytes seen by the ILA XDP programs, by outcome.\n"
      "# TYPE ila_bytes_total counter\n";
  for (const Counter& c : counters) {
    absl::StrAppend(&out, "ila_bytes_total{reason=\"", Av(c.name), "\",kind=\"",
                    Av(KindName(c.kind)), "\"} ", c.bytes, "\n");
  }
  return out;
}

std::string Stats::ToText() const {
  std::string out;
  for (const Counter& c : counters) {
    if (c.packets == 0) continue;
    absl::StrAppend(&out,
                    absl::StrFormat("  %-30s %12u pkts %14u bytes  (%s)\n", internal::Av(c.name),
                                    c.packets, c.bytes, internal::Av(KindName(c.kind))));
  }
  if (out.empty()) out = "  (no packets)\n";
  return out;
}

}  // namespace ila
