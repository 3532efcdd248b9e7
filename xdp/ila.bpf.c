// The ILA data plane: XDP entry programs for the three placements of DESIGN.md §2.
//   ila_from_container  host, on each container's host-side veth (container egress)
//   ila_from_uplink     host, on the uplink (arrivals from the underlay)
//   ila_router          ILA router, on any of its interfaces
//   ila_uplink_steer    uplink with cpumap steering: locator check and flow hash only, then
//                       redirect to the CPU that runs ila_uplink_cpu
//   ila_uplink_cpu      (cpumap) the rest of from_uplink, on the CPU the flow was steered to
//   ila_tc_from_container  the container side at tc (sched_cls) instead of XDP, for veth: keeps the
//                       container's segmentation and checksum offloads (tc.h)
//   ila_tc_from_uplink  from_uplink at tc, delivering with bpf_redirect_peer (tc.h)
//   ila_peer_napi       a pass-through program for the container side of a veth pair: its only job
//                       is to give the peer NAPI so that XDP_REDIRECT into the veth delivers
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

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

// Load-time option, set by the library before loading (never #ifdef flavours).
const volatile __u8 cfg_moved_policy = ILA_MOVED_FORWARD;

static __always_inline int parse_failure(struct xdp_md *ctx, enum parse_result r) {
  switch (r) {
    case PARSE_NOT_IPV6: return count(ctx, ILA_STAT_PASS_NOT_IPV6, XDP_PASS);
    case PARSE_BAD_VERSION: return count(ctx, ILA_STAT_DROP_BAD_VERSION, XDP_DROP);
    default: return count(ctx, ILA_STAT_DROP_TRUNCATED, XDP_DROP);
  }
}

static __always_inline int is_link_scoped(const struct in6_addr *a) {
  __u8 b0 = a->in6_u.u6_addr8[0];
  __u8 b1 = a->in6_u.u6_addr8[1];
  return b0 == 0xff || (b0 == 0xfe && (b1 & 0xc0) == 0x80);
}

// Common checks before a packet is rewritten: whole, and with hop limit left to forward.
// Returns the verdict to stop with, or -1 to go on.
static __always_inline int refuse_to_translate(struct xdp_md *ctx, const struct packet *pkt) {
  __u32 drop = check_translatable(pkt);
  if (drop != ILA_STAT__COUNT) return count(ctx, drop, XDP_DROP);
  if (pkt->ip6->hop_limit <= 1) return count(ctx, ILA_STAT_PASS_HOP_LIMIT, XDP_PASS);
  return -1;
}

// A SIR destination with no mapping: what the miss policy says, if the destination is SIR at all.
static __always_inline int handle_miss(struct xdp_md *ctx, const struct packet *pkt) {
  __u32 observed;
  const __u32 outcome = host_miss(ctx->ingress_ifindex, &pkt->ip6->daddr, &observed);
  if (observed != ILA_STAT__COUNT) note(ctx, observed);
  return count(ctx, outcome, outcome == ILA_STAT_DROP_MISS ? XDP_DROP : XDP_PASS);
}

SEC("xdp")
int ila_from_container(struct xdp_md *ctx) {
  struct packet pkt;
  enum parse_result r = parse_eth_ipv6(ctx, &pkt);
  if (r != PARSE_OK) return parse_failure(ctx, r);
  if (is_link_scoped(&pkt.ip6->daddr) || is_link_scoped(&pkt.ip6->saddr))
    return count(ctx, ILA_STAT_PASS_LINK_LOCAL, XDP_PASS);

  // The destination's slot first: in a large table it is the likely cache miss, and the source
  // check (whose slot the container's own traffic keeps cached) runs while it is fetched.
  const struct ila_addr *dst = (const struct ila_addr *)&pkt.ip6->daddr;
  struct sir_entry e;
  const __u8 flags = find_slot(dst, &e);
  const __u32 spoofed =
      source_check(ctx->ingress_ifindex, (const struct ila_addr *)&pkt.ip6->saddr);
  if (spoofed != ILA_STAT__COUNT) return count(ctx, spoofed, XDP_DROP);

  if (flags & ILA_SLOT_F_ENDPOINT) {
    int stop = refuse_to_translate(ctx, &pkt);
    if (stop >= 0) return stop;
    return deliver_local(ctx, &pkt, &e.endpoint, ILA_STAT_TX_LOCAL);
  }

  const struct ila_mapping_value *m = mapping_of(dst, &e, flags);
  if (!m) return handle_miss(ctx, &pkt);
  int stop = refuse_to_translate(ctx, &pkt);
  if (stop >= 0) return stop;
  const __u64 locator = write_ila_destination(ctx, &pkt, m);
  return forward_translated(ctx, &pkt, locator, ILA_STAT_TX_REMOTE);
}

// from_uplink after the locator check, for a packet whose locator is this host's.
static __always_inline int uplink_translate(struct xdp_md *ctx, struct packet *pkt,
                                            const struct ila_locator_value *loc) {
  int stop = refuse_to_translate(ctx, pkt);
  if (stop >= 0) return stop;

  write_sir_destination(ctx, pkt, loc);
  __u32 quoted = translate_quoted_destination(pkt);
  if (quoted != ILA_STAT__COUNT) note(ctx, quoted);

  const struct ila_addr *sir = (const struct ila_addr *)&pkt->ip6->daddr;
  struct sir_entry e;
  const __u8 flags = find_slot(sir, &e);
  if (flags & ILA_SLOT_F_ENDPOINT)
    return deliver_local(ctx, pkt, &e.endpoint, ILA_STAT_RX_DELIVERED);

  // The container is not here (any more).
  if (cfg_moved_policy == ILA_MOVED_DROP) return count(ctx, ILA_STAT_DROP_ENDPOINT_GONE, XDP_DROP);
  const struct ila_mapping_value *m = mapping_of(sir, &e, flags);
  if (!m) return count(ctx, ILA_STAT_DROP_ENDPOINT_GONE, XDP_DROP);
  const __u64 locator = write_ila_destination(ctx, pkt, m);
  return forward_translated(ctx, pkt, locator, ILA_STAT_RX_REFORWARDED);
}

