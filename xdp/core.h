// The decisions of the data plane, written once for XDP and tc (ctx.h): parse, look up, check,
// rewrite, verdict. The entry points in ila.bpf.c only make the context.
//   from_container  a container's egress, on its host-side veth
//   from_uplink     arrivals from the underlay whose locator is this host's (uplink_locator, then
//                   uplink_translate: ila_uplink_steer runs the first half on the receiving CPU)
//   router          the ILA router's translation of SIR destinations
#ifndef ILA_XDP_CORE_H_
#define ILA_XDP_CORE_H_

#include <linux/if_packet.h>

#include "abi.h"
#include "ctx.h"
#include "forward.h"
#include "icmp.h"
#include "locators.h"
#include "mappings.h"
#include "maps.h"
#include "miss.h"
#include "parse.h"
#include "prefixes.h"
#include "stats.h"
#include "translate.h"

// Load-time option, set by the library before loading (never #ifdef flavours).
const volatile __u8 cfg_moved_policy = ILA_MOVED_FORWARD;

// A frame that is not plain IPv6: the kernel's if it is another protocol (or, on an uplink or a
// router, VLAN-tagged: the kernel's VLAN devices own those), dropped if it is broken.
static __always_inline int parse_failure(const struct ila_ctx *c, enum parse_result r) {
  switch (r) {
    case PARSE_NOT_IPV6:
    case PARSE_VLAN_TAGGED: return pass(c, ILA_STAT_PASS_NOT_IPV6);
    case PARSE_BAD_VERSION: return drop(c, ILA_STAT_DROP_BAD_VERSION);
    default: return drop(c, ILA_STAT_DROP_TRUNCATED);
  }
}

static __always_inline int is_link_scoped(const struct in6_addr *a) {
  __u8 b0 = a->in6_u.u6_addr8[0];
  __u8 b1 = a->in6_u.u6_addr8[1];
  return b0 == 0xff || (b0 == 0xfe && (b1 & 0xc0) == 0x80);
}

// The checks before a packet is rewritten: whole (the payload length lies within the packet,
// which at tc may go on past the linear part), and with hop limit left to forward. Returns
// CTX_GO_ON, having kept what the rewrites need (ctx_keep), or the verdict to stop with. A
// transport header shorter than its fixed size is no reason to refuse: the address is translated
// and the transport left alone, as Linux does (kernel vector 30).
static __always_inline int ready_to_rewrite(struct ila_ctx *c) {
  const struct ipv6hdr *ip6 = c->pkt.ip6;
  if (CTX_L4_OFF + bpf_ntohs(ip6->payload_len) > ctx_len(c))
    return drop(c, ILA_STAT_DROP_BAD_LENGTH);
  if (ip6->hop_limit <= 1) return pass(c, ILA_STAT_PASS_HOP_LIMIT);
  ctx_keep(c);
  return CTX_GO_ON;
}

// A SIR destination with no mapping: what the miss policy says, if the destination is SIR at all.
static __always_inline int handle_miss(const struct ila_ctx *c, int dst_sir) {
  __u32 observed;
  const __u32 outcome = host_miss(ctx_ingress_ifindex(c), &c->pkt.ip6->daddr, dst_sir, &observed);
  if (observed != ILA_STAT__COUNT) note(c, observed);
  return outcome == ILA_STAT_DROP_MISS ? drop(c, outcome) : pass(c, outcome);
}

// What a translated packet too big for its route becomes.
enum too_big { TOO_BIG_UNTRANSLATED, TOO_BIG_TRANSLATED };

// SIR -> ILA with mapping `m`, then on to the locator's next hop. The route is asked first: a
// host hands a packet too big for it to the kernel as the sender sent it (TOO_BIG_UNTRANSLATED),
// and the kernel's Packet Too Big then quotes the SIR destination the sender knows; translated,
// it would quote an ILA address the sender's socket has never heard of, and every later packet
// would be lost. (Redirected, the driver would drop it silently.) An ILA router passes it
// translated: its kernel's Packet Too Big goes through this router back to the sender's host,
// which translates the quote. Where the program cannot finish the job otherwise (no neighbour
// entry yet, a route the kernel must handle, an egress outside the redirect targets) the packet
// goes to the kernel translated, with its hop limit untouched: the kernel decrements it once.
// The caller has called ready_to_rewrite.
static __always_inline int translate_and_forward(struct ila_ctx *c,
                                                 const struct ila_mapping_value *m, __u32 stat,
                                                 enum too_big too_big) {
  const __u64 locator = *(const __u64 *)m->ila.bytes;
  struct next_hop hop;
  const enum route_result route =
      route_translated(c, locator, (const struct in6_addr *)m->ila.bytes, &hop);
  if (route == ROUTE_TOO_BIG && too_big == TOO_BIG_UNTRANSLATED)
    return pass(c, ILA_STAT_PASS_TOO_BIG);
  int stop = write_ila_destination(c, m);
  if (stop != CTX_GO_ON) return stop;
  switch (route) {
    case ROUTE_REDIRECT: return redirect_to(c, &hop, stat, 0);
    case ROUTE_NO_NEIGHBOUR: return pass(c, ILA_STAT_PASS_NO_NEIGHBOUR);
    default: return pass(c, ILA_STAT_PASS_FIB);
  }
}

