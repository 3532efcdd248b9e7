// Miss events: tell the control plane which SIR destinations lack a mapping, without flooding it.
#ifndef ILA_XDP_MISS_H_
#define ILA_XDP_MISS_H_

#include "abi.h"
#include "maps.h"
#include "parse.h"
#include "prefixes.h"
#include "stats.h"

// At most one event per destination per interval; in between, misses are counted and the next
// event carries the count. Set by the library (0: an event for every miss).
const volatile __u64 cfg_miss_interval_ns = 1000000000ull;

// Load-time: the miss events one container interface may raise, on average a second and at once
// (0: no limit). A container that sprays unmapped destinations neither fills the ring buffer that
// everyone's events share nor churns the per-destination state, which an event it may not raise
// does not create.
const volatile __u32 cfg_miss_event_rate = 100;
const volatile __u32 cfg_miss_event_burst = 256;

enum miss_report { MISS_SUPPRESSED, MISS_REPORTED, MISS_LOST, MISS_LIMITED };

// Whether interface `ifindex` may raise a miss event now, taking it from its budget (the generic
// cell rate algorithm). CPUs racing on one entry may let an event or two more through: a budget,
// not an exact count.
static __always_inline int miss_budget_allows(__u32 ifindex, __u64 now) {
  if (cfg_miss_event_rate == 0) return 1;
  const __u64 interval = 1000000000ull / cfg_miss_event_rate;
  struct ila_miss_budget *b = bpf_map_lookup_elem(&ila_miss_budgets, &ifindex);
  if (!b) {
    struct ila_miss_budget fresh = {.tat_ns = now + interval};
    bpf_map_update_elem(&ila_miss_budgets, &ifindex, &fresh, BPF_ANY);
    return 1;
  }
  const __u64 tat = b->tat_ns > now ? b->tat_ns : now;
  if (tat - now >= interval * cfg_miss_event_burst) return 0;
  b->tat_ns = tat + interval;
  return 1;
}

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
    if (!miss_budget_allows(ifindex, now)) {
      __sync_fetch_and_add(&st->suppressed, 1);  // the next event carries it
      return MISS_LIMITED;
    }
    st->last_event_ns = now;
    suppressed = __sync_lock_test_and_set(&st->suppressed, 0);
  } else {
    if (!miss_budget_allows(ifindex, now)) return MISS_LIMITED;
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

// Load-time option, set by the library before loading: what a host does with a SIR destination
// it has no mapping for.
const volatile __u8 cfg_miss_policy = ILA_MISS_PASS;

// A host's destination without a mapping (XDP and tc alike): not SIR at all (`sir`: whether it
// lies in a registered SIR prefix), or a miss to report and settle by the miss policy. Returns the
// outcome to count (PASS_NOT_SIR, DROP_MISS or PASS_MISS); *observed is the miss-event observation
// to count too, or ILA_STAT__COUNT.
static __always_inline __u32 host_miss(__u32 ifindex, const struct in6_addr *dst, int sir,
                                       __u32 *observed) {
  *observed = ILA_STAT__COUNT;
  if (!sir) return ILA_STAT_PASS_NOT_SIR;
  enum miss_report r = report_miss_on(ifindex, dst);
  if (r == MISS_REPORTED) *observed = ILA_STAT_MISS_EVENT;
  if (r == MISS_LOST) *observed = ILA_STAT_MISS_EVENT_LOST;
  if (r == MISS_LIMITED) *observed = ILA_STAT_MISS_EVENT_LIMITED;
  return cfg_miss_policy == ILA_MISS_DROP ? ILA_STAT_DROP_MISS : ILA_STAT_PASS_MISS;
}

#endif  // ILA_XDP_MISS_H_
