// Sending a packet on: to a local container through the devmap, or to the next hop that the FIB
// names for the (translated) destination.
#ifndef ILA_XDP_FORWARD_H_
#define ILA_XDP_FORWARD_H_

#include <linux/in6.h>

#include "abi.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

// Asks for a redirect to `ifindex` and only then touches the frame: bpf_redirect_map() merely
// records the target (the redirect happens after the program returns) and answers XDP_PASS when
// the interface is not in the devmap, so a frame is never rewritten for a redirect that cannot
// happen, and no separate devmap lookup is needed.
static __always_inline int redirect_to(struct xdp_md *ctx, struct packet *pkt, __u32 ifindex,
                                       const __u8 *dmac, const __u8 *smac, __u32 stat) {
  if (bpf_redirect_map(&ila_tx_ports, ifindex, XDP_PASS) != XDP_REDIRECT)
    return count(ctx, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE, XDP_PASS);
  __builtin_memcpy(pkt->eth->h_dest, dmac, ETH_ALEN);
  __builtin_memcpy(pkt->eth->h_source, smac, ETH_ALEN);
  pkt->ip6->hop_limit -= 1;
  return count(ctx, stat, XDP_REDIRECT);
}

// Redirects into a container on this host. The caller has checked the hop limit (> 1).
static __always_inline int deliver_local(struct xdp_md *ctx, struct packet *pkt,
                                         const struct ila_endpoint_value *ep, __u32 stat) {
  return redirect_to(ctx, pkt, ep->ifindex, ep->mac, ep->host_mac, stat);
}

static __always_inline __u64 nexthop_epoch(void) {
  __u32 zero = 0;
  __u64 *epoch = bpf_map_lookup_elem(&ila_nexthop_epoch, &zero);
  return epoch ? *epoch : 0;
}

// Stores a successful FIB answer for the destination's locator, when it holds for every address
// under that locator: the FIB rewrote ipv6_dst to the route's gateway, so the neighbour is the
// gateway's and not the destination's own.
// Returns whether it stored one (the caller counts it).
static __always_inline int learn_nexthop(const struct ila_nexthop_key *key,
                                          const struct bpf_fib_lookup *fib,
                                          const struct ipv6hdr *ip6, __u64 epoch, __u32 len) {
  const __u64 *gw = (const __u64 *)fib->ipv6_dst;
  const __u64 *dst = (const __u64 *)&ip6->daddr;
  if (gw[0] == dst[0] && gw[1] == dst[1]) return 0;  // on-link: a neighbour per destination
  if (len > 0xffff) return 0;
  struct ila_nexthop_value v = {.epoch = epoch, .ifindex = fib->ifindex, .max_len = len};
  struct ila_nexthop_value *old = bpf_map_lookup_elem(&ila_nexthops, key);
  if (old && old->epoch == epoch && old->ifindex == v.ifindex && old->max_len > len)
    v.max_len = old->max_len;
  __builtin_memcpy(v.dmac, fib->dmac, ETH_ALEN);
  __builtin_memcpy(v.smac, fib->smac, ETH_ALEN);
  return bpf_map_update_elem(&ila_nexthops, key, &v, BPF_ANY) == 0;
}

// Forwards a translated packet to the FIB's next hop. Where XDP cannot finish the job (no
// neighbour entry yet, a route the kernel must handle, an egress outside the devmap) the packet
// goes to the kernel translated and with its hop limit untouched: the kernel decrements it once.
// A next hop stored for the locator in the current epoch stands in for the FIB walk.
static __always_inline int forward_translated(struct xdp_md *ctx, struct packet *pkt, __u32 stat) {
  const __u32 len = bpf_ntohs(pkt->ip6->payload_len) + sizeof(struct ipv6hdr);
  struct ila_nexthop_key key;
  __builtin_memcpy(key.locator_be, &pkt->ip6->daddr, 8);
  const __u64 epoch = nexthop_epoch();
  if (epoch != 0) {
    struct ila_nexthop_value *nh = bpf_map_lookup_elem(&ila_nexthops, &key);
    if (nh && nh->epoch == epoch && len <= nh->max_len) {
      note(ctx, ILA_STAT_NEXTHOP_HIT);
      return redirect_to(ctx, pkt, nh->ifindex, nh->dmac, nh->smac, stat);
    }
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
  if (epoch != 0 && learn_nexthop(&key, &fib, pkt->ip6, epoch, len))
    note(ctx, ILA_STAT_NEXTHOP_LEARNED);
  return redirect_to(ctx, pkt, fib.ifindex, fib.dmac, fib.smac, stat);
}

#endif  // ILA_XDP_FORWARD_H_
