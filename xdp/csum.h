// One's-complement arithmetic for incremental checksum updates (RFC 1071, RFC 1624).
//
// All values are 16-bit words loaded straight from packet bytes (wire order). One's-complement
// addition commutes with byte swapping, so wire-order operands and wire-order deltas precomputed
// by the control plane combine without any byte-order conversion per packet.
#ifndef ILA_XDP_CSUM_H_
#define ILA_XDP_CSUM_H_

#include <linux/types.h>

#include "parse.h"

static __always_inline __u16 csum16_add(__u16 a, __u16 b) {
  __u32 sum = (__u32)a + b;
  return (__u16)((sum & 0xffff) + (sum >> 16));
}

// The difference (to - from) of two 16-bit words.
static __always_inline __u16 csum16_delta(__u16 from, __u16 to) {
  return csum16_add(to, (__u16)~from);
}

// A checksum field after what it covers grew by `delta` (RFC 1624 eq. 3: HC' = ~(~HC + m' - m)),
// in the kernel's arithmetic: its 32-bit sum never comes out as the one's-complement +0, so a
// field of 0xffff (-0) that a zero delta meets becomes 0x0000, as a from-scratch computation, the
// tc helper (bpf_l4_csum_replace) and Linux's ILA all write it. (csum16_add(0, 0) is 0, and the
// plain formula would keep 0xffff: XDP and tc wrote different bytes.)
static __always_inline __u16 csum_field_update(__u16 field, __u16 delta) {
  const __u16 sum = csum16_add((__u16)~field, delta);
  return (__u16) ~(sum ? sum : 0xffff);
}

// A UDP checksum after the same; 0 means "no checksum" and stays 0, a result of 0 is sent as
// 0xffff (RFC 768).
static __always_inline __u16 udp_csum_field_update(__u16 field, __u16 delta) {
  if (field == 0) return 0;
  __u16 out = csum_field_update(field, delta);
  return out ? out : 0xffff;
}

#endif  // ILA_XDP_CSUM_H_
