// Building test frames byte by byte, with valid checksums, and reading them back.
#ifndef ILA_TESTBED_PACKET_H_
#define ILA_TESTBED_PACKET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ila/translation.h"
#include "ila/types.h"

namespace ila::testbed {

using Bytes = std::vector<uint8_t>;

inline constexpr size_t kEthLen = 14;
inline constexpr size_t kIpv6Len = 40;

// Transport segments with a valid checksum for src -> dst.
Bytes Udp(const Ipv6Address& src, const Ipv6Address& dst, uint16_t sport, uint16_t dport,
          const Bytes& payload);
Bytes Tcp(const Ipv6Address& src, const Ipv6Address& dst, uint16_t sport, uint16_t dport,
          uint32_t seq, uint8_t flags, const Bytes& payload);
Bytes IcmpEcho(const Ipv6Address& src, const Ipv6Address& dst, uint16_t id, uint16_t seq,
               const Bytes& payload);
// An ICMPv6 error (type 1-4) from src to dst quoting `quoted` (an IPv6 packet, cut to fit 1280).
Bytes IcmpError(const Ipv6Address& src, const Ipv6Address& dst, uint8_t type, uint8_t code,
                uint32_t param, const Bytes& quoted);

// An IPv6 packet: fixed header + `payload` (whose first header is `next_header`).
Bytes Ipv6(const Ipv6Address& src, const Ipv6Address& dst, uint8_t next_header,
           const Bytes& payload, uint8_t hop_limit = 64);
// An Ethernet frame.
Bytes Ethernet(const MacAddress& dst, const MacAddress& src, uint16_t ethertype,
               const Bytes& payload);
inline Bytes EthernetIpv6(const MacAddress& dst, const MacAddress& src, const Bytes& ipv6) {
  return Ethernet(dst, src, 0x86dd, ipv6);
}

// Field access on a frame that holds Ethernet + IPv6.
Ipv6Address FrameSrc(const Bytes& frame);
Ipv6Address FrameDst(const Bytes& frame);
uint8_t FrameHopLimit(const Bytes& frame);
MacAddress FrameEthDst(const Bytes& frame);
MacAddress FrameEthSrc(const Bytes& frame);
// `frame` with its Ethernet destination set to `dst`: a frame one host sent, as it arrives at the
// next (addressed to the receiving interface's MAC).
Bytes WithEthDst(Bytes frame, const MacAddress& dst);
uint16_t FrameTransportChecksum(const Bytes& frame);  // field right after the IPv6 header
// Whether the transport segment right after the IPv6 header has a valid checksum.
bool FrameTransportChecksumValid(const Bytes& frame);
// The IPv6 packet of a frame (Ethernet header stripped).
Bytes Ipv6Of(const Bytes& frame);

std::string Hex(const Bytes& b);
Bytes FromHex(const std::string& hex);

}  // namespace ila::testbed

#endif  // ILA_TESTBED_PACKET_H_
