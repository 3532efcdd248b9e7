// Looking up a SIR address: its slot in ila_slots (mapping and local endpoint, abi.h), and for a
// forwarding cache its mapping in the LRU hash ila_mappings.
#ifndef ILA_XDP_MAPPINGS_H_
#define ILA_XDP_MAPPINGS_H_

#include "abi.h"
#include "barrier.h"
#include "maps.h"
#include "parse.h"

// Load-time: log2 of the slot count of ila_slots.
const volatile __u32 cfg_slot_bits = 1;
// Load-time: mappings live in the slots (a full table); 0: in ila_mappings (a forwarding cache).
const volatile __u8 cfg_mappings_in_slots = 1;

// What a slot says about one SIR address. `flags` says which parts hold something.
struct sir_entry {
  struct ila_mapping_value mapping;    // when flags & ILA_SLOT_F_MAPPING
  struct ila_endpoint_value endpoint;  // when flags & ILA_SLOT_F_ENDPOINT
  __u32 pad;
  __u8 flags;
} __attribute__((aligned(8)));

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

// The slot at `idx` and its endpoint cell: two inlined array lookups, which compute addresses and
// read no memory; the cell itself is read only when the slot flags an endpoint (copy_entry).
// (Looking the cell up only then verifies too, since lookups start from a zeroed entry, and
// measured no different here.)
struct slot_ref {
  struct ila_mapping_slot *slot;
  const struct ila_slot_endpoint *cell;
};
static __always_inline struct slot_ref slot_at(__u32 idx) {
  struct slot_ref r = {.slot = bpf_map_lookup_elem(&ila_slots, &idx),
                       .cell = bpf_map_lookup_elem(&ila_slot_endpoints, &idx)};
  return r;
}

// Copies what `from` (a slot, or the journal of a write in progress) and its endpoint `cell` say
// about the address whose second word is `k1` into *out: the two words after the key and, when
// flagged, the endpoint, loaded now; the ILA address is rebuilt from them (abi.h: the locator,
// the SIR identifier with its last 16 bits replaced and maybe the C-bit set). The caller then
// checks that no writer was in the middle of it.
static __always_inline void copy_entry(const struct ila_mapping_slot *from,
                                       const struct ila_slot_endpoint *cell, __u64 k1,
                                       struct sir_entry *out) {
  const __u64 *words = (const __u64 *)from;
  const __u64 locator = words[2];
  const __u64 rest = words[3];  // identifier_low_be, transport_delta_be, csum_mode, flags, seq
  const __u8 flags = rest >> 40;
  if (flags & ILA_SLOT_F_ENDPOINT) {
    const __u64 *ep = (const __u64 *)cell;
    __u64 *to = (__u64 *)&out->endpoint;
    to[0] = ep[0];
    to[1] = ep[1];
    to[2] = ep[2];
  }
  out->flags = flags & (ILA_SLOT_F_MAPPING | ILA_SLOT_F_ENDPOINT);
  __u64 *m = (__u64 *)&out->mapping;
  m[0] = locator;
  m[1] = (k1 & 0x0000ffffffffffffULL) | (rest & 0xffff) << 48 |
         ((flags & ILA_SLOT_F_C_BIT) ? ILA_C_BIT : 0);
  m[2] = (rest >> 16) & 0xffffff;  // transport_delta_be, csum_mode, zero padding
}

// The slot, whose seqcount read `seq` (even), into *out; 0 when a writer was in it meanwhile.
static __always_inline int read_slot(const struct ila_mapping_slot *slot,
                                     const struct ila_slot_endpoint *cell, __u16 seq, __u64 k1,
                                     struct sir_entry *out) {
  copy_entry(slot, cell, k1, out);
  smp_rmb();
  return READ_ONCE(slot->seq) == seq;
}

