#include "fuzz/generator.h"

#include <algorithm>
#include <initializer_list>

#include "ila/translation.h"

namespace ila::fuzz {
namespace {

using testbed::HostFixture;

constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60, kNoNext = 59;

void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

template <typename T>
T OneOf(uint64_t r, std::initializer_list<T> list) {
  return *(list.begin() + static_cast<long>(r % list.size()));
}

}  // namespace

Bytes Dice::Filler(size_t max) {
  Bytes b(Below(max + 1));
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng_());
  return b;
}

Generator::Generator(const World& world, uint64_t seed) : w_(world), dice_(seed) {
  for (const Mapping& m : w_.mappings)
    if (!w_.EndpointOf(m.sir.address())) remote_.push_back(&m);
  for (const LocalEndpoint& e : w_.endpoints) local_sirs_.push_back(e.sir);
}

// An address under `high`: often an identifier the tables know something about (small ones are
// endpoints and moved containers), ends in 0x0000 or 0xffff, or has the C-bit set.
Ipv6Address Generator::RandomIn(uint64_t high) {
  uint64_t id = dice_();
  switch (Below(8)) {
    case 0: id = Below(16); break;
    case 1: id &= ~uint64_t{0xffff}; break;
    case 2: id |= 0xffff; break;
    case 3: id = (id & ~(uint64_t{0xf} << 60)) | Identifier::kChecksumNeutralBit; break;
    default: break;
  }
  return Ipv6Address::FromHalves(high, id);
}

Ipv6Address Generator::Foreign() {
  switch (Below(6)) {
    case 0: return HostFixture::FabricAddress();
    case 1: return Ipv6Address::FromHalves(0x20010db800000003ull, dice_());  // no SIR prefix
    case 2: return Ipv6Address();                                            // unspecified
    case 3: return Ipv6Address::FromHalves(0xfec0000000000000ull, 1);        // site-local
    case 4: return Ipv6Address::FromHalves(0, 1);                            // loopback
    default: return Ipv6Address::FromHalves(0x20010db8ffff0000ull | Below(0x10000), dice_());
  }
}

Ipv6Address Generator::LinkScoped() {
  switch (Below(4)) {
    case 0: return Ipv6Address::FromHalves(0xfe80000000000000ull, dice_());
    case 1: return Ipv6Address::FromHalves(0xff02000000000000ull, 1);
    case 2:
      return Ipv6Address::FromHalves(0xff02000000000000ull,
                                     0x00000001ff000000ull | Below(1u << 24));
    default: return Ipv6Address::FromHalves(0xfebf000000000000ull, dice_());  // still fe80::/10
  }
}

uint8_t Generator::HopLimit() {
  if (Below(4) != 0) return 64;
  return dice_.OneOf<uint8_t>({0, 1, 2, 255});
}

Bytes Generator::Segment(const Ipv6Address& src, const Ipv6Address& dst, uint8_t* proto,
                         bool* checkable) {
  using namespace testbed;
  *checkable = true;
  const uint64_t k = Below(100);
  const auto port = [&] { return static_cast<uint16_t>(dice_()); };
  if (k < 30) {
    *proto = kProtoTcp;
    return Tcp(src, dst, port(), port(), static_cast<uint32_t>(dice_()), 0x18, Payload(40));
  }
  if (k < 60) {
    *proto = kProtoUdp;
    Bytes seg = Udp(src, dst, port(), port(), Payload(40));
    if (Chance(0.1)) Put16(seg, 6, 0);  // no checksum
    return seg;
  }
  *proto = kProtoIcmpv6;
  if (k < 78) return IcmpEcho(src, dst, port(), port(), Payload(40));
  if (k < 86) {
    // What the container says it got: a packet the other way.
    const Ipv6Address& peer = dst;
    const Ipv6Address& self = src;
    Bytes quoted = Ipv6(peer, self, kProtoUdp, Udp(peer, self, 7, 9, Payload(8)));
    return IcmpError(src, dst, static_cast<uint8_t>(1 + Below(4)), 0, 0, quoted);
  }
  if (k < 92) {
    const uint8_t type = dice_.OneOf<uint8_t>({0, 5, 127, 133, 135, 143, 200});
    return IcmpError(src, dst, type, 0, static_cast<uint32_t>(dice_()), Payload(24));
  }
  *checkable = false;  // no checksum ILA knows about
  *proto = Chance(0.5) ? kNoNext : 132;
  return Payload(30);
}

