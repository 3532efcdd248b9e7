// Deliberately invalid: reads packet bytes without a bounds check, so the verifier rejects it.
// Used to check that a rejection reaches the caller with the verifier's own words.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int reads_unchecked(struct xdp_md *ctx) {
  unsigned char *data = (unsigned char *)(long)ctx->data;
  return data[40] == 6 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
