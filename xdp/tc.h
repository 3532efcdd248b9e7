// The container side as a tc (sched_cls) program, for veth: the same decisions as
// ila_from_container, made on the skb. A native XDP program on a veth turns its peer's
// segmentation offload off, so every TCP segment of the container would cross the veth, the
// programs and the fabric one by one; at tc the container keeps TSO and checksum offload and a
// 64 KB GSO packet is translated once. Rewrites go through bpf_skb_store_bytes() and
// bpf_l4_csum_replace(), which keep the skb's checksum state right (a CHECKSUM_PARTIAL packet
// carries only the pseudo-header sum, which adj-transport must move the other way).
#ifndef ILA_XDP_TC_H_
#define ILA_XDP_TC_H_

#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <stddef.h>

#include "abi.h"
#include "forward.h"
#include "icmp.h"
#include "locators.h"
#include "mappings.h"
#include "maps.h"
#include "miss.h"
#include "parse.h"
#include "stats.h"
#include "translate.h"

#define TC_IP6_OFF sizeof(struct ethhdr)
#define TC_DADDR_OFF (TC_IP6_OFF + offsetof(struct ipv6hdr, daddr))
#define TC_HOP_OFF (TC_IP6_OFF + offsetof(struct ipv6hdr, hop_limit))
#define TC_L4_OFF (TC_IP6_OFF + sizeof(struct ipv6hdr))

static __always_inline int tc_count(struct __sk_buff *skb, __u32 stat, int verdict) {
  note_len(skb->len, stat);
  return verdict;
}

// Makes the Ethernet and IPv6 headers (and a TCP header's first 20 bytes) linear and writable,
// then parses them. Pointers into the packet are valid until the next helper that changes it.
static __always_inline enum parse_result tc_parse(struct __sk_buff *skb, struct packet *pkt) {
  const __u32 want = TC_L4_OFF + 20;
  bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
  return parse_frame((void *)(long)skb->data, (void *)(long)skb->data_end, pkt);
}

static __always_inline int tc_parse_failure(struct __sk_buff *skb, enum parse_result r) {
  switch (r) {
    case PARSE_NOT_IPV6: return tc_count(skb, ILA_STAT_PASS_NOT_IPV6, TC_ACT_OK);
    case PARSE_BAD_VERSION: return tc_count(skb, ILA_STAT_DROP_BAD_VERSION, TC_ACT_SHOT);
    default: return tc_count(skb, ILA_STAT_DROP_TRUNCATED, TC_ACT_SHOT);
  }
}

// Offset of the transport checksum that adj-transport adjusts, and the flags for
// bpf_l4_csum_replace; 0 when there is none to adjust (as translate.h decides for XDP).
static __always_inline __u32 tc_transport_csum(__u8 proto, __u16 payload_len, __u64 *flags) {
  if (payload_len < transport_min_len(proto)) return 0;
  *flags = BPF_F_PSEUDO_HDR | sizeof(__u16);
  switch (proto) {
    case IPPROTO_TCP: return TC_L4_OFF + 16;
    case IPPROTO_UDP:
      *flags |= BPF_F_MARK_MANGLED_0;  // 0 means "no checksum" and stays 0
      return TC_L4_OFF + 6;
    case IPPROTO_ICMPV6: return TC_L4_OFF + 2;
    default: return 0;
  }
}

// Rewrites MACs and hop limit and redirects to the next hop, if it is one of the data plane's
// redirect targets: to its egress, or with `peer` into the ingress of its veth peer. Packet
// pointers are dead after this.
static __always_inline int tc_redirect(struct __sk_buff *skb, const struct next_hop *hop,
                                       __u8 hop_limit, __u32 stat, int peer) {
  __u32 ifindex = hop->ifindex;
  if (!bpf_map_lookup_elem(&ila_tx_ports, &ifindex))
    return tc_count(skb, ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE, TC_ACT_OK);
  __u8 macs[2 * ETH_ALEN] __attribute__((aligned(8)));
  *(__u64 *)macs = hop->macs_lo;
  *(__u32 *)(macs + 8) = hop->macs_hi;
  __u8 hop_left = hop_limit - 1;
  if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) ||
      bpf_skb_store_bytes(skb, TC_HOP_OFF, &hop_left, 1, BPF_F_RECOMPUTE_CSUM))
    return tc_count(skb, ILA_STAT_DROP_TRUNCATED, TC_ACT_SHOT);
  note_len(skb->len, stat);
  return peer ? bpf_redirect_peer(ifindex, 0) : bpf_redirect(ifindex, 0);
}

