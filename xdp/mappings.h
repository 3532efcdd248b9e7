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

// What a slot says about one SIR address, copied out whole.
struct sir_entry {
  struct ila_mapping_value mapping;    // when flags & ILA_SLOT_F_MAPPING
  struct ila_endpoint_value endpoint;  // when flags & ILA_SLOT_F_ENDPOINT
  __u8 flags;
};

// One lookup's state across the probe steps of bpf_loop.
struct slot_probe {
  __u64 k0, k1;
  __u32 idx, mask;
  struct sir_entry entry;
  int found;
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
    p->entry.mapping = slot->value;
    p->entry.endpoint = slot->endpoint;
    p->entry.flags = slot->flags;
    asm volatile("" ::: "memory");
    if (!(seq & 1) && *(volatile __u16 *)&slot->seq == seq) {
      p->found = p->entry.flags != 0;
      return 1;
    }
    return 0;  // being written: read it again
  }
  if (!(seq & 1) && (*(volatile __u8 *)&slot->flags & ILA_SLOT_F_FREE)) return 1;
  p->idx = (idx + 1) & p->mask;
  return 0;
}

static long slot_probe_step(__u32 step, void *data) { return slot_probe(data); }

// Copies the slot of `sir` into *out; returns 0 when the address has none. The home slot is
// probed inline (most lookups end there); the rest runs in bpf_loop, so that the verifier checks
// one step instead of every step of every call site.
static __always_inline int find_slot(const struct ila_addr *sir, struct sir_entry *out) {
  const __u32 bits = cfg_slot_bits;
  struct slot_probe p = {};
  __builtin_memcpy(&p.k0, sir->bytes, 8);
  __builtin_memcpy(&p.k1, sir->bytes + 8, 8);
  p.mask = bits >= 31 ? 0x7fffffffu : (1u << bits) - 1;
  p.idx = ila_slot_home(p.k0, p.k1, bits);
  if (!slot_probe(&p)) bpf_loop(2 * ILA_SLOT_PROBES, slot_probe_step, &p, 0);
  *out = p.entry;
  return p.found;
}

// The mapping of `sir` into *out, from its slot `e` (found or not) or, for a forwarding cache,
// from ila_mappings; returns 0 when there is none.
static __always_inline int mapping_of(const struct ila_addr *sir, const struct sir_entry *e,
                                      int found, struct ila_mapping_value *out) {
  if (cfg_mappings_in_slots) {
    if (!found || !(e->flags & ILA_SLOT_F_MAPPING)) return 0;
    *out = e->mapping;
    return 1;
  }
  struct ila_mapping_value *m = bpf_map_lookup_elem(&ila_mappings, sir);
  if (!m) return 0;
  *out = *m;
  return 1;
}

// Just the mapping of `sir`.
static __always_inline int find_mapping(const struct ila_addr *sir, struct ila_mapping_value *out) {
  struct sir_entry e;
  int found = cfg_mappings_in_slots ? find_slot(sir, &e) : 0;
  return mapping_of(sir, &e, found, out);
}

// The anti-spoofing check of a container's packet: its source must be the SIR address whose
// endpoint is the interface it arrived on (the source's own slot says). Returns the drop reason,
// or ILA_STAT__COUNT when the source is the container's. Only a failure reads ila_sources, to
// tell an interface without an endpoint from a spoofed source.
static __always_inline __u32 source_check(__u32 ifindex, const struct ila_addr *src) {
  struct sir_entry e;
  if (find_slot(src, &e) && (e.flags & ILA_SLOT_F_ENDPOINT) && e.endpoint.ifindex == ifindex)
    return ILA_STAT__COUNT;
  struct ila_source_key key = {.ifindex = ifindex};
  if (!bpf_map_lookup_elem(&ila_sources, &key)) return ILA_STAT_DROP_UNREGISTERED_INTERFACE;
  return ILA_STAT_DROP_SPOOFED_SOURCE;
}

#endif  // ILA_XDP_MAPPINGS_H_
