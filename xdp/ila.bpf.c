// The ILA data plane's entry programs, for the three placements of DESIGN.md §2. Each one only
// makes the context of its hook (ctx.h) and runs the decisions of core.h, which are written once:
//   ila_from_container     host, on each container's host-side veth (container egress)
//   ila_from_uplink        host, on the uplink (arrivals from the underlay)
//   ila_router             ILA router, on any of its interfaces
//   ila_uplink_steer       uplink with cpumap steering: locator check and flow hash only, then
//                          redirect to the CPU that runs ila_uplink_cpu
//   ila_uplink_cpu         (cpumap) the rest of from_uplink, on the CPU the flow was steered to
//   ila_tc_from_container  from_container at tc (sched_cls), for veth: a native XDP program on a
//                          veth turns its peer's segmentation offload off, so every TCP segment of
//                          the container would cross the veth and the programs one by one; at tc
//                          the container keeps TSO and checksum offload and a 64 KB GSO packet is
//                          translated once
//   ila_tc_from_uplink     from_uplink at tc, on the uplink's clsact ingress, delivering into the
//                          container with bpf_redirect_peer: with both sides at tc no XDP program
//                          is on any veth the traffic crosses, and GSO packets stay whole from the
//                          sending container's socket to the receiving one
//   ila_peer_napi          a pass-through program for the container side of a veth pair: its only
//                          job is to give the peer NAPI so that XDP_REDIRECT into the veth delivers
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "core.h"
#include "steer.h"

SEC("xdp")
int ila_from_container(struct xdp_md *md) {
  struct ila_ctx c;
  CTX_INIT_XDP(c, md);
  return from_container(&c);
}

SEC("xdp")
int ila_from_uplink(struct xdp_md *md) {
  struct ila_ctx c;
  CTX_INIT_XDP(c, md);
  return from_uplink(&c);
}

SEC("xdp")
int ila_uplink_steer(struct xdp_md *md) {
  struct ila_ctx c;
  CTX_INIT_XDP(c, md);
  return uplink_steer(&c);
}

SEC("xdp/cpumap")
int ila_uplink_cpu(struct xdp_md *md) {
  struct ila_ctx c;
  CTX_INIT_XDP(c, md);
  return from_uplink(&c);
}

SEC("xdp")
int ila_router(struct xdp_md *md) {
  struct ila_ctx c;
  CTX_INIT_XDP(c, md);
  return router(&c);
}

SEC("tc")
int ila_tc_from_container(struct __sk_buff *skb) {
  struct ila_ctx c;
  struct tc_kept kept;
  CTX_INIT_TC(c, skb, kept);
  return from_container(&c);
}

SEC("tc")
int ila_tc_from_uplink(struct __sk_buff *skb) {
  struct ila_ctx c;
  struct tc_kept kept;
  CTX_INIT_TC(c, skb, kept);
  return from_uplink(&c);
}

// xdp.frags: a veth whose peer runs a program without frags support drops what does not fit a
// page, which is every GSO packet a container sends in tc mode to a neighbour on this host.
SEC("xdp.frags")
int ila_peer_napi(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