// Delivers into a container on this host. The caller has checked the hop limit (> 1).
static __always_inline int tc_deliver(struct __sk_buff *skb, const struct ila_endpoint_value *ep,
                                      __u8 hop_limit, __u32 stat) {
  const struct next_hop hop = endpoint_hop(ep);
  return tc_redirect(skb, &hop, hop_limit, stat, ep->flags & ILA_ENDPOINT_F_PEER);
}

// Forwards a translated skb to its locator's next hop: the stored answer, else the FIB, asked with
// the longest packet this skb becomes on the wire (one segment of a GSO packet), so that it checks
// the route's MTU as for any packet and a stored answer says what it checked. (With tot_len 0 the
// FIB would check the skb against the device's MTU only and report that, route MTUs aside.)
// `headers`: IPv6 plus transport header bytes, to size one segment of a GSO packet.
static __always_inline int tc_forward(struct __sk_buff *skb, const struct ila_addr *dst,
                                      const struct ila_addr *src, __u8 proto, __u8 hop_limit,
                                      __u32 headers, __u32 stat) {
  __u64 locator;
  __builtin_memcpy(&locator, dst, 8);
  // The longest packet on the wire this skb becomes: one segment when it is a GSO packet.
  const __u32 wire_len = skb->gso_size ? skb->gso_size + headers : skb->len - sizeof(struct ethhdr);
  const __u64 epoch = nexthop_epoch();
  struct next_hop hop;
  if (epoch != 0 && cached_nexthop(locator, epoch, wire_len, &hop)) {
    note_len(skb->len, ILA_STAT_NEXTHOP_HIT);
    return tc_redirect(skb, &hop, hop_limit, stat, 0);
  }
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET6;
  fib.l4_protocol = proto;
  fib.ifindex = skb->ingress_ifindex;
  fib.tot_len = wire_len;
  __builtin_memcpy(fib.ipv6_src, src, 16);
  __builtin_memcpy(fib.ipv6_dst, dst, 16);
  long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) return tc_count(skb, ILA_STAT_PASS_NO_NEIGHBOUR, TC_ACT_OK);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS) return tc_count(skb, ILA_STAT_PASS_FIB, TC_ACT_OK);
  hop = fib_hop(&fib);
  if (epoch != 0) {
    struct in6_addr asked __attribute__((aligned(8)));
    __builtin_memcpy(&asked, dst, 16);
    if (learn_nexthop(locator, &fib, &hop, &asked, epoch, wire_len))
      note_len(skb->len, ILA_STAT_NEXTHOP_LEARNED);
  }
  return tc_redirect(skb, &hop, hop_limit, stat, 0);
}

// IPv6 plus transport header length of a parsed packet, for segment sizes (60: the longest
// transport header, when it cannot be read).
static __always_inline __u32 tc_headers(const struct packet *pkt) {
  __u32 l4 = 60;
  if (pkt->ip6->nexthdr == IPPROTO_TCP) {
    __u8 *th = transport_header(pkt, 13);
    if (th) l4 = (th[12] >> 4) * 4;
  } else if (pkt->ip6->nexthdr == IPPROTO_UDP) {
    l4 = 8;
  }
  return sizeof(struct ipv6hdr) + l4;
}

// What the rewrites need to know of a parsed packet, kept before the first helper call that
// invalidates the packet pointers.
struct tc_shape {
  struct ila_addr src;
  __u32 headers;  // IPv6 plus transport header bytes (tc_headers)
  __u16 payload_len;
  __u8 proto;
  __u8 hop_limit;
};