// `inner` (whose first header is *proto) behind one to three extension headers.
Bytes Generator::Extensions(uint8_t* proto, Bytes inner, bool* checkable) {
  const int n = 1 + static_cast<int>(Below(3));
  for (int i = n - 1; i >= 0; --i) {
    const uint8_t next = *proto;
    Bytes h;
    const uint64_t k = Below(i == 0 ? 4 : 3);
    if (k == 3 || k == 0) {  // hop-by-hop (first only) or destination options, PadN
      const uint8_t units = static_cast<uint8_t>(Below(2));
      h.assign(8u * (units + 1u), 0);
      h[0] = next;
      h[1] = units;
      h[2] = 1;
      h[3] = static_cast<uint8_t>(h.size() - 4);
      *proto = k == 3 ? kHopByHop : kDestOpts;
    } else if (k == 1) {  // routing, nothing left to visit
      h = {next, 0, static_cast<uint8_t>(Chance(0.5) ? 4 : 253), 0, 0, 0, 0, 0};
      *proto = kRouting;
    } else {  // fragment: first of several, atomic, or a later one
      uint16_t off_m = 0;
      switch (Below(3)) {
        case 0: off_m = 1; break;
        case 1: off_m = 0; break;
        default:
          off_m = static_cast<uint16_t>((1 + Below(100)) << 3 | Below(2));
          *checkable = false;
      }
      h = {next, 0, static_cast<uint8_t>(off_m >> 8), static_cast<uint8_t>(off_m), 1, 2, 3, 4};
      if (off_m & 1) *checkable = false;  // more fragments: the checksum covers them too
      *proto = kFragment;
    }
    h.insert(h.end(), inner.begin(), inner.end());
    inner = std::move(h);
  }
  return inner;
}

Bytes Generator::Transport(const Ipv6Address& src, const Ipv6Address& dst, uint8_t* proto,
                           bool* checkable) {
  Bytes seg;
  if (Chance(0.03)) {  // around the path MTU (1500)
    *proto = kProtoUdp;
    *checkable = true;
    Bytes payload(1400 + Below(160), 0x5a);
    seg = testbed::Udp(src, dst, 5000, 6000, payload);
  } else {
    seg = Segment(src, dst, proto, checkable);
  }
  if (Chance(0.15)) seg = Extensions(proto, std::move(seg), checkable);
  return seg;
}

Case Generator::Next() {
  Case c;
  const uint64_t k = Below(100);
  if (k < 45)
    c = FromContainer();
  else if (k < 88)
    c = FromUplink();
  else
    c = ToRouter();
  if (Chance(0.35)) Mutate(c, dice_, w_);
  return c;
}

Ipv6Address Generator::ContainerDestination(std::string* what) {
  const uint64_t k = Below(100);
  if (k < 40) {
    const Mapping* m = remote_[Below(remote_.size())];
    *what += " to mapped " + m->sir.ToString();
    return m->sir.address();
  }
  if (k < 55) {
    *what += " to local";
    return Pick(local_sirs_).address();
  }
  if (k < 70) {
    *what += " to SIR";
    return RandomIn(Pick(w_.sir_prefixes).value());
  }
  if (k < 80) {
    *what += " to foreign";
    return Foreign();
  }
  if (k < 90) {
    *what += " to ILA";
    return RandomIn(Chance(0.5) ? Pick(w_.routes).locator.value()
                                : Pick(w_.locators).locator.value());
  }
  *what += " to link-scoped";
  return LinkScoped();
}

Case Generator::FromContainer() {
  Case c;
  c.program = Program::kContainer;
  const uint64_t k = Below(100);
  c.ingress = k < 80 ? Iface::kC1h : k < 95 ? Iface::kC2h : Iface::kUplink;
  c.what = std::string("from ") + std::string(ToString(c.ingress));
  std::vector<Ipv6Address> own;
  for (const LocalEndpoint& e : w_.endpoints)
    if (e.iface == c.ingress) own.push_back(e.sir.address());
  Ipv6Address src = own.empty() ? HostFixture::C1().address() : Pick(own);
  if (Chance(0.1)) {
    c.what += " spoofed";
    switch (Below(4)) {
      case 0: src = Pick(local_sirs_).address(); break;
      case 1: src = RandomIn(Pick(w_.sir_prefixes).value()); break;
      case 2: src = Foreign(); break;
      default: src = LinkScoped();
    }
  }
  const Ipv6Address dst = ContainerDestination(&c.what);
  uint8_t proto;
  bool checkable;
  Bytes seg = Transport(src, dst, &proto, &checkable);
  const MacAddress mac = c.ingress == Iface::kC2h ? HostFixture::C2Mac() : HostFixture::C1Mac();
  c.frame = testbed::EthernetIpv6(w_.HostSideMac(c.ingress), mac,
                                  testbed::Ipv6(src, dst, proto, seg, HopLimit()));
  c.sender_valid = checkable;
  return c;
}

