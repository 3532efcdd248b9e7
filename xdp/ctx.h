// One context for XDP and tc, in the manner of cilium's ctx: the decisions (core.h) are written
// once against it, and each entry point (ila.bpf.c) makes one with a constant kind. Everything is
// inlined, so every test of the kind folds away and a program holds only its own hook's code; a
// test that did not fold would put a tc helper in an XDP program, which the verifier refuses at
// load, so it cannot go unnoticed.
//
// What differs between the hooks lives in the functions that test the kind: reading the packet
// (an XDP frame is all linear; a tc skb is made linear for its headers first), its length (a tc
// skb may be a 64 KB GSO packet), the verdicts, and the rewrites (translate.h, forward.h: direct
// stores at XDP; at tc the skb helpers that keep its checksum state right, after which packet
// pointers are dead).
#ifndef ILA_XDP_CTX_H_
#define ILA_XDP_CTX_H_

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

enum ctx_kind { CTX_XDP, CTX_TC };

// What a tc rewrite still needs of the packet once its pointers are gone (ctx_keep).
struct tc_kept {
  __u64 dst[2];  // the destination as rewritten: 8-aligned, for the next-hop cache
  struct in6_addr src;
  __be32 flowinfo;
  __u32 headers;      // IPv6 plus transport header bytes, to size one segment of a GSO packet
  __u32 payload_len;  // what follows the transport header's start (BIG TCP's too)
  __u16 l4_off;       // the transport header's offset in the frame
  __u8 proto;
  __u8 hop_limit;
};

// The context never has its address handed to a helper (what tc keeps is a separate variable),
// so that clang keeps its fields in registers and the kind stays a constant through every helper
// call; were it in memory a helper could change, every kind test after a call would stay in the
// program.
struct ila_ctx {
  void *md;  // struct xdp_md * or struct __sk_buff *
  enum ctx_kind kind;
  struct packet pkt;     // valid from ctx_parse until the first rewrite at tc
  struct tc_kept *kept;  // tc only, filled by ctx_keep
};

// An XDP context. Only md and kind are set: the rest is written before it is read.
#define CTX_INIT_XDP(c, xdp_md) \
  do {                          \
    (c).md = (xdp_md);          \
    (c).kind = CTX_XDP;         \
  } while (0)

// A tc context, with `kept_storage` (a struct tc_kept on the entry point's stack) for ctx_keep.
#define CTX_INIT_TC(c, skb, kept_storage) \
  do {                                    \
    (c).md = (skb);                       \
    (c).kind = CTX_TC;                    \
    (c).kept = &(kept_storage);           \
  } while (0)

static __always_inline int ctx_is_tc(const struct ila_ctx *c) { return c->kind == CTX_TC; }

static __always_inline struct __sk_buff *ctx_skb(const struct ila_ctx *c) {
  return (struct __sk_buff *)c->md;
}

static __always_inline struct xdp_md *ctx_xdp(const struct ila_ctx *c) {
  return (struct xdp_md *)c->md;
}

// The packet's length in bytes: a GSO packet counts once, with all its bytes.
static __always_inline __u32 ctx_len(const struct ila_ctx *c) {
  if (ctx_is_tc(c)) return ctx_skb(c)->len;
  return ctx_xdp(c)->data_end - ctx_xdp(c)->data;
}

static __always_inline __u32 ctx_ingress_ifindex(const struct ila_ctx *c) {
  return ctx_is_tc(c) ? ctx_skb(c)->ingress_ifindex : ctx_xdp(c)->ingress_ifindex;
}

// What a step returns to let the caller go on; any other value is the verdict to stop with. No
// XDP or tc verdict has this value (-1 would not do: it is TC_ACT_UNSPEC).
#define CTX_GO_ON 1000

// The verdicts: handed to the kernel's stack, and dropped.
static __always_inline int ctx_verdict_pass(const struct ila_ctx *c) {
  // TC_ACT_UNSPEC, not TC_ACT_OK: OK would end the filter chain, and other tools' filters after
  // ours on the same hook would never see what the data plane leaves to the kernel.
  return ctx_is_tc(c) ? TC_ACT_UNSPEC : XDP_PASS;
}

static __always_inline int ctx_verdict_drop(const struct ila_ctx *c) {
  return ctx_is_tc(c) ? TC_ACT_SHOT : XDP_DROP;
}

// Whether the kernel has already taken a VLAN tag out of the frame into the skb (it does so before
// tc ingress). At XDP a tag is still in the frame, where parsing finds it.
static __always_inline int ctx_vlan_tag_taken(const struct ila_ctx *c) {
  return ctx_is_tc(c) && ctx_skb(c)->vlan_present;
}