static __always_inline struct tc_shape tc_shape_of(const struct packet *pkt) {
  struct tc_shape s;
  __builtin_memcpy(&s.src, &pkt->ip6->saddr, 16);
  s.headers = tc_headers(pkt);
  s.payload_len = bpf_ntohs(pkt->ip6->payload_len);
  s.proto = pkt->ip6->nexthdr;
  s.hop_limit = pkt->ip6->hop_limit;
  return s;
}

// Whether the payload length runs past the end of the packet (which may continue beyond the
// linear part).
static __always_inline int tc_bad_length(const struct __sk_buff *skb, const struct packet *pkt) {
  return sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + bpf_ntohs(pkt->ip6->payload_len) >
         skb->len;
}

// SIR -> ILA with a mapping, then on to the locator's next hop. The caller has checked the hop
// limit (> 1).
static __always_inline int tc_translate_and_forward(struct __sk_buff *skb,
                                                    const struct tc_shape *shape,
                                                    const struct ila_mapping_value *found,
                                                    __u32 stat) {
  const struct ila_mapping_value m = *found;
  __u64 csum_flags = 0;
  const __u32 csum_off = is_adjust_transport(m.csum_mode)
                             ? tc_transport_csum(shape->proto, shape->payload_len, &csum_flags)
                             : 0;
  if (bpf_skb_store_bytes(skb, TC_DADDR_OFF, &m.ila, sizeof(m.ila), BPF_F_RECOMPUTE_CSUM))
    return tc_count(skb, ILA_STAT_DROP_TRUNCATED, TC_ACT_SHOT);
  if (is_adjust_transport(m.csum_mode)) {
    if (!csum_off || bpf_l4_csum_replace(skb, csum_off, 0, m.transport_delta_be, csum_flags))
      note_len(skb->len, ILA_STAT_TRANSPORT_NOT_ADJUSTED);
  }
  return tc_forward(skb, &m.ila, &shape->src, shape->proto, shape->hop_limit, shape->headers, stat);
}

SEC("tc")
int ila_tc_from_container(struct __sk_buff *skb) {
  struct packet pkt;
  enum parse_result r = tc_parse(skb, &pkt);
  if (r != PARSE_OK) return tc_parse_failure(skb, r);
  if (is_link_scoped(&pkt.ip6->daddr) || is_link_scoped(&pkt.ip6->saddr))
    return tc_count(skb, ILA_STAT_PASS_LINK_LOCAL, TC_ACT_OK);

  const __u32 spoofed =
      source_check(skb->ingress_ifindex, (const struct ila_addr *)&pkt.ip6->saddr);
  if (spoofed != ILA_STAT__COUNT) return tc_count(skb, spoofed, TC_ACT_SHOT);
  if (tc_bad_length(skb, &pkt)) return tc_count(skb, ILA_STAT_DROP_BAD_LENGTH, TC_ACT_SHOT);
  const __u8 hop_limit = pkt.ip6->hop_limit;

  const struct ila_addr *dst = (const struct ila_addr *)&pkt.ip6->daddr;
  struct sir_entry e;
  const __u8 flags = find_slot(dst, &e);
  if (flags & ILA_SLOT_F_ENDPOINT) {
    if (hop_limit <= 1) return tc_count(skb, ILA_STAT_PASS_HOP_LIMIT, TC_ACT_OK);
    return tc_deliver(skb, &e.endpoint, hop_limit, ILA_STAT_TX_LOCAL);
  }

  const struct ila_mapping_value *found = mapping_of(dst, &e, flags);
  if (!found) {
    __u32 observed;
    const __u32 outcome = host_miss(skb->ingress_ifindex, &pkt.ip6->daddr, &observed);
    if (observed != ILA_STAT__COUNT) note_len(skb->len, observed);
    return tc_count(skb, outcome, outcome == ILA_STAT_DROP_MISS ? TC_ACT_SHOT : TC_ACT_OK);
  }
  if (hop_limit <= 1) return tc_count(skb, ILA_STAT_PASS_HOP_LIMIT, TC_ACT_OK);
  const struct tc_shape shape = tc_shape_of(&pkt);
  return tc_translate_and_forward(skb, &shape, found, ILA_STAT_TX_REMOTE);
}

