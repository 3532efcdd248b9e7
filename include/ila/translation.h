// The ILA translation arithmetic, in pure C++: the reference that the XDP programs and every test
// are held to. Nothing here touches the kernel.
//
// Checksum-neutral mapping (neutral-map, neutral-map-auto) adds the one's-complement inverse of the
// upper 64 bits' change (old - new), and for neutral-map -/+0x1000 for setting/clearing the C-bit,
// into the identifier's low 16 bits, so that the address's 16-bit one's-complement sum, and with it every
// transport checksum, is unchanged.
//
// Exact round trip and the 0x0000/0xFFFF ambiguity: one's-complement arithmetic has two zeros, so
// SIR identifiers whose low 16 bits are 0x0000 and 0xFFFF map to the same ILA address. libila
// resolves it the way that keeps the common case exact: ILA->SIR writes a restored 0xFFFF as 0x0000,
// and a neutral mapping of a SIR identifier whose low 16 bits are 0xFFFF is refused up front
// (IsNeutralMappable). Linux restores such identifiers as 0xFFFF; see docs/translation.md.
//
// Thread safety: pure functions.
#ifndef ILA_TRANSLATION_H_
#define ILA_TRANSLATION_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/types.h"

namespace ila {

// One's-complement 16-bit addition with end-around carry (RFC 1071). 0 + 0 = 0; otherwise the
// result is never 0x0000 when it is congruent to zero (it is 0xFFFF), as Linux's csum_fold gives.
constexpr uint16_t OnesComplementAdd(uint16_t a, uint16_t b) {
  uint32_t sum = uint32_t{a} + b;
  return static_cast<uint16_t>((sum & 0xffff) + (sum >> 16));
}
// Folded one's-complement sum of the four 16-bit groups of a 64-bit word.
constexpr uint16_t OnesComplementSum64(uint64_t word) {
  uint16_t s = 0;
  for (int i = 0; i < 4; ++i) s = OnesComplementAdd(s, static_cast<uint16_t>(word >> (16 * i)));
  return s;
}
// The one's-complement difference (to - from) of two 64-bit words: what adding it to a sum that
// covered `from` gives for `to`.
constexpr uint16_t OnesComplementDelta64(uint64_t from, uint64_t to) {
  return OnesComplementAdd(OnesComplementSum64(to), OnesComplementSum64(~from));
}
// Folded one's-complement sum over the 16-bit words of an IPv6 address.
constexpr uint16_t OnesComplementSum(const Ipv6Address& a) {
  return OnesComplementAdd(OnesComplementSum64(a.high64()), OnesComplementSum64(a.low64()));
}

// Whether `sir` can take a checksum-neutral mapping in `mode` (neutral-map or neutral-map-auto):
// OK, or InvalidArgument naming the address and the reason (C-bit already set for neutral-map;
// identifier low 16 bits 0xFFFF, which cannot round-trip exactly).
[[nodiscard]] absl::Status IsNeutralMappable(const SirAddress& sir, ChecksumMode mode);

// SIR -> ILA for the destination address of a packet: the upper 64 bits become `locator`, and in
// the neutral modes the identifier carries the adjustment (and, for neutral-map, the C-bit).
[[nodiscard]] absl::StatusOr<IlaAddress> SirToIla(const SirAddress& sir, Locator locator,
                                                  ChecksumMode mode);

// ILA -> SIR: the exact inverse of SirToIla for every SIR that SirToIla accepts. For neutral-map
// the adjustment is undone only when the C-bit is set (a sender that did not set it did not adjust),
// as Linux does; neutral-map-auto always undoes it.
SirAddress IlaToSir(const IlaAddress& ila, SirPrefix prefix, ChecksumMode mode);

// Transport protocols whose checksum covers the IPv6 pseudo-header and that adj-transport adjusts.
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;
// Offset of the checksum field inside the transport header, or -1 for other protocols.
constexpr int TransportChecksumOffset(uint8_t protocol) {
  switch (protocol) {
    case kProtoTcp: return 16;
    case kProtoUdp: return 6;
    case kProtoIcmpv6: return 2;
    default: return -1;
  }
}

// The checksum field after its pseudo-header's address sum changed by `address_delta`
// (new - old; RFC 1624 eq. 3: HC' = ~(~HC + m' - m)).
//  - kAdjustTransport: exactly that; the result equals a from-scratch computation bit for bit. UDP
//    with checksum 0 (none) stays 0, and a UDP result of 0 is written 0xFFFF (RFC 768).
//  - kAdjustTransportLinuxCompat: what Linux's ILA writes: the same with the delta's sign flipped
//    (old - new), the same UDP rules; TCP and ICMPv6 keep 0x0000.
//  - other modes: the field unchanged.
uint16_t AdjustTransportChecksum(uint16_t field, uint16_t address_delta, uint8_t protocol,
                                 ChecksumMode mode);

// The checksum field value computed from scratch over the pseudo-header and `segment` (the whole
// transport header and payload), taking the checksum field in `segment` as zero. UDP's 0 is sent as
// 0xFFFF. `protocol` must be TCP, UDP or ICMPv6.
uint16_t ComputeTransportChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                                  std::span<const uint8_t> segment);
// Whether `segment` carries a valid checksum for src/dst (a UDP checksum of 0 counts as valid).
bool TransportChecksumValid(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                            std::span<const uint8_t> segment);

// What RewriteDestination did.
enum class RewriteOutcome {
  kTranslatedWithTransport,  // address rewritten, transport checksum adjusted
  kTranslated,               // address rewritten; the mode leaves the transport alone
  kTransportNotAdjustable,   // adj-transport asked, but no TCP/UDP/ICMPv6 header directly after
                             // the IPv6 header (extension header, fragment, truncated): address
                             // rewritten, transport untouched, as Linux does
};

// The reference for a whole packet: rewrites the destination of the IPv6 packet `ipv6` (starting at
// the IPv6 header) to `new_dst`, applying `mode` to the transport checksum. InvalidArgument when
// `ipv6` does not hold an IPv6 header.
[[nodiscard]] absl::StatusOr<RewriteOutcome> RewriteDestination(std::span<uint8_t> ipv6,
                                                                const Ipv6Address& new_dst,
                                                                ChecksumMode mode);

}  // namespace ila

#endif  // ILA_TRANSLATION_H_
