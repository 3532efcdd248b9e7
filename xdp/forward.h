// Sending a packet on: to a local container through the devmap, or to the next hop that the FIB
// names for the (translated) destination.
#ifndef ILA_XDP_FORWARD_H_
#define ILA_XDP_FORWARD_H_

#include <linux/in6.h>

#include "abi.h"
#include "maps.h"
#include "nexthop.h"
#include "parse.h"
#include "stats.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

// Asks for a redirect to the next hop and only then touches the frame: bpf_redirect_map() merely
// records the target (the redirect happens after the program returns) and answers XDP_PASS when
// the interface is not in the devmap, so a frame is never rewritten for a redirect that cannot
// happen, and no separate devmap lookup is needed.
static __always_inline int redirect_to(struct xdp_md *ctx, struct packet *pkt,
                                       const struct next_hop *hop, __u32 stat) {
  if (bpf_redirect_map(&ila_tx_ports, hop->ifindex, XDP_PASS) != XDP_REDIRECT)
    return count(ctx, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE, XDP_PASS);
  *(__u64 *)pkt->eth = hop->macs_lo;
  *(__u32 *)((__u8 *)pkt->eth + 8) = hop->macs_hi;
  pkt->ip6->hop_limit -= 1;
  return count(ctx, stat, XDP_REDIRECT);
}

// The next hop of a container on this host: its veth, the container's MAC and the host side's.
static __always_inline struct next_hop endpoint_hop(const struct ila_endpoint_value *ep) {
  const __u32 *macs = (const __u32 *)ep->mac;  // mac and host_mac: 12 bytes, 4-aligned
  struct next_hop hop = {
      .macs_lo = macs[0] | (__u64)macs[1] << 32, .macs_hi = macs[2], .ifindex = ep->ifindex};
  return hop;
}

// Redirects into a container on this host. The caller has checked the hop limit (> 1).
static __always_inline int deliver_local(struct xdp_md *ctx, struct packet *pkt,
                                         const struct ila_endpoint_value *ep, __u32 stat) {
  const struct next_hop hop = endpoint_hop(ep);
  return redirect_to(ctx, pkt, &hop, stat);
}

// Forwards a packet translated to `locator` to the FIB's next hop. Where XDP cannot finish the job
// (no neighbour entry yet, a route the kernel must handle, an egress outside the devmap) the
// packet goes to the kernel translated and with its hop limit untouched: the kernel decrements it
// once. A next hop stored for the locator in the current epoch stands in for the FIB walk.
static __always_inline int forward_translated(struct xdp_md *ctx, struct packet *pkt, __u64 locator,
                                              __u32 stat) {
  const __u32 len = bpf_ntohs(pkt->ip6->payload_len) + sizeof(struct ipv6hdr);
  const __u64 epoch = nexthop_epoch();
  struct next_hop hop;
  if (epoch != 0 && cached_nexthop(locator, epoch, len, &hop)) {
    note(ctx, ILA_STAT_NEXTHOP_HIT);
    return redirect_to(ctx, pkt, &hop, stat);
  }

  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET6;
  fib.l4_protocol = pkt->ip6->nexthdr;
  fib.tot_len = len;
  fib.ifindex = ctx->ingress_ifindex;
  fib.flowinfo = *(__be32 *)pkt->ip6 & bpf_htonl(0x0fffffff);
  __builtin_memcpy(fib.ipv6_src, &pkt->ip6->saddr, 16);
  __builtin_memcpy(fib.ipv6_dst, &pkt->ip6->daddr, 16);

  long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return count(ctx, ILA_STAT_PASS_NO_NEIGHBOUR, XDP_PASS);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS) return count(ctx, ILA_STAT_PASS_FIB, XDP_PASS);
  hop = fib_hop(&fib);
  if (epoch != 0 && learn_nexthop(locator, &fib, &hop, &pkt->ip6->daddr, epoch, len))
    note(ctx, ILA_STAT_NEXTHOP_LEARNED);
  return redirect_to(ctx, pkt, &hop, stat);
}

#endif  // ILA_XDP_FORWARD_H_
