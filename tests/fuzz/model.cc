#include "fuzz/model.h"

#include <linux/bpf.h>

#include <algorithm>
#include <span>

namespace ila::fuzz {
namespace {

constexpr size_t kEth = 14;
constexpr size_t kL4 = kEth + 40;  // where the transport (or the first extension header) starts
constexpr size_t kNextHeaderAt = kEth + 6, kHopLimitAt = kEth + 7;
constexpr size_t kSrcAt = kEth + 8, kDstAt = kEth + 24;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 58;
constexpr uint64_t kCBit = uint64_t{1} << 60;

uint16_t Get16(const Bytes& f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }
void Put16(Bytes& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}
Ipv6Address AddressAt(const Bytes& f, size_t at) {
  return Ipv6Address::FromBytes(std::span<const uint8_t, 16>(f.data() + at, 16));
}
void PutAddress(Bytes& f, size_t at, const Ipv6Address& a) {
  std::copy(a.bytes().begin(), a.bytes().end(), f.begin() + static_cast<long>(at));
}
void PutMac(Bytes& f, size_t at, const MacAddress& m) {
  std::copy(m.bytes().begin(), m.bytes().end(), f.begin() + static_cast<long>(at));
}

// One's-complement arithmetic (RFC 1071): 16-bit addition with end-around carry. 0 + 0 is 0;
// any other sum that is zero comes out as 0xffff.
uint16_t Add(uint16_t a, uint16_t b) {
  const uint32_t s = uint32_t{a} + b;
  return static_cast<uint16_t>((s & 0xffff) + (s >> 16));
}
uint16_t Minus(uint16_t a, uint16_t b) { return Add(a, static_cast<uint16_t>(~b)); }
uint16_t Sum64(uint64_t w) {
  uint16_t s = 0;
  for (int shift = 48; shift >= 0; shift -= 16) s = Add(s, static_cast<uint16_t>(w >> shift));
  return s;
}
uint16_t Sum(const Ipv6Address& a) { return Add(Sum64(a.high64()), Sum64(a.low64())); }
// A checksum field once what it covers grew by `delta` (RFC 1624, eqn. 3: HC' = ~(~HC + m' - m)).
// The sum is never the positive zero (0 + 0): -0 (0xffff) in the field with a zero delta gives
// 0x0000, what a computation from scratch gives.
uint16_t Update(uint16_t field, uint16_t delta) {
  const uint16_t sum = Add(static_cast<uint16_t>(~field), delta);
  return static_cast<uint16_t>(~(sum ? sum : 0xffff));
}

bool AdjustsTransport(ChecksumMode m) {
  return m == ChecksumMode::kAdjustTransport || m == ChecksumMode::kAdjustTransportLinuxCompat;
}
bool Neutral(ChecksumMode m) {
  return m == ChecksumMode::kNeutralMap || m == ChecksumMode::kNeutralMapAuto;
}

// The fixed header of the transports whose checksum covers the destination (translation.md: TCP
// 20 bytes, UDP 8, ICMPv6 8), and where the checksum is in it; 0 / -1 for other protocols.
size_t FixedHeader(uint8_t proto) {
  return proto == kTcp ? 20 : proto == kUdp || proto == kIcmp ? 8 : 0;
}
int ChecksumAt(uint8_t proto) {
  return proto == kTcp ? 16 : proto == kUdp ? 6 : proto == kIcmp ? 2 : -1;
}

// Link-local unicast (fe80::/10) or multicast (ff00::/8).
bool LinkScoped(const Ipv6Address& a) {
  return a.bytes()[0] == 0xff || (a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80);
}

// One frame's way through one program: each step either stops with a prediction or goes on.
class Decision {
 public:
  Decision(const World& w, Iface ingress, const Bytes& frame, ModelVariant v)
      : w_(w), in_(ingress), v_(v) {
    p_.frame = frame;
  }
  Prediction FromContainer();
  Prediction FromUplink();
  Prediction Router();

 private:
  Bytes& f() { return p_.frame; }
  Ipv6Address Src() { return AddressAt(f(), kSrcAt); }
  Ipv6Address Dst() { return AddressAt(f(), kDstAt); }
  uint16_t PayloadLength() { return Get16(f(), kEth + 4); }

