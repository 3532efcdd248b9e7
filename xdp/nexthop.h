// The next-hop cache (abi.h, ila_nexthop_cache): a stored bpf_fib_lookup answer per locator, so
// that a remote packet usually skips the FIB walk.
#ifndef ILA_XDP_NEXTHOP_H_
#define ILA_XDP_NEXTHOP_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>

#include "abi.h"
#include "barrier.h"
#include "maps.h"

// Load-time: log2 of the entry count of ila_nexthop_cache.
const volatile __u32 cfg_nexthop_bits = 1;

// Where a packet goes next: the egress and the Ethernet header's two MACs (destination first), as
// two words so that they are copied with two loads and two stores.
struct next_hop {
  __u64 macs_lo;  // bytes 0-7 of the MACs
  __u32 macs_hi;  // bytes 8-11
  __u32 ifindex;
};

// The next hop of a successful bpf_fib_lookup.
static __always_inline struct next_hop fib_hop(const struct bpf_fib_lookup *fib) {
  __u8 macs[2 * ETH_ALEN] __attribute__((aligned(8)));
  __builtin_memcpy(macs, fib->dmac, ETH_ALEN);
  __builtin_memcpy(macs + ETH_ALEN, fib->smac, ETH_ALEN);
  struct next_hop hop = {.macs_lo = *(const __u64 *)macs,
                         .macs_hi = *(const __u32 *)(macs + 8),
                         .ifindex = fib->ifindex};
  return hop;
}

// The epoch stored next hops must carry to be used, or 0 (cache off): off too once the keepers'
// lease has run out (abi.h: no live keeper would retire answers that routing changes made stale).
// The clock costs a helper call (~25 ns a packet); bpf_jiffies64 is a load the verifier inlines,
// so the clock is read only when the jiffy changed since a packet last found the lease running
// (the lease may end up to a jiffy late: milliseconds, against its second).
static __always_inline __u64 nexthop_epoch(void) {
  __u32 zero = 0;
  struct ila_nexthop_lease *lease = bpf_map_lookup_elem(&ila_nexthop_epoch, &zero);
  if (!lease) return 0;
  const __u64 epoch = READ_ONCE(lease->epoch);
  if (epoch == 0) return 0;
  const __u64 jiffy = bpf_jiffies64();
  if (READ_ONCE(lease->checked_jiffies) == jiffy) return epoch;
  if (bpf_ktime_get_coarse_ns() >= READ_ONCE(lease->until_ns)) return 0;
  WRITE_ONCE(lease->checked_jiffies, jiffy);
  return epoch;
}

static __always_inline struct ila_nexthop_entry *nexthop_entry(__u64 locator) {
  __u32 idx = ila_nexthop_index(locator, cfg_nexthop_bits);
  return bpf_map_lookup_elem(&ila_nexthop_cache, &idx);
}

// The stored next hop of `locator` into *out, if the entry holds one for it in `epoch` that fits
// a packet of `len` bytes. The entry is read between two reads of its sequence number, so a copy
// made while another CPU wrote it is not used (ordered with smp_rmb, barrier.h, as the slots in
// mappings.h).
static __always_inline int cached_nexthop(__u64 locator, __u64 epoch, __u32 len,
                                          struct next_hop *out) {
  struct ila_nexthop_entry *e = nexthop_entry(locator);
  if (!e) return 0;
  const __u32 seq = READ_ONCE(e->seq);
  if (seq & 1) return 0;
  smp_rmb();
  if (*(const __u64 *)e->locator_be != locator || e->epoch != epoch || len > e->max_len) return 0;
  out->macs_lo = *(const __u64 *)e->macs;
  out->macs_hi = *(const __u32 *)(e->macs + 8);
  out->ifindex = e->ifindex;
  smp_rmb();
  return READ_ONCE(e->seq) == seq;
}

// Stores a successful FIB answer for `locator`, when it holds for every address under that
// locator: the FIB rewrote ipv6_dst to the route's gateway, so the neighbour is the gateway's and
// not the destination's own. `dst` is the translated destination the FIB was asked for. A CPU
// that finds the entry being written by another leaves it (the next packet learns it again).
// Returns whether it stored one (the caller counts it).
static __always_inline int learn_nexthop(__u64 locator, const struct bpf_fib_lookup *fib,
                                         const struct next_hop *hop, const struct in6_addr *dst,
                                         __u64 epoch, __u32 len) {
  const __u64 *gw = (const __u64 *)fib->ipv6_dst;
  const __u64 *d = (const __u64 *)dst;
  if (gw[0] == d[0] && gw[1] == d[1]) return 0;  // on-link: a neighbour per destination
  if (len > 0xffff) return 0;
  struct ila_nexthop_entry *e = nexthop_entry(locator);
  if (!e) return 0;
  const __u32 seq = READ_ONCE(e->seq);
  if (seq & 1) return 0;
  if (__sync_val_compare_and_swap(&e->seq, seq, seq + 1) != seq) return 0;
  // Same locator, epoch and egress: a longer packet seen before still fits.
  if (*(const __u64 *)e->locator_be == locator && e->epoch == epoch && e->ifindex == hop->ifindex &&
      e->max_len > len)
    len = e->max_len;
  *(__u64 *)e->locator_be = locator;
  e->epoch = epoch;
  e->ifindex = hop->ifindex;
  e->max_len = len;
  *(__u64 *)e->macs = hop->macs_lo;
  *(__u32 *)(e->macs + 8) = hop->macs_hi;
  smp_wmb();  // the entry whole before it is even again (the compare-and-swap orders the start)
  WRITE_ONCE(e->seq, seq + 2);
  return 1;
}

#endif  // ILA_XDP_NEXTHOP_H_
