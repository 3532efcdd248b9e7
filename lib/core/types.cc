#include "ila/types.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/string_util.h"

namespace ila {
namespace {

using internal::Av;

absl::Status BadText(std::string_view what, std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", Av(what), " \"", Av(text), "\": ", Av(why)));
}

// One hex group of 1 to 4 digits, as iproute2's get_u16(..., 16) accepts in get_addr64.
std::optional<uint16_t> ParseHexGroup(std::string_view g) {
  if (g.empty() || g.size() > 4) return std::nullopt;
  uint32_t v = 0;
  for (char c : g) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return std::nullopt;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  return static_cast<uint16_t>(v);
}

// "2001:0:87:0": exactly four groups.
absl::StatusOr<uint64_t> ParseFourGroups(std::string_view what, std::string_view text) {
  std::vector<absl::string_view> groups = absl::StrSplit(Av(text), ':');
  if (groups.size() != 4) {
    return BadText(what, text,
                   absl::StrCat("expected four 16-bit hex groups such as 2001:0:87:0, found ",
                                groups.size(), " group", groups.size() == 1 ? "" : "s"));
  }
  uint64_t v = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    auto g = ParseHexGroup(internal::Sv(groups[i]));
    if (!g) {
      return BadText(
          what, text,
          absl::StrCat("group ", i + 1, " \"", groups[i], "\" is not 1 to 4 hex digits"));
    }
    v = (v << 16) | *g;
  }
  return v;
}

std::string FormatFourGroups(uint64_t v) {
  return absl::StrFormat("%x:%x:%x:%x", (v >> 48) & 0xffff, (v >> 32) & 0xffff, (v >> 16) & 0xffff,
                         v & 0xffff);
}

}  // namespace

Ipv6Address Ipv6Address::FromBytes(std::span<const uint8_t, 16> wire) {
  Ipv6Address a;
  std::copy(wire.begin(), wire.end(), a.bytes_.begin());
  return a;
}

absl::StatusOr<Ipv6Address> Ipv6Address::Parse(std::string_view text) {
  if (text.empty()) return BadText("IPv6 address", text, "empty");
  if (text.size() >= INET6_ADDRSTRLEN) return BadText("IPv6 address", text, "too long");
  // inet_pton stops at a NUL: without this, "::1\0junk" would parse as ::1.
  if (text.find('\0') != std::string_view::npos) {
    return BadText("IPv6 address", text, "contains a NUL character");
  }
  if (text.find('/') != std::string_view::npos) {
    return BadText("IPv6 address", text, "a prefix length is not allowed here");
  }
  std::string copy(text);
  Ipv6Address a;
  if (inet_pton(AF_INET6, copy.c_str(), a.bytes_.data()) != 1) {
    return BadText("IPv6 address", text, "not an IPv6 address in RFC 4291 text form");
  }
  return a;
}

std::string Ipv6Address::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

absl::StatusOr<Locator> Locator::Parse(std::string_view text) {
  auto v = ParseFourGroups("locator", text);
  if (!v.ok()) return v.status();
  return Locator(*v);
}
std::string Locator::ToString() const { return FormatFourGroups(value()); }

absl::StatusOr<Identifier> Identifier::Parse(std::string_view text) {
  auto v = ParseFourGroups("identifier", text);
  if (!v.ok()) return v.status();
  return Identifier(*v);
}
std::string Identifier::ToString() const { return FormatFourGroups(value()); }

absl::StatusOr<SirPrefix> SirPrefix::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    if (std::count(text.begin(), text.end(), ':') == 3 &&
        text.find("::") == std::string_view::npos) {
      auto v = ParseFourGroups("SIR prefix", text);
      if (!v.ok()) return v.status();
      return SirPrefix(*v);
    }
    return BadText("SIR prefix", text, "expected an IPv6 /64 prefix such as 3333:0:0:1::/64");
  }
  std::string_view len = text.substr(slash + 1);
  if (len != "64") {
    return BadText("SIR prefix", text,
                   "the prefix length must be 64 (a SIR prefix is the upper 64 bits)");
  }
  auto addr = Ipv6Address::Parse(text.substr(0, slash));
  if (!addr.ok()) return BadText("SIR prefix", text, "the part before '/' is not an IPv6 address");
  if (addr->low64() != 0) {
    return BadText("SIR prefix", text, "bits beyond the /64 are set");
  }
  return SirPrefix(addr->high64());
}
std::string SirPrefix::ToString() const {
  return Ipv6Address::FromHalves(value(), 0).ToString() + "/64";
}

