// Unit tests for include/ila/types.h: text forms (iproute2 / RFC 5952), parse errors, accessors,
// ordering and hashing.
#include "ila/stats.h"
#include "ila/types.h"

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/status/status.h"

namespace ila {
namespace {

using Catch::Matchers::Contains;

// Asserts that `result` failed with InvalidArgument and that its message quotes the offending text
// and contains every fragment of `reasons`.
template <typename T>
void CheckRejected(const absl::StatusOr<T>& result, std::string_view text,
                   const std::vector<std::string>& reasons) {
  INFO("input: \"" << std::string(text) << "\"");
  REQUIRE_FALSE(result.ok());
  const absl::Status& status = result.status();
  INFO("status: " << status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  CHECK_THAT(message, Contains("\"" + std::string(text) + "\""));
  for (const std::string& reason : reasons) CHECK_THAT(message, Contains(reason));
}

template <typename T>
T ValueOf(const absl::StatusOr<T>& result) {
  INFO("status: " << result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}

Ipv6Address Addr(std::string_view text) { return ValueOf(Ipv6Address::Parse(text)); }

// ----- Ipv6Address -----------------------------------------------------------------------------

TEST_CASE("Ipv6Address prints RFC 5952 canonical text and round-trips", "[types][ipv6]") {
  struct Case {
    std::string_view in;
    std::string_view canonical;
  };
  const Case cases[] = {
      {"2001:DB8:0:0::1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // equal runs: the first is shortened
      {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},                 // the longest run is shortened
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // a single 0 group is not shortened
      {"3333:0:0:1:2000:0:1:87", "3333::1:2000:0:1:87"},
      {"3333:0:0:1:0:0:0:0", "3333:0:0:1::"},
      {"FE80::ABCD", "fe80::abcd"},
      {"0:0:0:0:0:0:0:0", "::"},
      {"::1", "::1"},
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
  };
  for (const Case& c : cases) {
    INFO("input " << std::string(c.in));
    const Ipv6Address a = Addr(c.in);
    CHECK(a.ToString() == c.canonical);
    CHECK(Addr(a.ToString()) == a);
    std::ostringstream os;
    os << a;
    CHECK(os.str() == c.canonical);
  }
}

TEST_CASE("Ipv6Address random values round-trip through text", "[types][ipv6]") {
  std::mt19937_64 rng(0x11a5eed);
  for (int i = 0; i < 2000; ++i) {
    uint64_t hi = rng(), lo = rng();
    // Zero some groups so that "::" shortening is exercised.
    hi &= ~(uint64_t{0xffffffff} << (16 * (i % 3)));
    if (i % 5 == 0) lo &= 0xffff;
    const Ipv6Address a = Ipv6Address::FromHalves(hi, lo);
    INFO(a.ToString());
    CHECK(Addr(a.ToString()) == a);
  }
}

TEST_CASE("Ipv6Address byte layout and 64-bit halves", "[types][ipv6]") {
  const Ipv6Address a = Addr("2001:db8:0:1:2000::1234");
  CHECK(a.high64() == 0x20010db800000001u);
  CHECK(a.low64() == 0x2000000000001234u);
  const std::array<uint8_t, 16> wire = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    1,
                                        0x20, 0x00, 0,    0,    0, 0, 0x12, 0x34};
  CHECK(a.bytes() == wire);
  CHECK(Ipv6Address::FromBytes(wire) == a);
  CHECK(Ipv6Address::FromHalves(0x20010db800000001u, 0x2000000000001234u) == a);
  CHECK(Ipv6Address::FromHalves(0x20010db800000001u, 0x2000000000001234u).ToString() ==
        "2001:db8:0:1:2000::1234");

  static_assert(Ipv6Address::FromHalves(0x0102030405060708u, 0x090a0b0c0d0e0f10u).high64() ==
                0x0102030405060708u);
  static_assert(Ipv6Address::FromHalves(0x0102030405060708u, 0x090a0b0c0d0e0f10u).low64() ==
                0x090a0b0c0d0e0f10u);
  CHECK(Ipv6Address().ToString() == "::");

  CHECK(Addr("fe80::1").IsLinkLocalUnicast());
  CHECK(Addr("febf::1").IsLinkLocalUnicast());
  CHECK_FALSE(Addr("fec0::1").IsLinkLocalUnicast());
  CHECK_FALSE(Addr("2001:db8::1").IsLinkLocalUnicast());
  CHECK(Addr("ff02::1").IsMulticast());
  CHECK_FALSE(Addr("fe80::1").IsMulticast());
}

TEST_CASE("Ipv6Address rejects bad text with InvalidArgument naming text and reason",
          "[types][ipv6][errors]") {
  CheckRejected(Ipv6Address::Parse(""), "", {"IPv6 address", "empty"});
  CheckRejected(Ipv6Address::Parse("2001:db8::1/64"), "2001:db8::1/64", {"prefix length"});
  CheckRejected(Ipv6Address::Parse("2001:db8::g"), "2001:db8::g", {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse("garbage"), "garbage", {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9",
                {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse("2001:db8:::1"), "2001:db8:::1", {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse("1::2::3"), "1::2::3", {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse("192.0.2.1"), "192.0.2.1", {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse(" ::1"), " ::1", {"not an IPv6 address"});
  CheckRejected(Ipv6Address::Parse("12345::1"), "12345::1", {"not an IPv6 address"});
  const std::string too_long(60, '1');
  CheckRejected(Ipv6Address::Parse(too_long), too_long, {"too long"});

  // inet_pton stops at a NUL; the parser must not accept what precedes it.
  const std::string_view with_nul("::1\0junk", 8);
  auto r = Ipv6Address::Parse(with_nul);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()), Contains("NUL"));
}

// ----- Locator / Identifier -------------------------------------------------------------------

TEST_CASE("Locator and Identifier use iproute2's four-group text", "[types][word64]") {
  struct Case {
    std::string_view in;
    uint64_t value;
    std::string_view printed;
  };
  const Case cases[] = {
      {"2001:0:87:0", 0x2001000000870000u, "2001:0:87:0"},
      {"2001:0000:0087:0000", 0x2001000000870000u, "2001:0:87:0"},
      {"0:0:0:0", 0, "0:0:0:0"},  // never shortened with "::"
      {"FFFF:ffff:0:1", 0xffffffff00000001u, "ffff:ffff:0:1"},
      {"2000:0:1:87", 0x2000000000010087u, "2000:0:1:87"},
      {"1:2:3:4", 0x0001000200030004u, "1:2:3:4"},
  };
  for (const Case& c : cases) {
    INFO("input " << std::string(c.in));
    const Locator l = ValueOf(Locator::Parse(c.in));
    CHECK(l.value() == c.value);
    CHECK(l.ToString() == c.printed);
    const Identifier id = ValueOf(Identifier::Parse(c.in));
    CHECK(id.value() == c.value);
    CHECK(id.ToString() == c.printed);
    std::ostringstream os;
    os << l << ' ' << id;
    CHECK(os.str() == std::string(c.printed) + " " + std::string(c.printed));
  }

  const Locator l = ValueOf(Locator::Parse("2001:db8:aaaa:1"));
  CHECK(l.group(0) == 0x2001);
  CHECK(l.group(1) == 0x0db8);
  CHECK(l.group(2) == 0xaaaa);
  CHECK(l.group(3) == 0x0001);

  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t v = rng() & (i % 2 ? ~uint64_t{0} : 0xffff0000ffff0000u);
    INFO(v);
    CHECK(ValueOf(Locator::Parse(Locator(v).ToString())).value() == v);
    CHECK(ValueOf(Identifier::Parse(Identifier(v).ToString())).value() == v);
  }
}

TEST_CASE("Locator and Identifier reject bad text with InvalidArgument naming text and reason",
          "[types][word64][errors]") {
  CheckRejected(Locator::Parse("2001:0:87"), "2001:0:87",
                {"locator", "expected four 16-bit hex groups", "found 3 groups"});
  CheckRejected(Locator::Parse("2001:0:87:0:1"), "2001:0:87:0:1", {"locator", "found 5 groups"});
  CheckRejected(Locator::Parse(""), "", {"locator", "found 1 group"});
  CheckRejected(Locator::Parse("2001:0:87:00000"), "2001:0:87:00000",
                {"group 4", "\"00000\"", "is not 1 to 4 hex digits"});
  CheckRejected(Locator::Parse("2001:0:8g:0"), "2001:0:8g:0",
                {"group 3", "\"8g\"", "is not 1 to 4 hex digits"});
  CheckRejected(Locator::Parse("2001::87:0"), "2001::87:0", {"group 2", "is not 1 to 4 hex"});
  CheckRejected(Locator::Parse("+1:0:0:0"), "+1:0:0:0", {"group 1", "\"+1\""});
  CheckRejected(Locator::Parse("-1:0:0:0"), "-1:0:0:0", {"group 1"});
  CheckRejected(Locator::Parse(" 1:0:0:0"), " 1:0:0:0", {"group 1"});
  CheckRejected(Locator::Parse("0x1:0:0:0"), "0x1:0:0:0", {"group 1"});
  CheckRejected(Locator::Parse("2001:db8::/64"), "2001:db8::/64", {"group 3 \"\""});

  CheckRejected(Identifier::Parse("2000:0:1"), "2000:0:1", {"identifier", "found 3 groups"});
  CheckRejected(Identifier::Parse("2000:0:1:87:0"), "2000:0:1:87:0",
                {"identifier", "found 5 groups"});
  CheckRejected(Identifier::Parse("2000:0:1:10000"), "2000:0:1:10000", {"identifier", "group 4"});
  CheckRejected(Identifier::Parse("xyz:0:1:87"), "xyz:0:1:87", {"identifier", "group 1"});
}

TEST_CASE("Identifier accessors: format type, C-bit, low 16 bits", "[types][identifier]") {
  CHECK(Identifier::kChecksumNeutralBit == uint64_t{0x1000000000000000});

  const Identifier luid(0x2000000000010087u);
  CHECK(luid.format_type() == IdentifierType::kLuid);
  CHECK_FALSE(luid.checksum_neutral());
  CHECK(luid.low16() == 0x0087);

  const Identifier luid_c(0x3000000000000333u);
  CHECK(luid_c.format_type() == IdentifierType::kLuid);
  CHECK(luid_c.checksum_neutral());
  CHECK(luid_c.low16() == 0x0333);

  CHECK(Identifier(0x0000000000000000u).format_type() == IdentifierType::kIid);
  CHECK(Identifier(0x1000000000000000u).format_type() == IdentifierType::kIid);
  CHECK(Identifier(0x1000000000000000u).checksum_neutral());
  CHECK(Identifier(0x4000000000000000u).format_type() == IdentifierType::kVirtV4);
  CHECK(Identifier(0x6000000000000000u).format_type() == IdentifierType::kVirtUniV6);
  CHECK(Identifier(0x8000000000000000u).format_type() == IdentifierType::kVirtMultiV6);
  CHECK(Identifier(0xa000000000000000u).format_type() == IdentifierType::kNonlocalAddr);
  CHECK(Identifier(0xefffffffffffffffu).format_type() == static_cast<IdentifierType>(7));
  CHECK(ToString(Identifier(0xe000000000000000u).format_type()) == "unknown");
  CHECK_FALSE(Identifier(0xefffffffffffffffu).checksum_neutral());
  CHECK(Identifier(0xefffffffffffffffu).low16() == 0xffff);
  CHECK(Identifier(0x000000000000ffffu).low16() == 0xffff);
  CHECK(Identifier(0xffffffffffff0000u).low16() == 0x0000);

  static_assert(Identifier(0x3000000000000000u).checksum_neutral());
  static_assert(Identifier(0x2000000000001234u).low16() == 0x1234);
}

// ----- SirPrefix / SirAddress / IlaAddress ----------------------------------------------------

TEST_CASE("SirPrefix parses /64 and four-group forms and prints as /64", "[types][sir]") {
  struct Case {
    std::string_view in;
    uint64_t value;
    std::string_view printed;
  };
  const Case cases[] = {
      {"3333:0:0:1::/64", 0x3333000000000001u, "3333:0:0:1::/64"},
      {"3333:0:0:1", 0x3333000000000001u, "3333:0:0:1::/64"},
      {"3333:0000:0000:0001", 0x3333000000000001u, "3333:0:0:1::/64"},
      {"2001:DB8::/64", 0x20010db800000000u, "2001:db8::/64"},
      {"2001:db8:0:1:0:0:0:0/64", 0x20010db800000001u, "2001:db8:0:1::/64"},
      {"::/64", 0, "::/64"},
      {"ffff:ffff:ffff:ffff::/64", ~uint64_t{0}, "ffff:ffff:ffff:ffff::/64"},
  };
  for (const Case& c : cases) {
    INFO("input " << std::string(c.in));
    const SirPrefix p = ValueOf(SirPrefix::Parse(c.in));
    CHECK(p.value() == c.value);
    CHECK(p.ToString() == c.printed);
    CHECK(ValueOf(SirPrefix::Parse(p.ToString())) == p);
    std::ostringstream os;
    os << p;
    CHECK(os.str() == c.printed);
  }
}

TEST_CASE("SirPrefix rejects bad text with InvalidArgument naming text and reason",
          "[types][sir][errors]") {
  CheckRejected(SirPrefix::Parse("3333:0:0:1::/48"), "3333:0:0:1::/48",
                {"SIR prefix", "prefix length must be 64"});
  CheckRejected(SirPrefix::Parse("3333:0:0:1::/128"), "3333:0:0:1::/128",
                {"prefix length must be 64"});
  CheckRejected(SirPrefix::Parse("3333:0:0:1::/"), "3333:0:0:1::/", {"prefix length must be 64"});
  CheckRejected(SirPrefix::Parse("3333:0:0:1::1/64"), "3333:0:0:1::1/64",
                {"SIR prefix", "bits beyond the /64 are set"});
  CheckRejected(SirPrefix::Parse("3333:0:0:1:8000::/64"), "3333:0:0:1:8000::/64",
                {"bits beyond the /64 are set"});
  CheckRejected(SirPrefix::Parse("zzzz::/64"), "zzzz::/64", {"not an IPv6 address"});
  CheckRejected(SirPrefix::Parse("3333::1"), "3333::1",
                {"SIR prefix", "expected an IPv6 /64 prefix"});
  CheckRejected(SirPrefix::Parse(""), "", {"expected an IPv6 /64 prefix"});
  CheckRejected(SirPrefix::Parse("3333:0:0:12345"), "3333:0:0:12345",
                {"SIR prefix", "group 4", "is not 1 to 4 hex digits"});
}

TEST_CASE("SirAddress and IlaAddress split an address into its halves", "[types][sir]") {
  const SirAddress sir = ValueOf(SirAddress::Parse("3333:0:0:1:2000:0:1:87"));
  CHECK(sir.prefix == SirPrefix(0x3333000000000001u));
  CHECK(sir.identifier == Identifier(0x2000000000010087u));
  CHECK(sir.ToString() == "3333::1:2000:0:1:87");
  CHECK(sir.address() == Addr("3333:0:0:1:2000:0:1:87"));
  CHECK(SirAddress::From(Addr("3333:0:0:1:2000:0:1:87")) == sir);
  std::ostringstream os;
  os << sir;
  CHECK(os.str() == "3333::1:2000:0:1:87");

  CHECK(ValueOf(SirAddress::Parse("2001:DB8:0:1:2000:0:0:1234")).ToString() ==
        "2001:db8:0:1:2000::1234");

  const IlaAddress ila = IlaAddress::From(Addr("2001:0:87:0:3000:0:1:333"));
  CHECK(ila.locator == Locator(0x2001000000870000u));
  CHECK(ila.identifier == Identifier(0x3000000000010333u));
  CHECK(ila.ToString() == "2001:0:87:0:3000:0:1:333");
  CHECK(ila.address() == Addr("2001:0:87:0:3000:0:1:333"));
  std::ostringstream os2;
  os2 << ila;
  CHECK(os2.str() == "2001:0:87:0:3000:0:1:333");

  CheckRejected(SirAddress::Parse("3333:0:0:1::/64"), "3333:0:0:1::/64", {"prefix length"});
  CheckRejected(SirAddress::Parse("3333:0:0:1"), "3333:0:0:1", {"not an IPv6 address"});
}

// ----- MacAddress -----------------------------------------------------------------------------

TEST_CASE("MacAddress parses and prints colon-separated octets", "[types][mac]") {
  const MacAddress m = ValueOf(MacAddress::Parse("02:00:5e:10:00:01"));
  CHECK(m.bytes() == std::array<uint8_t, 6>{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01});
  CHECK(m.ToString() == "02:00:5e:10:00:01");
  CHECK_FALSE(m.IsZero());

  const MacAddress dashed = ValueOf(MacAddress::Parse("02-00-5E-10-00-0A"));
  CHECK(dashed.ToString() == "02:00:5e:10:00:0a");
  CHECK(ValueOf(MacAddress::Parse("FF:ff:Ff:fF:ff:ff")).ToString() == "ff:ff:ff:ff:ff:ff");

  const MacAddress zero = ValueOf(MacAddress::Parse("00:00:00:00:00:00"));
  CHECK(zero.IsZero());
  CHECK(MacAddress().IsZero());
  CHECK(zero == MacAddress());

  std::ostringstream os;
  os << MacAddress(std::array<uint8_t, 6>{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01});
  CHECK(os.str() == "de:ad:be:ef:00:01");
}

TEST_CASE("MacAddress rejects bad text with InvalidArgument naming text and reason",
          "[types][mac][errors]") {
  CheckRejected(MacAddress::Parse(""), "", {"MAC address", "expected six hex octets"});
  CheckRejected(MacAddress::Parse("02:00:5e:10:00"), "02:00:5e:10:00", {"expected six hex octets"});
  CheckRejected(MacAddress::Parse("02:00:5e:10:00:01:02"), "02:00:5e:10:00:01:02",
                {"expected six hex octets"});
  CheckRejected(MacAddress::Parse("2:0:5e:10:0:1"), "2:0:5e:10:0:1", {"expected six hex octets"});
  CheckRejected(MacAddress::Parse("02:00:5e:10:00:0g"), "02:00:5e:10:00:0g",
                {"octet 6 is not two hex digits"});
  CheckRejected(MacAddress::Parse("x2:00:5e:10:00:01"), "x2:00:5e:10:00:01",
                {"octet 1 is not two hex digits"});
  CheckRejected(MacAddress::Parse("02:00:+e:10:00:01"), "02:00:+e:10:00:01",
                {"octet 3 is not two hex digits"});
  CheckRejected(MacAddress::Parse("02.00.5e.10.00.01"), "02.00.5e.10.00.01", {"separated by ':'"});
  CheckRejected(MacAddress::Parse("02:00:5e:10:00 01"), "02:00:5e:10:00 01", {"separated by ':'"});
}

// ----- ChecksumMode / IdentifierType names ----------------------------------------------------

TEST_CASE("ChecksumMode names follow iproute2 and round-trip", "[types][names]") {
  struct Case {
    ChecksumMode mode;
    std::string_view name;
    int kernel_value;  // ILA_CSUM_* (the libila extension has its own value)
  };
  const Case cases[] = {
      {ChecksumMode::kAdjustTransport, "adj-transport", 0},
      {ChecksumMode::kNeutralMap, "neutral-map", 1},
      {ChecksumMode::kNoAction, "no-action", 2},
      {ChecksumMode::kNeutralMapAuto, "neutral-map-auto", 3},
      {ChecksumMode::kAdjustTransportLinuxCompat, "adj-transport-linux-compat", 100},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    CHECK(ToString(c.mode) == c.name);
    CHECK(ValueOf(ParseChecksumMode(c.name)) == c.mode);
    CHECK(static_cast<int>(c.mode) == c.kernel_value);
    std::ostringstream os;
    os << c.mode;
    CHECK(os.str() == c.name);
  }
  CHECK(ToString(static_cast<ChecksumMode>(42)) == "unknown");

  const std::string choices =
      "expected one of adj-transport, neutral-map, neutral-map-auto, no-action, "
      "adj-transport-linux-compat";
  CheckRejected(ParseChecksumMode("neutral"), "neutral", {"checksum mode", choices});
  CheckRejected(ParseChecksumMode("Neutral-Map"), "Neutral-Map", {choices});
  CheckRejected(ParseChecksumMode("adj-transport "), "adj-transport ", {choices});
  CheckRejected(ParseChecksumMode(""), "", {choices});
}

TEST_CASE("IdentifierType names follow iproute2 and round-trip", "[types][names]") {
  struct Case {
    IdentifierType type;
    std::string_view name;
    int kernel_value;  // ILA_ATYPE_*
  };
  const Case cases[] = {
      {IdentifierType::kIid, "iid", 0},
      {IdentifierType::kLuid, "luid", 1},
      {IdentifierType::kVirtV4, "virt-v4", 2},
      {IdentifierType::kVirtUniV6, "virt-uni-v6", 3},
      {IdentifierType::kVirtMultiV6, "virt-multi-v6", 4},
      {IdentifierType::kNonlocalAddr, "nonlocal-addr", 5},
      {IdentifierType::kUseFormat, "use-format", 32},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    CHECK(ToString(c.type) == c.name);
    CHECK(ValueOf(ParseIdentifierType(c.name)) == c.type);
    CHECK(static_cast<int>(c.type) == c.kernel_value);
    std::ostringstream os;
    os << c.type;
    CHECK(os.str() == c.name);
  }
  CHECK(ToString(static_cast<IdentifierType>(6)) == "unknown");

  const std::string choices =
      "expected one of iid, luid, virt-v4, virt-uni-v6, virt-multi-v6, nonlocal-addr, use-format";
  CheckRejected(ParseIdentifierType("lu-id"), "lu-id", {"identifier type", choices});
  CheckRejected(ParseIdentifierType("LUID"), "LUID", {choices});
  CheckRejected(ParseIdentifierType(""), "", {choices});
}

// ----- Ordering and hashing -------------------------------------------------------------------

TEST_CASE("Value types order like their numeric values", "[types][compare]") {
  CHECK(Locator(1) < Locator(2));
  CHECK(Locator(0x2001000000000000u) > Locator(0x1fffffffffffffffu));
  CHECK(Identifier(7) == Identifier(7));
  CHECK(Identifier(7) != Identifier(8));
  CHECK(SirPrefix(3) <= SirPrefix(3));

  // Ipv6Address orders as the 128-bit number (its bytes are big-endian).
  CHECK(Addr("2001:db8::1") < Addr("2001:db8::2"));
  CHECK(Addr("2001:db8::ffff") < Addr("2001:db8:0:1::"));
  CHECK(Addr("ff02::1") > Addr("fe80::1"));

  // SirAddress orders by prefix, then identifier.
  const SirAddress a{SirPrefix(1), Identifier(0xffff)};
  const SirAddress b{SirPrefix(2), Identifier(0)};
  const SirAddress c{SirPrefix(2), Identifier(1)};
  CHECK(a < b);
  CHECK(b < c);
  CHECK(c == SirAddress{SirPrefix(2), Identifier(1)});
  CHECK(IlaAddress{Locator(1), Identifier(2)} < IlaAddress{Locator(1), Identifier(3)});

  CHECK(MacAddress(std::array<uint8_t, 6>{0, 0, 0, 0, 0, 1}) <
        MacAddress(std::array<uint8_t, 6>{0, 0, 0, 0, 1, 0}));

  std::set<Ipv6Address> addrs = {Addr("2001:db8::2"), Addr("2001:db8::1"), Addr("2001:db8::1")};
  REQUIRE(addrs.size() == 2);
  CHECK(addrs.begin()->ToString() == "2001:db8::1");
}

// absl::flat_hash_set needs absl_raw_hash_set, which the test binary does not link; the same
// hasher (absl::Hash<T>, i.e. AbslHashValue) drives a std::unordered_set here, and std::set covers
// operator<=>.
template <typename T>
using HashSet = std::unordered_set<T, absl::Hash<T>>;

TEST_CASE("Value types hash with absl::Hash and work in hash and ordered sets", "[types][hash]") {
  CHECK(absl::Hash<Ipv6Address>{}(Addr("2001:db8::1")) ==
        absl::Hash<Ipv6Address>{}(Addr("2001:DB8:0::1")));
  CHECK(absl::Hash<Locator>{}(Locator(5)) == absl::Hash<Locator>{}(Locator(5)));
  CHECK(absl::Hash<SirAddress>{}(SirAddress{SirPrefix(1), Identifier(2)}) ==
        absl::Hash<SirAddress>{}(SirAddress::From(Ipv6Address::FromHalves(1, 2))));

  std::mt19937_64 rng(7);
  HashSet<Ipv6Address> addrs;
  HashSet<SirAddress> sirs;
  HashSet<Locator> locators;
  HashSet<Identifier> identifiers;
  HashSet<MacAddress> macs;
  std::set<Ipv6Address> ordered_addrs;
  std::set<SirAddress> ordered_sirs;
  std::set<size_t> address_hashes, sir_hashes, locator_hashes, mac_hashes;
  std::vector<Ipv6Address> inserted;
  constexpr size_t kCount = 1000;
  for (size_t i = 0; i < kCount; ++i) {
    const uint64_t hi = rng(), lo = rng();
    const Ipv6Address a = Ipv6Address::FromHalves(hi, lo);
    const MacAddress m(
        std::array<uint8_t, 6>{static_cast<uint8_t>(hi), static_cast<uint8_t>(hi >> 8),
                               static_cast<uint8_t>(hi >> 16), static_cast<uint8_t>(hi >> 24),
                               static_cast<uint8_t>(hi >> 32), static_cast<uint8_t>(hi >> 40)});
    inserted.push_back(a);
    CHECK(addrs.insert(a).second);
    CHECK(sirs.insert(SirAddress::From(a)).second);
    CHECK(locators.insert(Locator(hi)).second);
    CHECK(identifiers.insert(Identifier(lo)).second);
    CHECK(macs.insert(m).second);
    CHECK(ordered_addrs.insert(a).second);
    CHECK(ordered_sirs.insert(SirAddress::From(a)).second);
    address_hashes.insert(absl::Hash<Ipv6Address>{}(a));
    sir_hashes.insert(absl::Hash<SirAddress>{}(SirAddress::From(a)));
    locator_hashes.insert(absl::Hash<Locator>{}(Locator(hi)));
    mac_hashes.insert(absl::Hash<MacAddress>{}(m));
  }
  // The hash depends on the whole value: no collisions among 1000 random values.
  CHECK(address_hashes.size() == kCount);
  CHECK(sir_hashes.size() == kCount);
  CHECK(locator_hashes.size() == kCount);
  CHECK(mac_hashes.size() == kCount);
  // Equal values built another way are found.
  for (const Ipv6Address& a : inserted) {
    const Ipv6Address same = Addr(a.ToString());
    CHECK_FALSE(addrs.insert(same).second);
    CHECK(sirs.count(SirAddress::From(same)) == 1);
    CHECK(locators.count(Locator(same.high64())) == 1);
    CHECK(identifiers.count(Identifier(same.low64())) == 1);
    CHECK(ordered_addrs.count(same) == 1);
  }
  CHECK_FALSE(addrs.contains(Addr("::1")));
  CHECK(addrs.size() == kCount);
  // Ordered iteration agrees with the 128-bit numeric order.
  const Ipv6Address* prev = nullptr;
  for (const Ipv6Address& a : ordered_addrs) {
    if (prev) {
      CHECK((prev->high64() < a.high64() ||
             (prev->high64() == a.high64() && prev->low64() < a.low64())));
    }
    prev = &a;
  }
}

}  // namespace
}  // namespace ila

TEST_CASE("counter names: a literal is checked when compiled, a run-time name by Parse") {
  ila::CounterName tx = "tx_remote";
  CHECK(tx.str() == "tx_remote");
  auto parsed = ila::CounterName::Parse("drop_spoofed_source");
  REQUIRE(parsed.ok());
  CHECK(parsed->str() == "drop_spoofed_source");
  auto bad = ila::CounterName::Parse("tx_remtoe");
  CHECK(absl::IsNotFound(bad.status()));
  CHECK(std::string(bad.status().message()) == "no counter named \"tx_remtoe\"");
  // Every published name parses to itself, in order.
  for (size_t i = 0; i < ila::kCounterCount; ++i) {
    auto n = ila::CounterName::Parse(ila::kCounterNames[i]);
    REQUIRE(n.ok());
    CHECK(n->index() == i);
  }
  // An empty Stats counts nothing.
  CHECK(ila::Stats{}.Packets("tx_remote") == 0);
}