MacAddress Generator::UplinkEthDst() {
  const uint64_t k = Below(100);
  if (k < 90) return w_.uplink_mac;
  if (k < 95) return addr::kOtherHostMac;
  return k < 98 ? addr::kMulticastMac : addr::kBroadcastMac;
}

namespace {

// A local locator of `prefix` (mostly; now and then any of this host's), or now and then the
// re-forward locator that stands for it (what another host re-forwarded here arrives on).
LocatorEntry LocatorFor(const World& w, SirPrefix prefix, uint64_t r) {
  std::vector<const LocatorEntry*> fits;
  for (const LocatorEntry& l : w.locators)
    if (l.sir_prefix == prefix || r % 8 == 0) fits.push_back(&l);
  LocatorEntry chosen = *fits[(r >> 8) % fits.size()];
  if (chosen.reforward && (r >> 20) % 3 == 0) chosen.locator = *chosen.reforward;
  return chosen;
}

// `ip`, whose destination is `sir`, as the sender's ILA host puts it on the wire for `loc`:
// in the locator's checksum mode (now and then a wrong one). Returns whether it was done right.
bool ToIla(Bytes& ip, const SirAddress& sir, const LocatorEntry& loc, uint64_t r,
           std::string* what) {
  ChecksumMode mode = loc.csum_mode;
  if (r % 12 == 0) {
    mode = OneOf(r >> 8, {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                          ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction,
                          ChecksumMode::kAdjustTransportLinuxCompat});
    *what += " sent " + std::string(ToString(mode));
  }
  auto ila = SirToIla(sir, loc.locator, mode);
  bool right = mode == loc.csum_mode;
  if (!ila.ok()) {  // a neutral mode the sender could not apply: the address as it is
    ila = IlaAddress{loc.locator, sir.identifier};
    mode = ChecksumMode::kNoAction;
    right = false;
  }
  (void)RewriteDestination(ip, ila->address(), mode);
  return right && IlaToSir(*ila, loc.sir_prefix, loc.csum_mode) == sir;
}

}  // namespace

Bytes Generator::ArrivalPacket(const SirAddress& sir, bool* checkable) {
  Ipv6Address src = Chance(0.5) ? RandomIn(Pick(w_.sir_prefixes).value()) : Foreign();
  if (Chance(0.05)) src = LinkScoped();
  uint8_t proto;
  Bytes seg = Transport(src, sir.address(), &proto, checkable);
  return testbed::Ipv6(src, sir.address(), proto, seg, HopLimit());
}

Case Generator::UplinkCase(const Bytes& ip, std::string what, bool sender_valid) {
  Case c;
  c.program = Program::kUplink;
  c.ingress = Iface::kUplink;
  c.what = std::move(what);
  c.frame = testbed::EthernetIpv6(UplinkEthDst(), w_.fabric_mac, ip);
  c.sender_valid = sender_valid;
  return c;
}

Case Generator::UplinkArrival(const SirAddress& sir, const LocatorEntry& loc, std::string what) {
  what.append(" ").append(sir.ToString()).append(" via ").append(loc.locator.ToString());
  bool checkable;
  Bytes ip = ArrivalPacket(sir, &checkable);
  const bool right = ToIla(ip, sir, loc, dice_(), &what);
  return UplinkCase(ip, std::move(what), checkable && right);
}

// An ICMPv6 error about a packet a container here sent to a mapped destination, from somewhere in
// the underlay, arriving for the container under one of this host's locators.
Case Generator::UplinkError() {
  const LocalEndpoint& e = Pick(w_.endpoints);
  const Mapping& m = *remote_[Below(remote_.size())];
  std::string what = "error about " + m.sir.ToString();
  uint8_t proto;
  bool checkable;
  Bytes seg = Chance(0.9) ? Segment(e.sir.address(), m.sir.address(), &proto, &checkable)
                          : Transport(e.sir.address(), m.sir.address(), &proto, &checkable);
  if (Chance(0.15)) {
    seg.resize(Below(seg.size()));
    what += " short transport";
  }
  Bytes p = testbed::Ipv6(e.sir.address(), m.sir.address(), proto, seg);
  auto ila = SirToIla(m.sir, m.locator, m.csum_mode);
  if (ila.ok()) (void)RewriteDestination(p, ila->address(), m.csum_mode);
  if (Chance(0.1)) {
    const Ipv6Address unknown = RandomIn(Pick(w_.routes).locator.value());
    std::copy(unknown.bytes().begin(), unknown.bytes().end(), p.begin() + 24);
    what += " unknown";
  }
  if (Chance(0.2)) {
    p.resize(Below(p.size() + 1));
    what += " quote cut";
  }
  const Ipv6Address from = Chance(0.5) ? HostFixture::FabricAddress() : Foreign();
  const uint8_t type = Chance(0.85) ? static_cast<uint8_t>(1 + Below(4))
                                    : dice_.OneOf<uint8_t>({0, 5, 127, 128, 129, 135, 255});
  Bytes icmp = testbed::IcmpError(from, e.sir.address(), type, static_cast<uint8_t>(Below(4)),
                                  static_cast<uint32_t>(dice_()), p);
  Bytes ip = testbed::Ipv6(from, e.sir.address(), kProtoIcmpv6, icmp, HopLimit());
  const LocatorEntry& loc = LocatorFor(w_, e.sir.prefix, dice_());
  what += " type " + std::to_string(type) + " to " + e.sir.ToString() + " via " +
          loc.locator.ToString();
  const bool right = ToIla(ip, e.sir, loc, dice_(), &what);
  return UplinkCase(ip, std::move(what), right);
}

