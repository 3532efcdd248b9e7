// Miss events: tell the control plane which SIR destinations lack a mapping, without flooding it.
#ifndef ILA_XDP_MISS_H_
#define ILA_XDP_MISS_H_

#include "abi.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"

// At most one event per destination per interval; in between, misses are counted and the next
// event carries the count. Set by the library (0: an event for every miss).
const volatile __u64 cfg_miss_interval_ns = 1000000000ull;

static __always_inline void report_miss(struct xdp_md *ctx, const struct in6_addr *dst) {
  __u64 now = bpf_ktime_get_ns();
  __u64 suppressed = 0;
  struct ila_miss_state *st = bpf_map_lookup_elem(&ila_miss_state, dst);
  if (st) {
    if (now - st->last_event_ns < cfg_miss_interval_ns) {
      __sync_fetch_and_add(&st->suppressed, 1);
      return;
    }
    st->last_event_ns = now;
    suppressed = __sync_lock_test_and_set(&st->suppressed, 0);
  } else {
    struct ila_miss_state fresh = {.last_event_ns = now, .suppressed = 0};
    bpf_map_update_elem(&ila_miss_state, dst, &fresh, BPF_NOEXIST);
  }
  struct ila_miss_event *ev = bpf_ringbuf_reserve(&ila_miss_events, sizeof(*ev), 0);
  if (!ev) {
    // Keep the count for the next event rather than losing it.
    struct ila_miss_state *again = bpf_map_lookup_elem(&ila_miss_state, dst);
    if (again) __sync_fetch_and_add(&again->suppressed, suppressed + 1);
    note(ctx, ILA_STAT_MISS_EVENT_LOST);
    return;
  }
  __builtin_memcpy(&ev->destination, dst, sizeof(ev->destination));
  ev->ifindex = ctx->ingress_ifindex;
  ev->pad = 0;
  ev->suppressed = suppressed;
  bpf_ringbuf_submit(ev, 0);
  note(ctx, ILA_STAT_MISS_EVENT);
}

#endif  // ILA_XDP_MISS_H_
