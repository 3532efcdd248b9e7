// Value types of Identifier-Locator Addressing (draft-herbert-intarea-ila).
//
// All integer accessors are in host byte order; the only byte-order conversions in libila happen
// when a value is built from or written to wire bytes (Ipv6Address::bytes(), MacAddress::bytes())
// and when the library writes a map entry. Text forms follow iproute2 (`ip ila`, `ip -6 route ...
// encap ila`): IPv6 text, locators and identifiers as four 16-bit hex groups ("2001:0:87:0"),
// iproute2's names for checksum modes and identifier types.
//
// Thread safety: every type here is an immutable-after-construction value type; concurrent reads
// are safe, as with int.
#ifndef ILA_TYPES_H_
#define ILA_TYPES_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ila {

// A 128-bit IPv6 address, stored in network byte order.
class Ipv6Address {
 public:
  constexpr Ipv6Address() = default;
  static constexpr Ipv6Address FromHalves(uint64_t high, uint64_t low) {
    Ipv6Address a;
    for (int i = 0; i < 8; ++i) {
      a.bytes_[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
      a.bytes_[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
    }
    return a;
  }
  static Ipv6Address FromBytes(std::span<const uint8_t, 16> wire);
  // RFC 4291 text ("2001:db8::1"). The error names the text and why it was refused.
  [[nodiscard]] static absl::StatusOr<Ipv6Address> Parse(std::string_view text);

  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  constexpr uint64_t high64() const { return Half(0); }
  constexpr uint64_t low64() const { return Half(8); }
  // RFC 5952 canonical text.
  std::string ToString() const;

  bool IsLinkLocalUnicast() const { return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80; }
  bool IsMulticast() const { return bytes_[0] == 0xff; }

  friend constexpr auto operator<=>(const Ipv6Address&, const Ipv6Address&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Ipv6Address& a) {
    return H::combine(std::move(h), a.high64(), a.low64());
  }

 private:
  constexpr uint64_t Half(int offset) const {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | bytes_[offset + i];
    return v;
  }
  std::array<uint8_t, 16> bytes_{};
};

// Shared shape of the three 64-bit ILA quantities; each is its own type so that a locator can
// never be passed where an identifier is expected.
template <typename Tag>
class Word64 {
 public:
  constexpr Word64() = default;
  constexpr explicit Word64(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  // The four 16-bit groups in order, most significant first.
  constexpr uint16_t group(int i) const { return static_cast<uint16_t>(value_ >> (48 - 16 * i)); }
  friend constexpr auto operator<=>(const Word64&, const Word64&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Word64& w) {
    return H::combine(std::move(h), w.value_);
  }

 private:
  uint64_t value_ = 0;
};

// Identifier types of the draft's type field (top three bits of a formatted identifier), plus
// iproute2's `use-format` (read the type from the address). Values are the kernel's ILA_ATYPE_*.
enum class IdentifierType : uint8_t {
  kIid = 0,
  kLuid = 1,
  kVirtV4 = 2,
  kVirtUniV6 = 3,
  kVirtMultiV6 = 4,
  kNonlocalAddr = 5,
  kUseFormat = 32,
};

// Checksum handling of a translation (iproute2 `csum-mode`). kAdjustTransportLinuxCompat is a
// libila extension that reproduces Linux's (wrong-signed) adj-transport arithmetic, for
// interoperating with Linux ILA peers only; see docs/translation.md.
enum class ChecksumMode : uint8_t {
  kAdjustTransport = 0,
  kNeutralMap = 1,
  kNoAction = 2,
  kNeutralMapAuto = 3,
  kAdjustTransportLinuxCompat = 100,
};

struct LocatorTag;
struct IdentifierTag;
struct SirPrefixTag;

// The upper 64 bits of an ILA address: names a host (its routed /64 in the underlay).
class Locator : public Word64<LocatorTag> {
 public:
  using Word64::Word64;
  // Four 16-bit hex groups, iproute2's get_addr64 ("2001:0:87:0").
  [[nodiscard]] static absl::StatusOr<Locator> Parse(std::string_view text);
  std::string ToString() const;
};

// The lower 64 bits of a SIR or ILA address: names an endpoint.
class Identifier : public Word64<IdentifierTag> {
 public:
  static constexpr uint64_t kChecksumNeutralBit = uint64_t{1} << 60;

  using Word64::Word64;
  [[nodiscard]] static absl::StatusOr<Identifier> Parse(std::string_view text);
  std::string ToString() const;

  // The type field of a formatted identifier (top three bits). Meaningful only when the mapping
  // says the identifier is formatted (use-format).
  constexpr IdentifierType format_type() const {
    return static_cast<IdentifierType>(value() >> 61);
  }
  // The C-bit: set on an ILA address whose identifier carries a checksum-neutral adjustment.
  constexpr bool checksum_neutral() const { return (value() & kChecksumNeutralBit) != 0; }
  constexpr uint16_t low16() const { return static_cast<uint16_t>(value()); }
};

// The upper 64 bits of a SIR address: the virtual network's prefix.
class SirPrefix : public Word64<SirPrefixTag> {
 public:
  using Word64::Word64;
  // "3333:0:0:1::/64" (the length must be 64 and the low 64 bits zero), or four hex groups.
  [[nodiscard]] static absl::StatusOr<SirPrefix> Parse(std::string_view text);
  std::string ToString() const;  // "3333:0:0:1::/64"
};

// A SIR address (prefix + identifier): what containers see and use.
struct SirAddress {
  SirPrefix prefix;
  Identifier identifier;

  static constexpr SirAddress From(const Ipv6Address& a) {
    return {SirPrefix(a.high64()), Identifier(a.low64())};
  }
  [[nodiscard]] static absl::StatusOr<SirAddress> Parse(std::string_view text);
  constexpr Ipv6Address address() const {
    return Ipv6Address::FromHalves(prefix.value(), identifier.value());
  }
  std::string ToString() const { return address().ToString(); }
  friend constexpr auto operator<=>(const SirAddress&, const SirAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const SirAddress& s) {
    return H::combine(std::move(h), s.prefix, s.identifier);
  }
};

// An ILA address (locator + identifier): what the underlay carries.
struct IlaAddress {
  Locator locator;
  Identifier identifier;

  static constexpr IlaAddress From(const Ipv6Address& a) {
    return {Locator(a.high64()), Identifier(a.low64())};
  }
  constexpr Ipv6Address address() const {
    return Ipv6Address::FromHalves(locator.value(), identifier.value());
  }
  std::string ToString() const { return address().ToString(); }
  friend constexpr auto operator<=>(const IlaAddress&, const IlaAddress&) = default;
};

// A 48-bit Ethernet address in wire order.
class MacAddress {
 public:
  constexpr MacAddress() = default;
  constexpr explicit MacAddress(const std::array<uint8_t, 6>& bytes) : bytes_(bytes) {}
  // "02:00:5e:10:00:01" (also accepts '-' separators, as ip does not, for convenience).
  [[nodiscard]] static absl::StatusOr<MacAddress> Parse(std::string_view text);
  const std::array<uint8_t, 6>& bytes() const { return bytes_; }
  std::string ToString() const;
  bool IsZero() const { return bytes_ == std::array<uint8_t, 6>{}; }
  friend constexpr auto operator<=>(const MacAddress&, const MacAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const MacAddress& m) {
    return H::combine(std::move(h), m.bytes_);
  }

 private:
  std::array<uint8_t, 6> bytes_{};
};

// A network interface by its index (if_nametoindex) in the network namespace the Dataplane acts
// in. Explicit, so that an interface is never mistaken for a count, a CPU or a file descriptor;
// 0 is no interface.
class InterfaceIndex {
 public:
  constexpr InterfaceIndex() = default;
  constexpr explicit InterfaceIndex(int value) : value_(value) {}
  constexpr int value() const { return value_; }
  constexpr bool valid() const { return value_ > 0; }
  std::string ToString() const { return std::to_string(value_); }
  friend constexpr auto operator<=>(const InterfaceIndex&, const InterfaceIndex&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const InterfaceIndex& i) {
    return H::combine(std::move(h), i.value_);
  }

 private:
  int value_ = 0;
};

// iproute2 names: "adj-transport", "neutral-map", "neutral-map-auto", "no-action"; plus
// "adj-transport-linux-compat".
std::string_view ToString(ChecksumMode mode);
[[nodiscard]] absl::StatusOr<ChecksumMode> ParseChecksumMode(std::string_view text);
// iproute2 names: "iid", "luid", "virt-v4", "virt-uni-v6", "virt-multi-v6", "nonlocal-addr",
// "use-format".
std::string_view ToString(IdentifierType type);
[[nodiscard]] absl::StatusOr<IdentifierType> ParseIdentifierType(std::string_view text);

std::ostream& operator<<(std::ostream& os, const Ipv6Address& a);
std::ostream& operator<<(std::ostream& os, const Locator& l);
std::ostream& operator<<(std::ostream& os, const Identifier& i);
std::ostream& operator<<(std::ostream& os, const SirPrefix& p);
std::ostream& operator<<(std::ostream& os, const SirAddress& s);
std::ostream& operator<<(std::ostream& os, const IlaAddress& s);
std::ostream& operator<<(std::ostream& os, const MacAddress& m);
std::ostream& operator<<(std::ostream& os, InterfaceIndex i);
std::ostream& operator<<(std::ostream& os, ChecksumMode m);
std::ostream& operator<<(std::ostream& os, IdentifierType t);

}  // namespace ila

#endif  // ILA_TYPES_H_