// Whether the frame was sent to this host: to the MAC of the interface it arrived on (the
// kernel's PACKET_HOST). The kernel neither delivers nor forwards anything else, and a promiscuous
// uplink or a bridge port sees frames for other hosts. tc runs after the kernel decided; XDP runs
// before, and compares with the MAC recorded for the interface at attach (none recorded: not
// ours to translate).
static __always_inline int sent_to_this_host(const struct ila_ctx *c) {
  if (ctx_is_tc(c)) return ctx_skb(c)->pkt_type == PACKET_HOST;
  const __u32 ifindex = ctx_ingress_ifindex(c);
  __u32 slot = ila_interface_slot(ifindex);
  const struct ila_interface_value *i = bpf_map_lookup_elem(&ila_interfaces, &slot);
  if (!i || i->ifindex != ifindex) return 0;
  const __u8 *d = c->pkt.eth->h_dest;
  return *(const __u32 *)d == *(const __u32 *)i->mac &&
         *(const __u16 *)(d + 4) == *(const __u16 *)(i->mac + 4);
}

static __always_inline int from_container(struct ila_ctx *c) {
  enum parse_result r = ctx_parse(c);
  // A container has no business tagging frames: the kernel would take the tag off and route what
  // is inside past every check here (priority-tagged VID 0 frames included).
  if (r == PARSE_VLAN_TAGGED || ctx_vlan_tag_taken(c)) return drop(c, ILA_STAT_DROP_VLAN_TAGGED);
  if (r != PARSE_OK) return parse_failure(c, r);
  const struct ipv6hdr *ip6 = c->pkt.ip6;
  if (is_link_scoped(&ip6->daddr) || is_link_scoped(&ip6->saddr))
    return pass(c, ILA_STAT_PASS_LINK_LOCAL);

  // The destination's slot first: in a large table it is the likely cache miss, and the source
  // check (whose slot the container's own traffic keeps cached) runs while it is fetched.
  const struct ila_addr *dst = (const struct ila_addr *)&ip6->daddr;
  struct sir_entry e;
  const __u8 flags = find_slot(dst, &e);
  const __u32 spoofed = source_check(ctx_ingress_ifindex(c), (const struct ila_addr *)&ip6->saddr);
  if (spoofed != ILA_STAT__COUNT) return drop(c, spoofed);
  int dst_sir;
  const __u32 isolated = container_may_send(&ip6->saddr, &ip6->daddr, &dst_sir);
  if (isolated != ILA_STAT__COUNT) return drop(c, isolated);

  if (flags & ILA_SLOT_F_ENDPOINT) {
    int stop = ready_to_rewrite(c);
    if (stop != CTX_GO_ON) return stop;
    return deliver_local(c, &e.endpoint, ILA_STAT_TX_LOCAL);
  }

  const struct ila_mapping_value *m = mapping_of(dst, &e, flags);
  if (!m) return handle_miss(c, dst_sir);
  int stop = ready_to_rewrite(c);
  if (stop != CTX_GO_ON) return stop;
  return translate_and_forward(c, m, ILA_STAT_TX_REMOTE, TOO_BIG_UNTRANSLATED);
}

// An ICMPv6 error quoting a packet translated on its way out: the quote goes back to what the
// sender sent. At tc errors are small and never offloaded: the quote is made linear and
// translated in place. Returns CTX_GO_ON, or the verdict to stop with.
static __always_inline int translate_quote(struct ila_ctx *c) {
  if (ctx_is_tc(c)) {
    if (c->kept->proto != IPPROTO_ICMPV6) return CTX_GO_ON;
    if (ctx_parse_upto(c, CTX_L4_OFF + sizeof(struct quoted_packet) + 20) != PARSE_OK)
      return drop(c, ILA_STAT_DROP_TRUNCATED);
  }
  const __u32 quoted = translate_quoted_destination(&c->pkt);
  if (quoted != ILA_STAT__COUNT) note(c, quoted);
  return CTX_GO_ON;
}

