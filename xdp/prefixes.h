// SIR prefixes as tenants: which addresses are SIR, and which prefixes may reach each other.
//
// A container's traffic stays within its SIR prefix. It is checked on both ends, so that neither a
// host without the check nor a path around the sender's host (the ILA router, an ILA address
// written by hand) carries it across: from_container refuses a destination in another registered
// SIR prefix and any destination that is a locator of this host or of the cluster's other hosts
// (ila_cluster_locators; containers address SIR, never ILA); from_uplink refuses an arrival whose source is in another registered SIR prefix than
// the locator it arrived on translates to. A rule in ila_prefix_rules links two prefixes both ways
// (the data plane keeps no connection state, so replies must pass). Sources outside every
// registered prefix (hosts, the world outside the overlay) are not a tenant's and pass.
#ifndef ILA_XDP_PREFIXES_H_
#define ILA_XDP_PREFIXES_H_

#include "abi.h"
#include "barrier.h"
#include "locators.h"
#include "maps.h"

// The SIR prefix (or locator) of an address: its top 64 bits, as loaded from the wire.
static __always_inline __u64 prefix_of(const struct in6_addr *a) { return *(const __u64 *)a; }

static __always_inline int is_sir_prefix(__u64 prefix) {
  struct ila_sir_prefix_key key;
  __builtin_memcpy(key.prefix_be, &prefix, 8);
  return bpf_map_lookup_elem(&ila_sir_prefixes, &key) != NULL;
}

// Whether `a` lies in one of the SIR prefixes this data plane translates.
static __always_inline int in_sir_prefix(const struct in6_addr *a) {
  return is_sir_prefix(prefix_of(a));
}

// Whether `locator` may be one of this host's or the cluster's (abi.h, ila_locator_filter): 0 says
// it is neither, for one load.
static __always_inline int maybe_locator(__u64 locator) {
  __u32 zero = 0;
  const struct ila_locator_filter *f = bpf_map_lookup_elem(&ila_locator_filter, &zero);
  if (!f) return 1;
  const __u32 bit = ila_locator_filter_bit(locator);
  return (READ_ONCE(f->words[(bit >> 6) & (ILA_LOCATOR_FILTER_WORDS - 1)]) >> (bit & 63)) & 1;
}

static __always_inline int prefixes_linked(__u64 from, __u64 to) {
  struct ila_prefix_rule_key key;
  __builtin_memcpy(key.from_be, &from, 8);
  __builtin_memcpy(key.to_be, &to, 8);
  return bpf_map_lookup_elem(&ila_prefix_rules, &key) != NULL;
}

// A container's packet from `src` (its own SIR address: checked before) to `dst`. Returns the
// drop reason, or ILA_STAT__COUNT when it may go on, with *dst_sir saying whether `dst` lies in a
// registered SIR prefix (so that a miss need not look again). Traffic within the prefix costs one
// compare: the source's prefix is registered (its endpoint needs it).
static __always_inline __u32 container_may_send(const struct in6_addr *src,
                                                const struct in6_addr *dst, int *dst_sir) {
  const __u64 from = prefix_of(src);
  const __u64 to = prefix_of(dst);
  *dst_sir = 1;
  if (from == to) return ILA_STAT__COUNT;
  if (is_sir_prefix(to))
    return prefixes_linked(from, to) ? ILA_STAT__COUNT : ILA_STAT_DROP_CROSS_PREFIX;
  *dst_sir = 0;
  if (!maybe_locator(to)) return ILA_STAT__COUNT;
  struct ila_locator_value own __attribute__((aligned(8)));
  if (find_locator(to, &own)) return ILA_STAT_DROP_ILA_DESTINATION;
  struct ila_locator_key other;
  __builtin_memcpy(other.locator_be, &to, 8);
  if (bpf_map_lookup_elem(&ila_cluster_locators, &other)) return ILA_STAT_DROP_ILA_DESTINATION;
  return ILA_STAT__COUNT;
}

// An arrival from `src` on a locator of this host that translates to SIR prefix `to`. Returns the
// drop reason, or ILA_STAT__COUNT when it may be delivered (or re-forwarded).
static __always_inline __u32 arrival_may_enter(const struct in6_addr *src,
                                               const struct ila_locator_value *loc) {
  const __u64 from = prefix_of(src);
  const __u64 to = *(const __u64 *)loc->sir_prefix_be;
  if (from == to || !is_sir_prefix(from) || prefixes_linked(from, to)) return ILA_STAT__COUNT;
  return ILA_STAT_DROP_CROSS_PREFIX_ARRIVAL;
}

#endif  // ILA_XDP_PREFIXES_H_
