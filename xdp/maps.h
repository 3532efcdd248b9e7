// The maps of the ILA data plane. Keys and values come from abi.h only. Sizes are defaults: the
// library sets max_entries from its configuration before loading.
#ifndef ILA_XDP_MAPS_H_
#define ILA_XDP_MAPS_H_

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ila_mapping_key);
  __type(value, struct ila_mapping_value);
} ila_mappings SEC(".maps");

// The full mapping table (abi.h); sized by the loader, one entry when the data plane is a
// forwarding cache and uses ila_mappings instead.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ila_mapping_slot);
} ila_slots SEC(".maps");

// The endpoints of ila_slots, index for index (abi.h); sized by the loader like ila_slots.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ila_slot_endpoint);
} ila_slot_endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ila_mapping_slot_state);
} ila_slot_state SEC(".maps");

// Never LRU, in a forwarding cache too: an entry goes only when its mapping does, so an ICMP error
// about a live mapping is always translated back. Sized by the loader: max_mappings for a full
// table; twice that, allocated as used, for a forwarding cache, whose evicted mappings leave
// entries that are cleared when it fills (lib/tables/mapping_batch.h, ApplyBatch).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ila_addr);
  __type(value, struct ila_reverse_value);
} ila_reverse SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct ila_locator_key);
  __type(value, struct ila_locator_value);
} ila_locators SEC(".maps");

// The locators as the programs look them up (abi.h); sized by the loader.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ila_locator_entry);
} ila_locator_table SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct ila_endpoint_key);
  __type(value, struct ila_endpoint_value);
} ila_endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct ila_source_key);
  __type(value, struct ila_source_value);
} ila_sources SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct ila_sir_prefix_key);
  __type(value, struct ila_sir_prefix_value);
} ila_sir_prefixes SEC(".maps");

// abi.h; sized by the loader (DataplaneConfig::max_cluster_locators).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct ila_locator_key);
  __type(value, struct ila_locator_value);
} ila_cluster_locators SEC(".maps");

// abi.h: one entry.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ila_locator_filter);
} ila_locator_filter SEC(".maps");

// abi.h; sized by the loader (DataplaneConfig::max_locators + max_cluster_locators).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4352);
  __type(key, struct ila_locator_key);
  __type(value, struct ila_locator_key);
} ila_reforward_locators SEC(".maps");

// abi.h; sized by the loader (DataplaneConfig::max_prefix_rules, two entries a rule).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 2048);
  __type(key, struct ila_prefix_rule_key);
  __type(value, struct ila_prefix_rule_value);
} ila_prefix_rules SEC(".maps");

// abi.h; sized by the loader (2^cfg_nexthop_bits entries).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct ila_nexthop_entry);
} ila_nexthop_cache SEC(".maps");

// Entry 0: the epoch ila_nexthop_cache entries must carry, and the keepers' lease; then each
// keeper's own lease (abi.h).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1 + ILA_NEXTHOP_KEEPERS);
  __type(key, __u32);
  __type(value, struct ila_nexthop_lease);
} ila_nexthop_epoch SEC(".maps");

// Every interface a program may redirect to (uplinks and container interfaces), keyed by ifindex.
struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, struct bpf_devmap_val);
} ila_tx_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, ILA_STAT_CAPACITY);
  __type(key, __u32);
  __type(value, struct ila_stat_value);
} ila_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} ila_miss_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct ila_addr);
  __type(value, struct ila_miss_state);
} ila_miss_state SEC(".maps");

// CPU -> queue + the program (ila_uplink_cpu) that finishes the uplink's work on that CPU.
struct {
  __uint(type, BPF_MAP_TYPE_CPUMAP);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, struct bpf_cpumap_val);
} ila_cpus SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ila_steer_config);
} ila_steer SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, ILA_INTERFACE_SLOTS);
  __type(key, __u32);
  __type(value, struct ila_interface_value);
} ila_interfaces SEC(".maps");

// Per container interface: what is left of its miss-event budget (miss.h). LRU, so an interface
// that went away leaves no entry behind for long.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, struct ila_miss_budget);
} ila_miss_budgets SEC(".maps");

// Control-plane state kept with the pins (no program reads these).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ila_meta);
} ila_meta SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, struct ila_attachment);
} ila_attachments SEC(".maps");

#endif  // ILA_XDP_MAPS_H_
