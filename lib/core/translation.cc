#include "ila/translation.h"

#include "absl/strings/str_cat.h"
#include "core/string_util.h"

namespace ila {
namespace {

constexpr uint16_t kCBitWord = 0x1000;  // the C-bit as seen in the identifier's first 16-bit group

bool IsNeutral(ChecksumMode mode) {
  return mode == ChecksumMode::kNeutralMap || mode == ChecksumMode::kNeutralMapAuto;
}

uint64_t WithLow16(uint64_t word, uint16_t low) { return (word & ~uint64_t{0xffff}) | low; }

// Bytes of transport header needed before adjusting, as Linux (and the XDP programs) require:
// the whole fixed header (TCP 20, UDP 8, ICMPv6 8).
size_t TransportHeaderLength(uint8_t protocol, int checksum_offset) {
  if (protocol == kProtoTcp) return 20;
  if (protocol == kProtoIcmpv6) return 8;
  return static_cast<size_t>(checksum_offset) + 2;
}

}  // namespace

absl::Status IsNeutralMappable(const SirAddress& sir, ChecksumMode mode) {
  if (!IsNeutral(mode)) return absl::OkStatus();
  if (mode == ChecksumMode::kNeutralMap && sir.identifier.checksum_neutral()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SIR address ", sir.ToString(),
        " has the C-bit (checksum-neutral bit) set in its identifier, so neutral-map cannot mark "
        "it; use neutral-map-auto, adj-transport or no-action"));
  }
  if (sir.identifier.low16() == 0xffff) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SIR address ", sir.ToString(), " has identifier low 16 bits 0xffff, which ",
        internal::Av(ToString(mode)),
        " cannot restore exactly (one's-complement 0xffff and 0x0000 are the same sum); use "
        "adj-transport or no-action"));
  }
  return absl::OkStatus();
}

absl::StatusOr<IlaAddress> SirToIla(const SirAddress& sir, Locator locator, ChecksumMode mode) {
  if (absl::Status s = IsNeutralMappable(sir, mode); !s.ok()) return s;
  uint64_t id = sir.identifier.value();
  if (IsNeutral(mode)) {
    // The locator changes the address sum by (new - old); the identifier absorbs (old - new).
    uint16_t diff = OnesComplementDelta64(locator.value(), sir.prefix.value());
    if (mode == ChecksumMode::kNeutralMap) {
      diff = OnesComplementAdd(diff, static_cast<uint16_t>(~kCBitWord));
      id |= Identifier::kChecksumNeutralBit;
    }
    id = WithLow16(id, OnesComplementAdd(static_cast<uint16_t>(id), diff));
  }
  return IlaAddress{locator, Identifier(id)};
}

SirAddress IlaToSir(const IlaAddress& ila, SirPrefix prefix, ChecksumMode mode) {
  uint64_t id = ila.identifier.value();
  bool undo = mode == ChecksumMode::kNeutralMapAuto ||
              (mode == ChecksumMode::kNeutralMap && ila.identifier.checksum_neutral());
  if (undo) {
    // The prefix changes the address sum by (prefix - locator); the identifier absorbs the inverse.
    uint16_t diff = OnesComplementDelta64(prefix.value(), ila.locator.value());
    if (mode == ChecksumMode::kNeutralMap) {
      diff = OnesComplementAdd(diff, kCBitWord);
      id &= ~Identifier::kChecksumNeutralBit;
    }
    uint16_t low = OnesComplementAdd(static_cast<uint16_t>(id), diff);
    if (low == 0xffff) low = 0;  // see the header: 0xffff identifiers are never neutral-mapped
    id = WithLow16(id, low);
  }
  return SirAddress{prefix, Identifier(id)};
}

uint16_t AdjustTransportChecksum(uint16_t field, uint16_t address_delta, uint8_t protocol,
                                 ChecksumMode mode) {
  if (mode != ChecksumMode::kAdjustTransport && mode != ChecksumMode::kAdjustTransportLinuxCompat) {
    return field;
  }
  if (protocol == kProtoUdp && field == 0) return 0;  // no checksum
  uint16_t delta = mode == ChecksumMode::kAdjustTransport ? address_delta
                                                          : static_cast<uint16_t>(~address_delta);
  // Never the one's-complement +0 (0 + 0): a field of 0xffff (-0) meeting a zero delta becomes
  // 0x0000, as a from-scratch computation and Linux's arithmetic give.
  uint16_t sum = OnesComplementAdd(static_cast<uint16_t>(~field), delta);
  uint16_t out = static_cast<uint16_t>(~(sum ? sum : 0xffff));
  if (protocol == kProtoUdp && out == 0) out = 0xffff;
  return out;
}

