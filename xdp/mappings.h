// Finding the mapping of a SIR destination: in the slot table of a full data plane, or in the LRU
// hash of a forwarding cache (abi.h, ila_slots).
#ifndef ILA_XDP_MAPPINGS_H_
#define ILA_XDP_MAPPINGS_H_

#include "abi.h"
#include "maps.h"
#include "parse.h"

// Load-time: log2 of the slot count of ila_slots; 0: the forwarding cache (ila_mappings).
const volatile __u32 cfg_mapping_slot_bits = 0;

// Copies the mapping of `sir` into *out; returns 0 when there is none.
//
// A slot whose seqcount is odd, or changed while it was read, is being written: the lookup starts
// again from the home slot (the probes of all tries together are bounded). A key is never moved
// once written, so the only outcomes are the mapping before a concurrent write or after it.
// x86 keeps loads in order, so the compiler barrier is all the reader needs between the value and
// the second read of the seqcount.
static __always_inline int find_mapping(const struct ila_addr *sir, struct ila_mapping_value *out) {
  const __u32 bits = cfg_mapping_slot_bits;
  if (bits == 0) {
    struct ila_mapping_value *m = bpf_map_lookup_elem(&ila_mappings, sir);
    if (!m) return 0;
    *out = *m;
    return 1;
  }
  __u64 k0, k1;
  __builtin_memcpy(&k0, sir->bytes, 8);
  __builtin_memcpy(&k1, sir->bytes + 8, 8);
  const __u32 mask = bits >= 31 ? 0x7fffffffu : (1u << bits) - 1;
  const __u32 home = ila_slot_home(k0, k1, bits);
  __u32 idx = home;
  for (int i = 0; i < 2 * ILA_SLOT_PROBES; ++i) {
    struct ila_mapping_slot *slot = bpf_map_lookup_elem(&ila_slots, &idx);
    if (!slot) return 0;
    const __u32 seq = *(volatile __u32 *)&slot->seq;
    if (seq == 0) return 0;  // never used: no key lives beyond it
    if (seq & 1) {
      idx = home;
      continue;
    }
    const __u64 *key = (const __u64 *)slot->key.sir.bytes;
    if (key[0] == k0 && key[1] == k1) {
      *out = slot->value;
      asm volatile("" ::: "memory");
      if (*(volatile __u32 *)&slot->seq == seq) return 1;
      idx = home;
      continue;
    }
    idx = (idx + 1) & mask;
  }
  return 0;
}

#endif  // ILA_XDP_MAPPINGS_H_