  Prediction Stop(int verdict, std::string_view outcome) {
    p_.verdict = verdict;
    p_.outcome = outcome;
    return p_;
  }
  Prediction Pass(std::string_view outcome) { return Stop(XDP_PASS, outcome); }
  Prediction Drop(std::string_view outcome) { return Stop(XDP_DROP, outcome); }
  std::optional<Prediction> NotPlainIpv6(bool container);
  std::optional<Prediction> NotReadyToRewrite();
  uint16_t UpdateTransport(uint16_t field, uint16_t delta, uint8_t proto) const;
  void Retarget(const Ipv6Address& to, ChecksumMode mode);
  Prediction Redirect(const MacAddress& dst, const MacAddress& src, std::string_view outcome);
  Prediction Forward(std::string_view outcome);
  enum class TooBigAs { kUntranslated, kTranslated };
  bool TooBig();
  Prediction TranslateAndForward(const Mapping& m, std::string_view outcome, TooBigAs too_big);
  void TranslateQuote();

  const World& w_;
  const Iface in_;
  const ModelVariant v_;
  Prediction p_;
};

// The frames that never reach a decision about ILA (security.md, malformed_test): too short for
// the test run, tagged, of another protocol, cut inside the IPv6 header, or of another version.
std::optional<Prediction> Decision::NotPlainIpv6(bool container) {
  if (f().size() < kEth) {
    p_.refused = true;
    return p_;
  }
  const uint16_t type = Get16(f(), 12);
  if (type == 0x8100 || type == 0x88a8) {
    // A container may not tag; an uplink's or a router's tags belong to the kernel's VLAN devices.
    return container ? Drop("drop_vlan_tagged") : Pass("pass_not_ipv6");
  }
  if (type != 0x86dd) return Pass("pass_not_ipv6");
  if (f().size() < kL4) return Drop("drop_truncated");
  if (f()[kEth] >> 4 != 6) return Drop("drop_bad_version");
  return std::nullopt;
}

// Before anything is rewritten: the payload length lies within the frame, and the packet has hop
// limit left to be forwarded (<= 1: the kernel answers with Time Exceeded).
std::optional<Prediction> Decision::NotReadyToRewrite() {
  if (kL4 + PayloadLength() > f().size()) return Drop("drop_bad_length");
  if (f()[kHopLimitAt] <= 1) return Pass("pass_hop_limit");
  return std::nullopt;
}

// A transport checksum field after an address change of `delta`; a UDP checksum of 0 means none
// and stays 0, a UDP result of 0 is sent as 0xffff (translation.md).
uint16_t Decision::UpdateTransport(uint16_t field, uint16_t delta, uint8_t proto) const {
  if (proto == kUdp && field == 0 && v_ != ModelVariant::kUdpZeroRewritten) return 0;
  const uint16_t out = Update(field, delta);
  return proto == kUdp && out == 0 ? 0xffff : out;
}

// Writes the destination `to`; adj-transport (and its Linux-compatible twin) also adjusts the
// transport checksum, when a TCP, UDP or ICMPv6 header follows the IPv6 header directly and is
// whole by the payload length, and counts it otherwise.
void Decision::Retarget(const Ipv6Address& to, ChecksumMode mode) {
  const Ipv6Address from = Dst();
  PutAddress(f(), kDstAt, to);
  if (!AdjustsTransport(mode)) return;
  const uint8_t proto = f()[kNextHeaderAt];
  if (FixedHeader(proto) == 0 || PayloadLength() < FixedHeader(proto)) {
    ++p_.transport_not_adjusted;
    return;
  }
  uint16_t delta = Minus(Sum(to), Sum(from));  // new - old
  if (mode == ChecksumMode::kAdjustTransportLinuxCompat) delta = static_cast<uint16_t>(~delta);
  if (v_ == ModelVariant::kAdjSignFlipped) delta = static_cast<uint16_t>(~delta);
  const size_t at = kL4 + static_cast<size_t>(ChecksumAt(proto));
  Put16(f(), at, UpdateTransport(Get16(f(), at), delta, proto));
}

Prediction Decision::Redirect(const MacAddress& dst, const MacAddress& src,
                              std::string_view outcome) {
  PutMac(f(), 0, dst);
  PutMac(f(), 6, src);
  --f()[kHopLimitAt];
  return Stop(XDP_REDIRECT, outcome);
}

// To the next hop of the (translated) destination's locator: the FIB's answer. What the program
// cannot forward itself goes to the kernel translated, its hop limit untouched.
Prediction Decision::Forward(std::string_view outcome) {
  const RouteKind route = w_.RouteOf(Dst().high64());
  if (route == RouteKind::kUnreachable || route == RouteKind::kNone) return Pass("pass_fib");
  // Nothing from a link-local, multicast or loopback source is forwarded (the kernel's FIB says
  // so for every destination; RFC 4291 2.5.6).
  const Ipv6Address src = Src();
  if (LinkScoped(src) || src == Ipv6Address::FromHalves(0, 1)) return Pass("pass_fib");
  if (TooBig()) return Pass("pass_fib");  // a router's: its kernel's Packet Too Big
  if (route == RouteKind::kNoNeighbour) return Pass("pass_no_neighbour");
  if (route == RouteKind::kNotRedirectable) return Pass("pass_egress_not_redirectable");
  return Redirect(w_.fabric_mac, w_.uplink_mac, outcome);
}

// Longer than the route's MTU (every route here has w_.mtu), for a route the FIB would use.
bool Decision::TooBig() { return 40u + PayloadLength() > w_.mtu; }

Prediction Decision::TranslateAndForward(const Mapping& m, std::string_view outcome,
                                         TooBigAs too_big) {
  // A host hands a packet too big for the route to its locator to the kernel untranslated, so that
  // the Packet Too Big quotes the SIR destination; what the FIB refuses anyway it refuses first.
  const RouteKind route = w_.RouteOf(m.locator.value());
  const Ipv6Address src = Src();
  const bool refused = route == RouteKind::kUnreachable || route == RouteKind::kNone ||
                       LinkScoped(src) || src == Ipv6Address::FromHalves(0, 1);
  if (too_big == TooBigAs::kUntranslated && !refused && TooBig()) return Pass("pass_too_big");
  p_.mapped_with = m.csum_mode;
  p_.ident_type = m.ident_type;
  Retarget(ModelSirToIla(m.sir, m.locator, m.csum_mode), m.csum_mode);
  return Forward(outcome);
}

Prediction Decision::FromContainer() {
  if (auto stop = NotPlainIpv6(true)) return *stop;
  const Ipv6Address src = Src(), dst = Dst();
  if (LinkScoped(dst) || LinkScoped(src)) return Pass("pass_link_local");
  // The source must be one of the SIR addresses registered on the interface it came from.
  const LocalEndpoint* own = w_.EndpointOf(src);
  if (!own || own->iface != in_)
    return Drop(w_.HasEndpointOn(in_) ? "drop_spoofed_source" : "drop_unregistered_interface");
  // Traffic stays within its SIR prefix unless a rule links the two; containers address SIR,
  // never one of this host's locators.
  if (src.high64() != dst.high64()) {
    if (w_.IsSirPrefix(dst.high64()) && !w_.Linked(src.high64(), dst.high64()))
      return Drop("drop_cross_prefix");
    if (!w_.IsSirPrefix(dst.high64()) &&
        (w_.LocatorOf(dst.high64()) || w_.ClusterLocatorOf(dst.high64())))
      return Drop("drop_ila_destination");
  }
  if (const LocalEndpoint* e = w_.EndpointOf(dst)) {  // here: no translation
    if (auto stop = NotReadyToRewrite()) return *stop;
    return Redirect(e->mac, w_.HostSideMac(e->iface), "tx_local");
  }
  const Mapping* m = w_.MappingOf(dst);
  if (!m) {
    if (!w_.InSirPrefix(dst)) return Pass("pass_not_sir");
    return w_.miss_policy == MissPolicy::kDrop ? Drop("drop_miss") : Pass("pass_miss");
  }
  if (auto stop = NotReadyToRewrite()) return *stop;
  return TranslateAndForward(*m, "tx_remote", TooBigAs::kUntranslated);
}

// An ICMPv6 error (types 1-4) quoting a packet whose destination this host translated on the way
// out: the quoted destination back to the SIR address the sender used, the quoted transport
// checksum back to what the sender wrote (adj-transport: the sender's host adjusted it, when it
// could), the ICMPv6 checksum balanced (translation.md, "ICMPv6 errors").
void Decision::TranslateQuote() {
  if (v_ == ModelVariant::kQuoteUntouched) return;
  // The message is the payload length's bytes (link-layer padding may follow, and is not part of
  // it: the ICMPv6 checksum does not cover it).
  constexpr size_t kQuote = kL4 + 8, kInner = kQuote + 40;
  const size_t end = kL4 + PayloadLength();
  if (f()[kNextHeaderAt] != kIcmp || end < kInner) return;
  if (f()[kL4] < 1 || f()[kL4] > 4) return;
  const Ipv6Address ila = AddressAt(f(), kQuote + 24);
  // The mapping that made the quoted address, or else the cluster's locator it lies under.
  const Mapping* m = nullptr;
  for (const Mapping& c : w_.mappings)
    if (ModelSirToIla(c.sir, c.locator, c.csum_mode) == ila) m = &c;
  const LocatorEntry* other = m ? nullptr : w_.ClusterLocatorOf(ila.high64());
  if (!m && !other) {
    ++p_.icmp_inner_unknown;
    return;
  }
  const ChecksumMode mode = m ? m->csum_mode : other->csum_mode;
  const Ipv6Address sir =
      m ? m->sir.address() : ModelIlaToSir(ila, other->sir_prefix, other->csum_mode, v_);
  PutAddress(f(), kQuote + 24, sir);
  uint16_t change = Minus(Sum(sir), Sum(ila));  // what the message's sum changed by
  const uint8_t proto = f()[kQuote + 6];
  const int at = ChecksumAt(proto);
  if (AdjustsTransport(mode) && at >= 0 && Get16(f(), kQuote + 4) >= FixedHeader(proto) &&
      kInner + static_cast<size_t>(at) + 2 <= end) {
    uint16_t undo = Minus(Sum(sir), Sum(ila));
    if (mode == ChecksumMode::kAdjustTransportLinuxCompat) undo = static_cast<uint16_t>(~undo);
    const size_t field = kInner + static_cast<size_t>(at);
    const uint16_t before = Get16(f(), field), after = UpdateTransport(before, undo, proto);
    Put16(f(), field, after);
    change = Add(change, Minus(after, before));
  }
  Put16(f(), kL4 + 2, Update(Get16(f(), kL4 + 2), change));
  ++p_.icmp_inner_translated;
}

Prediction Decision::FromUplink() {
  if (auto stop = NotPlainIpv6(false)) return *stop;
  const Ipv6Address dst = Dst();
  if (LinkScoped(dst)) return Pass("pass_link_local");
  if (!std::equal(w_.uplink_mac.bytes().begin(), w_.uplink_mac.bytes().end(), f().begin()))
    return Pass("pass_not_for_this_host");
  bool reforwarded = false;
  const LocatorEntry* loc = w_.LocatorOf(dst.high64(), &reforwarded);
  if (!loc) return Pass("pass_not_local_locator");
  // From another tenant's SIR prefix (sources outside every prefix are not a tenant's).
  const uint64_t from = Src().high64(), to = loc->sir_prefix.value();
  if (from != to && w_.IsSirPrefix(from) && !w_.Linked(from, to))
    return Drop("drop_cross_prefix_arrival");
  if (auto stop = NotReadyToRewrite()) return *stop;
  p_.restored_with = loc->csum_mode;
  const Ipv6Address sir = ModelIlaToSir(dst, loc->sir_prefix, loc->csum_mode, v_);
  Retarget(sir, loc->csum_mode);
  TranslateQuote();
  if (const LocalEndpoint* e = w_.EndpointOf(sir))
    return Redirect(e->mac, w_.HostSideMac(e->iface), "rx_delivered");
  // The container is not here (any more): the moved policy.
  if (w_.moved_policy == MovedPolicy::kDrop) return Drop("drop_endpoint_gone");
  // Another host re-forwarded it here already: delivered or dropped, never forwarded again.
  if (reforwarded) return Drop("drop_reforward_loop");
  const Mapping* m = w_.MappingOf(sir);
  if (!m) return Drop("drop_endpoint_gone");
  // A mapping that still names this host would bring the packet back here, again and again.
  if (w_.LocatorOf(m->locator.value())) return Drop("drop_loop");
  // To the new host's re-forward locator when the cluster table names one.
  Mapping via = *m;
  if (auto twin = w_.ReforwardOf(m->locator.value())) via.locator = *twin;
  return TranslateAndForward(via, "rx_reforwarded", TooBigAs::kUntranslated);
}

Prediction Decision::Router() {
  if (auto stop = NotPlainIpv6(false)) return *stop;
  const Ipv6Address dst = Dst();
  if (LinkScoped(dst)) return Pass("pass_link_local");
  if (!std::equal(w_.uplink_mac.bytes().begin(), w_.uplink_mac.bytes().end(), f().begin()))
    return Pass("pass_not_for_this_host");
  const Mapping* m = w_.MappingOf(dst);
  if (!m) return w_.InSirPrefix(dst) ? Drop("drop_router_miss") : Pass("pass_not_sir");
  if (auto stop = NotReadyToRewrite()) return *stop;
  return TranslateAndForward(*m, "router_forwarded", TooBigAs::kTranslated);
}

}  // namespace

std::string_view ToString(ModelVariant v) {
  switch (v) {
    case ModelVariant::kCorrect: return "correct";
    case ModelVariant::kAdjSignFlipped: return "adj-transport delta's sign flipped";
    case ModelVariant::kNoCBitRestore: return "neutral-map C-bit restore removed";
    case ModelVariant::kUdpZeroRewritten: return "UDP checksum 0 adjusted";
    case ModelVariant::kZeroFoldKept: return "restored 0xffff kept";
    case ModelVariant::kQuoteUntouched: return "ICMPv6 quotes left alone";
  }
  return "?";
}

// neutral-map: the identifier's low 16 bits absorb (old - new) of the locator change and -0x1000
// for the C-bit it sets; neutral-map-auto the same without the C-bit; the others only put the
// locator in (translation.md, "The modes").
Ipv6Address ModelSirToIla(const SirAddress& sir, Locator locator, ChecksumMode mode) {
  uint64_t id = sir.identifier.value();
  if (Neutral(mode)) {
    uint16_t absorb = Minus(Sum64(sir.prefix.value()), Sum64(locator.value()));
    if (mode == ChecksumMode::kNeutralMap) {
      absorb = Minus(absorb, 0x1000);
      id |= kCBit;
    }
    id = (id & ~uint64_t{0xffff}) | Add(static_cast<uint16_t>(id), absorb);
  }
  return Ipv6Address::FromHalves(locator.value(), id);
}

// The inverse: neutral-map undoes only a C-bit address (+0x1000, clear the C-bit, add back
// new - old), neutral-map-auto always; a low 16 bits that fold to 0xffff are written 0x0000.
Ipv6Address ModelIlaToSir(const Ipv6Address& ila, SirPrefix prefix, ChecksumMode mode,
                          ModelVariant variant) {
  uint64_t id = ila.low64();
  const bool undo =
      mode == ChecksumMode::kNeutralMapAuto || (mode == ChecksumMode::kNeutralMap && (id & kCBit) &&
                                                variant != ModelVariant::kNoCBitRestore);
  if (undo) {
    uint16_t back = Minus(Sum64(ila.high64()), Sum64(prefix.value()));
    if (mode == ChecksumMode::kNeutralMap) {
      back = Add(back, 0x1000);
      id &= ~kCBit;
    }
    uint16_t low = Add(static_cast<uint16_t>(id), back);
    if (low == 0xffff && variant != ModelVariant::kZeroFoldKept) low = 0;
    id = (id & ~uint64_t{0xffff}) | low;
  }
  return Ipv6Address::FromHalves(prefix.value(), id);
}

Prediction Predict(const World& world, Program program, Iface ingress, const Bytes& frame,
                   ModelVariant variant) {
  Decision d(world, ingress, frame, variant);
  switch (program) {
    case Program::kContainer: return d.FromContainer();
    case Program::kUplink: return d.FromUplink();
    case Program::kRouter: return d.Router();
  }
  return {};
}

bool TcRefuses(const Bytes& frame) {
  if (frame.size() < kEth) return true;
  const uint16_t type = Get16(frame, 12);
  return (type == 0x86dd && frame.size() < kL4) || (type == 0x0800 && frame.size() < kEth + 20);
}

}  // namespace ila::fuzz