absl::StatusOr<SirAddress> SirAddress::Parse(std::string_view text) {
  auto a = Ipv6Address::Parse(text);
  if (!a.ok()) return a.status();
  return From(*a);
}

absl::StatusOr<MacAddress> MacAddress::Parse(std::string_view text) {
  std::array<uint8_t, 6> b{};
  if (text.size() != 17) {
    return BadText("MAC address", text, "expected six hex octets such as 02:00:5e:10:00:01");
  }
  for (size_t i = 0; i < 6; ++i) {
    std::string_view octet = text.substr(3 * i, 2);
    auto v = ParseHexGroup(octet);
    if (!v || octet.size() != 2) {
      return BadText("MAC address", text, absl::StrCat("octet ", i + 1, " is not two hex digits"));
    }
    if (i < 5 && text[3 * i + 2] != ':' && text[3 * i + 2] != '-') {
      return BadText("MAC address", text, "octets must be separated by ':'");
    }
    b[i] = static_cast<uint8_t>(*v);
  }
  return MacAddress(b);
}
std::string MacAddress::ToString() const {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", bytes_[0], bytes_[1], bytes_[2],
                         bytes_[3], bytes_[4], bytes_[5]);
}

namespace {
struct ModeName {
  ChecksumMode mode;
  std::string_view name;
};
constexpr ModeName kModeNames[] = {
    {ChecksumMode::kAdjustTransport, "adj-transport"},
    {ChecksumMode::kNeutralMap, "neutral-map"},
    {ChecksumMode::kNeutralMapAuto, "neutral-map-auto"},
    {ChecksumMode::kNoAction, "no-action"},
    {ChecksumMode::kAdjustTransportLinuxCompat, "adj-transport-linux-compat"},
};
struct TypeName {
  IdentifierType type;
  std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {IdentifierType::kIid, "iid"},
    {IdentifierType::kLuid, "luid"},
    {IdentifierType::kVirtV4, "virt-v4"},
    {IdentifierType::kVirtUniV6, "virt-uni-v6"},
    {IdentifierType::kVirtMultiV6, "virt-multi-v6"},
    {IdentifierType::kNonlocalAddr, "nonlocal-addr"},
    {IdentifierType::kUseFormat, "use-format"},
};

template <typename Table>
std::string Choices(const Table& table) {
  std::string out;
  for (const auto& e : table) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}
}  // namespace

std::string_view ToString(ChecksumMode mode) {
  for (const auto& e : kModeNames)
    if (e.mode == mode) return e.name;
  return "unknown";
}
absl::StatusOr<ChecksumMode> ParseChecksumMode(std::string_view text) {
  for (const auto& e : kModeNames)
    if (e.name == text) return e.mode;
  return BadText("checksum mode", text, absl::StrCat("expected one of ", Choices(kModeNames)));
}
std::string_view ToString(IdentifierType type) {
  for (const auto& e : kTypeNames)
    if (e.type == type) return e.name;
  return "unknown";
}
absl::StatusOr<IdentifierType> ParseIdentifierType(std::string_view text) {
  for (const auto& e : kTypeNames)
    if (e.name == text) return e.type;
  return BadText("identifier type", text, absl::StrCat("expected one of ", Choices(kTypeNames)));
}

std::ostream& operator<<(std::ostream& os, const Ipv6Address& a) { return os << a.ToString(); }
std::ostream& operator<<(std::ostream& os, const Locator& l) { return os << l.ToString(); }
std::ostream& operator<<(std::ostream& os, const Identifier& i) { return os << i.ToString(); }
std::ostream& operator<<(std::ostream& os, const SirPrefix& p) { return os << p.ToString(); }
std::ostream& operator<<(std::ostream& os, const SirAddress& s) { return os << s.ToString(); }
std::ostream& operator<<(std::ostream& os, const IlaAddress& s) { return os << s.ToString(); }
std::ostream& operator<<(std::ostream& os, const MacAddress& m) { return os << m.ToString(); }
std::ostream& operator<<(std::ostream& os, InterfaceIndex i) { return os << i.value(); }
std::ostream& operator<<(std::ostream& os, ChecksumMode m) { return os << ToString(m); }
std::ostream& operator<<(std::ostream& os, IdentifierType t) { return os << ToString(t); }

}  // namespace ila