// Reads the frame from its start: XDP's whole frame, or for tc the linear part after making the
// Ethernet and IPv6 headers and a TCP header's first 20 bytes linear and writable.
static __always_inline enum parse_result ctx_parse_upto(struct ila_ctx *c, __u32 want) {
  if (!ctx_is_tc(c)) return parse_eth_ipv6(ctx_xdp(c), &c->pkt);
  struct __sk_buff *skb = ctx_skb(c);
  bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
  return parse_frame((void *)(long)skb->data, (void *)(long)skb->data_end, &c->pkt);
}

#define CTX_IP6_OFF sizeof(struct ethhdr)
#define CTX_L4_OFF (CTX_IP6_OFF + sizeof(struct ipv6hdr))

// A TCP header's first 20 bytes linear, after the 8-byte jumbo hop-by-hop header of BIG TCP too.
static __always_inline enum parse_result ctx_parse(struct ila_ctx *c) {
  return ctx_parse_upto(c, CTX_L4_OFF + 28);
}

// BIG TCP at tc (gso_max_size above 64 KiB): a GSO TCP packet longer than an IPv6 payload length
// can say carries 0 there and, as Linux writes them (6.18 still), a hop-by-hop header holding only
// the jumbo payload option before the TCP header (the kernel's ipv6_has_hopopt_jumbo());
// segmentation takes that header off again. Returns the TCP header's offset after the IPv6 header
// (0 or 8), or -1 for any other packet.
static __always_inline int big_tcp_offset(const struct ila_ctx *c) {
  const struct ipv6hdr *ip6 = c->pkt.ip6;
  if (!ctx_is_tc(c) || ip6->payload_len != 0 || !ctx_skb(c)->gso_size) return -1;
  if (ip6->nexthdr == IPPROTO_TCP) return 0;
  if (ip6->nexthdr != IPPROTO_HOPOPTS) return -1;
  const __u8 *h = PKT_BYTES(ip6 + 1, 8, c->pkt.data_end);
  if (!h || h[0] != IPPROTO_TCP || h[1] != 0 || h[2] != 0xc2 || h[3] != 4) return -1;
  return 8;
}

// The TCP header length of a BIG TCP packet whose header starts `off` bytes after the IPv6 header
// (60, the longest, when it cannot be read).
static __always_inline __u32 big_tcp_header_len(const struct ila_ctx *c, int off) {
  const __u8 *th = off ? PKT_BYTES((const __u8 *)(c->pkt.ip6 + 1) + 8, 13, c->pkt.data_end)
                       : PKT_BYTES((const __u8 *)(c->pkt.ip6 + 1), 13, c->pkt.data_end);
  return th ? (th[12] >> 4) * 4 : 60;
}

// IPv6 plus transport header length of the parsed packet, for segment sizes (60: the longest
// transport header, when it cannot be read).
static __always_inline __u32 packet_headers(const struct packet *pkt) {
  __u32 l4 = 60;
  if (pkt->ip6->nexthdr == IPPROTO_TCP) {
    __u8 *th = transport_header(pkt, 13);
    if (th) l4 = (th[12] >> 4) * 4;
  } else if (pkt->ip6->nexthdr == IPPROTO_UDP) {
    l4 = 8;
  }
  return sizeof(struct ipv6hdr) + l4;
}

// Called once the packet is going to be rewritten: at tc, keeps what the rewrites need before the
// first helper kills the packet pointers. Nothing at XDP, whose pointers stay good.
static __always_inline void ctx_keep(struct ila_ctx *c) {
  if (!ctx_is_tc(c)) return;
  const struct ipv6hdr *ip6 = c->pkt.ip6;
  struct tc_kept *k = c->kept;
  __builtin_memcpy(k->dst, &ip6->daddr, 16);
  __builtin_memcpy(&k->src, &ip6->saddr, 16);
  k->flowinfo = *(const __be32 *)ip6 & bpf_htonl(0x0fffffff);
  k->headers = packet_headers(&c->pkt);
  k->payload_len = bpf_ntohs(ip6->payload_len);
  k->l4_off = CTX_L4_OFF;
  k->proto = ip6->nexthdr;
  // Read as it stands, a BIG TCP packet's checksum would be left alone: wrong on the wire for
  // adj-transport once the packet is segmented.
  const int big = big_tcp_offset(c);
  if (big >= 0) {
    k->l4_off = CTX_L4_OFF + big;
    k->payload_len = ctx_skb(c)->len - k->l4_off;
    k->proto = IPPROTO_TCP;
    k->headers = sizeof(struct ipv6hdr) + big_tcp_header_len(c, big);  // per segment: no jumbo
  }
  k->hop_limit = ip6->hop_limit;
}

#endif  // ILA_XDP_CTX_H_
