// Sending a packet on: to a local container, or to the next hop that the FIB names for the
// (translated) destination. At XDP through the devmap, at tc with bpf_redirect (or
// bpf_redirect_peer into a container's namespace).
#ifndef ILA_XDP_FORWARD_H_
#define ILA_XDP_FORWARD_H_

#include <linux/in6.h>
#include <stddef.h>

#include "abi.h"
#include "ctx.h"
#include "maps.h"
#include "nexthop.h"
#include "parse.h"
#include "stats.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

// XDP: asks for the redirect first and only then touches the frame: bpf_redirect_map() merely
// records the target (the redirect happens after the program returns) and answers XDP_PASS when
// the interface is not in the devmap, so a frame is never rewritten for a redirect that cannot
// happen, and no separate devmap lookup is needed.
static __always_inline int redirect_frame(const struct ila_ctx *c, const struct next_hop *hop,
                                          __u32 stat) {
  if (bpf_redirect_map(&ila_tx_ports, hop->ifindex, XDP_PASS) != XDP_REDIRECT)
    return pass(c, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE);
  *(__u64 *)c->pkt.eth = hop->macs_lo;
  *(__u32 *)((__u8 *)c->pkt.eth + 8) = hop->macs_hi;
  c->pkt.ip6->hop_limit -= 1;
  return count(c, stat, XDP_REDIRECT);
}

// tc: the same, on the skb; `peer` redirects into the ingress of the egress's veth peer.
static __always_inline int redirect_skb(const struct ila_ctx *c, const struct next_hop *hop,
                                        __u32 stat, int peer) {
  __u32 ifindex = hop->ifindex;
  if (!bpf_map_lookup_elem(&ila_tx_ports, &ifindex))
    return pass(c, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE);
  struct __sk_buff *skb = ctx_skb(c);
  __u8 macs[2 * ETH_ALEN] __attribute__((aligned(8)));
  *(__u64 *)macs = hop->macs_lo;
  *(__u32 *)(macs + 8) = hop->macs_hi;
  __u8 hop_left = c->kept->hop_limit - 1;
  if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) ||
      bpf_skb_store_bytes(skb, CTX_IP6_OFF + offsetof(struct ipv6hdr, hop_limit), &hop_left, 1,
                          BPF_F_RECOMPUTE_CSUM))
    return drop(c, ILA_STAT_DROP_TRUNCATED);
  note(c, stat);
  return peer ? bpf_redirect_peer(ifindex, 0) : bpf_redirect(ifindex, 0);
}

// Rewrites MACs and hop limit and redirects to the next hop, if it is one of the data plane's
// redirect targets. The caller has checked the hop limit (> 1) and called ctx_keep.
static __always_inline int redirect_to(const struct ila_ctx *c, const struct next_hop *hop,
                                       __u32 stat, int peer) {
  return ctx_is_tc(c) ? redirect_skb(c, hop, stat, peer) : redirect_frame(c, hop, stat);
}

// The next hop of a container on this host: its veth, the container's MAC and the host side's.
static __always_inline struct next_hop endpoint_hop(const struct ila_endpoint_value *ep) {
  const __u32 *macs = (const __u32 *)ep->mac;  // mac and host_mac: 12 bytes, 4-aligned
  struct next_hop hop = {
      .macs_lo = macs[0] | (__u64)macs[1] << 32, .macs_hi = macs[2], .ifindex = ep->ifindex};
  return hop;
}

// Redirects into a container on this host: at tc straight into its namespace when the endpoint
// says so (bpf_redirect_peer). The caller has checked the hop limit (> 1) and called ctx_keep.
static __always_inline int deliver_local(const struct ila_ctx *c,
                                         const struct ila_endpoint_value *ep, __u32 stat) {
  const struct next_hop hop = endpoint_hop(ep);
  return redirect_to(c, &hop, stat, ep->flags & ILA_ENDPOINT_F_PEER);
}

