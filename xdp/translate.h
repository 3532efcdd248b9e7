// SIR<->ILA rewriting of a parsed packet's destination, with its checksum consequences: in place
// at XDP, through the skb helpers at tc.
#ifndef ILA_XDP_TRANSLATE_H_
#define ILA_XDP_TRANSLATE_H_

#include <linux/in.h>
#include <stddef.h>

#include "abi.h"
#include "csum.h"
#include "ctx.h"
#include "parse.h"
#include "stats.h"

static __always_inline int is_adjust_transport(__u8 mode) {
  return mode == ILA_CSUM_ADJUST_TRANSPORT || mode == ILA_CSUM_ADJUST_TRANSPORT_LINUX_COMPAT;
}

// Header length of the transport protocols whose checksum ILA may adjust (the whole fixed header,
// as Linux and the C++ reference require: TCP 20, UDP 8, ICMPv6 8); 0 for others.
static __always_inline __u32 transport_min_len(__u8 proto) {
  switch (proto) {
    case IPPROTO_TCP: return 20;
    case IPPROTO_UDP: return 8;
    case IPPROTO_ICMPV6: return 8;
    default: return 0;
  }
}

// The checksum field of the TCP/UDP/ICMPv6 header right after the IPv6 header, or NULL (also when
// the payload length says that header is cut short).
static __always_inline __u16 *transport_csum_field(const struct packet *pkt, __u8 *proto) {
  *proto = pkt->ip6->nexthdr;
  if (bpf_ntohs(pkt->ip6->payload_len) < transport_min_len(*proto)) return NULL;
  switch (*proto) {
    case IPPROTO_TCP: {
      __u8 *th = transport_header(pkt, 20);
      return th ? (__u16 *)(th + 16) : NULL;
    }
    case IPPROTO_UDP: {
      __u8 *uh = transport_header(pkt, 8);
      return uh ? (__u16 *)(uh + 6) : NULL;
    }
    case IPPROTO_ICMPV6: {
      __u8 *ih = transport_header(pkt, 8);  // Linux adjusts only a whole icmp6hdr
      return ih ? (__u16 *)(ih + 2) : NULL;
    }
    default: return NULL;
  }
}

// adj-transport at XDP: folds `delta_be` into the transport checksum in place. Counts (but
// otherwise ignores) a packet whose transport header does not directly follow the IPv6 header: its
// address is still translated, as Linux does, and the receiver's reverse translation makes the
// checksum valid again.
static __always_inline void adjust_transport_in_place(const struct ila_ctx *c, __u16 delta_be) {
  __u8 proto;
  __u16 *field = transport_csum_field(&c->pkt, &proto);
  if (!field) {
    note(c, ILA_STAT_TRANSPORT_NOT_ADJUSTED);
    return;
  }
  *field = proto == IPPROTO_UDP ? udp_csum_field_update(*field, delta_be)
                                : csum_field_update(*field, delta_be);
}

// Offset of the transport checksum that adj-transport adjusts at tc, and the flags for
// bpf_l4_csum_replace; 0 when there is none to adjust (as transport_csum_field decides for XDP).
static __always_inline __u32 skb_transport_csum(const struct tc_kept *k, __u64 *flags) {
  if (k->payload_len < transport_min_len(k->proto)) return 0;
  *flags = BPF_F_PSEUDO_HDR | sizeof(__u16);
  switch (k->proto) {
    case IPPROTO_TCP: return k->l4_off + 16;
    case IPPROTO_UDP:
      *flags |= BPF_F_MARK_MANGLED_0;  // 0 means "no checksum" and stays 0
      return CTX_L4_OFF + 6;
    case IPPROTO_ICMPV6: return CTX_L4_OFF + 2;
    default: return 0;
  }
}