namespace {
uint16_t SumBytes(uint16_t acc, std::span<const uint8_t> data) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    acc = OnesComplementAdd(acc, static_cast<uint16_t>((data[i] << 8) | data[i + 1]));
  }
  if (i < data.size()) acc = OnesComplementAdd(acc, static_cast<uint16_t>(data[i] << 8));
  return acc;
}

uint16_t PseudoHeaderSum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                         size_t length) {
  uint16_t s = OnesComplementAdd(OnesComplementSum(src), OnesComplementSum(dst));
  s = OnesComplementAdd(s, static_cast<uint16_t>(length >> 16));
  s = OnesComplementAdd(s, static_cast<uint16_t>(length));
  return OnesComplementAdd(s, protocol);
}
}  // namespace

uint16_t ComputeTransportChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                                  std::span<const uint8_t> segment) {
  int off = TransportChecksumOffset(protocol);
  uint16_t s = PseudoHeaderSum(src, dst, protocol, segment.size());
  s = SumBytes(s, segment);
  if (off >= 0 && segment.size() >= static_cast<size_t>(off) + 2) {
    // Take the field as zero: subtract what SumBytes added for it.
    uint16_t field = static_cast<uint16_t>((segment[static_cast<size_t>(off)] << 8) |
                                           segment[static_cast<size_t>(off) + 1]);
    s = OnesComplementAdd(s, static_cast<uint16_t>(~field));
  }
  uint16_t out = static_cast<uint16_t>(~s);
  if (protocol == kProtoUdp && out == 0) out = 0xffff;
  return out;
}

bool TransportChecksumValid(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                            std::span<const uint8_t> segment) {
  int off = TransportChecksumOffset(protocol);
  if (off < 0 || segment.size() < static_cast<size_t>(off) + 2) return false;
  if (protocol == kProtoUdp && segment[6] == 0 && segment[7] == 0) return true;
  uint16_t s = SumBytes(PseudoHeaderSum(src, dst, protocol, segment.size()), segment);
  return s == 0xffff;
}

absl::StatusOr<RewriteOutcome> RewriteDestination(std::span<uint8_t> ipv6,
                                                  const Ipv6Address& new_dst, ChecksumMode mode) {
  constexpr size_t kHeader = 40;
  if (ipv6.size() < kHeader || (ipv6[0] >> 4) != 6) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an IPv6 packet: ", ipv6.size(), " bytes, version ", ipv6.empty() ? 0 : ipv6[0] >> 4));
  }
  Ipv6Address old_dst = Ipv6Address::FromBytes(ipv6.subspan<24, 16>());
  std::copy(new_dst.bytes().begin(), new_dst.bytes().end(), ipv6.begin() + 24);
  if (mode != ChecksumMode::kAdjustTransport && mode != ChecksumMode::kAdjustTransportLinuxCompat) {
    return RewriteOutcome::kTranslated;
  }
  uint8_t protocol = ipv6[6];
  int off = TransportChecksumOffset(protocol);
  if (off < 0 || ipv6.size() < kHeader + TransportHeaderLength(protocol, off)) {
    return RewriteOutcome::kTransportNotAdjustable;
  }
  size_t at = kHeader + static_cast<size_t>(off);
  uint16_t field = static_cast<uint16_t>((ipv6[at] << 8) | ipv6[at + 1]);
  uint16_t delta = OnesComplementAdd(OnesComplementSum(new_dst),
                                     static_cast<uint16_t>(~OnesComplementSum(old_dst)));
  field = AdjustTransportChecksum(field, delta, protocol, mode);
  ipv6[at] = static_cast<uint8_t>(field >> 8);
  ipv6[at + 1] = static_cast<uint8_t>(field);
  return RewriteOutcome::kTranslatedWithTransport;
}

}  // namespace ila
