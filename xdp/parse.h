// Bounds-checked packet parsing. Every pointer handed out has been checked against data_end, so
// callers can read the header it points to without another check.
#ifndef ILA_XDP_PARSE_H_
#define ILA_XDP_PARSE_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

enum parse_result {
  PARSE_OK = 0,
  PARSE_NOT_IPV6,        // a well-formed frame of another EtherType
  PARSE_TRUNCATED_ETH,   // shorter than an Ethernet header
  PARSE_TRUNCATED_IPV6,  // EtherType IPv6 but shorter than an IPv6 header
  PARSE_BAD_VERSION,     // EtherType IPv6 but the version field is not 6
  PARSE_VLAN_TAGGED,     // an 802.1Q or 802.1ad tag in the frame
};

struct packet {
  struct ethhdr *eth;
  struct ipv6hdr *ip6;
  void *data_end;
};

// Returns a pointer to `len` bytes at `at`, or NULL when they do not all lie before data_end.
#define PKT_BYTES(at, len, data_end) \
  (((void *)(at) + (len) > (void *)(data_end)) ? NULL : (void *)(at))

// Parses the frame in [data, data_end): XDP's whole frame, or the linear part of a tc skb.
static __always_inline enum parse_result parse_frame(void *data, void *data_end,
                                                     struct packet *pkt) {
  pkt->data_end = data_end;
  pkt->eth = PKT_BYTES(data, sizeof(struct ethhdr), data_end);
  if (!pkt->eth) return PARSE_TRUNCATED_ETH;
  if (pkt->eth->h_proto == bpf_htons(ETH_P_8021Q) || pkt->eth->h_proto == bpf_htons(ETH_P_8021AD))
    return PARSE_VLAN_TAGGED;
  if (pkt->eth->h_proto != bpf_htons(ETH_P_IPV6)) return PARSE_NOT_IPV6;
  pkt->ip6 = PKT_BYTES(pkt->eth + 1, sizeof(struct ipv6hdr), data_end);
  if (!pkt->ip6) return PARSE_TRUNCATED_IPV6;
  if (pkt->ip6->version != 6) return PARSE_BAD_VERSION;
  return PARSE_OK;
}

static __always_inline enum parse_result parse_eth_ipv6(struct xdp_md *ctx, struct packet *pkt) {
  return parse_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end, pkt);
}

// The transport header that directly follows the IPv6 header, when the packet has room for at
// least `len` bytes of it; NULL otherwise (extension headers are not walked: ILA's checksum
// adjustment, like Linux's, applies only to a transport header right after the fixed header).
static __always_inline void *transport_header(const struct packet *pkt, __u32 len) {
  return PKT_BYTES(pkt->ip6 + 1, len, pkt->data_end);
}

#endif  // ILA_XDP_PARSE_H_
