// Finding this host's locator for an arriving ILA address: ila_locator_table (abi.h).
#ifndef ILA_XDP_LOCATORS_H_
#define ILA_XDP_LOCATORS_H_

#include "abi.h"
#include "barrier.h"
#include "maps.h"

// Load-time: log2 of the entry count of ila_locator_table.
const volatile __u32 cfg_locator_bits = 3;

// Looks a locator up again after a miss while the table changed, at most this many times.
#define ILA_LOCATOR_ATTEMPTS 3

// One pass over the probe run of `locator`: 1 with its entry in *out, 0 when not found. Entries
// being written are skipped (what is found is whole).
static __always_inline int probe_locator(__u64 locator, __u32 bits, struct ila_locator_value *out) {
  const __u32 mask = (1u << bits) - 1;
  const __u32 home = ila_locator_home(locator, bits);
#pragma unroll
  for (__u32 i = 0; i < ILA_LOCATOR_PROBES; i++) {
    __u32 idx = (home + i) & mask;
    const struct ila_locator_entry *e = bpf_map_lookup_elem(&ila_locator_table, &idx);
    if (!e) return 0;
    const __u32 seq = READ_ONCE(e->seq);
    smp_rmb();
    if (seq & 1) continue;  // being written
    const __u8 state = e->state;
    if (state == ILA_LOCATOR_ENTRY_EMPTY) return 0;  // the probe run ends here
    if (state != ILA_LOCATOR_ENTRY_LIVE || *(const __u64 *)e->locator_be != locator) continue;
    const __u64 *from = (const __u64 *)&e->value;
    __u64 *to = (__u64 *)out;
    to[0] = from[0];
    to[1] = from[1];
    smp_rmb();
    if (READ_ONCE(e->seq) == seq) return 1;
  }
  return 0;
}

// Copies the entry of `locator` (the address's first 8 bytes as loaded from the wire) into *out
// and returns 1; 0 when this host has no such locator. A miss counts only when the table's
// generation (abi.h) was even and unchanged around the pass; otherwise the pass is repeated, up to
// ILA_LOCATOR_ATTEMPTS times (a writer stopped in the middle of a change makes the lookups of the
// locator it changes miss until it goes on). The reads are ordered with smp_rmb (barrier.h).
static __always_inline int find_locator(__u64 locator, struct ila_locator_value *out) {
  const __u32 bits = cfg_locator_bits;
  __u32 last = 1u << bits;
  const struct ila_locator_entry *generation = bpf_map_lookup_elem(&ila_locator_table, &last);
  if (!generation) return 0;
  for (int attempt = 0; attempt < ILA_LOCATOR_ATTEMPTS; attempt++) {
    const __u32 before = READ_ONCE(generation->seq);
    smp_rmb();
    if (probe_locator(locator, bits, out)) return 1;
    smp_rmb();
    if (!(before & 1) && READ_ONCE(generation->seq) == before) return 0;
  }
  return 0;
}

#endif  // ILA_XDP_LOCATORS_H_
