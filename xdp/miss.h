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

enum miss_report { MISS_SUPPRESSED, MISS_REPORTED, MISS_LOST };

// A miss of a packet that arrived on `ifindex`; the caller counts what happened.
static __always_inline enum miss_report report_miss_on(__u32 ifindex, const struct in6_addr *dst) {
  __u64 now = bpf_ktime_get_ns();
  __u64 suppressed = 0;
  struct ila_miss_state *st = bpf_map_lookup_elem(&ila_miss_state, dst);
  if (st) {
    if (now - st->last_event_ns < cfg_miss_interval_ns) {
      __sync_fetch_and_add(&st->suppressed, 1);
      return MISS_SUPPRESSED;
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
    return MISS_LOST;
  }
  __builtin_memcpy(&ev->destination, dst, sizeof(ev->destination));
  ev->ifindex = ifindex;
  ev->pad = 0;
  ev->suppressed = suppressed;
  bpf_ringbuf_submit(ev, 0);
  return MISS_REPORTED;
}

static __always_inline void report_miss(struct xdp_md *ctx, const struct in6_addr *dst) {
  enum miss_report r = report_miss_on(ctx->ingress_ifindex, dst);
  if (r == MISS_REPORTED) note(ctx, ILA_STAT_MISS_EVENT);
  if (r == MISS_LOST) note(ctx, ILA_STAT_MISS_EVENT_LOST);
}

#endif  // ILA_XDP_MISS_H_