// The slot at `idx`, found in the middle of a write (its seqcount read `seq`, odd): the write's
// result from the journal (abi.h, ila_slot_state), if the journal is that write's and was read
// whole; 0 otherwise (read the slot again). The writer journals before it touches the slot, so
// while the slot is still odd with the same count, the journal naming this slot is its write's.
static __always_inline int read_journal(__u32 idx, const struct ila_mapping_slot *slot, __u16 seq,
                                        __u64 k0, __u64 k1, struct sir_entry *out) {
  __u32 zero = 0;
  const struct ila_mapping_slot_state *st = bpf_map_lookup_elem(&ila_slot_state, &zero);
  if (!st) return 0;
  const __u32 journal_seq = READ_ONCE(st->journal_seq);
  smp_rmb();
  if ((journal_seq & 1) || READ_ONCE(st->writing) != idx + 1) return 0;
  // The slot's key was read mid-write (it may be half old, half new): the journal must be for
  // this very address. (A write that removes the address journals no key: read the slot again.)
  const __u64 *key = (const __u64 *)st->journal.key.sir.bytes;
  if (key[0] != k0 || key[1] != k1) return 0;
  copy_entry(&st->journal, &st->journal_endpoint, k1, out);
  smp_rmb();
  return READ_ONCE(st->journal_seq) == journal_seq && READ_ONCE(slot->seq) == seq;
}

// Probe steps taken inline after the home slot, before the rest go to bpf_loop.
#define ILA_SLOT_INLINE_PROBES 4

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
// key, or none, is stepped over like any other. The address's own slot, when odd, is answered from
// the journal of the write in progress (read_journal), and when that cannot be read whole, or the
// slot changed while it was copied, it is read again (every step counts against the bound). The
// outcomes are the slot before a concurrent write or after it. smp_rmb (barrier.h) orders the
// copy between the two reads of a seqcount.
static __always_inline long slot_probe(struct slot_probe *p) {
  const struct slot_ref ref = slot_at(p->idx);
  struct ila_mapping_slot *slot = ref.slot;
  if (!slot || !ref.cell) return 1;
  const __u16 seq = READ_ONCE(slot->seq);
  // Nothing of the slot may be loaded before its seqcount.
  smp_rmb();
  if (seq == 0) return 1;  // never used: no key lives beyond it
  const __u64 *key = (const __u64 *)slot->key.sir.bytes;
  if (key[0] == p->k0 && key[1] == p->k1) {
    if ((seq & 1) ? read_journal(p->idx, slot, seq, p->k0, p->k1, &p->entry)
                  : read_slot(slot, ref.cell, seq, p->k1, &p->entry)) {
      p->flags = p->entry.flags;
      return 1;
    }
    return 0;  // changed while read: read it again
  }
  if (!(seq & 1) && (READ_ONCE(slot->flags) & ILA_SLOT_F_FREE)) return 1;
  p->idx = (p->idx + 1) & p->mask;
  return 0;
}

static long slot_probe_step(__u32 step, void *data) { return slot_probe(data); }

