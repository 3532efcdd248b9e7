#include "fuzz/runner.h"

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <span>
#include <sstream>

#include "fuzz/generator.h"
#include "ila/translation.h"

namespace ila::fuzz {
namespace {

using testbed::Hex;
using testbed::HostFixture;
using testbed::RunQuiet;
using testbed::TcVerdictFor;
using testbed::XdpRun;

std::string VerdictText(int verdict, bool tc) {
  if (verdict == XdpRun::kNotRun) return "refused";
  if (!tc) return std::string(testbed::VerdictName(verdict));
  switch (verdict) {
    case TC_ACT_UNSPEC: return "TC_ACT_UNSPEC";
    case TC_ACT_OK: return "TC_ACT_OK";
    case TC_ACT_SHOT: return "TC_ACT_SHOT";
    case TC_ACT_REDIRECT: return "TC_ACT_REDIRECT";
    default: return "tc verdict " + std::to_string(verdict);
  }
}

using CounterSet = std::map<std::string, uint64_t>;

CounterSet Compared(const Stats& delta) {
  CounterSet s;
  for (const Counter& c : delta.counters)
    if (c.packets && !StateDependent(c.name)) s[std::string(c.name)] = c.packets;
  return s;
}

CounterSet Expected(const Prediction& p, bool refused) {
  CounterSet s;
  if (refused) return s;
  s[std::string(p.outcome)] = 1;
  if (p.transport_not_adjusted) s["transport_not_adjusted"] = p.transport_not_adjusted;
  if (p.icmp_inner_translated) s["icmp_inner_translated"] = p.icmp_inner_translated;
  if (p.icmp_inner_unknown) s["icmp_inner_unknown"] = p.icmp_inner_unknown;
  return s;
}

std::string Text(const CounterSet& s) {
  std::string t;
  for (const auto& [name, n] : s) t += name + "=" + std::to_string(n) + " ";
  return t;
}

// Whether a run agrees with the prediction (for tc: as the tc flavour must).
bool Agrees(const Prediction& p, const XdpRun& got, bool tc, const Bytes& in) {
  const bool refused = p.refused || (tc && TcRefuses(in));
  if (refused) return got.error != 0 && Compared(got.delta).empty();
  return got.verdict == (tc ? TcVerdictFor(p.verdict) : p.verdict) && got.frame == p.frame &&
         Compared(got.delta) == Expected(p, false);
}

// The translations the model took the frame through, with their checksum modes.
std::string Modes(const Prediction& p) {
  std::ostringstream os;
  if (p.restored_with) os << "ILA->SIR " << *p.restored_with << "; ";
  if (p.mapped_with) os << "SIR->ILA " << *p.mapped_with << " (" << *p.ident_type << ")";
  if (!p.restored_with && !p.mapped_with) os << "no translation";
  return os.str();
}

uint16_t Get16(const Bytes& f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }

// The transport segment of an IPv6 frame for a checksum check, behind extension headers; nullopt
// when there is none to check (a fragment, no TCP/UDP/ICMPv6, cut short).
std::optional<std::pair<uint8_t, std::span<const uint8_t>>> TransportOf(const Bytes& f) {
  constexpr size_t kL4 = 54;
  if (f.size() < kL4) return std::nullopt;
  const size_t end = kL4 + Get16(f, 18);
  if (end > f.size()) return std::nullopt;
  uint8_t next = f[20];
  size_t at = kL4;
  for (int hops = 0; hops < 8; ++hops) {
    if (next == 0 || next == 43 || next == 60) {
      if (at + 2 > end) return std::nullopt;
      next = f[at];
      at += (f[at + 1] + 1u) * 8;
    } else if (next == 44) {
      if (at + 8 > end || (Get16(f, at + 2) & 0xfff9) != 0) return std::nullopt;
      next = f[at];
      at += 8;
    } else {
      const int off = TransportChecksumOffset(next);
      if (off < 0 || at + static_cast<size_t>(off) + 2 > end) return std::nullopt;
      return std::pair{next, std::span<const uint8_t>(f.data() + at, end - at)};
    }
  }
  return std::nullopt;
}

bool Neutral(ChecksumMode m) {
  return m == ChecksumMode::kNeutralMap || m == ChecksumMode::kNeutralMapAuto;
}

// Whether `out` (what the program emitted for a frame whose sender did everything right) must
// carry a valid transport checksum: delivered and local traffic always; translated traffic in the
// neutral modes, and in adj-transport when the transport follows the IPv6 header directly.
bool MustBeValid(const Prediction& p, const Bytes& out) {
  const bool leaves = p.verdict == XDP_REDIRECT || (p.verdict == XDP_PASS && p.mapped_with);
  if (!leaves) return false;
  if (!p.mapped_with) return true;
  if (Neutral(*p.mapped_with)) return true;
  if (*p.mapped_with != ChecksumMode::kAdjustTransport) return false;
  const uint8_t proto = out[20];
  const size_t fixed = proto == 6 ? 20 : proto == 17 || proto == 58 ? 8 : 0;
  return fixed && Get16(out, 18) >= fixed;
}

class Runner {
 public:
  Runner(HostFixture& host, const World& w, std::string world_name, const FuzzOptions& o, Report& r)
      : host_(host), w_(w), world_(std::move(world_name)), o_(o), r_(r) {}
  void Run(const Case& c, uint64_t index);

