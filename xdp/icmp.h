// ICMPv6 errors quoting a translated packet: the quote's destination goes back to the SIR address
// the sender used, so the sender's socket recognises the error (PMTU discovery keeps working).
#ifndef ILA_XDP_ICMP_H_
#define ILA_XDP_ICMP_H_

#include <linux/icmpv6.h>

#include "csum.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "translate.h"

struct quoted_packet {
  struct icmp6hdr icmp;
  struct ipv6hdr ip6;
};

static __always_inline int is_icmp_error(__u8 type) {
  return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

// One's-complement sum(to) - sum(from) of two addresses, word by word as they lie.
static __always_inline __u16 address_sum_delta(const __u16 *from, const __u16 *to) {
  __u16 d = 0;
#pragma unroll
  for (int i = 0; i < 8; i++) d = csum16_add(d, csum16_delta(from[i], to[i]));
  return d;
}

// The reverse entry of an ILA address under one of the other hosts' locators
// (ila_cluster_locators), made as ila_reverse's are: for a packet this host has no mapping for,
// which the ILA router translated. Returns 0 when the locator is not known.
static __always_inline int reverse_by_locator(const struct in6_addr *ila,
                                              struct ila_reverse_value *out) {
  struct ila_locator_key key;
  __builtin_memcpy(key.locator_be, ila, 8);
  const struct ila_locator_value *loc = bpf_map_lookup_elem(&ila_cluster_locators, &key);
  if (!loc) return 0;
  __u64 sir[2];
  __builtin_memcpy(sir, ila, 16);
  restore_sir_address(sir, loc);
  __builtin_memcpy(&out->sir, sir, 16);
  out->address_delta_be = address_sum_delta((const __u16 *)ila, (const __u16 *)sir);
  out->csum_mode = loc->csum_mode;
  return 1;
}

// Translates the quoted destination of an ICMPv6 error (directly after the IPv6 header) from ILA
// to SIR, and the quoted transport checksum with it for adj-transport, keeping the ICMPv6 checksum
// valid. Packets that are not such errors are left alone. Returns the observation to count, or
// ILA_STAT__COUNT for none (the caller counts: XDP and tc measure packets differently).
// Every change is balanced by the ICMPv6 checksum, so the sum over the whole message is unchanged
// and a tc skb's CHECKSUM_COMPLETE stays right although the bytes are written directly.
static __always_inline __u32 translate_quoted_destination(struct packet *pkt) {
  if (pkt->ip6->nexthdr != IPPROTO_ICMPV6) return ILA_STAT__COUNT;
  // The message is the payload length's bytes: what follows them (link-layer padding) is not part
  // of it, and a change there would break the checksum that covers the message.
  const __u32 message = bpf_ntohs(pkt->ip6->payload_len);
  if (message < sizeof(struct quoted_packet)) return ILA_STAT__COUNT;
  const __u32 quoted_transport = message - sizeof(struct quoted_packet);
  struct quoted_packet *q = transport_header(pkt, sizeof(struct quoted_packet));
  if (!q || !is_icmp_error(q->icmp.icmp6_type)) return ILA_STAT__COUNT;

  const struct ila_reverse_value *rev = bpf_map_lookup_elem(&ila_reverse, &q->ip6.daddr);
  struct ila_reverse_value by_locator;
  if (!rev) {
    if (!reverse_by_locator(&q->ip6.daddr, &by_locator)) return ILA_STAT_ICMP_INNER_UNKNOWN;
    rev = &by_locator;
  }
  __u16 outer_delta = rev->address_delta_be;
  __builtin_memcpy(&q->ip6.daddr, &rev->sir, sizeof(rev->sir));

  if (is_adjust_transport(rev->csum_mode)) {
    // The sender's host adjusted the quoted transport checksum on the way out; undo it too. It
    // did so only for a whole fixed transport header (transport_csum_field): never undo more.
    __u16 *field = NULL;
    __u8 proto = q->ip6.nexthdr;
    void *inner = (void *)(q + 1);
    if (bpf_ntohs(q->ip6.payload_len) >= transport_min_len(proto)) {
      if (proto == IPPROTO_TCP && quoted_transport >= 18 && PKT_BYTES(inner, 18, pkt->data_end))
        field = inner + 16;
      else if (proto == IPPROTO_UDP && quoted_transport >= 8 && PKT_BYTES(inner, 8, pkt->data_end))
        field = inner + 6;
      else if (proto == IPPROTO_ICMPV6 && quoted_transport >= 4 &&
               PKT_BYTES(inner, 4, pkt->data_end))
        field = inner + 2;
    }
    if (field) {
      __u16 delta = rev->csum_mode == ILA_CSUM_ADJUST_TRANSPORT ? rev->address_delta_be
                                                                : (__u16)~rev->address_delta_be;
      __u16 old = *field;
      __u16 updated =
          proto == IPPROTO_UDP ? udp_csum_field_update(old, delta) : csum_field_update(old, delta);
      *field = updated;
      outer_delta = csum16_add(outer_delta, csum16_delta(old, updated));
    }
  }
  q->icmp.icmp6_cksum = csum_field_update(q->icmp.icmp6_cksum, outer_delta);
  return ILA_STAT_ICMP_INNER_TRANSLATED;
}

#endif  // ILA_XDP_ICMP_H_
