// Baselines that libila's own programs are measured against, and the tool-chain smoke test's
// object: an XDP program that does nothing, and one that only parses Ethernet + IPv6.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

// Counts the frames the parse-only program saw as IPv6, so a test can tell it really ran.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} baseline_ipv6_frames SEC(".maps");

SEC("xdp")
int xdp_empty(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}

SEC("xdp")
int xdp_parse_only(struct xdp_md *ctx) {
  struct packet pkt;
  if (parse_eth_ipv6(ctx, &pkt) != PARSE_OK) return XDP_PASS;
  __u32 zero = 0;
  __u64 *count = bpf_map_lookup_elem(&baseline_ipv6_frames, &zero);
  if (count) *count += 1;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