// Writes c->kept->dst as the destination of a tc skb, and for adj-transport folds `delta_be` into
// the transport checksum with the helper, which keeps the skb's checksum state right (a
// CHECKSUM_PARTIAL packet carries only the pseudo-header sum, which must move the other way).
// Returns CTX_GO_ON, or the verdict to stop with.
static __always_inline int store_destination(const struct ila_ctx *c, __u8 csum_mode,
                                             __u16 delta_be) {
  struct __sk_buff *skb = ctx_skb(c);
  const struct tc_kept *k = c->kept;
  __u64 csum_flags = 0;
  const __u32 csum_off = is_adjust_transport(csum_mode) ? skb_transport_csum(k, &csum_flags) : 0;
  if (bpf_skb_store_bytes(skb, CTX_IP6_OFF + offsetof(struct ipv6hdr, daddr), k->dst, 16,
                          BPF_F_RECOMPUTE_CSUM))
    return drop(c, ILA_STAT_DROP_TRUNCATED);
  if (is_adjust_transport(csum_mode)) {
    if (!csum_off || bpf_l4_csum_replace(skb, csum_off, 0, delta_be, csum_flags))
      note(c, ILA_STAT_TRANSPORT_NOT_ADJUSTED);
  }
  return CTX_GO_ON;
}

// SIR -> ILA with a mapping: the ILA destination was precomputed by the control plane. At XDP
// copied as two words (a mapping is 8-aligned in its slot, its stack copy and ila_mappings).
// Returns CTX_GO_ON, or the verdict to stop with.
static __always_inline int write_ila_destination(struct ila_ctx *c,
                                                 const struct ila_mapping_value *m) {
  const __u64 *ila = (const __u64 *)m->ila.bytes;
  __u64 *daddr = ctx_is_tc(c) ? c->kept->dst : (__u64 *)&c->pkt.ip6->daddr;
  daddr[0] = ila[0];
  daddr[1] = ila[1];
  if (ctx_is_tc(c)) return store_destination(c, m->csum_mode, m->transport_delta_be);
  if (is_adjust_transport(m->csum_mode)) adjust_transport_in_place(c, m->transport_delta_be);
  return CTX_GO_ON;
}

// Restores an identifier's low 16 bits from a checksum-neutral ILA address: `id` is the address's
// second 64-bit word as loaded from the wire bytes, so bytes 14-15 are its top 16 bits, in wire
// order. A restored 0xffff is written 0x0000: libila never neutral-maps identifiers ending in
// 0xffff (see ila/translation.h).
static __always_inline __u64 undo_neutral_adjustment(__u64 id, __u16 delta_be) {
  __u16 restored = csum16_add((__u16)(id >> 48), delta_be);
  if (restored == 0xffff) restored = 0;
  return (id & 0x0000ffffffffffffULL) | (__u64)restored << 48;
}

// ILA -> SIR on a 16-byte destination as two 64-bit words (in the packet for XDP, an 8-aligned
// stack copy for tc): the SIR prefix back, and for the neutral modes the identifier's low 16 bits
// (and for neutral-map the C-bit, byte 8, the low byte of the second word). Written as words, so
// that the slot lookup that reads them next gets them from the store buffer.
static __always_inline void restore_sir_address(__u64 *dst, const struct ila_locator_value *loc) {
  __u64 id = dst[1];
  switch (loc->csum_mode) {
    case ILA_CSUM_NEUTRAL_MAP:
      if (id & ILA_C_BIT) {
        id = undo_neutral_adjustment(id, loc->identifier_delta_be);
        id &= ~(__u64)ILA_C_BIT;
      }
      break;
    case ILA_CSUM_NEUTRAL_MAP_AUTO:
      id = undo_neutral_adjustment(id, loc->identifier_delta_be);
      break;
    default: break;
  }
  dst[0] = *(const __u64 *)loc->sir_prefix_be;  // a map value or its stack copy: 8-aligned
  dst[1] = id;
}

// ILA -> SIR for a destination whose locator is this host's. *sir is the restored address: in the
// packet at XDP (written as words, so that the slot lookup that reads them next gets them from the
// store buffer), its copy at tc. Returns CTX_GO_ON, or the verdict to stop with.
static __always_inline int write_sir_destination(struct ila_ctx *c,
                                                 const struct ila_locator_value *loc,
                                                 const struct ila_addr **sir) {
  __u64 *daddr = ctx_is_tc(c) ? c->kept->dst : (__u64 *)&c->pkt.ip6->daddr;
  restore_sir_address(daddr, loc);
  *sir = (const struct ila_addr *)daddr;
  if (ctx_is_tc(c)) return store_destination(c, loc->csum_mode, loc->transport_delta_be);
  if (is_adjust_transport(loc->csum_mode)) adjust_transport_in_place(c, loc->transport_delta_be);
  return CTX_GO_ON;
}

#endif  // ILA_XDP_TRANSLATE_H_
