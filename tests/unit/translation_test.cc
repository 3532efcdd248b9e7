// Unit tests for include/ila/translation.h: the checksum-neutral mappings, the transport checksum
// adjustment and the whole-packet reference, against the Linux kernel's documentation, packets
// recorded from the kernel's ILA (tests/data/kernel-ila, embedded below), an independent
// RFC 1071 checksum, and properties over many random inputs.
#include "ila/translation.h"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ila/types.h"

namespace ila {
namespace {

using Catch::Matchers::Contains;
using Bytes = std::vector<uint8_t>;

constexpr size_t kIpv6Header = 40;
constexpr size_t kDstOffset = 24;
constexpr uint8_t kHopByHop = 0;
constexpr uint8_t kNoNextHeader = 59;

constexpr ChecksumMode kAllModes[] = {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                                      ChecksumMode::kNoAction, ChecksumMode::kNeutralMapAuto,
                                      ChecksumMode::kAdjustTransportLinuxCompat};
constexpr ChecksumMode kNeutralModes[] = {ChecksumMode::kNeutralMap, ChecksumMode::kNeutralMapAuto};
constexpr ChecksumMode kAdjustModes[] = {ChecksumMode::kAdjustTransport,
                                         ChecksumMode::kAdjustTransportLinuxCompat};
constexpr uint8_t kTransports[] = {kProtoTcp, kProtoUdp, kProtoIcmpv6};

// ----- Parsing shorthands ---------------------------------------------------------------------

template <typename T>
T ValueOf(const absl::StatusOr<T>& result) {
  INFO("status: " << result.status().ToString());
  REQUIRE(result.ok());
  return *result;
}
Ipv6Address Addr(std::string_view text) { return ValueOf(Ipv6Address::Parse(text)); }
SirAddress Sir(std::string_view text) { return ValueOf(SirAddress::Parse(text)); }
Locator Loc(std::string_view text) { return ValueOf(Locator::Parse(text)); }
SirPrefix Prefix(std::string_view text) { return ValueOf(SirPrefix::Parse(text)); }

// ----- Bytes ----------------------------------------------------------------------------------

Bytes FromHex(std::string_view hex) {
  REQUIRE(hex.size() % 2 == 0);
  Bytes out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}
std::string ToHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}
uint16_t Get16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}
void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
void Put32(Bytes& b, size_t at, uint32_t v) {
  Put16(b, at, static_cast<uint16_t>(v >> 16));
  Put16(b, at + 2, static_cast<uint16_t>(v));
}
void Append(Bytes& to, const Bytes& more) { to.insert(to.end(), more.begin(), more.end()); }

// ----- Packet builders ------------------------------------------------------------------------

// An IPv6 packet: version 6, payload length from `payload`, hop limit 64.
Bytes Ipv6Packet(const Ipv6Address& src, const Ipv6Address& dst, uint8_t next_header,
                 const Bytes& payload) {
  Bytes p(kIpv6Header);
  p[0] = 0x60;
  Put16(p, 4, static_cast<uint16_t>(payload.size()));
  p[6] = next_header;
  p[7] = 64;
  std::copy(src.bytes().begin(), src.bytes().end(), p.begin() + 8);
  std::copy(dst.bytes().begin(), dst.bytes().end(), p.begin() + kDstOffset);
  Append(p, payload);
  return p;
}
// A 20-byte TCP header (PSH|ACK, checksum 0) and payload.
Bytes TcpSegment(uint16_t sport, uint16_t dport, uint32_t seq, const Bytes& payload) {
  Bytes s(20);
  Put16(s, 0, sport);
  Put16(s, 2, dport);
  Put32(s, 4, seq);
  Put32(s, 8, 0x01020304);  // ack
  s[12] = 0x50;             // data offset 5 words
  s[13] = 0x18;             // PSH|ACK
  Put16(s, 14, 0xffff);     // window
  Append(s, payload);
  return s;
}
// A UDP header (checksum 0) and payload.
Bytes UdpDatagram(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes s(8);
  Put16(s, 0, sport);
  Put16(s, 2, dport);
  Put16(s, 4, static_cast<uint16_t>(8 + payload.size()));
  Append(s, payload);
  return s;
}
// An ICMPv6 echo request (checksum 0) and payload.
Bytes Icmpv6Echo(uint16_t id, uint16_t seq, const Bytes& payload) {
  Bytes s(8);
  s[0] = 128;
  Put16(s, 4, id);
  Put16(s, 6, seq);
  Append(s, payload);
  return s;
}
Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }

size_t ChecksumAt(uint8_t protocol) {
  return static_cast<size_t>(TransportChecksumOffset(protocol));
}
// `segment` with its checksum field set as ComputeTransportChecksum computes it for src/dst.
Bytes WithChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                   Bytes segment) {
  Put16(segment, ChecksumAt(protocol), ComputeTransportChecksum(src, dst, protocol, segment));
  return segment;
}
Bytes ChecksummedPacket(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                        const Bytes& segment) {
  return Ipv6Packet(src, dst, protocol, WithChecksum(src, dst, protocol, segment));
}

// ----- Packet accessors -----------------------------------------------------------------------

std::span<const uint8_t> TransportOf(const Bytes& p) {
  return std::span<const uint8_t>(p).subspan(kIpv6Header);
}
Ipv6Address SrcOf(const Bytes& p) {
  return Ipv6Address::FromBytes(std::span<const uint8_t>(p).subspan<8, 16>());
}
Ipv6Address DstOf(const Bytes& p) {
  return Ipv6Address::FromBytes(std::span<const uint8_t>(p).subspan<kDstOffset, 16>());
}
uint8_t ProtocolOf(const Bytes& p) { return p[6]; }
uint16_t ChecksumFieldOf(const Bytes& p) {
  return Get16(p, kIpv6Header + ChecksumAt(ProtocolOf(p)));
}
bool ChecksumValid(const Bytes& p) {
  return TransportChecksumValid(SrcOf(p), DstOf(p), ProtocolOf(p), TransportOf(p));
}
uint16_t FreshChecksum(const Bytes& p) {
  return ComputeTransportChecksum(SrcOf(p), DstOf(p), ProtocolOf(p), TransportOf(p));
}
// `p` with its destination replaced and nothing else.
Bytes WithDst(Bytes p, const Ipv6Address& dst) {
  if (p.size() < kIpv6Header) throw std::logic_error("WithDst on a packet shorter than 40 bytes");
  for (size_t i = 0; i < 16; ++i) p[kDstOffset + i] = dst.bytes()[i];
  return p;
}

RewriteOutcome Rewrite(Bytes& p, const Ipv6Address& dst, ChecksumMode mode) {
  return ValueOf(RewriteDestination(p, dst, mode));
}

// ----- An independent checksum (RFC 1071, 32-bit accumulator, RFC 8200 pseudo-header) ----------

