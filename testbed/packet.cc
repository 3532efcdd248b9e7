#include "testbed/packet.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace ila::testbed {
namespace {

void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
void Put32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
uint16_t Get16(const Bytes& b, size_t at) {
  return static_cast<uint16_t>((b.at(at) << 8) | b.at(at + 1));
}
Bytes WithChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol, Bytes seg) {
  Put16(seg, static_cast<size_t>(TransportChecksumOffset(protocol)),
        ComputeTransportChecksum(src, dst, protocol, seg));
  return seg;
}

}  // namespace

Bytes Udp(const Ipv6Address& src, const Ipv6Address& dst, uint16_t sport, uint16_t dport,
          const Bytes& payload) {
  Bytes seg(8);
  Put16(seg, 0, sport);
  Put16(seg, 2, dport);
  Put16(seg, 4, static_cast<uint16_t>(8 + payload.size()));
  seg.insert(seg.end(), payload.begin(), payload.end());
  return WithChecksum(src, dst, kProtoUdp, seg);
}

Bytes Tcp(const Ipv6Address& src, const Ipv6Address& dst, uint16_t sport, uint16_t dport,
          uint32_t seq, uint8_t flags, const Bytes& payload) {
  Bytes seg(20);
  Put16(seg, 0, sport);
  Put16(seg, 2, dport);
  Put32(seg, 4, seq);
  Put32(seg, 8, 0);
  seg[12] = 5 << 4;
  seg[13] = flags;
  Put16(seg, 14, 65535);
  seg.insert(seg.end(), payload.begin(), payload.end());
  return WithChecksum(src, dst, kProtoTcp, seg);
}

Bytes IcmpEcho(const Ipv6Address& src, const Ipv6Address& dst, uint16_t id, uint16_t seq,
               const Bytes& payload) {
  Bytes seg(8);
  seg[0] = 128;
  Put16(seg, 4, id);
  Put16(seg, 6, seq);
  seg.insert(seg.end(), payload.begin(), payload.end());
  return WithChecksum(src, dst, kProtoIcmpv6, seg);
}

Bytes IcmpError(const Ipv6Address& src, const Ipv6Address& dst, uint8_t type, uint8_t code,
                uint32_t param, const Bytes& quoted) {
  Bytes seg(8);
  seg[0] = type;
  seg[1] = code;
  Put32(seg, 4, param);
  size_t room = 1280 - kIpv6Len - 8;
  seg.insert(seg.end(), quoted.begin(),
             quoted.begin() + static_cast<long>(std::min(room, quoted.size())));
  return WithChecksum(src, dst, kProtoIcmpv6, seg);
}

Bytes Ipv6(const Ipv6Address& src, const Ipv6Address& dst, uint8_t next_header,
           const Bytes& payload, uint8_t hop_limit) {
  Bytes p(kIpv6Len);
  p[0] = 0x60;
  Put16(p, 4, static_cast<uint16_t>(payload.size()));
  p[6] = next_header;
  p[7] = hop_limit;
  std::copy(src.bytes().begin(), src.bytes().end(), p.begin() + 8);
  std::copy(dst.bytes().begin(), dst.bytes().end(), p.begin() + 24);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

Bytes Ethernet(const MacAddress& dst, const MacAddress& src, uint16_t ethertype,
               const Bytes& payload) {
  Bytes f(kEthLen);
  std::copy(dst.bytes().begin(), dst.bytes().end(), f.begin());
  std::copy(src.bytes().begin(), src.bytes().end(), f.begin() + 6);
  Put16(f, 12, ethertype);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

Ipv6Address FrameSrc(const Bytes& f) {
  return Ipv6Address::FromBytes(std::span<const uint8_t, 16>(f.data() + kEthLen + 8, 16));
}
Ipv6Address FrameDst(const Bytes& f) {
  return Ipv6Address::FromBytes(std::span<const uint8_t, 16>(f.data() + kEthLen + 24, 16));
}
uint8_t FrameHopLimit(const Bytes& f) { return f.at(kEthLen + 7); }
MacAddress FrameEthDst(const Bytes& f) {
  std::array<uint8_t, 6> m;
  std::copy(f.begin(), f.begin() + 6, m.begin());
  return MacAddress(m);
}
Bytes WithEthDst(Bytes f, const MacAddress& dst) {
  std::copy(dst.bytes().begin(), dst.bytes().end(), f.begin());
  return f;
}
MacAddress FrameEthSrc(const Bytes& f) {
  std::array<uint8_t, 6> m;
  std::copy(f.begin() + 6, f.begin() + 12, m.begin());
  return MacAddress(m);
}
uint16_t FrameTransportChecksum(const Bytes& f) {
  uint8_t proto = f.at(kEthLen + 6);
  return Get16(f, kEthLen + kIpv6Len + static_cast<size_t>(TransportChecksumOffset(proto)));
}
bool FrameTransportChecksumValid(const Bytes& f) {
  uint8_t proto = f.at(kEthLen + 6);
  size_t len = Get16(f, kEthLen + 4);
  std::span<const uint8_t> seg(f.data() + kEthLen + kIpv6Len, len);
  return TransportChecksumValid(FrameSrc(f), FrameDst(f), proto, seg);
}
Bytes Ipv6Of(const Bytes& f) { return Bytes(f.begin() + kEthLen, f.end()); }

std::string Hex(const Bytes& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

Bytes FromHex(const std::string& hex) {
  Bytes out;
  int nibble = -1;
  for (char c : hex) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      throw std::invalid_argument(std::string("not hex: ") + c);
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<uint8_t>(nibble << 4 | v));
      nibble = -1;
    }
  }
  if (nibble >= 0) throw std::invalid_argument("odd number of hex digits");
  return out;
}

}  // namespace ila::testbed
