// cpumap steering of uplink arrivals (XDP only: tc has RPS for this): the locator check and a flow
// hash on the receiving CPU, the rest of from_uplink on the CPU the flow is steered to.
#ifndef ILA_XDP_STEER_H_
#define ILA_XDP_STEER_H_

#include "core.h"

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

static __always_inline int uplink_steer(struct ila_ctx *c) {
  struct ila_locator_value loc __attribute__((aligned(8)));
  int stop = uplink_locator(c, &loc);
  if (stop != CTX_GO_ON) return stop;
  __u32 zero = 0;
  struct ila_steer_config *steer = bpf_map_lookup_elem(&ila_steer, &zero);
  if (!steer || steer->count == 0 || steer->count > ILA_MAX_STEER_CPUS)
    return uplink_translate(c, &loc);
  // slot < count <= 64, so the mask changes nothing but lets the verifier see the bound (the
  // empty asm keeps clang from dropping the mask it can prove redundant).
  __u32 slot = flow_hash(&c->pkt) % steer->count;
  asm volatile("" : "+r"(slot));
  slot &= ILA_MAX_STEER_CPUS - 1;
  __u32 cpu = steer->cpus[slot];
  note(c, ILA_STAT_STEERED);
  return bpf_redirect_map(&ila_cpus, cpu, XDP_PASS);
}

#endif  // ILA_XDP_STEER_H_
