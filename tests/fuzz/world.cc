#include "fuzz/world.h"

namespace ila::fuzz {
namespace {

using testbed::HostFixture;

SirAddress InS(uint64_t id) { return {addr::kS, Identifier(id)}; }
SirAddress InS2(uint64_t id) { return {addr::kS2, Identifier(id)}; }
SirAddress InS3(uint64_t id) { return {addr::kS3, Identifier(id)}; }

// This host's locators beyond the fixture's L1 (adj-transport).
constexpr Locator kL1n{0x20010db8aaaa0002ull}, kL1a{0x20010db8aaaa0003ull},
    kL1x{0x20010db8aaaa0004ull}, kL1c{0x20010db8aaaa0005ull}, kL1t{0x20010db8aaaa0006ull},
    kL1u{0x20010db8aaaa0007ull};
constexpr Locator kL1s{0x20000db800000002ull};  // sum 0x2dba, as S's
constexpr Locator kL1m{0x10000db800000002ull};  // sum 0x1dba, S's - 0x1000
// Re-forward locators (the sums of L1 and L2: one word up, the next down).
constexpr Locator kR1{0x20010db8aaab0000ull}, kR2{0x20010db8bbbc0001ull};
// Remote locators.
constexpr Locator kL2s{0x20010db800010000ull};  // sum as S's
constexpr Locator kL2m{0x10010db800000001ull};  // sum S's - 0x1000
constexpr Locator kL3{0x20010db8cccc0003ull}, kL4{0x20010db8dddd0004ull},
    kL5{0x20010db8eeee0005ull}, kL6{0x20010db8ffff0006ull};

constexpr ChecksumMode kAt = ChecksumMode::kAdjustTransport, kNm = ChecksumMode::kNeutralMap,
                       kNma = ChecksumMode::kNeutralMapAuto, kNa = ChecksumMode::kNoAction,
                       kLc = ChecksumMode::kAdjustTransportLinuxCompat;
constexpr IdentifierType kLuid = IdentifierType::kLuid, kFormat = IdentifierType::kUseFormat;

std::vector<Mapping> DesignedMappings() {
  std::vector<Mapping> m;
  const ChecksumMode modes[] = {kAt, kNm, kNma, kNa, kLc};
  for (uint64_t i = 0; i < 5; ++i) {
    m.push_back({InS(0x100 + i), addr::kL2, modes[i], kLuid});
    // use-format: the identifier's type field (top three bits 001) says luid.
    m.push_back({InS(0x2000000000000200ull + i), addr::kL2, modes[i], kFormat});
  }
  // adj-transport to a locator whose sum equals the prefix's: the checksum delta is zero.
  m.push_back({InS(0x110), kL2s, kAt, kLuid});
  m.push_back({InS(0x111), kL2s, kLc, kLuid});
  // Identifiers ending 0x0000, to locators whose neutral adjustment folds to 0xffff.
  m.push_back({InS(0x00000000000a0000ull), kL2m, kNm, kLuid});
  m.push_back({InS(0x00000000000b0000ull), kL2s, kNma, kLuid});
  m.push_back({InS(0x20000000000c0000ull), addr::kL2, kNm, kFormat});
  // Identifiers ending 0xffff (refused by the neutral modes).
  m.push_back({InS(0x00000000000dffffull), addr::kL2, kAt, kLuid});
  m.push_back({InS(0x00000000000effffull), kL2s, kNa, kLuid});
  // C-bit SIRs (neutral-map refuses them).
  m.push_back({InS(0x1000000000000043ull), addr::kL2, kNma, kLuid});
  m.push_back({InS(0x1000000000000044ull), kL2m, kLc, kLuid});
  m.push_back({InS(0x3000000000000045ull), addr::kL2, kNma, kFormat});
  // Locators the FIB cannot forward to from XDP.
  m.push_back({InS(0x300), kL3, kAt, kLuid});
  m.push_back({InS(0x301), kL3, kNm, kLuid});
  m.push_back({InS(0x400), kL4, kNm, kLuid});
  m.push_back({InS(0x500), kL5, kNa, kLuid});
  m.push_back({InS(0x501), kL5, kAt, kLuid});
  m.push_back({InS(0x600), kL6, kLc, kLuid});
  // Containers that moved away from this host (S::c moved too, but has no mapping).
  m.push_back({InS(0x7), addr::kL2, kAt, kLuid});
  m.push_back({InS(0x8), kL2s, kNm, kLuid});
  m.push_back({InS(0x9), kL3, kNma, kLuid});
  m.push_back({InS(0xa), kL5, kLc, kLuid});
  m.push_back({InS(0x200000000000000bull), addr::kL2, kNa, kFormat});
  // Containers that left while their mappings named this host (World::departed).
  m.push_back({InS(0xd), kL1n, kNm, kLuid});
  m.push_back({InS(0xe), addr::kL1, kAt, kLuid});
  // A container here that also has a mapping: the endpoint wins on the host.
  m.push_back({HostFixture::C2(), addr::kL2, kAt, kLuid});
  // The second SIR prefix.
  m.push_back({InS2(0x99), addr::kL2, kAt, kLuid});
  m.push_back({InS3(0x31), addr::kL2, kAt, kLuid});
  m.push_back({InS3(0x32), kL2s, kNma, kLuid});
  m.push_back({InS2(0x98), kL2m, kNm, kLuid});
  m.push_back({InS2(0x2000000000000097ull), kL2s, kNma, kFormat});
  return m;
}

}  // namespace

std::string_view ToString(Iface iface) {
  switch (iface) {
    case Iface::kC1h: return "c1h";
    case Iface::kC2h: return "c2h";
    case Iface::kUplink: return "uplink";
  }
  return "?";
}

std::string_view ToString(Program program) {
  switch (program) {
    case Program::kContainer: return "from_container";
    case Program::kUplink: return "from_uplink";
    case Program::kRouter: return "router";
  }
  return "?";
}

World DesignedWorld(MissPolicy miss, MovedPolicy moved) {
  World w;
  w.miss_policy = miss;
  w.moved_policy = moved;
  w.sir_prefixes = {addr::kS, addr::kS2, addr::kS3};
  w.prefix_rules = {{addr::kS, addr::kS3}};
  w.locators = {{addr::kL1, addr::kS, kAt}, {kL1n, addr::kS, kNm},  {kL1a, addr::kS, kNma},
                {kL1x, addr::kS, kNa},      {kL1c, addr::kS, kLc},  {kL1s, addr::kS, kNma},
                {kL1m, addr::kS, kNm},      {kL1t, addr::kS2, kAt}, {kL1u, addr::kS3, kAt}};
  const MacAddress c1 = HostFixture::C1Mac(), c2 = HostFixture::C2Mac();
  w.endpoints = {
      {HostFixture::C1(), Iface::kC1h, c1},  {InS(0x10000), Iface::kC1h, c1},
      {InS2(0x1), Iface::kC1h, c1},          {InS3(0x1), Iface::kC1h, c1},
      {HostFixture::C2(), Iface::kC2h, c2},  {InS(0x1000000000000042ull), Iface::kC2h, c2},
      {InS(0xabcdffffull), Iface::kC2h, c2}, {InS(0x2000000000000005ull), Iface::kC2h, c2},
      {InS2(0x2), Iface::kC2h, c2}};
  w.departed = {{InS(0xd), Iface::kC2h, c2}, {InS(0xe), Iface::kC2h, c2}};
  w.locators.front().reforward = kR1;
  w.cluster_locators = {{addr::kL2, addr::kS, kAt, kR2}, {kL3, addr::kS, kNma}};
  w.mappings = DesignedMappings();
  w.routes = {{addr::kL2, RouteKind::kGateway},   {kR2, RouteKind::kGateway},
              {kL2s, RouteKind::kGateway},        {kL2m, RouteKind::kGateway},
              {kL3, RouteKind::kNoNeighbour},     {kL4, RouteKind::kUnreachable},
              {kL5, RouteKind::kNotRedirectable}, {kL6, RouteKind::kNone}};
  return w;
}

const LocalEndpoint* World::EndpointOf(const Ipv6Address& a) const {
  for (const LocalEndpoint& e : endpoints)
    if (e.sir.address() == a) return &e;
  return nullptr;
}

const Mapping* World::MappingOf(const Ipv6Address& a) const {
  for (const Mapping& m : mappings)
    if (m.sir.address() == a) return &m;
  return nullptr;
}

const LocatorEntry* World::LocatorOf(uint64_t locator, bool* reforward) const {
  for (const LocatorEntry& l : locators) {
    const bool twin = l.reforward && l.reforward->value() == locator;
    if (l.locator.value() != locator && !twin) continue;
    if (reforward) *reforward = twin;
    return &l;
  }
  return nullptr;
}

const LocatorEntry* World::ClusterLocatorOf(uint64_t locator) const {
  for (const LocatorEntry& l : cluster_locators)
    if (l.locator.value() == locator || (l.reforward && l.reforward->value() == locator)) return &l;
  return nullptr;
}

std::optional<Locator> World::ReforwardOf(uint64_t locator) const {
  for (const auto* table : {&locators, &cluster_locators})
    for (const LocatorEntry& l : *table)
      if (l.locator.value() == locator) return l.reforward;
  return std::nullopt;
}

bool World::InSirPrefix(const Ipv6Address& a) const { return IsSirPrefix(a.high64()); }

bool World::IsSirPrefix(uint64_t prefix) const {
  for (SirPrefix p : sir_prefixes)
    if (p.value() == prefix) return true;
  return false;
}

bool World::Linked(uint64_t from, uint64_t to) const {
  for (const PrefixRule& r : prefix_rules)
    if (r == PrefixRule{SirPrefix(from), SirPrefix(to)}) return true;
  return false;
}

RouteKind World::RouteOf(uint64_t locator) const {
  for (const Route& r : routes)
    if (r.locator.value() == locator) return r.kind;
  return RouteKind::kNone;
}

bool World::HasEndpointOn(Iface iface) const {
  for (const LocalEndpoint& e : endpoints)
    if (e.iface == iface) return true;
  return false;
}

MacAddress World::HostSideMac(Iface iface) const {
  switch (iface) {
    case Iface::kC1h: return c1h_mac;
    case Iface::kC2h: return c2h_mac;
    case Iface::kUplink: return uplink_mac;
  }
  return {};
}

namespace {

std::string Net(Locator l) { return Ipv6Address::FromHalves(l.value(), 0).ToString() + "/64"; }

// The routes of World::routes, in the fixture's host namespace. The fixture routes L2 itself.
absl::Status AddRoutes(const testbed::HostFixture& host, const World& w) {
  const std::string& up = host.up_name();
  std::string cmd =
      // A second veth pair, both ends here: an egress that is no redirect target.
      "ip link add fzr0 type veth peer name fzr1 && ip link set fzr0 up && ip link set fzr1 up && "
      "ip -6 addr add fd00:ee::1/64 dev fzr0 nodad && "
      "ip -6 neigh replace fd00:ee::2 lladdr 02:00:00:00:ee:02 nud permanent dev fzr0";
  for (const Route& r : w.routes) {
    if (r.locator == addr::kL2) continue;
    switch (r.kind) {
      case RouteKind::kGateway:
        cmd += " && ip -6 route add " + Net(r.locator) + " via fd00:ff::2 dev " + up;
        break;
      case RouteKind::kNoNeighbour:
        cmd += " && ip -6 route add " + Net(r.locator) + " via fd00:ff::3 dev " + up;
        break;
      case RouteKind::kUnreachable:
        cmd += " && ip -6 route add unreachable " + Net(r.locator);
        break;
      case RouteKind::kNotRedirectable:
        cmd += " && ip -6 route add " + Net(r.locator) + " via fd00:ee::2 dev fzr0";
        break;
      case RouteKind::kNone: break;
    }
  }
  return host.host_ns().Run(cmd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HostFixture>> BuildHost(World& world) {
  HostFixture::Options options;
  options.config.miss_policy = world.miss_policy;
  options.config.moved_policy = world.moved_policy;
  options.locator_mode = world.locators.front().csum_mode;  // L1
  auto made = HostFixture::Create(options);
  if (!made.ok()) return made.status();
  std::unique_ptr<HostFixture> host = std::move(*made);
  Dataplane& dp = host->dp();
  for (SirPrefix p : world.sir_prefixes)
    if (absl::Status st = dp.sir_prefixes().Upsert(p); !st.ok()) return st;
  for (const PrefixRule& r : world.prefix_rules)
    if (absl::Status st = dp.prefix_rules().Add(r); !st.ok()) return st;
  for (const LocatorEntry& l : world.locators)
    if (absl::Status st = dp.locators().Upsert(l); !st.ok()) return st;
  for (const LocatorEntry& l : world.cluster_locators)
    if (absl::Status st = dp.cluster_locators().Upsert(l); !st.ok()) return st;
  std::vector<LocalEndpoint> here = world.endpoints;
  here.insert(here.end(), world.departed.begin(), world.departed.end());
  for (const LocalEndpoint& e : here) {
    if (e.sir == HostFixture::C1() || e.sir == HostFixture::C2()) continue;  // attached already
    absl::Status st = e.iface == Iface::kC1h ? dp.endpoints().Add({host->c1h(), e.sir, e.mac})
                                             : dp.endpoints().Add({host->c2h(), e.sir, e.mac});
    if (!st.ok()) return st;
  }
  if (absl::Status st = dp.mappings().UpsertBatch(world.mappings); !st.ok()) return st;
  for (const LocalEndpoint& e : world.departed)
    if (absl::Status st = dp.endpoints().Remove(e.sir); !st.ok()) return st;
  if (absl::Status st = AddRoutes(*host, world); !st.ok()) return st;
  world.uplink_mac = host->UplinkMac();
  world.c1h_mac = host->C1hMac();
  world.c2h_mac = host->C2hMac();
  return host;
}

}  // namespace ila::fuzz