// from_uplink at tc, on the uplink's clsact ingress: the same decisions as ila_from_uplink, made on
// the skb, and delivery into the container with bpf_redirect_peer. With the container side at tc
// too, no XDP program is on any veth the traffic crosses, so GSO packets stay whole from the
// sending container's socket to the receiving one.
SEC("tc")
int ila_tc_from_uplink(struct __sk_buff *skb) {
  struct packet pkt;
  enum parse_result r = tc_parse(skb, &pkt);
  if (r != PARSE_OK) return tc_parse_failure(skb, r);
  if (is_link_scoped(&pkt.ip6->daddr)) return tc_count(skb, ILA_STAT_PASS_LINK_LOCAL, TC_ACT_OK);
  struct ila_locator_value loc __attribute__((aligned(8)));
  if (!find_locator(*(const __u64 *)&pkt.ip6->daddr, &loc))
    return tc_count(skb, ILA_STAT_PASS_NOT_LOCAL_LOCATOR, TC_ACT_OK);
  if (tc_bad_length(skb, &pkt)) return tc_count(skb, ILA_STAT_DROP_BAD_LENGTH, TC_ACT_SHOT);
  if (pkt.ip6->hop_limit <= 1) return tc_count(skb, ILA_STAT_PASS_HOP_LIMIT, TC_ACT_OK);
  const struct tc_shape shape = tc_shape_of(&pkt);

  __u8 sir[16] __attribute__((aligned(8)));
  __builtin_memcpy(sir, &pkt.ip6->daddr, 16);
  restore_sir_address((__u64 *)sir, &loc);
  __u64 csum_flags = 0;
  const __u32 csum_off = is_adjust_transport(loc.csum_mode)
                             ? tc_transport_csum(shape.proto, shape.payload_len, &csum_flags)
                             : 0;
  if (bpf_skb_store_bytes(skb, TC_DADDR_OFF, sir, sizeof(sir), BPF_F_RECOMPUTE_CSUM))
    return tc_count(skb, ILA_STAT_DROP_TRUNCATED, TC_ACT_SHOT);
  if (is_adjust_transport(loc.csum_mode)) {
    if (!csum_off || bpf_l4_csum_replace(skb, csum_off, 0, loc.transport_delta_be, csum_flags))
      note_len(skb->len, ILA_STAT_TRANSPORT_NOT_ADJUSTED);
  }
  if (shape.proto == IPPROTO_ICMPV6) {
    // Errors are small and never offloaded: make the quote linear and translate it in place.
    const __u32 want = TC_L4_OFF + sizeof(struct quoted_packet) + 20;
    bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
    if (parse_frame((void *)(long)skb->data, (void *)(long)skb->data_end, &pkt) != PARSE_OK)
      return tc_count(skb, ILA_STAT_DROP_TRUNCATED, TC_ACT_SHOT);
    __u32 quoted = translate_quoted_destination(&pkt);
    if (quoted != ILA_STAT__COUNT) note_len(skb->len, quoted);
  }

  struct sir_entry e;
  const __u8 flags = find_slot((const struct ila_addr *)sir, &e);
  if (flags & ILA_SLOT_F_ENDPOINT)
    return tc_deliver(skb, &e.endpoint, shape.hop_limit, ILA_STAT_RX_DELIVERED);

  // The container is not here (any more).
  if (cfg_moved_policy == ILA_MOVED_DROP)
    return tc_count(skb, ILA_STAT_DROP_ENDPOINT_GONE, TC_ACT_SHOT);
  const struct ila_mapping_value *m = mapping_of((const struct ila_addr *)sir, &e, flags);
  if (!m) return tc_count(skb, ILA_STAT_DROP_ENDPOINT_GONE, TC_ACT_SHOT);
  return tc_translate_and_forward(skb, &shape, m, ILA_STAT_RX_REFORWARDED);
}

#endif  // ILA_XDP_TC_H_
