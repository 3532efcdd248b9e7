// Map values of the bench programs alone, shared by bench/bench.bpf.c and the benchmark drivers:
// the refresh template and the sink's counts. Every key and value the bench shares with the data
// plane (addresses, mappings, the slot table) is abi.h's, the one definition.
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

#endif  // ILA_BENCH_BENCH_ABI_H_
