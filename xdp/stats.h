// Per-CPU counters: every verdict a program returns goes through pass(), drop() or count(), so no
// outcome is uncounted.
#ifndef ILA_XDP_STATS_H_
#define ILA_XDP_STATS_H_

#include "ctx.h"
#include "maps.h"

// Counts the packet under `stat` with its length (a GSO packet counts once, with all its bytes).
// The length is read after the lookup: computed before it, clang may keep a packet pointer across
// the call in a 32-bit stack slot, which the verifier refuses.
static __always_inline void note(const struct ila_ctx *c, __u32 stat) {
  struct ila_stat_value *v = bpf_map_lookup_elem(&ila_stats, &stat);
  if (v) {
    v->packets += 1;
    v->bytes += ctx_len(c);
  }
}

static __always_inline int count(const struct ila_ctx *c, __u32 stat, int verdict) {
  note(c, stat);
  return verdict;
}

// Hands the packet to the kernel's stack, counted under `stat`.
static __always_inline int pass(const struct ila_ctx *c, __u32 stat) {
  return count(c, stat, ctx_verdict_pass(c));
}

// Drops the packet, counted under `stat`.
static __always_inline int drop(const struct ila_ctx *c, __u32 stat) {
  return count(c, stat, ctx_verdict_drop(c));
}

#endif  // ILA_XDP_STATS_H_