// What the FIB and the next-hop cache are asked about a translated packet.
struct route_query {
  const struct in6_addr *src;
  const struct in6_addr *dst;  // 8-aligned
  __be32 flowinfo;
  __u32 len;  // the longest packet on the wire this one becomes (one segment of a GSO packet)
  __u8 proto;
};

// At XDP from the packet itself; at tc from what ctx_keep kept, with the length of one segment of
// a GSO packet, so that the FIB checks the route's MTU as for any packet and a stored answer says
// what it checked.
static __always_inline struct route_query route_query_of(const struct ila_ctx *c) {
  struct route_query q;
  if (ctx_is_tc(c)) {
    const struct tc_kept *k = c->kept;
    const __u32 gso_size = ctx_skb(c)->gso_size;
    q.src = &k->src;
    q.dst = (const struct in6_addr *)k->dst;
    q.flowinfo = k->flowinfo;
    q.len = gso_size ? gso_size + k->headers : k->payload_len + sizeof(struct ipv6hdr);
    q.proto = k->proto;
    return q;
  }
  const struct ipv6hdr *ip6 = c->pkt.ip6;
  q.src = &ip6->saddr;
  q.dst = &ip6->daddr;
  q.flowinfo = *(const __be32 *)ip6 & bpf_htonl(0x0fffffff);
  q.len = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
  q.proto = ip6->nexthdr;
  return q;
}

// Whether the FIB forwards anything from `src`: never from a link-local, multicast or loopback
// source (the kernel's rt6_need_strict; RFC 4291 2.5.6). A stored answer, which was given for
// another packet, must not forward what the FIB itself would refuse.
static __always_inline int forwardable_source(const struct in6_addr *src) {
  const __u8 b0 = src->in6_u.u6_addr8[0], b1 = src->in6_u.u6_addr8[1];
  if (b0 == 0xff || (b0 == 0xfe && (b1 & 0xc0) == 0x80)) return 0;
  const __u32 *w = src->in6_u.u6_addr32;
  return (w[0] | w[1] | w[2]) != 0 || w[3] != bpf_htonl(1);
}

// Where a packet goes once translated to `dst` (under `locator`, 8-aligned), asked before it is
// rewritten: a next hop stored for the locator in the current epoch stands in for the FIB walk.
enum route_result {
  ROUTE_REDIRECT,      // *hop is the next hop, and one of the redirect targets may be it
  ROUTE_NO_NEIGHBOUR,  // the next hop has no neighbour entry yet: the kernel resolves it
  ROUTE_KERNEL,        // a route the kernel must handle
  ROUTE_TOO_BIG,       // longer than the route's MTU
};

static __always_inline enum route_result route_translated(const struct ila_ctx *c, __u64 locator,
                                                          const struct in6_addr *dst,
                                                          struct next_hop *hop) {
  struct route_query q = route_query_of(c);
  q.dst = dst;
  const __u64 epoch = nexthop_epoch();
  if (epoch != 0 && forwardable_source(q.src) && cached_nexthop(locator, epoch, q.len, hop)) {
    note(c, ILA_STAT_NEXTHOP_HIT);
    return ROUTE_REDIRECT;
  }

  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET6;
  fib.l4_protocol = q.proto;
  fib.tot_len = q.len;
  fib.ifindex = ctx_ingress_ifindex(c);
  fib.flowinfo = q.flowinfo;
  __builtin_memcpy(fib.ipv6_src, q.src, 16);
  __builtin_memcpy(fib.ipv6_dst, q.dst, 16);

  long rc = bpf_fib_lookup(c->md, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return ROUTE_NO_NEIGHBOUR;
  if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) return ROUTE_TOO_BIG;
  if (rc != BPF_FIB_LKUP_RET_SUCCESS) return ROUTE_KERNEL;
  *hop = fib_hop(&fib);
  if (epoch != 0 && learn_nexthop(locator, &fib, hop, q.dst, epoch, q.len))
    note(c, ILA_STAT_NEXTHOP_LEARNED);
  return ROUTE_REDIRECT;
}

#endif  // ILA_XDP_FORWARD_H_