// Parses an uplink arrival and copies this host's locator entry for it into *loc; returns 0 with
// *verdict set when the packet stops here.
static __always_inline int uplink_locator(struct xdp_md *ctx, struct packet *pkt,
                                          struct ila_locator_value *loc, int *verdict) {
  enum parse_result r = parse_eth_ipv6(ctx, pkt);
  if (r != PARSE_OK) {
    *verdict = parse_failure(ctx, r);
    return 0;
  }
  if (is_link_scoped(&pkt->ip6->daddr)) {
    *verdict = count(ctx, ILA_STAT_PASS_LINK_LOCAL, XDP_PASS);
    return 0;
  }
  if (!find_locator(*(const __u64 *)&pkt->ip6->daddr, loc)) {
    *verdict = count(ctx, ILA_STAT_PASS_NOT_LOCAL_LOCATOR, XDP_PASS);
    return 0;
  }
  return 1;
}

static __always_inline int from_uplink(struct xdp_md *ctx) {
  struct packet pkt;
  struct ila_locator_value loc __attribute__((aligned(8)));
  int verdict = XDP_PASS;
  if (!uplink_locator(ctx, &pkt, &loc, &verdict)) return verdict;
  return uplink_translate(ctx, &pkt, &loc);
}

SEC("xdp")
int ila_from_uplink(struct xdp_md *ctx) { return from_uplink(ctx); }

// A flow's CPU: a hash of the addresses, flow label and (when present) ports, so that one flow
// always lands on one CPU and its packets stay in order.
static __always_inline __u32 flow_hash(const struct packet *pkt) {
  const __u32 *s = (const __u32 *)&pkt->ip6->saddr;
  const __u32 *d = (const __u32 *)&pkt->ip6->daddr;
  __u32 h = 0x9e3779b9;
  h ^= s[0] ^ s[1] ^ s[2] ^ s[3];
  h = (h << 13 | h >> 19) * 5 + 0xe6546b64;
  h ^= d[0] ^ d[1] ^ d[2] ^ d[3];
  h = (h << 13 | h >> 19) * 5 + 0xe6546b64;
  __u8 proto = pkt->ip6->nexthdr;
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
    __u32 *ports = transport_header(pkt, 4);
    if (ports) h ^= *ports;
  }
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  return h;
}

SEC("xdp")
int ila_uplink_steer(struct xdp_md *ctx) {
  struct packet pkt;
  struct ila_locator_value loc __attribute__((aligned(8)));
  int verdict = XDP_PASS;
  if (!uplink_locator(ctx, &pkt, &loc, &verdict)) return verdict;
  __u32 zero = 0;
  struct ila_steer_config *steer = bpf_map_lookup_elem(&ila_steer, &zero);
  if (!steer || steer->count == 0 || steer->count > ILA_MAX_STEER_CPUS)
    return uplink_translate(ctx, &pkt, &loc);
  // slot < count <= 64, so the mask changes nothing but lets the verifier see the bound (the
  // empty asm keeps clang from dropping the mask it can prove redundant).
  __u32 slot = flow_hash(&pkt) % steer->count;
  asm volatile("" : "+r"(slot));
  slot &= ILA_MAX_STEER_CPUS - 1;
  __u32 cpu = steer->cpus[slot];
  note(ctx, ILA_STAT_STEERED);
  return bpf_redirect_map(&ila_cpus, cpu, XDP_PASS);
}

SEC("xdp/cpumap")
int ila_uplink_cpu(struct xdp_md *ctx) { return from_uplink(ctx); }

SEC("xdp")
int ila_router(struct xdp_md *ctx) {
  struct packet pkt;
  enum parse_result r = parse_eth_ipv6(ctx, &pkt);
  if (r != PARSE_OK) return parse_failure(ctx, r);
  if (is_link_scoped(&pkt.ip6->daddr)) return count(ctx, ILA_STAT_PASS_LINK_LOCAL, XDP_PASS);

  const struct ila_addr *dst = (const struct ila_addr *)&pkt.ip6->daddr;
  struct sir_entry e;
  const __u8 flags = cfg_mappings_in_slots ? find_slot(dst, &e) : 0;
  const struct ila_mapping_value *m = mapping_of(dst, &e, flags);
  if (!m) {
    if (!in_sir_prefix(&pkt.ip6->daddr)) return count(ctx, ILA_STAT_PASS_NOT_SIR, XDP_PASS);
    return count(ctx, ILA_STAT_DROP_ROUTER_MISS, XDP_DROP);
  }
  int stop = refuse_to_translate(ctx, &pkt);
  if (stop >= 0) return stop;
  const __u64 locator = write_ila_destination(ctx, &pkt, m);
  return forward_translated(ctx, &pkt, locator, ILA_STAT_ROUTER_FORWARDED);
}

#include "tc.h"

// xdp.frags: a veth whose peer runs a program without frags support drops what does not fit a
// page, which is every GSO packet a container sends in tc mode to a neighbour on this host.
SEC("xdp.frags")
int ila_peer_napi(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