uint16_t ReferenceChecksumRaw(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                              std::span<const uint8_t> segment) {
  uint32_t sum = 0;
  for (size_t i = 0; i < 16; i += 2) sum += Get16(src.bytes(), i) + Get16(dst.bytes(), i);
  const auto length = static_cast<uint32_t>(segment.size());
  sum += (length >> 16) + (length & 0xffff) + protocol;
  const size_t field = ChecksumAt(protocol);
  for (size_t i = 0; i < segment.size(); i += 2) {
    if (i == field) continue;
    uint32_t word = static_cast<uint32_t>(segment[i]) << 8;
    if (i + 1 < segment.size()) word |= segment[i + 1];
    sum += word;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
uint16_t ReferenceChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol,
                           std::span<const uint8_t> segment) {
  uint16_t c = ReferenceChecksumRaw(src, dst, protocol, segment);
  return protocol == kProtoUdp && c == 0 ? uint16_t{0xffff} : c;
}

// Whether two folded one's-complement sums are equal (0x0000 and 0xFFFF are both zero).
bool SameOnesComplement(uint16_t a, uint16_t b) {
  return (a == 0xffff ? 0 : a) == (b == 0xffff ? 0 : b);
}

// ----- Random inputs --------------------------------------------------------------------------

// A 64-bit word, mostly uniform, sometimes with all-zero or all-one groups (folding edge cases).
uint64_t RandomWord(std::mt19937_64& rng) {
  uint64_t v = rng();
  switch (rng() % 10) {
    case 0: return 0;
    case 1: return ~uint64_t{0};
    case 2: return v & 0xffff0000ffff0000u;
    case 3: return v | 0x0000ffff0000ffffu;
    default: return v;
  }
}
Ipv6Address RandomAddress(std::mt19937_64& rng) {
  return Ipv6Address::FromHalves(RandomWord(rng), RandomWord(rng));
}
Bytes RandomBytes(std::mt19937_64& rng, size_t max_size) {
  Bytes b(rng() % (max_size + 1));
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  return b;
}
Bytes RandomSegment(std::mt19937_64& rng, uint8_t protocol) {
  const Bytes payload = RandomBytes(rng, 64);  // odd lengths too
  const auto a = static_cast<uint16_t>(rng()), b = static_cast<uint16_t>(rng());
  switch (protocol) {
    case kProtoTcp: return TcpSegment(a, b, static_cast<uint32_t>(rng()), payload);
    case kProtoUdp: return UdpDatagram(a, b, payload);
    default: return Icmpv6Echo(a, b, payload);
  }
}
// A TCP, UDP or ICMPv6 packet with a valid checksum.
Bytes RandomPacket(std::mt19937_64& rng, uint8_t protocol, const Ipv6Address& dst) {
  const Ipv6Address src = RandomAddress(rng);
  return ChecksummedPacket(src, dst, protocol, RandomSegment(rng, protocol));
}

// Collects violations of a property checked over many inputs, so that a failure reports its count
// and first counterexample instead of thousands of identical assertion failures.
class Violations {
 public:
  void Add(const std::string& example) {
    if (count_++ == 0) first_ = example;
  }
  int count() const { return count_; }
  const std::string& first() const { return first_; }

 private:
  int count_ = 0;
  std::string first_;
};
#define CHECK_NO_VIOLATIONS(v)                     \
  do {                                             \
    INFO("first counterexample: " << (v).first()); \
    CHECK((v).count() == 0);                       \
  } while (0)

// ----- Kernel reference vectors (layer 3 of the recorded frames) --------------------------------

struct KernelVector {
  std::string_view name;
  std::string_view in;      // injected IPv6 packet
  std::string_view egress;  // what the kernel forwarded (hop limit decremented)
};

constexpr KernelVector k01UdpAdj = {
    "01_lwt_udp_adj",
    "600000000011114020010db8ffff0000000000000000001020010db800000001200000000000123403e807d000"
    "1157f168656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db8aaaa0001200000000000123403e807d000"
    "11029c68656c6c6f2d696c61"};
constexpr KernelVector k02TcpSynAdj = {
    "02_lwt_tcp_syn_adj",
    "600000000014064020010db8ffff0000000000000000001020010db80000000120000000000012349c40005011"
    "223344000000005002ffff41350000",
    "600000000014063f20010db8ffff0000000000000000001020010db8aaaa000120000000000012349c40005011"
    "223344000000005002ffffebdf0000"};
constexpr KernelVector k04IcmpEchoAdj = {
    "04_lwt_icmp_echo_adj",
    "6000000000103a4020010db8ffff0000000000000000001020010db80000000120000000000012348000371f42"
    "42000170696e672d696c61",
    "6000000000103a3f20010db8ffff0000000000000000001020010db8aaaa000120000000000012348000e1c942"
    "42000170696e672d696c61"};
constexpr KernelVector k07UdpAdjResultZero = {
    "07_lwt_udp_adj_result_zero",
    "60000000000e114020010db8ffff0000000000000000001020010db800000001200000000000123403e807d000"
    "0e55557a65726f2439",
    "60000000000e113f20010db8ffff0000000000000000001020010db8aaaa0001200000000000123403e807d000"
    "0effff7a65726f2439"};
constexpr KernelVector k08TcpAdjResultZero = {
    "08_lwt_tcp_adj_result_zero",
    "60000000001a064020010db8ffff0000000000000000001020010db80000000120000000000012349c40005011"
    "223344000000005018ffff555500007a65726ffeee",
    "60000000001a063f20010db8ffff0000000000000000001020010db8aaaa000120000000000012349c40005011"
    "223344000000005018ffff000000007a65726ffeee"};
constexpr KernelVector k09UdpNeutralMap = {
    "09_lwt_udp_neutral_map",
    "600000000011114020010db8ffff0000000000000000001020010db800000001200000000000123403e807d000"
    "1157f168656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db8aaaa0001300000000000578903e807d000"
    "1157f168656c6c6f2d696c61"};
constexpr KernelVector k13UdpNeutralMapAutoCbit = {
    "13_lwt_udp_neutral_map_auto_cbit",
    "600000000011114020010db8ffff0000000000000000001020010db800000001300000000000123403e807d000"
    "1147f168656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db8aaaa0001300000000000678903e807d000"
    "1147f168656c6c6f2d696c61"};
constexpr KernelVector k28DestoptTcpAdj = {
    "28_lwt_destopt_tcp_adj",
    "60000000001c3c4020010db8ffff0000000000000000001020010db80000000120000000000012340600010400"
    "0000009c40005011223344000000005002ffff41350000",
    "60000000001c3c3f20010db8ffff0000000000000000001020010db8aaaa000120000000000012340600010400"
    "0000009c40005011223344000000005002ffff41350000"};
constexpr KernelVector k29FragmentUdpAdj = {
    "29_lwt_fragment_udp_adj",
    "6000000000202c4020010db8ffff0000000000000000001020010db80000000120000000000012341100000100"
    "00123403e807d0001865de667261676d656e742d7061796c6f6164",
    "6000000000202c3f20010db8ffff0000000000000000001020010db8aaaa000120000000000012341100000100"
    "00123403e807d0001865de667261676d656e742d7061796c6f6164"};
constexpr KernelVector k30UdpTruncatedAdj = {
    "30_lwt_udp_truncated_adj",
    "600000000004114020010db8ffff0000000000000000001020010db800000001200000000000123403e807d0",
    "600000000004113f20010db8ffff0000000000000000001020010db8aaaa0001200000000000123403e807d0"};
constexpr KernelVector k46XlatNeutralMapCbitSet = {
    "46_xlat_udp_neutral_map_cbit_set",
    "600000000011114020010db8ffff0000000000000000001020010db8aaaa0001300000000000123403e807d000"
    "119d4668656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db800000001200000000000ccde03e807d000"
    "119d4668656c6c6f2d696c61"};
constexpr KernelVector k47XlatNeutralMapCbitClear = {
    "47_xlat_udp_neutral_map_cbit_clear",
    "600000000011114020010db8ffff0000000000000000001020010db8aaaa0001200000000000123403e807d000"
    "11ad4668656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db800000001200000000000123403e807d000"
    "11ad4668656c6c6f2d696c61"};
constexpr KernelVector k48XlatNeutralMapAutoClear = {
    "48_xlat_udp_neutral_map_auto (C-bit clear)",
    "600000000011114020010db8ffff0000000000000000001020010db8aaaa0001200000000000123403e807d000"
    "11ad4668656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db800000001200000000000bcde03e807d000"
    "11ad4668656c6c6f2d696c61"};
constexpr KernelVector k48XlatNeutralMapAutoSet = {
    "48_xlat_udp_neutral_map_auto (C-bit set)",
    "600000000011114020010db8ffff0000000000000000001020010db8aaaa0001300000000000123403e807d000"
    "119d4668656c6c6f2d696c61",
    "600000000011113f20010db8ffff0000000000000000001020010db800000001300000000000bcde03e807d000"
    "119d4668656c6c6f2d696c61"};

// The vectors' mapping: SIR prefix 2001:db8:0:1 <-> locator 2001:db8:aaaa:1.
SirPrefix VectorPrefix() { return Prefix("2001:db8:0:1::/64"); }
Locator VectorLocator() { return Loc("2001:db8:aaaa:1"); }

// Compares our packet with the kernel's at layer 3, ignoring the hop limit the router decremented.
void CheckMatchesKernel(const Bytes& ours, const KernelVector& v) {
  INFO("kernel vector " << std::string(v.name));
  Bytes kernel = FromHex(v.egress);
  REQUIRE(kernel.size() == ours.size());
  CHECK(kernel[7] + 1 == ours[7]);
  kernel[7] = ours[7];
  CHECK(ToHex(ours) == ToHex(kernel));
}

// =================================================================================================
// One's-complement arithmetic and checksums
// =================================================================================================

TEST_CASE("One's-complement helpers follow RFC 1071", "[translation][csum]") {
  static_assert(OnesComplementAdd(0, 0) == 0);
  static_assert(OnesComplementAdd(0xffff, 1) == 1);  // end-around carry
  CHECK(OnesComplementAdd(0x8000, 0x8000) == 0x0001);
  CHECK(OnesComplementAdd(0xffff, 0) == 0xffff);
  CHECK(OnesComplementAdd(0x1234, static_cast<uint16_t>(~0x1234)) == 0xffff);
  CHECK(OnesComplementAdd(0xffff, 0xffff) == 0xffff);

  CHECK(OnesComplementSum64(0x0001000200030004u) == 0x000a);
  CHECK(OnesComplementSum64(0xffff0000ffff0001u) == 0x0001);
  CHECK(OnesComplementSum(Ipv6Address()) == 0);
  CHECK(OnesComplementSum(Addr("2001:db8:0:1:2000::1234")) == 0x5fee);

  std::mt19937_64 rng(1071);
  Violations v;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t from = RandomWord(rng), to = RandomWord(rng);
    // Adding the delta to the sum of `from` gives (a representation of) the sum of `to`.
    const uint16_t moved =
        OnesComplementAdd(OnesComplementSum64(from), OnesComplementDelta64(from, to));
    if (!SameOnesComplement(moved, OnesComplementSum64(to))) {
      v.Add(std::to_string(from) + " -> " + std::to_string(to));
    }
  }
  CHECK_NO_VIOLATIONS(v);
}

