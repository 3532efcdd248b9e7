// Map values shared by bench/bench.bpf.c and the benchmark drivers.
#ifndef ILA_BENCH_BENCH_ABI_H_
#define ILA_BENCH_BENCH_ABI_H_

#include <linux/types.h>

// Ethernet + IPv6 fixed header: every byte the data plane rewrites in a forwarded frame lies in
// these, except the transport checksum, which the template restores separately.
#define BENCH_HEADER_LEN 54

struct bench_template {
  __u8 header[BENCH_HEADER_LEN];
  __u16 csum_offset;  // offset of the transport checksum in the frame; 0: none to restore
  __u16 csum;         // its original value (wire order)
  __u16 pad;
  __u32 ndests;       // > 0: the destination is drawn from bench_dests in turn
};

struct bench_addr {
  __u8 bytes[16];
};

struct bench_count {
  __u64 packets;
  __u64 bytes;
};

// Same size as libila's ila_mapping_value, so the reference hash has the same element size.
struct bench_plain_value {
  struct bench_addr addr;
  __u8 rest[8];
};

#endif  // ILA_BENCH_BENCH_ABI_H_