// from_uplink after the locator check, for a packet whose locator is this host's.
static __always_inline int uplink_translate(struct ila_ctx *c,
                                            const struct ila_locator_value *loc) {
  const __u32 isolated = arrival_may_enter(&c->pkt.ip6->saddr, loc);
  if (isolated != ILA_STAT__COUNT) return drop(c, isolated);
  int stop = ready_to_rewrite(c);
  if (stop != CTX_GO_ON) return stop;
  const struct ila_addr *sir;
  stop = write_sir_destination(c, loc, &sir);
  if (stop != CTX_GO_ON) return stop;
  stop = translate_quote(c);
  if (stop != CTX_GO_ON) return stop;

  struct sir_entry e;
  const __u8 flags = find_slot(sir, &e);
  if (flags & ILA_SLOT_F_ENDPOINT) return deliver_local(c, &e.endpoint, ILA_STAT_RX_DELIVERED);

  // The container is not here (any more).
  if (cfg_moved_policy == ILA_MOVED_DROP) return drop(c, ILA_STAT_DROP_ENDPOINT_GONE);
  // Re-forwarded here by another host already: forwarding it again could bounce it between
  // hosts whose mappings disagree until its hop limit ran out.
  if (loc->flags & ILA_LOCATOR_F_REFORWARD) return drop(c, ILA_STAT_DROP_REFORWARD_LOOP);
  const struct ila_mapping_value *m = mapping_of(sir, &e, flags);
  if (!m) return drop(c, ILA_STAT_DROP_ENDPOINT_GONE);
  // A mapping to one of this host's own locators would send the packet back here, again and
  // again until its hop limit ran out.
  struct ila_locator_value own __attribute__((aligned(8)));
  if (find_locator(*(const __u64 *)m->ila.bytes, &own)) return drop(c, ILA_STAT_DROP_LOOP);
  // To the new host's re-forward locator, when known: there it is delivered or dropped.
  struct ila_mapping_value via = *m;
  const struct ila_locator_key *twin = bpf_map_lookup_elem(&ila_reforward_locators, via.ila.bytes);
  if (twin) __builtin_memcpy(via.ila.bytes, twin->locator_be, 8);
  return translate_and_forward(c, &via, ILA_STAT_RX_REFORWARDED, TOO_BIG_UNTRANSLATED);
}

// Parses an uplink arrival and copies this host's locator entry for it into *loc. Returns
// CTX_GO_ON, or the verdict to stop with.
static __always_inline int uplink_locator(struct ila_ctx *c, struct ila_locator_value *loc) {
  enum parse_result r = ctx_parse(c);
  if (r != PARSE_OK) return parse_failure(c, r);
  if (is_link_scoped(&c->pkt.ip6->daddr)) return pass(c, ILA_STAT_PASS_LINK_LOCAL);
  if (!sent_to_this_host(c)) return pass(c, ILA_STAT_PASS_NOT_FOR_THIS_HOST);
  if (!find_locator(*(const __u64 *)&c->pkt.ip6->daddr, loc))
    return pass(c, ILA_STAT_PASS_NOT_LOCAL_LOCATOR);
  return CTX_GO_ON;
}

static __always_inline int from_uplink(struct ila_ctx *c) {
  struct ila_locator_value loc __attribute__((aligned(8)));
  int stop = uplink_locator(c, &loc);
  if (stop != CTX_GO_ON) return stop;
  return uplink_translate(c, &loc);
}

static __always_inline int router(struct ila_ctx *c) {
  enum parse_result r = ctx_parse(c);
  if (r != PARSE_OK) return parse_failure(c, r);
  const struct in6_addr *daddr = &c->pkt.ip6->daddr;
  if (is_link_scoped(daddr)) return pass(c, ILA_STAT_PASS_LINK_LOCAL);
  if (!sent_to_this_host(c)) return pass(c, ILA_STAT_PASS_NOT_FOR_THIS_HOST);

  const struct ila_addr *dst = (const struct ila_addr *)daddr;
  // Zeroed: with cfg_mappings_in_slots off find_slot never fills it, and clang would spill the
  // unwritten entry, which the verifier refuses.
  struct sir_entry e = {};
  const __u8 flags = cfg_mappings_in_slots ? find_slot(dst, &e) : 0;
  const struct ila_mapping_value *m = mapping_of(dst, &e, flags);
  if (!m) {
    if (!in_sir_prefix(daddr)) return pass(c, ILA_STAT_PASS_NOT_SIR);
    return drop(c, ILA_STAT_DROP_ROUTER_MISS);
  }
  int stop = ready_to_rewrite(c);
  if (stop != CTX_GO_ON) return stop;
  return translate_and_forward(c, m, ILA_STAT_ROUTER_FORWARDED, TOO_BIG_TRANSLATED);
}

#endif  // ILA_XDP_CORE_H_