TEST_CASE("ComputeTransportChecksum agrees with an independent RFC 1071 computation",
          "[translation][csum]") {
  std::mt19937_64 rng(8200);
  Violations v;
  for (int i = 0; i < 5000; ++i) {
    const uint8_t protocol = kTransports[i % 3];
    const Ipv6Address src = RandomAddress(rng), dst = RandomAddress(rng);
    Bytes segment = RandomSegment(rng, protocol);
    // A random value in the field: it must be taken as zero.
    Put16(segment, ChecksumAt(protocol), static_cast<uint16_t>(rng()));
    const uint16_t ours = ComputeTransportChecksum(src, dst, protocol, segment);
    const uint16_t reference = ReferenceChecksum(src, dst, protocol, segment);
    if (ours != reference) v.Add(ToHex(segment));
    Put16(segment, ChecksumAt(protocol), ours);
    if (!TransportChecksumValid(src, dst, protocol, segment)) v.Add("invalid: " + ToHex(segment));
    // Any single-bit error is detected.
    const size_t bit = rng() % (segment.size() * 8);
    segment[bit / 8] = static_cast<uint8_t>(segment[bit / 8] ^ (1u << (bit % 8)));
    if (TransportChecksumValid(src, dst, protocol, segment)) v.Add("bit flip: " + ToHex(segment));
  }
  CHECK_NO_VIOLATIONS(v);

  // The packets the kernel vectors inject carry checksums made by an independent generator.
  for (const KernelVector* k :
       {&k01UdpAdj, &k02TcpSynAdj, &k04IcmpEchoAdj, &k07UdpAdjResultZero, &k08TcpAdjResultZero}) {
    INFO(std::string(k->name));
    const Bytes p = FromHex(k->in);
    CHECK(ChecksumValid(p));
    CHECK(FreshChecksum(p) == ChecksumFieldOf(p));
  }
}

TEST_CASE("TransportChecksumValid edge cases", "[translation][csum]") {
  const Ipv6Address src = Addr("2001:db8:ffff::10"), dst = Addr("2001:db8:0:1:2000::1234");
  Bytes udp = UdpDatagram(1000, 2000, Text("hello"));
  CHECK(TransportChecksumValid(src, dst, kProtoUdp, udp));  // checksum 0: none, counts as valid
  Put16(udp, 6, 0x1234);
  CHECK_FALSE(TransportChecksumValid(src, dst, kProtoUdp, udp));
  const Bytes tcp = TcpSegment(1, 2, 3, {});
  CHECK_FALSE(TransportChecksumValid(src, dst, kProtoTcp, tcp));  // TCP checksum 0 is just wrong
  CHECK_FALSE(TransportChecksumValid(src, dst, kProtoTcp, std::span(tcp).first(17)));
  CHECK_FALSE(TransportChecksumValid(src, dst, kNoNextHeader, tcp));
  // A UDP sum that is zero is sent as 0xFFFF: ComputeTransportChecksum never returns 0 for UDP.
  CHECK(ComputeTransportChecksum(src, dst, kProtoUdp, udp) != 0);
}

// =================================================================================================
// Checksum-neutral mapping (neutral-map, neutral-map-auto)
// =================================================================================================

TEST_CASE("Linux kernel documentation example: neutral-map", "[translation][neutral]") {
  // Documentation/networking/ila.rst: SIR 3333:0:0:1:2000:0:1:87 with locator 2001:0:87:0 and
  // checksum-neutral mapping becomes 2001:0:87:0:3000:0:1:333.
  const SirAddress sir = Sir("3333:0:0:1:2000:0:1:87");
  const Locator locator = Loc("2001:0:87:0");
  REQUIRE(IsNeutralMappable(sir, ChecksumMode::kNeutralMap).ok());
  const IlaAddress ila = ValueOf(SirToIla(sir, locator, ChecksumMode::kNeutralMap));
  CHECK(ila.address() == Addr("2001:0:87:0:3000:0:1:333"));
  CHECK(ila.ToString() == "2001:0:87:0:3000:0:1:333");
  CHECK(ila.identifier.checksum_neutral());
  CHECK(OnesComplementSum(ila.address()) == OnesComplementSum(sir.address()));

  const SirAddress back = IlaToSir(ila, Prefix("3333:0:0:1"), ChecksumMode::kNeutralMap);
  CHECK(back == sir);
  CHECK(back.address() == Addr("3333:0:0:1:2000:0:1:87"));
}