 private:
  auto Ingress(Iface i) -> decltype(std::declval<HostFixture&>().c1h()) {
    return i == Iface::kC1h ? host_.c1h() : i == Iface::kC2h ? host_.c2h() : host_.uplink();
  }
  static Role RoleOf(Program p) {
    return p == Program::kContainer ? Role::kContainer
           : p == Program::kUplink  ? Role::kUplink
                                    : Role::kRouter;
  }
  void Describe(std::ostringstream& os, const Case& c, uint64_t index, const char* hook) const;
  void Mismatch(const Case& c, uint64_t index, const Prediction& p, const XdpRun& got, bool tc);
  void CheckChecksum(const Case& c, uint64_t index, const Prediction& p, const XdpRun& got,
                     bool tc);
  void Tally(const Prediction& p, const XdpRun& got, bool tc, bool agreed);
  void HoldMutants(const Case& c, uint64_t index, const XdpRun& xdp,
                   const std::optional<XdpRun>& tc);

  HostFixture& host_;
  const World& w_;
  const std::string world_;
  const FuzzOptions& o_;
  Report& r_;
};

void Runner::Run(const Case& c, uint64_t index) {
  const Prediction p = Predict(w_, c.program, c.ingress, c.frame, o_.model);
  const Role role = RoleOf(c.program);
  const XdpRun xdp = RunQuiet([&] { return host_.Run(role, c.frame, Ingress(c.ingress)); });
  ++r_.xdp_runs;
  const bool agreed = Agrees(p, xdp, false, c.frame);
  if (!agreed) Mismatch(c, index, p, xdp, false);
  CheckChecksum(c, index, p, xdp, false);
  Tally(p, xdp, false, agreed);
  std::optional<XdpRun> tc;
  if (c.program != Program::kRouter) {  // the router has no tc flavour
    const int fd = host_.dp().program_fd(role, AttachMode::kTc);
    tc = RunQuiet([&] { return host_.RunTc(fd, c.frame, Ingress(c.ingress)); });
    ++r_.tc_runs;
    const bool tc_agreed = Agrees(p, *tc, true, c.frame);
    if (!tc_agreed) Mismatch(c, index, p, *tc, true);
    CheckChecksum(c, index, p, *tc, true);
    Tally(p, *tc, true, tc_agreed);
  }
  if (o_.mutants) HoldMutants(c, index, xdp, tc);
  ++r_.frames;
}

void Runner::Describe(std::ostringstream& os, const Case& c, uint64_t index,
                      const char* hook) const {
  os << "world " << world_ << ", frame " << index << ": " << ToString(c.program) << " on "
     << ToString(c.ingress) << " (" << hook << ")\n  case:    " << c.what
     << "\n  frame:   " << Hex(c.frame) << "\n";
}

void Runner::Mismatch(const Case& c, uint64_t index, const Prediction& p, const XdpRun& got,
                      bool tc) {
  ++r_.mismatches;
  if (r_.reports.size() >= o_.max_reports) return;
  std::ostringstream os;
  os << "MISMATCH ";
  Describe(os, c, index, tc ? "tc" : "xdp");
  const bool refused = p.refused || (tc && TcRefuses(c.frame));
  os << "  modes:   " << Modes(p) << "\n";
  os << "  model:   "
     << (refused ? "refused" : VerdictText(tc ? TcVerdictFor(p.verdict) : p.verdict, tc)) << " "
     << Text(Expected(p, refused)) << "\n           " << (refused ? "" : Hex(p.frame))
     << "\n  program: " << VerdictText(got.verdict, tc) << " " << Text(Compared(got.delta))
     << "\n           " << Hex(got.frame) << "\n";
  for (size_t i = 0; i < std::min(p.frame.size(), got.frame.size()); ++i) {
    if (p.frame[i] != got.frame[i]) {
      os << "  first difference at byte " << i << "\n";
      break;
    }
  }
  r_.reports.push_back(os.str());
}

void Runner::CheckChecksum(const Case& c, uint64_t index, const Prediction& p, const XdpRun& got,
                           bool tc) {
  if (!c.sender_valid || p.refused || got.error != 0 || !MustBeValid(p, got.frame)) return;
  const auto seg = TransportOf(got.frame);
  if (!seg) return;
  ++r_.checksums_checked;
  if (TransportChecksumValid(testbed::FrameSrc(got.frame), testbed::FrameDst(got.frame), seg->first,
                             seg->second))
    return;
  ++r_.checksums_invalid;
  if (r_.reports.size() >= o_.max_reports) return;
  std::ostringstream os;
  os << "INVALID CHECKSUM ";
  Describe(os, c, index, tc ? "tc" : "xdp");
  os << "  modes:   " << Modes(p) << "\n  out:     " << VerdictText(got.verdict, tc) << " "
     << Hex(got.frame) << "\n";
  r_.reports.push_back(os.str());
}

// What the run reached: verdicts and counters as the programs counted them; modes and identifier
// types of the translations the model predicted right.
void Runner::Tally(const Prediction& p, const XdpRun& got, bool tc, bool agreed) {
  ++(tc ? r_.tc_verdicts : r_.xdp_verdicts)[VerdictText(got.verdict, tc)];
  for (const Counter& counter : got.delta.counters) {
    r_.observation[std::string(counter.name)] = counter.kind == CounterKind::kObservation;
    if (counter.packets) r_.counters[std::string(counter.name)] += counter.packets;
  }
  if (tc || p.refused || !agreed) return;
  if (p.restored_with) ++r_.restored[*p.restored_with];
  if (p.mapped_with) ++r_.mapped[*p.mapped_with];
  if (p.ident_type) ++r_.ident_types[*p.ident_type];
}

void Runner::HoldMutants(const Case& c, uint64_t index, const XdpRun& xdp,
                         const std::optional<XdpRun>& tc) {
  for (ModelVariant v : kMutants) {
    if (v == o_.model) continue;
    const Prediction m = Predict(w_, c.program, c.ingress, c.frame, v);
    if (Agrees(m, xdp, false, c.frame) && (!tc || Agrees(m, *tc, true, c.frame))) continue;
    if (r_.mutant_mismatches[v]++ == 0) {
      std::ostringstream os;
      Describe(os, c, index, "xdp");
      r_.mutant_first[v] = os.str();
    }
  }
}

}  // namespace

bool StateDependent(std::string_view name) {
  return name.rfind("nexthop_", 0) == 0 || name.rfind("miss_event", 0) == 0 || name == "steered";
}

absl::StatusOr<Report> RunFuzz(const FuzzOptions& options) {
  Report r;
  struct Part {
    const char* name;
    MissPolicy miss;
    MovedPolicy moved;
    uint64_t frames;
  };
  const Part parts[] = {
      {"A (miss pass, moved forward)", MissPolicy::kPassToRouter, MovedPolicy::kForward,
       options.frames - options.frames / 4},
      {"B (miss drop, moved drop)", MissPolicy::kDrop, MovedPolicy::kDrop, options.frames / 4}};
  uint64_t salt = 0;
  for (const Part& part : parts) {
    const auto setup = std::chrono::steady_clock::now();
    World w = DesignedWorld(part.miss, part.moved);
    auto host = BuildHost(w);
    if (!host.ok()) return host.status();
    const auto start = std::chrono::steady_clock::now();
    r.setup_seconds += std::chrono::duration<double>(start - setup).count();
    Runner runner(**host, w, part.name, options, r);
    Generator g(w, options.seed ^ (0x9E3779B97F4A7C15ull * ++salt));
    for (uint64_t i = 0; i < part.frames; ++i) {
      runner.Run(g.Next(), i);
      if (options.progress && (i + 1) % 10000 == 0)
        std::cerr << "ila_fuzz: world " << part.name << ": " << i + 1 << " frames, " << r.mismatches
                  << " mismatches\n";
    }
    r.run_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return r;
}

}  // namespace ila::fuzz
