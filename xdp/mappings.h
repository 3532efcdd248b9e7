// Looking up a SIR address: its slot in ila_slots (mapping and local endpoint, abi.h), and for a
// forwarding cache its mapping in the LRU hash ila_mappings.
#ifndef ILA_XDP_MAPPINGS_H_
#define ILA_XDP_MAPPINGS_H_

#include "abi.h"
#include "maps.h"
#include "parse.h"

// Load-time: log2 of the slot count of ila_slots.
const volatile __u32 cfg_slot_bits = 1;
// Load-time: mappings live in the slots (a full table); 0: in ila_mappings (a forwarding cache).
const volatile __u8 cfg_mappings_in_slots = 1;

// What a slot says about one SIR address: a copy of everything after the key (abi.h), taken as
// six 64-bit words. `flags` says which parts hold something.
struct sir_entry {
  struct ila_mapping_value mapping;    // when flags & ILA_SLOT_F_MAPPING
  struct ila_endpoint_value endpoint;  // when flags & ILA_SLOT_F_ENDPOINT
  __u16 seq;
  __u8 flags;
  __u8 pad;
} __attribute__((aligned(8)));
_Static_assert(sizeof(struct sir_entry) ==
                   sizeof(struct ila_mapping_slot) - sizeof(struct ila_mapping_key),
               "sir_entry is the slot after its key");

static __always_inline void copy_slot_entry(struct sir_entry *to,
                                            const struct ila_mapping_slot *slot) {
  const __u64 *from = (const __u64 *)&slot->value;
  __u64 *words = (__u64 *)to;
#pragma unroll
  for (int i = 0; i < (int)(sizeof(*to) / 8); i++) words[i] = from[i];
}

// A SIR address as the two 64-bit words the slots are keyed by. `sir` points into the packet or
// to an 8-aligned copy on the stack (the verifier refuses misaligned stack loads; packet loads
// may be misaligned on this architecture).
struct sir_key {
  __u64 k0, k1;
};
static __always_inline struct sir_key sir_key_of(const struct ila_addr *sir) {
  const __u64 *w = (const __u64 *)sir->bytes;
  struct sir_key k = {.k0 = w[0], .k1 = w[1]};
  return k;
}

// One lookup's state across the probe steps of bpf_loop.
struct slot_probe {
  __u64 k0, k1;
  __u32 idx, mask;
  struct sir_entry entry;
  __u8 flags;  // the entry's, once found; 0: no such key
};

// One probe step: 1 to stop (found, or no such key), 0 to go on to the next slot.
//
// Keys are never moved once written, so a slot being written (odd seqcount) that holds another
// key, or none, is stepped over like any other; only the address's own slot, when odd or changed
// while it was copied, is read again (every step counts against the bound). The outcomes are the
// slot before a concurrent write or after it. x86 keeps loads in order, so the compiler barrier is
// all the reader needs between the copy and the second read of the seqcount.
static __always_inline long slot_probe(struct slot_probe *p) {
  __u32 idx = p->idx;
  struct ila_mapping_slot *slot = bpf_map_lookup_elem(&ila_slots, &idx);
  if (!slot) return 1;
  const __u16 seq = *(volatile __u16 *)&slot->seq;
  if (seq == 0) return 1;  // never used: no key lives beyond it
  const __u64 *key = (const __u64 *)slot->key.sir.bytes;
  if (key[0] == p->k0 && key[1] == p->k1) {
    copy_slot_entry(&p->entry, slot);
    asm volatile("" ::: "memory");
    if (!(seq & 1) && *(volatile __u16 *)&slot->seq == seq) {
      p->flags = p->entry.flags;
      return 1;
    }
    return 0;  // being written: read it again
  }
  if (!(seq & 1) && (*(volatile __u8 *)&slot->flags & ILA_SLOT_F_FREE)) return 1;
  p->idx = (idx + 1) & p->mask;
  return 0;
}

static long slot_probe_step(__u32 step, void *data) { return slot_probe(data); }

// Copies the slot of `sir` into *out and returns its flags (ILA_SLOT_F_MAPPING, _ENDPOINT); 0 when
// the address has none, and then *out is not written. The home slot is probed inline, reading
// the key and the entry straight from the slot (most lookups end there); the rest runs in
// bpf_loop, so that the verifier checks one step instead of every step of every call site.
static __always_inline __u8 find_slot(const struct ila_addr *sir, struct sir_entry *out) {
  const struct sir_key k = sir_key_of(sir);
  const __u32 bits = cfg_slot_bits;
  __u32 idx = ila_slot_home(k.k0, k.k1, bits);
  struct ila_mapping_slot *slot = bpf_map_lookup_elem(&ila_slots, &idx);
  if (!slot) return 0;
  const __u16 seq = *(volatile __u16 *)&slot->seq;
  if (seq == 0) return 0;  // never used: no key lives beyond it
  const __u64 *key = (const __u64 *)slot->key.sir.bytes;
  if (key[0] == k.k0 && key[1] == k.k1) {
    if (!(seq & 1)) {
      copy_slot_entry(out, slot);
      asm volatile("" ::: "memory");
      if (*(volatile __u16 *)&slot->seq == seq) return out->flags;
    }
  } else if (!(seq & 1) && (*(volatile __u8 *)&slot->flags & ILA_SLOT_F_FREE)) {
    return 0;
  }
  // Further along the probe run, or the home slot being written: from the home slot on, in steps.
  struct slot_probe p = {.k0 = k.k0, .k1 = k.k1, .idx = idx};
  p.mask = bits >= 31 ? 0x7fffffffu : (1u << bits) - 1;
  bpf_loop(2 * ILA_SLOT_PROBES, slot_probe_step, &p, 0);
  if (p.flags) *out = p.entry;
  return p.flags;
}

// The mapping of `sir`: in its slot `e` (with the slot's `flags`) or, for a forwarding cache, in
// ila_mappings; NULL when there is none.
static __always_inline const struct ila_mapping_value *mapping_of(const struct ila_addr *sir,
                                                                  const struct sir_entry *e,
                                                                  __u8 flags) {
  if (cfg_mappings_in_slots) return (flags & ILA_SLOT_F_MAPPING) ? &e->mapping : NULL;
  return bpf_map_lookup_elem(&ila_mappings, sir);
}

// The anti-spoofing check of a container's packet: its source must be the SIR address whose
// endpoint is the interface it arrived on (the source's own slot says). Returns the drop reason,
// or ILA_STAT__COUNT when the source is the container's. Only a failure reads ila_sources, to
// tell an interface without an endpoint from a spoofed source.
static __always_inline __u32 source_check(__u32 ifindex, const struct ila_addr *src) {
  struct sir_entry e;
  if ((find_slot(src, &e) & ILA_SLOT_F_ENDPOINT) && e.endpoint.ifindex == ifindex)
    return ILA_STAT__COUNT;
  struct ila_source_key key = {.ifindex = ifindex};
  if (!bpf_map_lookup_elem(&ila_sources, &key)) return ILA_STAT_DROP_UNREGISTERED_INTERFACE;
  return ILA_STAT_DROP_SPOOFED_SOURCE;
}

#endif  // ILA_XDP_MAPPINGS_H_