TEST_CASE("Kernel vectors: SIR to ILA with neutral-map and neutral-map-auto",
          "[translation][neutral][kernel]") {
  SECTION("09: neutral-map sets the C-bit, ...:2000::1234 becomes ...:3000::5789") {
    const Bytes in = FromHex(k09UdpNeutralMap.in);
    const SirAddress sir = SirAddress::From(DstOf(in));
    REQUIRE(sir == Sir("2001:db8:0:1:2000::1234"));
    const IlaAddress ila = ValueOf(SirToIla(sir, VectorLocator(), ChecksumMode::kNeutralMap));
    CHECK(ila.address() == Addr("2001:db8:aaaa:1:3000::5789"));

    Bytes p = in;
    CHECK(Rewrite(p, ila.address(), ChecksumMode::kNeutralMap) == RewriteOutcome::kTranslated);
    CheckMatchesKernel(p, k09UdpNeutralMap);
    CHECK(ChecksumValid(p));  // untouched UDP checksum still valid: the mapping is neutral
    CHECK(IlaToSir(ila, VectorPrefix(), ChecksumMode::kNeutralMap) == sir);
  }
  SECTION("13: neutral-map-auto on a SIR with the C-bit set leaves the C-bit alone") {
    const Bytes in = FromHex(k13UdpNeutralMapAutoCbit.in);
    const SirAddress sir = SirAddress::From(DstOf(in));
    REQUIRE(sir.identifier.checksum_neutral());
    const IlaAddress ila = ValueOf(SirToIla(sir, VectorLocator(), ChecksumMode::kNeutralMapAuto));
    CHECK(ila.address() == Addr("2001:db8:aaaa:1:3000::6789"));

    Bytes p = in;
    CHECK(Rewrite(p, ila.address(), ChecksumMode::kNeutralMapAuto) == RewriteOutcome::kTranslated);
    CheckMatchesKernel(p, k13UdpNeutralMapAutoCbit);
    CHECK(ChecksumValid(p));
    CHECK(IlaToSir(ila, VectorPrefix(), ChecksumMode::kNeutralMapAuto) == sir);
  }
}

TEST_CASE("Kernel vectors: ILA to SIR with neutral-map and neutral-map-auto",
          "[translation][neutral][kernel]") {
  struct Case {
    const KernelVector* vector;
    ChecksumMode mode;
    bool neutral;  // whether the translation undid an adjustment (so the checksum stays valid)
  };
  const Case cases[] = {
      {&k46XlatNeutralMapCbitSet, ChecksumMode::kNeutralMap, true},        // C-bit cleared, undone
      {&k47XlatNeutralMapCbitClear, ChecksumMode::kNeutralMap, false},     // no C-bit: unchanged
      {&k48XlatNeutralMapAutoClear, ChecksumMode::kNeutralMapAuto, true},  // always undone
      {&k48XlatNeutralMapAutoSet, ChecksumMode::kNeutralMapAuto, true},    // C-bit kept
  };
  for (const Case& c : cases) {
    INFO(std::string(c.vector->name));
    Bytes p = FromHex(c.vector->in);
    REQUIRE(ChecksumValid(p));
    const IlaAddress ila = IlaAddress::From(DstOf(p));
    REQUIRE(ila.locator == VectorLocator());
    const SirAddress sir = IlaToSir(ila, VectorPrefix(), c.mode);
    CHECK(Rewrite(p, sir.address(), c.mode) == RewriteOutcome::kTranslated);
    CheckMatchesKernel(p, *c.vector);
    CHECK(ChecksumValid(p) == c.neutral);
  }
}

TEST_CASE("Neutral mappings keep the address sum and round-trip exactly (20000 random SIRs)",
          "[translation][neutral][property]") {
  std::mt19937_64 rng(0x5eed1a);
  for (ChecksumMode mode : kNeutralModes) {
    INFO("mode " << mode);
    Violations v;
    int zero_low16 = 0, c_bit_set = 0;
    for (int i = 0; i < 20000; ++i) {
      const SirPrefix prefix(RandomWord(rng));
      // Sometimes the locator equals the prefix (a zero difference).
      const Locator locator(i % 16 == 0 ? prefix.value() : RandomWord(rng));
      uint64_t id = rng();
      if (i % 4 == 0) id &= ~uint64_t{0xffff};  // low 16 bits 0x0000: must round-trip exactly
      if ((id & 0xffff) == 0xffff) id &= ~uint64_t{1};  // 0xFFFF is refused; tested separately
      if (mode == ChecksumMode::kNeutralMap) id &= ~Identifier::kChecksumNeutralBit;
      const SirAddress sir{prefix, Identifier(id)};
      zero_low16 += sir.identifier.low16() == 0;
      c_bit_set += sir.identifier.checksum_neutral();

      if (!IsNeutralMappable(sir, mode).ok()) {
        v.Add("refused: " + sir.ToString());
        continue;
      }
      const absl::StatusOr<IlaAddress> ila = SirToIla(sir, locator, mode);
      if (!ila.ok()) {
        v.Add("SirToIla failed: " + sir.ToString());
        continue;
      }
      const std::string example =
          sir.ToString() + " loc " + locator.ToString() + " -> " + ila->ToString();
      if (ila->locator != locator) v.Add("locator: " + example);
      // Only the C-bit (neutral-map) and the low 16 bits of the identifier may change.
      const uint64_t changed = (ila->identifier.value() ^ id) & ~uint64_t{0xffff};
      const uint64_t expected_changed =
          mode == ChecksumMode::kNeutralMap ? Identifier::kChecksumNeutralBit : 0;
      if (changed != expected_changed) v.Add("identifier bits: " + example);
      if (!SameOnesComplement(OnesComplementSum(sir.address()),
                              OnesComplementSum(ila->address()))) {
        v.Add("sum changed: " + example);
      }
      const SirAddress back = IlaToSir(*ila, prefix, mode);
      if (back != sir) v.Add("round trip gave " + back.ToString() + ": " + example);
    }
    CHECK_NO_VIOLATIONS(v);
    CHECK(zero_low16 >= 5000);
    if (mode == ChecksumMode::kNeutralMapAuto) CHECK(c_bit_set > 1000);
  }
}

TEST_CASE("Every identifier low-16 value except 0xFFFF round-trips through the neutral modes",
          "[translation][neutral][property]") {
  struct Pair {
    std::string_view prefix, locator;
  };
  const Pair pairs[] = {
      {"2001:db8:0:1", "2001:db8:aaaa:1"},  // the kernel vectors' mapping
      {"3333:0:0:1", "3333:0:0:1"},         // same upper 64 bits: the difference is zero
      {"0:0:0:0", "ffff:ffff:ffff:ffff"},   // both zeros of one's complement
      {"ffff:ffff:ffff:ffff", "0:0:0:0"},  {"fd00:1:2:3", "2001:db8:ffff:fffe"},
  };
  for (const Pair& pair : pairs) {
    for (ChecksumMode mode : kNeutralModes) {
      INFO(std::string(pair.prefix) << " <-> " << std::string(pair.locator) << ", " << mode);
      const SirPrefix prefix = Prefix(pair.prefix);
      const Locator locator = Loc(pair.locator);
      Violations v;
      for (uint32_t low = 0; low < 0xffff; ++low) {
        const SirAddress sir{prefix, Identifier(0x2000000000000000u | low)};
        const absl::StatusOr<IlaAddress> ila = SirToIla(sir, locator, mode);
        if (!ila.ok()) {
          v.Add("refused " + sir.ToString());
          continue;
        }
        if (!SameOnesComplement(OnesComplementSum(sir.address()),
                                OnesComplementSum(ila->address()))) {
          v.Add("sum changed " + sir.ToString());
        }
        if (IlaToSir(*ila, prefix, mode) != sir) v.Add("round trip " + sir.ToString());
      }
      CHECK_NO_VIOLATIONS(v);
    }
  }
}