// Arrivals that are not for this host's locators.
Case Generator::UplinkElsewhere() {
  Ipv6Address dst;
  switch (Below(5)) {
    case 0: dst = RandomIn(Pick(w_.routes).locator.value()); break;
    case 1: dst = RandomIn(Pick(w_.sir_prefixes).value()); break;
    case 2: dst = Foreign(); break;
    case 3: dst = LinkScoped(); break;
    default: dst = Pick(local_sirs_).address();
  }
  bool checkable;
  return UplinkCase(ArrivalPacket(SirAddress::From(dst), &checkable), "uplink to " + dst.ToString(),
                    false);
}

Case Generator::FromUplink() {
  const uint64_t k = Below(100);
  if (k < 42) {
    const LocalEndpoint& e = Pick(w_.endpoints);
    return UplinkArrival(e.sir, LocatorFor(w_, e.sir.prefix, dice_()), "to endpoint");
  }
  if (k < 57) {
    SirAddress sir = remote_[Below(remote_.size())]->sir;
    if (Chance(0.2)) sir = {SirPrefix(sir.prefix), Identifier(0xc)};  // moved, no mapping
    return UplinkArrival(sir, LocatorFor(w_, sir.prefix, dice_()), "moved");
  }
  if (k < 64) {
    const SirAddress sir = SirAddress::From(RandomIn(Pick(w_.sir_prefixes).value()));
    return UplinkArrival(sir, LocatorFor(w_, sir.prefix, dice_()), "unknown");
  }
  if (k < 80) return UplinkError();
  if (k < 92) return UplinkElsewhere();
  // neutral-map without the C-bit: a sender that did not adjust (only the locator rewritten).
  const LocalEndpoint& e = Pick(w_.endpoints);
  std::vector<const LocatorEntry*> nm;
  for (const LocatorEntry& l : w_.locators)
    if (l.csum_mode == ChecksumMode::kNeutralMap) nm.push_back(&l);
  const LocatorEntry& loc = *nm[Below(nm.size())];
  const IlaAddress plain{loc.locator, e.sir.identifier};
  bool checkable;
  Bytes ip = ArrivalPacket(e.sir, &checkable);
  (void)RewriteDestination(ip, plain.address(), ChecksumMode::kNoAction);
  return UplinkCase(ip, "neutral-map without C-bit " + plain.ToString(),
                    checkable && IlaToSir(plain, loc.sir_prefix, loc.csum_mode) == e.sir);
}

Case Generator::ToRouter() {
  Case c;
  c.program = Program::kRouter;
  c.ingress = Iface::kUplink;
  Ipv6Address dst;
  const uint64_t k = Below(100);
  if (k < 50)
    dst = Pick(w_.mappings).sir.address();
  else if (k < 65)
    dst = RandomIn(Pick(w_.sir_prefixes).value());
  else if (k < 75)
    dst = Pick(local_sirs_).address();
  else if (k < 88)
    dst = Foreign();
  else if (k < 94)
    dst = RandomIn(Pick(w_.routes).locator.value());
  else
    dst = LinkScoped();
  c.what = "router to " + dst.ToString();
  Ipv6Address src = Chance(0.5) ? RandomIn(addr::kS.value()) : Foreign();
  if (Chance(0.05)) src = LinkScoped();
  uint8_t proto;
  bool checkable;
  Bytes seg = Transport(src, dst, &proto, &checkable);
  c.frame = testbed::EthernetIpv6(UplinkEthDst(), w_.fabric_mac,
                                  testbed::Ipv6(src, dst, proto, seg, HopLimit()));
  c.sender_valid = checkable;
  return c;
}

}  // namespace ila::fuzz
