// Map values shared by bench/bench.bpf.c and the benchmark drivers.
#ifndef ILA_BENCH_BENCH_ABI_H_
#define ILA_BENCH_BENCH_ABI_H_

#include <linux/types.h>

// Ethernet + IPv6 fixed header: every byte the data plane rewrites in a forwarded frame lies in
// these, except the transport checksum, which the template restores separately.
#define BENCH_HEADER_LEN 54

struct bench_template {
  __u8 header[BENCH_HEADER_LEN] __attribute__((aligned(8)));
  __u16 csum_offset;  // offset of the transport checksum in the frame; 0: none to restore
  __u16 csum;         // its original value (wire order)
  __u16 pad;
  __u32 ndests;  // > 0: the destination is drawn from bench_dests in turn
};

struct bench_addr {
  __u8 bytes[16];
} __attribute__((aligned(8)));

// What bench_sink saw arrive, by the outermost header after Ethernet: the live comparison checks
// that every method delivered what it should (a plain UDP frame, or the encapsulation under test).
enum bench_kind {
  BENCH_KIND_OTHER = 0,  // not IPv6, or another next header (neighbour discovery, MLD, ...)
  BENCH_KIND_UDP,        // IPv6 + UDP, not to port 4789: the frame itself, no encapsulation
  BENCH_KIND_VXLAN,      // IPv6 + UDP to port 4789
  BENCH_KIND_SRH,        // IPv6 + routing header (SRv6 encap: outer IPv6 + SRH + inner IPv6)
  BENCH_KIND_IP6IP6,     // IPv6 + IPv6 (SRv6 encap.red with one segment: no SRH)
  BENCH_KINDS,
};

struct bench_count {
  __u64 packets;
  __u64 bytes;
  __u64 kind[BENCH_KINDS];
};

// Same size as libila's ila_mapping_value, so the reference hash has the same element size.
struct bench_plain_value {
  struct bench_addr addr;
  __u8 rest[8];
};

// A candidate layout for the mapping table (docs/performance.md, "Layout"): open addressing in one
// array of 32-byte slots, two per cache line, key and translation side by side, so that a lookup
// that hits its first slot reads one cache line (a kernel hash reads the bucket, then the element
// it points to: two dependent misses when the table is larger than the caches).
struct bench_slot_value {
  __u8 upper[8];     // the ILA address's upper 64 bits (the locator)
  __u8 ident_byte8;  // identifier byte 8 after translation (the C-bit of neutral-map)
  __u8 csum_mode;
  __u16 ident_low;  // identifier bits 0..15 after translation (neutral modes), wire order
  __u16 transport_delta;
};
struct bench_slot {
  __u64 key[2];  // the SIR address as two words; all zero: empty (seq 0) or removed (seq != 0)
  struct bench_slot_value value;
  __u16 seq;  // 0: never used; odd while the writer changes the slot; even otherwise
};

// Probes a lookup makes before it gives up; the loader refuses a table where a key would need more.
#define BENCH_SLOT_PROBES 64

// The home slot of a key in a table of 2^bits slots (1 <= bits <= 32): multiply-xor mixing and
// the top bits, so that sequential identifiers under one prefix spread over the whole table.
static inline __u32 bench_slot_home(__u64 k0, __u64 k1, __u32 bits) {
  __u64 x = (k0 ^ (k1 * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
  return (__u32)(x >> (64 - bits));
}

#endif  // ILA_BENCH_BENCH_ABI_H_