TEST_CASE("Identifiers ending in 0x0000 round-trip exactly, also where the ILA side folds",
          "[translation][neutral]") {
  // Same prefix and locator: neutral-map-auto adds a zero difference, which folds to 0xFFFF, so the
  // ILA identifier ends in 0xFFFF; the way back must still give 0x0000.
  const SirAddress sir = Sir("3333:0:0:1:2000::");
  const IlaAddress ila = ValueOf(SirToIla(sir, Loc("3333:0:0:1"), ChecksumMode::kNeutralMapAuto));
  CHECK(ila.identifier.low16() == 0xffff);
  const SirAddress back = IlaToSir(ila, sir.prefix, ChecksumMode::kNeutralMapAuto);
  CHECK(back.identifier.low16() == 0x0000);
  CHECK(back == sir);

  for (ChecksumMode mode : kNeutralModes) {
    const SirAddress zero_low = Sir("2001:db8:0:1:2000::");
    const IlaAddress mapped = ValueOf(SirToIla(zero_low, VectorLocator(), mode));
    CHECK(IlaToSir(mapped, zero_low.prefix, mode) == zero_low);
  }
}

TEST_CASE("Identifiers ending in 0xFFFF are refused by the neutral modes only",
          "[translation][neutral][errors]") {
  const SirAddress sir = Sir("2001:db8:0:1:2000::ffff");
  for (ChecksumMode mode : kNeutralModes) {
    INFO("mode " << mode);
    const absl::Status status = IsNeutralMappable(sir, mode);
    REQUIRE_FALSE(status.ok());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    const std::string message(status.message());
    CHECK_THAT(message, Contains("2001:db8:0:1:2000::ffff"));
    CHECK_THAT(message, Contains("0xffff"));
    CHECK_THAT(message, Contains(std::string(ToString(mode))));
    CHECK_THAT(message, Contains("adj-transport"));  // what to use instead

    const absl::StatusOr<IlaAddress> ila = SirToIla(sir, VectorLocator(), mode);
    REQUIRE_FALSE(ila.ok());
    CHECK(ila.status() == status);
  }
  for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNoAction,
                            ChecksumMode::kAdjustTransportLinuxCompat}) {
    INFO("mode " << mode);
    CHECK(IsNeutralMappable(sir, mode).ok());
    const IlaAddress ila = ValueOf(SirToIla(sir, VectorLocator(), mode));
    CHECK(ila.address() == Addr("2001:db8:aaaa:1:2000::ffff"));
    CHECK(IlaToSir(ila, sir.prefix, mode) == sir);
  }
}

TEST_CASE("neutral-map refuses a SIR whose C-bit is set, neutral-map-auto accepts it",
          "[translation][neutral][errors]") {
  // Kernel vector 26: the kernel refuses this route with EINVAL.
  const SirAddress sir = Sir("2001:db8:0:1:3000::1234");
  REQUIRE(sir.identifier.checksum_neutral());

  const absl::Status status = IsNeutralMappable(sir, ChecksumMode::kNeutralMap);
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  CHECK_THAT(message, Contains("C-bit"));
  CHECK_THAT(message, Contains("2001:db8:0:1:3000::1234"));
  CHECK_THAT(message, Contains("neutral-map-auto"));
  const absl::StatusOr<IlaAddress> refused =
      SirToIla(sir, VectorLocator(), ChecksumMode::kNeutralMap);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(refused.status().message()), Contains("C-bit"));

  REQUIRE(IsNeutralMappable(sir, ChecksumMode::kNeutralMapAuto).ok());
  const IlaAddress ila = ValueOf(SirToIla(sir, VectorLocator(), ChecksumMode::kNeutralMapAuto));
  CHECK(ila.identifier.checksum_neutral());
  CHECK(OnesComplementSum(ila.address()) == OnesComplementSum(sir.address()));
  CHECK(IlaToSir(ila, sir.prefix, ChecksumMode::kNeutralMapAuto) == sir);
}

TEST_CASE("neutral-map IlaToSir leaves an identifier without the C-bit unchanged",
          "[translation][neutral]") {
  // The sender did not set the C-bit, so it did not adjust: only the upper 64 bits change.
  std::mt19937_64 rng(47);
  Violations v;
  int auto_differs = 0;
  for (int i = 0; i < 5000; ++i) {
    const IlaAddress ila{Locator(RandomWord(rng)),
                         Identifier(rng() & ~Identifier::kChecksumNeutralBit)};
    const SirPrefix prefix(RandomWord(rng));
    const SirAddress sir = IlaToSir(ila, prefix, ChecksumMode::kNeutralMap);
    if (sir.prefix != prefix || sir.identifier != ila.identifier) v.Add(ila.ToString());
    // neutral-map-auto, in contrast, always undoes an adjustment.
    auto_differs +=
        IlaToSir(ila, prefix, ChecksumMode::kNeutralMapAuto).identifier != ila.identifier;
  }
  CHECK_NO_VIOLATIONS(v);
  CHECK(auto_differs > 4000);

  const IlaAddress ila = IlaAddress::From(Addr("2001:db8:aaaa:1:2000::1234"));
  CHECK(IlaToSir(ila, VectorPrefix(), ChecksumMode::kNeutralMap).address() ==
        Addr("2001:db8:0:1:2000::1234"));
}

TEST_CASE("adj-transport, no-action and linux-compat mappings only swap the upper 64 bits",
          "[translation]") {
  std::mt19937_64 rng(64);
  Violations v;
  for (int i = 0; i < 2000; ++i) {
    const SirAddress sir = SirAddress::From(RandomAddress(rng));
    const Locator locator(RandomWord(rng));
    for (ChecksumMode mode : {ChecksumMode::kAdjustTransport, ChecksumMode::kNoAction,
                              ChecksumMode::kAdjustTransportLinuxCompat}) {
      const absl::StatusOr<IlaAddress> ila = SirToIla(sir, locator, mode);
      if (!ila.ok() || ila->locator != locator || ila->identifier != sir.identifier ||
          IlaToSir(*ila, sir.prefix, mode) != sir) {
        v.Add(sir.ToString());
      }
    }
  }
  CHECK_NO_VIOLATIONS(v);
}

// =================================================================================================
// Transport checksum adjustment (adj-transport and the Linux-compatible variant)
// =================================================================================================

TEST_CASE("AdjustTransportChecksum follows RFC 1624 eq. 3 and the UDP rules",
          "[translation][adjust]") {
  // RFC 1624 section 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
  const uint16_t delta = OnesComplementAdd(0x3285, static_cast<uint16_t>(~0x5555));
  CHECK(AdjustTransportChecksum(0xdd2f, delta, kProtoTcp, ChecksumMode::kAdjustTransport) ==
        0x0000);
  CHECK(AdjustTransportChecksum(0xdd2f, delta, kProtoIcmpv6, ChecksumMode::kAdjustTransport) ==
        0x0000);
  CHECK(AdjustTransportChecksum(0xdd2f, delta, kProtoUdp, ChecksumMode::kAdjustTransport) ==
        0xffff);  // RFC 768: a computed 0 is sent as 0xFFFF
  // UDP 0 means "no checksum" and stays 0 in both adjusting modes.
  for (ChecksumMode mode : kAdjustModes) {
    CHECK(AdjustTransportChecksum(0x0000, 0x1234, kProtoUdp, mode) == 0x0000);
  }
  // The Linux-compatible variant applies the opposite delta.
  const uint16_t inverse = static_cast<uint16_t>(~delta);
  CHECK(AdjustTransportChecksum(0xdd2f, inverse, kProtoTcp,
                                ChecksumMode::kAdjustTransportLinuxCompat) == 0x0000);
  CHECK(AdjustTransportChecksum(0xdd2f, delta, kProtoTcp,
                                ChecksumMode::kAdjustTransportLinuxCompat) != 0x0000);
  // The other modes leave the field alone.
  for (ChecksumMode mode :
       {ChecksumMode::kNeutralMap, ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction}) {
    for (uint8_t protocol : kTransports) {
      CHECK(AdjustTransportChecksum(0xdd2f, delta, protocol, mode) == 0xdd2f);
    }
  }
}