// Copies the slot of `sir` into *out and returns its flags (ILA_SLOT_F_MAPPING, _ENDPOINT); 0 when
// the address has none (and *out holds nothing of use). The home slot is probed inline, reading
// the key and the entry straight from the slot (most lookups end there); the rest runs in
// bpf_loop, so that the verifier checks one step instead of every step of every call site.
static __always_inline __u8 find_slot(const struct ila_addr *sir, struct sir_entry *out) {
  // Defined on every path (clang, 14 and 16 alike, otherwise spills "undefined" registers where
  // paths meet, which the verifier refuses); the compiler keeps these zeros in registers.
  *out = (struct sir_entry){};
  const struct sir_key k = sir_key_of(sir);
  const __u32 bits = cfg_slot_bits;
  const __u32 idx = ila_slot_home(k.k0, k.k1, bits);
  const struct slot_ref ref = slot_at(idx);
  struct ila_mapping_slot *slot = ref.slot;
  if (!slot || !ref.cell) return 0;
  const __u16 seq = READ_ONCE(slot->seq);
  smp_rmb();               // as in slot_probe
  if (seq == 0) return 0;  // never used: no key lives beyond it
  const __u64 *key = (const __u64 *)slot->key.sir.bytes;
  if (key[0] == k.k0 && key[1] == k.k1) {
    if (!(seq & 1) && read_slot(slot, ref.cell, seq, k.k1, out)) return out->flags;
  } else if (!(seq & 1) && (READ_ONCE(slot->flags) & ILA_SLOT_F_FREE)) {
    return 0;
  }
  // Further along the probe run, or the home slot being written: from the home slot on, in steps;
  // the first few inline (at a load factor of 1/2 most keys that are not at home are one to three
  // slots on, and a bpf_loop step costs an indirect call), the rest in bpf_loop.
  struct slot_probe p = {.k0 = k.k0, .k1 = k.k1, .idx = idx};
  p.mask = bits >= 31 ? 0x7fffffffu : (1u << bits) - 1;
#pragma unroll
  for (int i = 0; i < ILA_SLOT_INLINE_PROBES; i++) {
    if (slot_probe(&p)) {
      *out = p.entry;
      return p.flags;
    }
  }
  bpf_loop(2 * ILA_SLOT_PROBES, slot_probe_step, &p, 0);
  *out = p.entry;
  return p.flags;
}

// The mapping of `sir`: in its slot `e` (with the slot's `flags`) or, for a forwarding cache, in
// ila_mappings; NULL when there is none.
static __always_inline const struct ila_mapping_value *mapping_of(const struct ila_addr *sir,
                                                                  struct sir_entry *e, __u8 flags) {
  if (cfg_mappings_in_slots) return (flags & ILA_SLOT_F_MAPPING) ? &e->mapping : NULL;
  // Copied at once: an LRU entry may be reused for another address as soon as it is replaced.
  const struct ila_mapping_value *m = bpf_map_lookup_elem(&ila_mappings, sir);
  if (!m) return NULL;
  e->mapping = *m;
  return &e->mapping;
}

// The anti-spoofing check of a container's packet: its source must be the SIR address whose
// endpoint is the interface it arrived on (the source's own slot says). Returns the drop reason,
// or ILA_STAT__COUNT when the source is the container's. Only a failure reads ila_sources, to
// tell an interface without an endpoint from a spoofed source.
static __always_inline __u32 source_check(__u32 ifindex, const struct ila_addr *src) {
  // The container's own address is almost always in its home slot: checked there first, reading
  // only the key, the flags and the endpoint's interface (no copy), under the slot's seqcount.
  const struct sir_key k = sir_key_of(src);
  const struct slot_ref ref = slot_at(ila_slot_home(k.k0, k.k1, cfg_slot_bits));
  if (ref.slot && ref.cell) {
    const __u16 seq = READ_ONCE(ref.slot->seq);
    smp_rmb();  // as in slot_probe
    const __u64 *key = (const __u64 *)ref.slot->key.sir.bytes;
    if (!(seq & 1) && key[0] == k.k0 && key[1] == k.k1 && (ref.slot->flags & ILA_SLOT_F_ENDPOINT) &&
        ref.cell->endpoint.ifindex == ifindex) {
      smp_rmb();
      if (READ_ONCE(ref.slot->seq) == seq) return ILA_STAT__COUNT;
    }
  }
  struct sir_entry e;
  if ((find_slot(src, &e) & ILA_SLOT_F_ENDPOINT) && e.endpoint.ifindex == ifindex)
    return ILA_STAT__COUNT;
  struct ila_source_key key = {.ifindex = ifindex};
  if (!bpf_map_lookup_elem(&ila_sources, &key)) return ILA_STAT_DROP_UNREGISTERED_INTERFACE;
  return ILA_STAT_DROP_SPOOFED_SOURCE;
}

#endif  // ILA_XDP_MAPPINGS_H_
