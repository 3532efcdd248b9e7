// Per-CPU counters: every verdict a program returns goes through count(), so no outcome is
// uncounted.
#ifndef ILA_XDP_STATS_H_
#define ILA_XDP_STATS_H_

#include "maps.h"
#include "parse.h"

// `len`: the packet's length in bytes (a GSO packet counts once, with all its bytes).
static __always_inline void note_len(__u32 len, __u32 stat) {
  struct ila_stat_value *v = bpf_map_lookup_elem(&ila_stats, &stat);
  if (v) {
    v->packets += 1;
    v->bytes += len;
  }
}

// The length is read after the lookup: computed before it, clang may keep a packet pointer
// across the call in a 32-bit stack slot, which the verifier refuses.
static __always_inline void note(struct xdp_md *ctx, __u32 stat) {
  struct ila_stat_value *v = bpf_map_lookup_elem(&ila_stats, &stat);
  if (v) {
    v->packets += 1;
    v->bytes += ctx->data_end - ctx->data;
  }
}

static __always_inline int count(struct xdp_md *ctx, __u32 stat, int verdict) {
  note(ctx, stat);
  return verdict;
}

#endif  // ILA_XDP_STATS_H_