TEST_CASE("adj-transport keeps TCP, UDP and ICMPv6 checksums valid", "[translation][adjust]") {
  const Ipv6Address src = Addr("2001:db8:ffff::10");
  const SirAddress sir = Sir("2001:db8:0:1:2000::1234");
  const IlaAddress ila = ValueOf(SirToIla(sir, VectorLocator(), ChecksumMode::kAdjustTransport));
  REQUIRE_FALSE(SameOnesComplement(OnesComplementSum(sir.address()),
                                   OnesComplementSum(ila.address())));  // a non-zero delta

  struct Case {
    std::string_view name;
    uint8_t protocol;
    Bytes segment;
  };
  const Case cases[] = {
      {"TCP", kProtoTcp, TcpSegment(40000, 80, 0x11223344, Text("GET / HTTP/1.0\r\n\r\n"))},
      {"TCP, header only", kProtoTcp, TcpSegment(40000, 80, 1, {})},
      {"UDP", kProtoUdp, UdpDatagram(1000, 2000, Text("hello-ila"))},
      {"UDP, odd length", kProtoUdp, UdpDatagram(1000, 2000, Text("odd"))},
      {"ICMPv6 echo request", kProtoIcmpv6, Icmpv6Echo(0x4242, 1, Text("ping-ila"))},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    const Bytes original = ChecksummedPacket(src, sir.address(), c.protocol, c.segment);
    REQUIRE(ChecksumValid(original));

    Bytes p = original;
    CHECK(Rewrite(p, ila.address(), ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(DstOf(p) == ila.address());
    CHECK(SrcOf(p) == src);
    CHECK(ChecksumValid(p));
    CHECK(ChecksumFieldOf(p) == FreshChecksum(p));
    CHECK(ChecksumFieldOf(p) == ReferenceChecksum(SrcOf(p), DstOf(p), c.protocol, TransportOf(p)));
    CHECK(ChecksumFieldOf(p) != ChecksumFieldOf(original));
    // Nothing but the address and the checksum field changed.
    Bytes expected = WithDst(original, ila.address());
    Put16(expected, kIpv6Header + ChecksumAt(c.protocol), ChecksumFieldOf(p));
    CHECK(ToHex(p) == ToHex(expected));

    // And back (the receiver's ILA -> SIR) restores the packet exactly.
    CHECK(Rewrite(p, sir.address(), ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ToHex(p) == ToHex(original));
  }
}

TEST_CASE("adj-transport matches a from-scratch checksum for random packets (property)",
          "[translation][adjust][property]") {
  std::mt19937_64 rng(1624);
  Violations v;
  for (int i = 0; i < 20000; ++i) {
    const uint8_t protocol = kTransports[i % 3];
    const Bytes original = RandomPacket(rng, protocol, RandomAddress(rng));
    const Ipv6Address new_dst = RandomAddress(rng);
    Bytes p = original;
    const auto outcome = RewriteDestination(p, new_dst, ChecksumMode::kAdjustTransport);
    const std::string example = ToHex(original) + " -> " + new_dst.ToString();
    if (!outcome.ok() || *outcome != RewriteOutcome::kTranslatedWithTransport) {
      v.Add("outcome: " + example);
      continue;
    }
    if (DstOf(p) != new_dst) v.Add("address: " + example);
    if (!ChecksumValid(p)) v.Add("invalid: " + example);
    if (ChecksumFieldOf(p) != FreshChecksum(p)) v.Add("not from-scratch: " + example);
    if (ChecksumFieldOf(p) != ReferenceChecksum(SrcOf(p), DstOf(p), protocol, TransportOf(p))) {
      v.Add("not reference: " + example);
    }
    Bytes expected = WithDst(original, new_dst);
    Put16(expected, kIpv6Header + ChecksumAt(protocol), ChecksumFieldOf(p));
    if (p != expected) v.Add("other bytes changed: " + example);
    // Back to the original destination: bit for bit the original packet.
    if (!RewriteDestination(p, DstOf(original), ChecksumMode::kAdjustTransport).ok() ||
        p != original) {
      v.Add("round trip: " + example);
    }
  }
  CHECK_NO_VIOLATIONS(v);
}

TEST_CASE("adj-transport leaves a UDP checksum of 0 (none) alone", "[translation][adjust]") {
  const Bytes original = Ipv6Packet(Addr("2001:db8:ffff::10"), Addr("2001:db8:0:1:2000::1234"),
                                    kProtoUdp, UdpDatagram(1000, 2000, Text("no checksum")));
  for (ChecksumMode mode : kAdjustModes) {
    INFO("mode " << mode);
    Bytes p = original;
    CHECK(Rewrite(p, Addr("2001:db8:aaaa:1:2000::1234"), mode) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumFieldOf(p) == 0);
    CHECK(ToHex(p) == ToHex(WithDst(original, Addr("2001:db8:aaaa:1:2000::1234"))));
  }
}

// A segment whose checksum for src/dst computes to 0 (before UDP's 0 -> 0xFFFF rule): its first
// payload word is chosen so that the one's-complement sum is zero.
Bytes SegmentWithZeroChecksum(const Ipv6Address& src, const Ipv6Address& dst, uint8_t protocol) {
  Bytes segment = protocol == kProtoUdp ? UdpDatagram(1000, 2000, Bytes(6, 0x5a))
                                        : TcpSegment(40000, 80, 7, Bytes(6, 0x5a));
  const size_t filler = protocol == kProtoUdp ? 8 : 20;
  Put16(segment, filler, 0);
  Put16(segment, filler, ReferenceChecksumRaw(src, dst, protocol, segment));
  REQUIRE(ReferenceChecksumRaw(src, dst, protocol, segment) == 0);
  return segment;
}

TEST_CASE("adj-transport writes a UDP result of 0 as 0xFFFF and keeps TCP's 0x0000",
          "[translation][adjust]") {
  const Ipv6Address src = Addr("2001:db8:ffff::10");
  const Ipv6Address sir = Addr("2001:db8:0:1:2000::1234");
  const Ipv6Address ila = Addr("2001:db8:aaaa:1:2000::1234");

  SECTION("UDP whose adjusted checksum is 0") {
    const Bytes segment = SegmentWithZeroChecksum(src, ila, kProtoUdp);
    Bytes p = ChecksummedPacket(src, sir, kProtoUdp, segment);
    REQUIRE(ChecksumFieldOf(p) != 0);
    CHECK(Rewrite(p, ila, ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumFieldOf(p) == 0xffff);
    CHECK(ChecksumValid(p));
    CHECK(FreshChecksum(p) == 0xffff);
  }
  SECTION("UDP that carries 0xFFFF (a computed 0) before the rewrite") {
    const Bytes segment = SegmentWithZeroChecksum(src, sir, kProtoUdp);
    Bytes p = ChecksummedPacket(src, sir, kProtoUdp, segment);
    REQUIRE(ChecksumFieldOf(p) == 0xffff);
    CHECK(Rewrite(p, ila, ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumValid(p));
    CHECK(ChecksumFieldOf(p) == FreshChecksum(p));
    CHECK(Rewrite(p, sir, ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumFieldOf(p) == 0xffff);
  }
  SECTION("TCP whose adjusted checksum is 0") {
    const Bytes segment = SegmentWithZeroChecksum(src, ila, kProtoTcp);
    Bytes p = ChecksummedPacket(src, sir, kProtoTcp, segment);
    CHECK(Rewrite(p, ila, ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumFieldOf(p) == 0x0000);
    CHECK(ChecksumValid(p));
    CHECK(FreshChecksum(p) == 0x0000);
  }
}

TEST_CASE("a checksum of 0xFFFF (-0) that meets a zero delta comes out 0x0000, as Linux writes it",
          "[translation][adjust]") {
  // The delta may arrive as either zero (Linux-compat's is the complement of the forward one).
  for (uint16_t zero : {uint16_t{0x0000}, uint16_t{0xffff}}) {
    for (ChecksumMode mode :
         {ChecksumMode::kAdjustTransport, ChecksumMode::kAdjustTransportLinuxCompat}) {
      CAPTURE(zero, mode);
      CHECK(AdjustTransportChecksum(0xffff, zero, kProtoTcp, mode) == 0x0000);
      CHECK(AdjustTransportChecksum(0xffff, zero, kProtoIcmpv6, mode) == 0x0000);
      CHECK(AdjustTransportChecksum(0xffff, zero, kProtoUdp, mode) == 0xffff);  // UDP's 0
      CHECK(AdjustTransportChecksum(0x0000, zero, kProtoTcp, mode) == 0x0000);
      CHECK(AdjustTransportChecksum(0x1234, zero, kProtoTcp, mode) == 0x1234);
    }
  }
}

TEST_CASE("adj-transport-linux-compat reproduces the kernel's (wrong) checksums",
          "[translation][adjust][kernel]") {
  for (const KernelVector* k :
       {&k01UdpAdj, &k02TcpSynAdj, &k04IcmpEchoAdj, &k07UdpAdjResultZero, &k08TcpAdjResultZero}) {
    INFO(std::string(k->name));
    const Bytes in = FromHex(k->in);
    REQUIRE(ChecksumValid(in));
    const Ipv6Address ila = DstOf(FromHex(k->egress));
    REQUIRE(ila == Addr("2001:db8:aaaa:1:2000::1234"));

    Bytes linux_like = in;
    CHECK(Rewrite(linux_like, ila, ChecksumMode::kAdjustTransportLinuxCompat) ==
          RewriteOutcome::kTranslatedWithTransport);
    CheckMatchesKernel(linux_like, *k);
    CHECK_FALSE(ChecksumValid(linux_like));  // what the kernel sends does not verify

    Bytes correct = in;
    CHECK(Rewrite(correct, ila, ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumValid(correct));
    CHECK(ChecksumFieldOf(correct) == FreshChecksum(correct));
    CHECK(ChecksumFieldOf(correct) != ChecksumFieldOf(linux_like));
  }
  // 07 and 08: the kernel's wrong result folds to 0, written 0xFFFF for UDP and kept for TCP.
  Bytes udp = FromHex(k07UdpAdjResultZero.in);
  CHECK(
      Rewrite(udp, Addr("2001:db8:aaaa:1:2000::1234"), ChecksumMode::kAdjustTransportLinuxCompat) ==
      RewriteOutcome::kTranslatedWithTransport);
  CHECK(ChecksumFieldOf(udp) == 0xffff);
  Bytes tcp = FromHex(k08TcpAdjResultZero.in);
  CHECK(
      Rewrite(tcp, Addr("2001:db8:aaaa:1:2000::1234"), ChecksumMode::kAdjustTransportLinuxCompat) ==
      RewriteOutcome::kTranslatedWithTransport);
  CHECK(ChecksumFieldOf(tcp) == 0x0000);
}

TEST_CASE("Two adj-transport-linux-compat peers cancel each other's error (property)",
          "[translation][adjust][property]") {
  std::mt19937_64 rng(0x11);
  Violations v;
  int nonzero_delta = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint8_t protocol = kTransports[i % 3];
    const SirAddress sir = SirAddress::From(RandomAddress(rng));
    const IlaAddress ila{Locator(RandomWord(rng)), sir.identifier};
    const Bytes original = RandomPacket(rng, protocol, sir.address());
    const std::string example = ToHex(original) + " -> " + ila.ToString();
    const bool delta_is_zero =
        SameOnesComplement(OnesComplementSum(sir.address()), OnesComplementSum(ila.address()));
    nonzero_delta += !delta_is_zero;

    Bytes p = original;
    if (!RewriteDestination(p, ila.address(), ChecksumMode::kAdjustTransportLinuxCompat).ok()) {
      v.Add("failed: " + example);
      continue;
    }
    // Wrong on the wire exactly when the address sum changed.
    if (ChecksumValid(p) != delta_is_zero) v.Add("validity on the wire: " + example);
    // The receiving Linux peer applies its wrong delta the other way: the original comes back.
    if (!RewriteDestination(p, sir.address(), ChecksumMode::kAdjustTransportLinuxCompat).ok() ||
        p != original) {
      v.Add("not restored: " + example);
    }
  }
  CHECK_NO_VIOLATIONS(v);
  CHECK(nonzero_delta > 19000);
}

// =================================================================================================
// RewriteDestination: what it leaves alone
// =================================================================================================

TEST_CASE("RewriteDestination does not adjust behind an extension header",
          "[translation][rewrite]") {
  const Ipv6Address src = Addr("2001:db8:ffff::10");
  const Ipv6Address sir = Addr("2001:db8:0:1:2000::1234");
  const Ipv6Address ila = Addr("2001:db8:aaaa:1:2000::1234");
  // Hop-by-hop options (next header TCP, length 0, one PadN option) followed by a TCP segment.
  Bytes payload = {kProtoTcp, 0, 1, 4, 0, 0, 0, 0};
  Append(payload, WithChecksum(src, sir, kProtoTcp, TcpSegment(40000, 80, 9, Text("data"))));
  const Bytes original = Ipv6Packet(src, sir, kHopByHop, payload);

  for (ChecksumMode mode : kAllModes) {
    INFO("mode " << mode);
    Bytes p = original;
    const RewriteOutcome expected = (mode == ChecksumMode::kAdjustTransport ||
                                     mode == ChecksumMode::kAdjustTransportLinuxCompat)
                                        ? RewriteOutcome::kTransportNotAdjustable
                                        : RewriteOutcome::kTranslated;
    CHECK(Rewrite(p, ila, mode) == expected);
    CHECK(ToHex(p) == ToHex(WithDst(original, ila)));  // the address, and nothing after it
  }

  // Kernel vectors 28 (destination options before TCP) and 29 (fragment header before UDP).
  for (const KernelVector* k : {&k28DestoptTcpAdj, &k29FragmentUdpAdj}) {
    for (ChecksumMode mode : kAdjustModes) {
      INFO(std::string(k->name) << ", mode " << mode);
      Bytes p = FromHex(k->in);
      CHECK(Rewrite(p, ila, mode) == RewriteOutcome::kTransportNotAdjustable);
      CheckMatchesKernel(p, *k);
    }
  }
}

TEST_CASE("RewriteDestination does not adjust a truncated transport header",
          "[translation][rewrite]") {
  const Ipv6Address src = Addr("2001:db8:ffff::10");
  const Ipv6Address sir = Addr("2001:db8:0:1:2000::1234");
  const Ipv6Address ila = Addr("2001:db8:aaaa:1:2000::1234");
  const Bytes tcp = WithChecksum(src, sir, kProtoTcp, TcpSegment(40000, 80, 9, {}));
  const Bytes udp = WithChecksum(src, sir, kProtoUdp, UdpDatagram(1000, 2000, {}));
  const Bytes icmp = WithChecksum(src, sir, kProtoIcmpv6, Icmpv6Echo(1, 2, {}));

  struct Case {
    std::string_view name;
    uint8_t protocol;
    const Bytes* segment;
    std::ptrdiff_t keep;  // bytes of the segment that are present
  };
  const Case truncated[] = {
      {"TCP, no header", kProtoTcp, &tcp, 0},
      {"TCP, 18 bytes (checksum present, header cut)", kProtoTcp, &tcp, 18},
      {"TCP, 19 bytes", kProtoTcp, &tcp, 19},
      {"UDP, 4 bytes", kProtoUdp, &udp, 4},
      {"UDP, 7 bytes", kProtoUdp, &udp, 7},
      {"ICMPv6, 3 bytes", kProtoIcmpv6, &icmp, 3},
  };
  for (const Case& c : truncated) {
    for (ChecksumMode mode : kAdjustModes) {
      INFO(std::string(c.name) << ", mode " << mode);
      const Bytes original =
          Ipv6Packet(src, sir, c.protocol, Bytes(c.segment->begin(), c.segment->begin() + c.keep));
      Bytes p = original;
      CHECK(Rewrite(p, ila, mode) == RewriteOutcome::kTransportNotAdjustable);
      CHECK(ToHex(p) == ToHex(WithDst(original, ila)));
    }
  }

  // The full headers alone are enough.
  for (const Bytes* segment : {&tcp, &udp, &icmp}) {
    const uint8_t protocol = segment == &tcp   ? kProtoTcp
                             : segment == &udp ? kProtoUdp
                                               : kProtoIcmpv6;
    INFO("protocol " << int{protocol});
    Bytes p = Ipv6Packet(src, sir, protocol, *segment);
    CHECK(Rewrite(p, ila, ChecksumMode::kAdjustTransport) ==
          RewriteOutcome::kTranslatedWithTransport);
    CHECK(ChecksumValid(p));
  }

  // Kernel vector 30: UDP with only 4 transport bytes.
  Bytes p = FromHex(k30UdpTruncatedAdj.in);
  CHECK(Rewrite(p, ila, ChecksumMode::kAdjustTransport) == RewriteOutcome::kTransportNotAdjustable);
  CheckMatchesKernel(p, k30UdpTruncatedAdj);

  // No transport at all.
  const Bytes none = Ipv6Packet(src, sir, kNoNextHeader, Bytes(24, 0xab));
  Bytes q = none;
  CHECK(Rewrite(q, ila, ChecksumMode::kAdjustTransport) == RewriteOutcome::kTransportNotAdjustable);
  CHECK(ToHex(q) == ToHex(WithDst(none, ila)));
}

TEST_CASE("RewriteDestination refuses input that is not an IPv6 packet",
          "[translation][rewrite][errors]") {
  const Ipv6Address dst = Addr("2001:db8:aaaa:1:2000::1234");
  struct Case {
    std::string_view name;
    Bytes bytes;
    std::string_view reason;
  };
  Bytes ipv4(60, 0);
  ipv4[0] = 0x45;
  Bytes short_ipv6 = Ipv6Packet(Addr("::1"), Addr("::2"), kProtoUdp, {});
  short_ipv6.resize(39);
  const Case cases[] = {
      {"empty", {}, "0 bytes"},
      {"39 bytes of an IPv6 header", short_ipv6, "39 bytes"},
      {"an IPv4 header", ipv4, "version 4"},
  };
  for (const Case& c : cases) {
    for (ChecksumMode mode : kAllModes) {
      INFO(std::string(c.name) << ", mode " << mode);
      Bytes p = c.bytes;
      const absl::StatusOr<RewriteOutcome> r = RewriteDestination(p, dst, mode);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
      const std::string message(r.status().message());
      CHECK_THAT(message, Contains("not an IPv6 packet"));
      CHECK_THAT(message, Contains(std::string(c.reason)));
      CHECK(p == c.bytes);  // nothing written
    }
  }
}

TEST_CASE("no-action and the neutral modes change only the destination address",
          "[translation][rewrite]") {
  std::mt19937_64 rng(2);
  Violations v;
  for (int i = 0; i < 3000; ++i) {
    const uint8_t protocol = kTransports[i % 3];
    const Bytes original = RandomPacket(rng, protocol, RandomAddress(rng));
    const Ipv6Address new_dst = RandomAddress(rng);
    for (ChecksumMode mode :
         {ChecksumMode::kNoAction, ChecksumMode::kNeutralMap, ChecksumMode::kNeutralMapAuto}) {
      Bytes p = original;
      const absl::StatusOr<RewriteOutcome> r = RewriteDestination(p, new_dst, mode);
      if (!r.ok() || *r != RewriteOutcome::kTranslated || p != WithDst(original, new_dst)) {
        v.Add(std::string(ToString(mode)) + ": " + ToHex(original));
      }
    }
  }
  CHECK_NO_VIOLATIONS(v);

  // Kernel vector 14: no-action leaves the (now stale) UDP checksum as it was.
  const Bytes in = FromHex(k01UdpAdj.in);
  Bytes p = in;
  CHECK(Rewrite(p, Addr("2001:db8:aaaa:1:2000::1234"), ChecksumMode::kNoAction) ==
        RewriteOutcome::kTranslated);
  CHECK(ChecksumFieldOf(p) == ChecksumFieldOf(in));
  CHECK_FALSE(ChecksumValid(p));
}

TEST_CASE("Neutral mapping end to end: packets stay valid and translate back exactly",
          "[translation][neutral][property]") {
  std::mt19937_64 rng(0xe2e);
  for (ChecksumMode mode : kNeutralModes) {
    INFO("mode " << mode);
    Violations v;
    for (int i = 0; i < 5000; ++i) {
      const uint8_t protocol = kTransports[i % 3];
      uint64_t id = rng();
      if ((id & 0xffff) == 0xffff || i % 8 == 0) id &= ~uint64_t{0xffff};
      if (mode == ChecksumMode::kNeutralMap) id &= ~Identifier::kChecksumNeutralBit;
      const SirAddress sir{SirPrefix(RandomWord(rng)), Identifier(id)};
      const Locator locator(RandomWord(rng));
      const Bytes original = RandomPacket(rng, protocol, sir.address());
      const std::string example = ToHex(original) + " loc " + locator.ToString();

      const absl::StatusOr<IlaAddress> ila = SirToIla(sir, locator, mode);
      if (!ila.ok()) {
        v.Add("refused: " + example);
        continue;
      }
      Bytes p = original;
      if (!RewriteDestination(p, ila->address(), mode).ok() || !ChecksumValid(p)) {
        v.Add("invalid on the wire: " + example);
      }
      const SirAddress back = IlaToSir(IlaAddress::From(DstOf(p)), sir.prefix, mode);
      if (!RewriteDestination(p, back.address(), mode).ok() || p != original) {
        v.Add("not restored: " + example);
      }
    }
    CHECK_NO_VIOLATIONS(v);
  }
}

}  // namespace
}  // namespace ila
