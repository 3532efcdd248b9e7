// Mutations of generated frames (generator.h): each breaks one thing a hostile or broken sender,
// or a link, may break, and says what in the case's description. Mutations that cannot apply to a
// frame (too short for the field) leave it alone.
#include <algorithm>

#include "fuzz/generator.h"

namespace ila::fuzz {
namespace {

constexpr size_t kEth = testbed::kEthLen, kL4 = testbed::kEthLen + testbed::kIpv6Len;

void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
uint16_t Get16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

// Truncation at every layer: in the Ethernet header, in the IPv6 header, in the first 48 bytes
// after it, anywhere.
void Cut(Case& c, Dice& dice) {
  Bytes& f = c.frame;
  size_t len = 0;
  switch (dice.Below(4)) {
    case 0: len = dice.Below(kEth); break;
    case 1: len = kEth + dice.Below(kL4 - kEth); break;
    case 2: len = kL4 + dice.Below(48); break;
    default: len = dice.Below(f.size() + 1);
  }
  f.resize(std::min(len, f.size()));
  c.what += " | cut to " + std::to_string(f.size());
}

// One or two VLAN tags (802.1Q or 802.1ad, VID 0 now and then).
void Tag(Case& c, Dice& dice) {
  Bytes& f = c.frame;
  if (f.size() < 12) return;
  const int tags = dice.Chance(0.2) ? 2 : 1;
  for (int i = 0; i < tags; ++i) {
    const uint16_t tpid = dice.Chance(0.5) ? 0x8100 : 0x88a8;
    const uint16_t tci = static_cast<uint16_t>(dice.Below(4) ? dice() : 0);
    const uint8_t tag[4] = {static_cast<uint8_t>(tpid >> 8), static_cast<uint8_t>(tpid),
                            static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)};
    f.insert(f.begin() + 12, tag, tag + 4);
  }
  c.what += " | vlan x" + std::to_string(tags);
}

// The IPv6 header's fields: version, payload length, next header, hop limit; and the EtherType.
// Returns whether the transport checksum still holds (only the hop limit is outside it).
bool Header(Case& c, Dice& dice) {
  Bytes& f = c.frame;
  switch (dice.Below(5)) {
    case 0:
      if (f.size() <= kEth) return false;
      f[kEth] = static_cast<uint8_t>(dice.OneOf<uint8_t>({0, 4, 5, 7, 15}) << 4 | (f[kEth] & 15));
      c.what += " | version";
      return false;
    case 1: {
      if (f.size() < kEth + 6) return false;
      const uint64_t by = dice.Below(2) ? 1 + dice.Below(100) : -1 - dice.Below(60);
      Put16(f, kEth + 4, static_cast<uint16_t>(Get16(f, kEth + 4) + by));
      c.what += " | payload length " + std::to_string(Get16(f, kEth + 4));
      return false;
    }
    case 2:
      if (f.size() < kEth + 7) return false;
      f[kEth + 6] =
          dice.OneOf<uint8_t>({0, 43, 44, 60, 59, kProtoTcp, kProtoUdp, kProtoIcmpv6, 41});
      c.what += " | next header " + std::to_string(f[kEth + 6]);
      return false;
    case 3:
      if (f.size() < kEth + 8) return false;
      f[kEth + 7] = dice.OneOf<uint8_t>({0, 1, 2, 255});
      c.what += " | hop limit " + std::to_string(f[kEth + 7]);
      return true;
    default:
      if (f.size() < kEth) return false;
      Put16(f, 12, dice.OneOf<uint16_t>({0x0800, 0x0806, 0x88cc, 0x05dc, 0x86de, 0x0000}));
      c.what += " | ethertype";
      return false;
  }
}

// The addresses: the Ethernet destination (another host's, multicast, broadcast, ours), the
// destination's C-bit, its low 16 bits (0x0000 or 0xffff). Returns whether the transport checksum
// still holds.
bool Addresses(Case& c, Dice& dice, const World& w) {
  Bytes& f = c.frame;
  switch (dice.Below(3)) {
    case 0: {
      if (f.size() < 6) return true;
      const MacAddress m = dice.OneOf(
          {addr::kOtherHostMac, addr::kMulticastMac, addr::kBroadcastMac, w.uplink_mac, w.c1h_mac});
      std::copy(m.bytes().begin(), m.bytes().end(), f.begin());
      c.what += " | eth dst " + m.ToString();
      return true;
    }
    case 1:
      if (f.size() < kL4) return false;
      f[kEth + 24 + 8] ^= 0x10;
      c.what += " | C-bit";
      return false;
    default:
      if (f.size() < kL4) return false;
      f[kL4 - 2] = f[kL4 - 1] = dice.Below(2) ? 0 : 0xff;
      c.what += " | dst low 16 bits";
      return false;
  }
}

// The bytes: a few bits flipped anywhere, UDP's checksum 0 (none), the transport checksum changed
// (or set to one of the two zeros), link padding. Returns whether the transport checksum still
// holds.
bool Content(Case& c, Dice& dice) {
  Bytes& f = c.frame;
  switch (dice.Below(4)) {
    case 0:
      if (f.empty()) return false;
      for (uint64_t n = 1 + dice.Below(3); n > 0; --n)
        f[dice.Below(f.size())] ^= static_cast<uint8_t>(1u << dice.Below(8));
      c.what += " | bits flipped";
      return false;
    case 1:
      if (f.size() < kL4 + 8 || f[kEth + 6] != kProtoUdp) return true;
      Put16(f, kL4 + 6, 0);
      c.what += " | udp checksum 0";
      return true;
    case 2: {
      if (f.size() < kL4) return true;
      const int off = TransportChecksumOffset(f[kEth + 6]);
      if (off < 0 || f.size() < kL4 + static_cast<size_t>(off) + 2) return true;
      const size_t at = kL4 + static_cast<size_t>(off);
      if (dice.Chance(0.5)) {
        f[at] ^= static_cast<uint8_t>(1 + dice.Below(255));
      } else {  // the values one's-complement arithmetic treats specially
        f[at] = f[at + 1] = dice.Chance(0.5) ? 0 : 0xff;
      }
      c.what += " | checksum " + std::to_string(Get16(f, at));
      return false;
    }
    default: {
      const Bytes pad = dice.Filler(40);
      f.insert(f.end(), pad.begin(), pad.end());
      c.what += " | padded";
      return true;
    }
  }
}

}  // namespace

void Mutate(Case& c, Dice& dice, const World& world) {
  int n = 0;
  do {
    bool keeps_checksum = false;
    switch (dice.Below(8)) {
      case 0:
      case 1: Cut(c, dice); break;
      case 2:
        Tag(c, dice);
        keeps_checksum = true;  // never translated
        break;
      case 3:
      case 4: keeps_checksum = Header(c, dice); break;
      case 5: keeps_checksum = Addresses(c, dice, world); break;
      default: keeps_checksum = Content(c, dice);
    }
    if (!keeps_checksum) c.sender_valid = false;
  } while (++n < 4 && dice.Chance(0.3));
}

}  // namespace ila::fuzz
