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

static __always_inline int can_redirect_to(__u32 ifindex) {
  return bpf_map_lookup_elem(&ila_tx_ports, &ifindex) != NULL;
}

// Redirects into a container on this host. The caller has checked the hop limit (> 1).
static __always_inline int deliver_local(struct xdp_md *ctx, struct packet *pkt,
                                         const struct ila_endpoint_value *ep, __u32 stat) {
  if (!can_redirect_to(ep->ifindex)) return count(ctx, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE, XDP_PASS);
  __builtin_memcpy(pkt->eth->h_dest, ep->mac, ETH_ALEN);
  __builtin_memcpy(pkt->eth->h_source, ep->host_mac, ETH_ALEN);
  pkt->ip6->hop_limit -= 1;
  note(ctx, stat);
  return bpf_redirect_map(&ila_tx_ports, ep->ifindex, 0);
}

// Forwards a translated packet to the FIB's next hop. Where XDP cannot finish the job (no
// neighbour entry yet, a route the kernel must handle, an egress outside the devmap) the packet
// goes to the kernel translated and with its hop limit untouched: the kernel decrements it once.
static __always_inline int forward_translated(struct xdp_md *ctx, struct packet *pkt, __u32 stat) {
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET6;
  fib.l4_protocol = pkt->ip6->nexthdr;
  fib.tot_len = bpf_ntohs(pkt->ip6->payload_len) + sizeof(struct ipv6hdr);
  fib.ifindex = ctx->ingress_ifindex;
  fib.flowinfo = *(__be32 *)pkt->ip6 & bpf_htonl(0x0fffffff);
  __builtin_memcpy(fib.ipv6_src, &pkt->ip6->saddr, 16);
  __builtin_memcpy(fib.ipv6_dst, &pkt->ip6->daddr, 16);

  long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return count(ctx, ILA_STAT_PASS_NO_NEIGHBOUR, XDP_PASS);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS) return count(ctx, ILA_STAT_PASS_FIB, XDP_PASS);
  if (!can_redirect_to(fib.ifindex)) {
    return count(ctx, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE, XDP_PASS);
  }
  __builtin_memcpy(pkt->eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(pkt->eth->h_source, fib.smac, ETH_ALEN);
  pkt->ip6->hop_limit -= 1;
  note(ctx, stat);
  return bpf_redirect_map(&ila_tx_ports, fib.ifindex, 0);
}

#endif  // ILA_XDP_FORWARD_H_
