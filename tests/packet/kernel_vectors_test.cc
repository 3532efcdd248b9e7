// Replays the Linux kernel ILA reference vectors (tests/data/kernel-ila: frames translated by
// net/ipv6/ila in a VM, see its README.md) through the equivalent libila configuration, running the
// real XDP programs with BPF_PROG_TEST_RUN, and compares libila's output with the kernel's at layer
// 3. libila must produce the kernel's packet where the kernel is right and differ, knowingly and
// asserted here, where it is wrong.
//
// How a case maps onto libila
// ---------------------------
// The recordings come from a Linux router (ingress rin, egress rout). libila's counterparts run in
// one HostFixture's host namespace (its uplink stands for both rin and rout: bpf_fib_lookup there
// finds the locator routes this test adds, `<locator>::/64 via fd00:ff::2`, which has a permanent
// neighbour). The programs are those of a Dataplane of this test's own, created empty in that
// namespace and never attached (frames are run with BPF_PROG_TEST_RUN): like the recorded router it
// starts with no ILA state, whereas the fixture's Dataplane keeps its SIR prefix registered for its
// containers, which would turn a configuration the kernel refused into a router miss. Its tables are
// emptied between cases.
//
//  - `lwt PREFIX LOCATOR OPTS` (a sender-side SIR->ILA route on a router) is the router role
//    (ila_router: translate + forward) with a Mapping{sir, locator, csum-mode, ident-type} and the
//    SIR prefix registered. libila maps exact /128 SIR addresses, so a shorter route (/64) becomes
//    one mapping per destination of the case's packets (and of the SIR addresses its xlat lines
//    restore) inside the prefix. Linux's defaults are used where OPTS are silent: csum-mode
//    no-action, ident-type use-format. The frames enter on the uplink. libila forwards with
//    bpf_fib_lookup on the translated destination whatever the route's next hop, which is what Linux
//    does for `nh dev` (it re-routes the translated address) and, for these recordings, with a
//    gateway too.
//  - `xlat LOC_MATCH LOC OPTS` (receiver side, ILA->SIR) is a LocatorEntry{LOC_MATCH, LOC, mode} on
//    the uplink role (ila_from_uplink), plus an Endpoint (container c1h/c2h of the fixture) for
//    every SIR address it restores, so that the packet is delivered. When the case also maps that
//    SIR address with an lwt line (Linux's PRE_ROUTING xlat followed by an lwt route, case 54), no
//    endpoint is registered: that is libila's "container moved" path, which re-translates with the
//    mapping and forwards. `dev rin` (the ingress) is where from_uplink is attached; `ident-type` is
//    stored by Linux without effect and has no LocatorEntry field.
//  - A packet goes to the uplink role when its destination's upper 64 bits are a registered locator,
//    otherwise to the router role when the case has lwt lines, otherwise to the uplink role.
//  - Configuration verdicts: every lwt/xlat line's libila equivalent must be accepted or refused as
//    the kernel's `cfg ... => rc=N` says, except where documented below. When an lwt line is
//    refused, its SIR prefix registration (only a prerequisite of the mapping) is withdrawn too, so
//    libila is left with no ILA state for it, as the kernel is.
//
// Expected differences (each asserted, never tolerated silently)
// ---------------------------------------------------------------
//  1. adj-transport (README §1): Linux applies old - new instead of new - old, so its transport
//     checksums are wrong. libila's output must equal the kernel's except the transport checksum
//     field, libila's checksum must be valid and the kernel's not; and the same case replayed with
//     ChecksumMode::kAdjustTransportLinuxCompat must equal the kernel's output byte for byte (L3,
//     hop limit aside). Every case with an adj-transport line is replayed in both flavours.
//  2. ICMPv6 errors (README §2, cases 05 and 43): the kernel leaves the quoted packet alone. libila's
//     router never touches the quote (it is the receiving host's job); from_uplink translates the
//     quoted destination back when it is an ILA address of one of its mappings (reverse table).
//     In 43 the quoted destination (2001:db8:ffff::99) is not, so libila leaves the quote as the
//     kernel does (counted icmp_inner_unknown); in 05 and 43 only difference 1 remains. Then, for every
//     such error delivered by from_uplink, the test adds a mapping whose ILA address is the quoted
//     destination and asserts that libila translates the quote back to its SIR address, with a valid
//     ICMPv6 checksum, and changes nothing else.
//  3. Prefix route + neutral-map + a C-bit identifier (README §3, case 21): Linux accepts the /64
//     route, warns and rewrites only the locator. libila refuses the equivalent /128 mapping up
//     front (InvalidArgument naming the C-bit); the packet is then a router miss: dropped and
//     counted, never half-translated.
//  4. A SIR destination with no mapping on a router (cases 16, 33): Linux's /128 route covers one
//     address and everything else is routed on untranslated. A libila router owns the whole SIR
//     prefix once it is registered, and drops and counts a miss (DESIGN §3: the underlay routes SIR
//     prefixes to the routers, so forwarding it untranslated would bring it back).
//  5. Hop limit 1 (cases 31, 32, 55): libila hands the packet to the kernel untranslated
//     (XDP_PASS, pass_hop_limit), so the kernel's Time Exceeded quotes what the sender sent. Linux
//     does the same for hook-type output (31: the quote must equal libila's frame exactly), but with
//     hook-type input (32) and for xlat (55) it translates first and quotes the translated packet
//     (the sender's socket cannot match it): asserted by checking that the kernel's quote is the
//     Linux translation of libila's frame.
//  6. hook-type input with neutral-map (case 18): Linux's input hook runs the translation with
//     sir2ila=false, so for a SIR without the C-bit it skips the neutral adjustment and rewrites
//     only the locator, leaving a wrong transport checksum. libila has no hook types: its mapping
//     translates the same way whatever the hook, so its output is case 09's (…:3000::5789) with a
//     valid checksum. Asserted: the outputs differ only in the identifier, the kernel's identifier
//     is the SIR's, libila's checksum is valid and the kernel's is not. (Not in the README's list;
//     hook-type input with the other modes, case 17, matches.)
//  7. A duplicate xlat (case 56): `ip ila add` refuses the second identical entry (EEXIST);
//     libila's tables only upsert, so the second identical LocatorTable::Upsert succeeds and is a
//     no-op. Asserted: the table then holds the one entry, and the packet is translated as the
//     kernel does.
// Cases with no libila equivalent are listed in kNoEquivalent with the reason; a separate test
// checks that this list names exactly the cases the replay cannot map, so a new case in shared/
// either replays or must be listed.
//
// Every packet libila translates is also compared with the C++ reference (ila/translation.h), and
// every verdict with the counter that explains it (e.g. transport_not_adjusted where adj-transport
// meets an extension header, a fragment or a cut-short transport header: cases 28-30, where libila
// rewrites only the address, as Linux does). The vectors are found at ILA_VECTORS_DIR (the
// environment variable, else the compile-time definition: tests/data/kernel-ila); they ship with
// the repository, so their absence fails the tests.
#include <linux/bpf.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ila/dataplane.h"
#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"
#include "testbed/netns.h"

#ifndef ILA_VECTORS_DIR
#define ILA_VECTORS_DIR ""
#endif

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;

namespace {

namespace fs = std::filesystem;

// ----- Cases without a libila equivalent --------------------------------------------------------

struct NoEquivalent {
  std::string_view name;
  std::string_view reason;
};

constexpr NoEquivalent kNoEquivalent[] = {
    {"25_lwt_use_format_prefix64_rejected",
     "Linux refuses ident-type use-format on a route shorter than /67 because the prefix does not "
     "fix the identifier's type field; libila maps exact /128 SIR addresses, whose type field is "
     "always known, so there is no prefix to refuse (the /128 form is case 22, which replays)"},
    {"51_xlat_dev_mismatch",
     "the xlat entry is restricted to `dev rout` while the packet arrives on rin; libila's locator "
     "table is per host and the per-interface restriction is where from_uplink is attached, so a "
     "packet arriving on rin meets no libila program at all: there is nothing to replay"},
};

// ----- Case and expected-output files -----------------------------------------------------------

class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Router-side MACs of the recordings: frames given as `ipv6` get this Ethernet header.
const MacAddress kRinMac({0x02, 0, 0, 0, 0x01, 0x02});
const MacAddress kAinMac({0x02, 0, 0, 0, 0x01, 0x01});

struct Prefix {
  Ipv6Address address;
  int length = 128;
  bool Contains(const Ipv6Address& a) const {
    for (int bit = 0; bit < length; ++bit) {
      size_t byte = static_cast<size_t>(bit / 8);
      int mask = 0x80 >> (bit % 8);
      if ((a.bytes()[byte] & mask) != (address.bytes()[byte] & mask)) return false;
    }
    return true;
  }
};

struct LwtLine {
  std::string text;
  Prefix prefix;
  Locator locator;
  ChecksumMode mode = ChecksumMode::kNoAction;        // Linux's default
  IdentifierType ident = IdentifierType::kUseFormat;  // Linux's default
  bool hook_input = false;                            // default hook-type output
  bool nh_dev = false;
  friend bool operator==(const LwtLine& a, const LwtLine& b) {
    return a.prefix.address == b.prefix.address && a.prefix.length == b.prefix.length &&
           a.locator == b.locator && a.mode == b.mode && a.ident == b.ident &&
           a.hook_input == b.hook_input && a.nh_dev == b.nh_dev;
  }
};

struct XlatLine {
  std::string text;
  Locator match;
  SirPrefix sir_prefix;
  ChecksumMode mode = ChecksumMode::kNoAction;  // Linux's default
  std::optional<IdentifierType> ident;
  std::string dev;  // "" when not restricted
  friend bool operator==(const XlatLine& a, const XlatLine& b) {
    return a.match == b.match && a.sir_prefix == b.sir_prefix && a.mode == b.mode &&
           a.ident == b.ident && a.dev == b.dev;
  }
};

struct IpLine {
  std::string text;
  friend bool operator==(const IpLine& a, const IpLine& b) { return a.text == b.text; }
};

using ConfigLine = std::variant<LwtLine, XlatLine, IpLine>;

struct CaseSpec {
  std::string name;
  std::string desc;
  std::vector<ConfigLine> config;
  std::vector<Bytes> frames;  // whole Ethernet frames, in injection order
};

struct KernelConfigResult {
  std::string command;
  int rc = 0;
  std::string msg;
};

struct KernelRecord {
  std::vector<KernelConfigResult> cfg;
  std::vector<Bytes> in, egress, back;
  std::vector<std::string> kmsg;
};

std::vector<std::string> Tokens(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string t;
  while (in >> t) out.push_back(t);
  return out;
}

// The line without its comment ('#' at the start or after white space) and surrounding blanks.
std::string StripComment(const std::string& line) {
  std::string s = line;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])))) {
      s.resize(i);
      break;
    }
  }
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& where) {
  if (!v.ok()) throw ParseError(where + ": " + std::string(v.status().message()));
  return *std::move(v);
}

Bytes HexOrThrow(const std::string& hex, const std::string& where) {
  try {
    return FromHex(hex);
  } catch (const std::invalid_argument& e) {
    throw ParseError(where + ": " + e.what());
  }
}

Prefix ParsePrefix(const std::string& text, const std::string& where) {
  Prefix p;
  size_t slash = text.find('/');
  p.address = Must(Ipv6Address::Parse(text.substr(0, slash)), where);
  if (slash != std::string::npos) {
    try {
      p.length = std::stoi(text.substr(slash + 1));
    } catch (const std::exception&) {
      throw ParseError(where + ": bad prefix length in " + text);
    }
    if (p.length < 0 || p.length > 128) throw ParseError(where + ": bad prefix length in " + text);
  }
  return p;
}

LwtLine ParseLwt(const std::vector<std::string>& args, const std::string& text,
                 const std::string& where) {
  if (args.size() < 2) throw ParseError(where + ": lwt needs PREFIX LOCATOR");
  LwtLine l;
  l.text = text;
  l.prefix = ParsePrefix(args[0], where);
  l.locator = Must(Locator::Parse(args[1]), where);
  for (size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) throw ParseError(where + ": option " + args[i] + " has no value");
    const std::string& key = args[i];
    const std::string& value = args[i + 1];
    if (key == "csum-mode") {
      l.mode = Must(ParseChecksumMode(value), where);
    } else if (key == "ident-type") {
      l.ident = Must(ParseIdentifierType(value), where);
    } else if (key == "hook-type") {
      if (value != "input" && value != "output") throw ParseError(where + ": hook-type " + value);
      l.hook_input = value == "input";
    } else if (key == "nh" && value == "dev") {
      l.nh_dev = true;
    } else {
      throw ParseError(where + ": unknown lwt option " + key);
    }
  }
  return l;
}

XlatLine ParseXlat(const std::vector<std::string>& args, const std::string& text,
                   const std::string& where) {
  if (args.size() < 2) throw ParseError(where + ": xlat needs LOC_MATCH LOC");
  XlatLine x;
  x.text = text;
  x.match = Must(Locator::Parse(args[0]), where);
  x.sir_prefix = Must(SirPrefix::Parse(args[1]), where);
  for (size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) throw ParseError(where + ": option " + args[i] + " has no value");
    const std::string& key = args[i];
    const std::string& value = args[i + 1];
    if (key == "csum-mode") {
      x.mode = Must(ParseChecksumMode(value), where);
    } else if (key == "ident-type") {
      x.ident = Must(ParseIdentifierType(value), where);
    } else if (key == "dev") {
      x.dev = value;
    } else {
      throw ParseError(where + ": unknown xlat option " + key);
    }
  }
  return x;
}

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw ParseError("cannot read " + path.string());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

CaseSpec ReadCase(const fs::path& path) {
  CaseSpec c;
  c.name = path.stem().string();
  auto lines = ReadLines(path);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string where = path.filename().string() + ":" + std::to_string(n + 1);
    std::string line = StripComment(lines[n]);
    if (line.empty()) continue;
    auto tokens = Tokens(line);
    std::string keyword = tokens[0];
    std::vector<std::string> args(tokens.begin() + 1, tokens.end());
    std::string rest = line.substr(keyword.size());
    rest = StripComment(rest);
    if (keyword == "desc") {
      c.desc = rest;
    } else if (keyword == "lwt") {
      c.config.emplace_back(ParseLwt(args, rest, where));
    } else if (keyword == "xlat") {
      c.config.emplace_back(ParseXlat(args, rest, where));
    } else if (keyword == "ip") {
      c.config.emplace_back(IpLine{rest});
    } else if (keyword == "ipv6") {
      if (args.size() != 1) throw ParseError(where + ": ipv6 takes one hex string");
      c.frames.push_back(EthernetIpv6(kRinMac, kAinMac, HexOrThrow(args[0], where)));
    } else if (keyword == "frame") {
      if (args.size() != 1) throw ParseError(where + ": frame takes one hex string");
      c.frames.push_back(HexOrThrow(args[0], where));
    } else if (keyword == "timeout") {
      // Capture timeout of the recording: nothing to do here.
    } else {
      throw ParseError(where + ": unknown directive " + keyword);
    }
  }
  return c;
}

KernelRecord ReadRecord(const fs::path& path) {
  KernelRecord r;
  auto lines = ReadLines(path);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string where = path.filename().string() + ":" + std::to_string(n + 1);
    const std::string& raw = lines[n];
    auto tokens = Tokens(raw);
    if (tokens.empty()) continue;
    const std::string& keyword = tokens[0];
    if (keyword == "cfg") {
      size_t arrow = raw.rfind(" => rc=");
      if (arrow == std::string::npos) throw ParseError(where + ": cfg line without ' => rc='");
      KernelConfigResult c;
      c.command = StripComment(raw.substr(4, arrow - 4));
      std::string tail = raw.substr(arrow + 7);
      try {
        c.rc = std::stoi(tail);
      } catch (const std::exception&) {
        throw ParseError(where + ": bad rc in " + tail);
      }
      size_t msg = tail.find(" msg=");
      if (msg != std::string::npos) c.msg = tail.substr(msg + 5);
      r.cfg.push_back(c);
    } else if (keyword == "in" || keyword == "egress" || keyword == "back") {
      if (tokens.size() != 2) throw ParseError(where + ": " + keyword + " takes one hex string");
      Bytes frame = HexOrThrow(tokens[1], where);
      (keyword == "in" ? r.in : keyword == "egress" ? r.egress : r.back).push_back(frame);
    } else if (keyword == "kmsg") {
      r.kmsg.push_back(raw.substr(5));
    }
    // case, desc, state, sent, sentinel, noise: descriptive only.
  }
  return r;
}

std::optional<fs::path> VectorsDir() {
  const char* env = std::getenv("ILA_VECTORS_DIR");
  fs::path dir = env != nullptr && *env != '\0' ? fs::path(env) : fs::path(ILA_VECTORS_DIR);
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir / "cases", ec) ||
      !fs::is_directory(dir / "expected", ec)) {
    return std::nullopt;
  }
  return dir;
}

std::optional<std::string> VectorsMissingReason() {
  if (VectorsDir()) return std::nullopt;
  const char* env = std::getenv("ILA_VECTORS_DIR");
  std::string where = env != nullptr && *env != '\0' ? env : ILA_VECTORS_DIR;
  return "kernel ILA vectors not found at '" + where +
         "' (expected cases/ and expected/ there; set ILA_VECTORS_DIR to their directory)";
}

// Names of the case files (without .case), sorted.
std::vector<std::string> CaseNames(const fs::path& dir, const char* sub, const char* ext) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir / sub)) {
    if (entry.is_regular_file() && entry.path().extension() == ext) {
      names.push_back(entry.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ----- Packet helpers (IPv6 packets without their Ethernet header) ------------------------------

constexpr size_t kHopLimitOffset = 7;
constexpr size_t kDstOffset = 24;
constexpr size_t kIcmpHeaderLen = 8;

bool IsIpv6Frame(const Bytes& frame) {
  return frame.size() >= kEthLen + kIpv6Len && frame[12] == 0x86 && frame[13] == 0xdd &&
         (frame[kEthLen] >> 4) == 6;
}

Ipv6Address AddressAt(const Bytes& ip, size_t at) {
  return Ipv6Address::FromBytes(std::span<const uint8_t, 16>(ip.data() + at, 16));
}
Ipv6Address SrcOf(const Bytes& ip) { return AddressAt(ip, 8); }
Ipv6Address DstOf(const Bytes& ip) { return AddressAt(ip, kDstOffset); }

size_t PayloadLength(const Bytes& ip) {
  size_t declared = static_cast<size_t>((ip[4] << 8) | ip[5]);
  return std::min(declared, ip.size() - kIpv6Len);
}

// Whether the transport right after the IPv6 header is TCP/UDP/ICMPv6 with its checksum present.
bool HasTransportChecksum(const Bytes& ip) {
  int off = TransportChecksumOffset(ip[6]);
  return off >= 0 && PayloadLength(ip) >= static_cast<size_t>(off) + 2;
}

bool TransportChecksumOk(const Bytes& ip) {
  if (!HasTransportChecksum(ip)) return false;
  std::span<const uint8_t> segment(ip.data() + kIpv6Len, PayloadLength(ip));
  return TransportChecksumValid(SrcOf(ip), DstOf(ip), ip[6], segment);
}

size_t TransportChecksumAt(const Bytes& ip) {
  return kIpv6Len + static_cast<size_t>(TransportChecksumOffset(ip[6]));
}

// An ICMPv6 error (types 1-4) with a whole quoted IPv6 header: the quote's offset, else 0.
size_t QuoteOffset(const Bytes& ip) {
  if (ip[6] != kProtoIcmpv6 || ip.size() < kIpv6Len + kIcmpHeaderLen + kIpv6Len) return 0;
  uint8_t type = ip[kIpv6Len];
  if (type < 1 || type > 4) return 0;
  return kIpv6Len + kIcmpHeaderLen;
}

// Offsets where a and b differ, hop limit excluded; a length difference counts as offset SIZE_MAX.
std::vector<size_t> DiffIgnoringHopLimit(const Bytes& a, const Bytes& b) {
  std::vector<size_t> out;
  if (a.size() != b.size()) out.push_back(SIZE_MAX);
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (i != kHopLimitOffset && a[i] != b[i]) out.push_back(i);
  }
  return out;
}

bool OnlyAt(const std::vector<size_t>& diff, const std::set<size_t>& allowed) {
  return std::all_of(diff.begin(), diff.end(), [&](size_t d) { return allowed.contains(d); });
}

std::string DiffText(const std::vector<size_t>& diff) {
  std::string s;
  for (size_t d : diff) s += (d == SIZE_MAX ? std::string("length") : std::to_string(d)) + " ";
  return s.empty() ? "none" : s;
}

bool IsAdjust(ChecksumMode m) {
  return m == ChecksumMode::kAdjustTransport || m == ChecksumMode::kAdjustTransportLinuxCompat;
}
// The mode a replay installs: the libila flavour, or Linux's arithmetic for the compat replay.
ChecksumMode Flavour(ChecksumMode m, bool linux_compat) {
  return linux_compat && m == ChecksumMode::kAdjustTransport
             ? ChecksumMode::kAdjustTransportLinuxCompat
             : m;
}
// What Linux computes for a mode.
ChecksumMode LinuxArithmetic(ChecksumMode m) { return Flavour(m, true); }

// `ip` with its destination rewritten by the C++ reference; also says whether an adj-transport
// flavour really adjusted the transport checksum, or could not.
struct Rewritten {
  Bytes ip;
  bool adjusted = false;
  bool not_adjustable = false;
};
Rewritten Rewrite(const Bytes& ip, const Ipv6Address& dst, ChecksumMode mode) {
  Rewritten r{ip};
  auto outcome = RewriteDestination(r.ip, dst, mode);
  INFO(outcome.status().ToString());
  REQUIRE(outcome.ok());
  r.adjusted = *outcome == RewriteOutcome::kTranslatedWithTransport;
  r.not_adjustable = *outcome == RewriteOutcome::kTransportNotAdjustable;
  return r;
}

// Linux's SIR->ILA for an lwt line: Mapping::IlaDestination, except that hook-type input runs the
// translation with sir2ila=false, which for neutral-map and a SIR without the C-bit skips the
// neutral adjustment (only the locator changes).
Ipv6Address LinuxLwtDestination(const Ipv6Address& sir, const LwtLine& lwt) {
  SirAddress s = SirAddress::From(sir);
  if (lwt.hook_input && lwt.mode == ChecksumMode::kNeutralMap && !s.identifier.checksum_neutral()) {
    return Ipv6Address::FromHalves(lwt.locator.value(), sir.low64());
  }
  auto ila = SirToIla(s, lwt.locator, lwt.mode);
  REQUIRE(ila.ok());
  return ila->address();
}
ChecksumMode LinuxLwtMode(const LwtLine& lwt) {
  if (lwt.hook_input && lwt.mode == ChecksumMode::kNeutralMap) return ChecksumMode::kNoAction;
  return LinuxArithmetic(lwt.mode);
}

// ----- What a case can be mapped onto ---------------------------------------------------------

std::optional<std::string> WhyNoEquivalent(const CaseSpec& c) {
  for (const ConfigLine& line : c.config) {
    if (const auto* ip = std::get_if<IpLine>(&line)) {
      return "`ip " + ip->text + "`: arbitrary kernel configuration has no libila counterpart";
    }
    if (const auto* x = std::get_if<XlatLine>(&line); x && !x->dev.empty() && x->dev != "rin") {
      return "xlat restricted to dev " + x->dev + ", not the ingress (rin): no libila program runs";
    }
    if (const auto* l = std::get_if<LwtLine>(&line);
        l && l->ident == IdentifierType::kUseFormat && l->prefix.length < 67) {
      return "use-format on a /" + std::to_string(l->prefix.length) +
             " route: libila maps /128 addresses, there is no prefix to refuse";
    }
  }
  for (const Bytes& f : c.frames) {
    if (!IsIpv6Frame(f)) return std::string("a frame that is not IPv6: libila passes it untouched");
  }
  if (c.frames.empty()) return std::string("no packets");
  return std::nullopt;
}

// ----- The replay ------------------------------------------------------------------------------

// What the kernel did with a packet, as libila's semantics predict it (see the header comment).
enum class KernelDid {
  kSame,                   // the same packet at L3 (adj-transport: up to Linux's checksum)
  kForwardedUntranslated,  // difference 4: routed on untranslated; libila drops the router miss
  kHalfTranslated,         // difference 3: only the locator rewritten; libila refused the mapping
  kSkippedNeutral,         // difference 6: only the locator rewritten (hook-type input)
  kTimeExceeded,           // difference 5: Time Exceeded back to the sender quoting `quote`
  kQuoteUntranslated,      // difference 2: libila translated the quote back, Linux did not
};

struct Prediction {
  Role role = Role::kRouter;
  int verdict = XDP_PASS;
  std::string stat;
  std::optional<Bytes> libila;  // libila's L3 output by the C++ reference (nullopt for a drop)
  bool adjusted = false;        // an adj-transport translation adjusted a transport checksum
  bool not_adjustable = false;  // adj-transport met no adjustable transport header
  bool icmp_error_delivered = false;
  KernelDid kernel = KernelDid::kSame;
  Bytes quote;  // kTimeExceeded: the packet the kernel quotes
  std::string label;
};

constexpr const char* kExact = "exact";
constexpr const char* kMismatch = "MISMATCH (see the failures above)";

// One Dataplane's view of a case's configuration, as the replay installed it.
struct Model {
  bool linux_compat = false;
  bool has_lwt = false;
  std::map<Ipv6Address, Mapping> mappings;       // accepted, by SIR address
  std::map<Ipv6Address, const LwtLine*> origin;  // the lwt line of each mapping
  std::map<Ipv6Address, const LwtLine*> refused;
  std::map<uint64_t, LocatorEntry> locators;
  std::set<Ipv6Address> endpoints;
  std::set<uint64_t> prefixes;
};

class Replayer {
 public:
  Replayer(HostFixture& host, Dataplane& dp) : host_(host), dp_(dp) {}

  // Replays a case; returns the labels of how it compared (kExact or the differences found).
  std::set<std::string> Run(const CaseSpec& c, const KernelRecord& k) {
    INFO("case " << c.name << ": " << c.desc);
    REQUIRE(k.in.size() == c.frames.size());
    for (size_t i = 0; i < c.frames.size(); ++i) {
      INFO("frame " << i << " of the case file is the kernel's `in` line");
      CHECK(Hex(k.in[i]) == Hex(c.frames[i]));
    }
    REQUIRE(k.cfg.size() == c.config.size());
    std::set<std::string> labels;
    bool any_adjust = std::any_of(c.config.begin(), c.config.end(), [](const ConfigLine& l) {
      const ChecksumMode adjust = ChecksumMode::kAdjustTransport;
      if (const auto* lwt = std::get_if<LwtLine>(&l)) return lwt->mode == adjust;
      if (const auto* x = std::get_if<XlatLine>(&l)) return x->mode == adjust;
      return false;
    });
    for (bool compat : {false, true}) {
      if (compat && !any_adjust) break;
      INFO((compat ? "replayed with adj-transport-linux-compat" : "replayed with libila's modes"));
      RunPass(c, k, compat, labels);
    }
    Reset();
    return labels;
  }

  void Reset() {
    REQUIRE(dp_.mappings().Flush().ok());
    auto endpoints = dp_.endpoints().List();
    REQUIRE(endpoints.ok());
    for (const Endpoint& e : *endpoints) REQUIRE(dp_.endpoints().Remove(e.sir).ok());
    auto locators = dp_.locators().List();
    REQUIRE(locators.ok());
    for (const LocatorEntry& l : *locators) REQUIRE(dp_.locators().Remove(l.locator).ok());
    auto prefixes = dp_.sir_prefixes().List();
    REQUIRE(prefixes.ok());
    for (SirPrefix p : *prefixes) REQUIRE(dp_.sir_prefixes().Remove(p).ok());
  }

 private:
  void RunPass(const CaseSpec& c, const KernelRecord& k, bool compat,
               std::set<std::string>& labels) {
    Reset();
    Model model = Configure(c, k, compat, labels);
    std::vector<Bytes> egress = k.egress, back = k.back;
    for (size_t i = 0; i < c.frames.size(); ++i) {
      INFO("packet " << i << ": " << Hex(c.frames[i]));
      const Bytes& frame = c.frames[i];
      Prediction p = Predict(model, Ipv6Of(frame));
      XdpRun r = RunOne(p.role, frame);
      Bytes kernel_out = CheckPacket(model, k, p, r, Ipv6Of(frame), egress, back, labels);
      if (!compat && p.icmp_error_delivered && !kernel_out.empty()) {
        ReverseTranslatedQuote(model, frame, kernel_out, labels);
      }
    }
    INFO("every frame the kernel sent was accounted for");
    CHECK(egress.empty());
    CHECK(back.empty());
  }

  // Runs a recorded frame as an arrival on the host's uplink, addressed to the uplink's MAC (the
  // recordings carry their router's).
  XdpRun RunOne(Role role, const Bytes& recorded) {
    const Bytes frame = WithEthDst(recorded, host_.UplinkMac());
    XdpRun r =
        RunQuiet([&] { return host_.Run(dp_.program_fd(role), frame, host_.uplink(), dp_); });
    INFO("BPF_PROG_TEST_RUN: " << std::strerror(r.error));
    REQUIRE(r.error == 0);
    if (role == Role::kUplink && frame.size() >= 54) {
      // from_uplink at tc replays every arrival the same way.
      const int tc_fd = dp_.program_fd(Role::kUplink, AttachMode::kTc);
      CheckTcSameAsXdp(r, RunQuiet([&] { return host_.RunTc(tc_fd, frame, host_.uplink(), dp_); }));
    }
    return r;
  }

  void RouteLocator(Locator locator) {
    if (!routed_.insert(locator.value()).second) return;
    std::string cmd = "ip -6 route replace " +
                      Ipv6Address::FromHalves(locator.value(), 0).ToString() + "/64 via " +
                      HostFixture::FabricAddress().ToString() + " dev " + host_.up_name();
    absl::Status st = host_.host_ns().Run(cmd);
    INFO(st.ToString());
    REQUIRE(st.ok());
  }

  // Installs the libila equivalent of the case's configuration and checks each line's verdict
  // against the kernel's.
  Model Configure(const CaseSpec& c, const KernelRecord& k, bool compat,
                  std::set<std::string>& labels) {
    Model m;
    m.linux_compat = compat;
    // SIR addresses the mappings of a prefix route are made for: the packets' destinations and
    // what xlat lines restore them to.
    std::vector<Ipv6Address> destinations;
    for (const Bytes& f : c.frames) {
      Ipv6Address dst = DstOf(Ipv6Of(f));
      destinations.push_back(dst);
      for (const ConfigLine& line : c.config) {
        if (const auto* x = std::get_if<XlatLine>(&line); x && dst.high64() == x->match.value()) {
          destinations.push_back(IlaToSir(IlaAddress::From(dst), x->sir_prefix, x->mode).address());
        }
      }
    }
    std::set<uint64_t> needed_prefixes;
    for (size_t n = 0; n < c.config.size(); ++n) {
      const KernelConfigResult& kernel = k.cfg[n];
      INFO("config line " << n << "; the kernel ran `" << kernel.command << "` => rc=" << kernel.rc
                          << " " << kernel.msg);
      bool duplicate = std::find(c.config.begin(), c.config.begin() + static_cast<long>(n),
                                 c.config[n]) != c.config.begin() + static_cast<long>(n);
      if (const auto* lwt = std::get_if<LwtLine>(&c.config[n])) {
        m.has_lwt = true;
        std::set<Ipv6Address> sirs;
        if (lwt->prefix.length == 128) sirs.insert(lwt->prefix.address);
        for (const Ipv6Address& d : destinations) {
          if (lwt->prefix.Contains(d)) sirs.insert(d);
        }
        bool all_ok = true;
        for (const Ipv6Address& sir : sirs) {
          Mapping mapping{SirAddress::From(sir), lwt->locator, Flavour(lwt->mode, compat),
                          lwt->ident};
          REQUIRE(dp_.sir_prefixes().Upsert(mapping.sir.prefix).ok());
          absl::Status st = dp_.mappings().Upsert(mapping);
          INFO("Upsert(" << sir << " -> " << lwt->locator << "): " << st.ToString());
          if (st.ok()) {
            m.mappings[sir] = mapping;
            m.origin[sir] = lwt;
            needed_prefixes.insert(sir.high64());
            RouteLocator(lwt->locator);
          } else {
            all_ok = false;
            m.refused[sir] = lwt;
            CHECK(absl::IsInvalidArgument(st));
            if (kernel.rc == 0) {
              // Difference 3: Linux takes the prefix route and half-translates C-bit identifiers.
              INFO("libila refuses a mapping of a route the kernel accepted");
              CHECK(lwt->prefix.length < 128);
              CHECK(lwt->mode == ChecksumMode::kNeutralMap);
              CHECK(SirAddress::From(sir).identifier.checksum_neutral());
              CHECK_THAT(std::string(st.message()), Catch::Matchers::Contains("C-bit"));
              labels.insert(
                  "neutral-map meets a C-bit identifier: libila refuses the mapping, "
                  "Linux half-translates (README §3)");
            }
          }
        }
        if (kernel.rc != 0) {
          INFO("the kernel refused this line: libila must refuse its equivalent too");
          CHECK_FALSE(all_ok);
        }
      } else if (const auto* x = std::get_if<XlatLine>(&c.config[n])) {
        LocatorEntry entry{x->match, x->sir_prefix, Flavour(x->mode, compat)};
        REQUIRE(dp_.sir_prefixes().Upsert(x->sir_prefix).ok());
        absl::Status st = dp_.locators().Upsert(entry);
        INFO("LocatorTable::Upsert: " << st.ToString());
        if (kernel.rc != 0 && duplicate) {
          // Difference 7: libila's tables upsert; the identical entry is already there.
          CHECK(st.ok());
          auto listed = dp_.locators().List();
          REQUIRE(listed.ok());
          CHECK(std::count(listed->begin(), listed->end(), entry) == 1);
          CHECK(listed->size() == m.locators.size());
          labels.insert("duplicate xlat: `ip ila add` refuses it, libila's Upsert is a no-op");
        } else {
          CHECK(st.ok() == (kernel.rc == 0));
        }
        if (st.ok()) {
          m.locators[x->match.value()] = entry;
          needed_prefixes.insert(x->sir_prefix.value());
        }
      } else {
        FAIL("no libila equivalent for `" << std::get<IpLine>(c.config[n]).text << "`");
      }
    }
    // A refused route leaves no ILA state behind (the prefix was only its prerequisite).
    for (const auto& [sir, lwt] : m.refused) {
      if (needed_prefixes.contains(sir.high64())) continue;
      absl::Status st = dp_.sir_prefixes().Remove(SirPrefix(sir.high64()));
      CHECK((st.ok() || absl::IsNotFound(st)));
    }
    auto prefixes = dp_.sir_prefixes().List();
    REQUIRE(prefixes.ok());
    for (SirPrefix p : *prefixes) m.prefixes.insert(p.value());

    // Containers for what the locators restore, unless a mapping sends it on (a moved container).
    const InterfaceIndex interfaces[] = {host_.c1h(), host_.c2h()};
    size_t next = 0;
    for (const Bytes& f : c.frames) {
      Ipv6Address dst = DstOf(Ipv6Of(f));
      auto loc = m.locators.find(dst.high64());
      if (loc == m.locators.end()) continue;
      const LocatorEntry& entry = loc->second;
      Ipv6Address sir =
          IlaToSir(IlaAddress::From(dst), entry.sir_prefix, entry.csum_mode).address();
      if (m.mappings.contains(sir) || m.endpoints.contains(sir)) continue;
      INFO("the case needs more container interfaces than the fixture has");
      REQUIRE(next < std::size(interfaces));
      MacAddress mac({0x02, 0, 0, 0, 0x0e, static_cast<uint8_t>(next + 1)});
      absl::Status st = dp_.endpoints().Upsert({interfaces[next++], SirAddress::From(sir), mac});
      INFO(st.ToString());
      REQUIRE(st.ok());
      m.endpoints.insert(sir);
    }
    return m;
  }

  Prediction Predict(const Model& m, const Bytes& ip) {
    Prediction p;
    const Ipv6Address dst = DstOf(ip);
    const bool hop_limit_out = ip[kHopLimitOffset] <= 1;
    if (auto loc = m.locators.find(dst.high64()); loc != m.locators.end()) {
      p.role = Role::kUplink;
      const LocatorEntry& entry = loc->second;
      Ipv6Address sir =
          IlaToSir(IlaAddress::From(dst), entry.sir_prefix, entry.csum_mode).address();
      if (hop_limit_out) {
        p.verdict = XDP_PASS;
        p.stat = "pass_hop_limit";
        p.libila = ip;
        p.kernel = KernelDid::kTimeExceeded;
        p.quote = Rewrite(ip, sir, LinuxArithmetic(entry.csum_mode)).ip;
        p.label = "hop limit 1: libila passes untranslated, Linux quotes the translated packet";
        return p;
      }
      Rewritten r = Rewrite(ip, sir, entry.csum_mode);
      p.adjusted = IsAdjust(entry.csum_mode) && r.adjusted;
      p.not_adjustable = IsAdjust(entry.csum_mode) && r.not_adjustable;
      if (size_t q = QuoteOffset(r.ip)) {
        p.icmp_error_delivered = true;
        Ipv6Address quoted = AddressAt(r.ip, q + kDstOffset);
        for (const auto& [msir, mapping] : m.mappings) {
          auto ila = mapping.IlaDestination();
          if (!ila.ok() || ila->address() != quoted) continue;
          // libila translates the quote back (difference 2); the reference for the quote is
          // RewriteDestination on it, then the ICMPv6 checksum recomputed.
          Bytes quote(r.ip.begin() + static_cast<long>(q), r.ip.end());
          quote = Rewrite(quote, msir, mapping.csum_mode).ip;
          std::copy(quote.begin(), quote.end(), r.ip.begin() + static_cast<long>(q));
          uint16_t sum = ComputeTransportChecksum(
              SrcOf(r.ip), DstOf(r.ip), kProtoIcmpv6,
              std::span<const uint8_t>(r.ip.data() + kIpv6Len, PayloadLength(r.ip)));
          r.ip[kIpv6Len + 2] = static_cast<uint8_t>(sum >> 8);
          r.ip[kIpv6Len + 3] = static_cast<uint8_t>(sum);
          p.kernel = KernelDid::kQuoteUntranslated;
          p.label =
              "ICMPv6 error: libila translates the quoted destination back, Linux does "
              "not (README §2)";
        }
      }
      if (m.endpoints.contains(sir)) {
        p.verdict = XDP_REDIRECT;
        p.stat = "rx_delivered";
      } else if (auto mapping = m.mappings.find(sir); mapping != m.mappings.end()) {
        auto ila = mapping->second.IlaDestination();
        REQUIRE(ila.ok());
        Rewritten again = Rewrite(r.ip, ila->address(), mapping->second.csum_mode);
        p.adjusted |= IsAdjust(mapping->second.csum_mode) && again.adjusted;
        p.not_adjustable |= IsAdjust(mapping->second.csum_mode) && again.not_adjustable;
        r.ip = again.ip;
        p.verdict = XDP_REDIRECT;
        p.stat = "rx_reforwarded";
      } else {
        p.verdict = XDP_DROP;
        p.stat = "drop_endpoint_gone";
        return p;
      }
      r.ip[kHopLimitOffset] -= 1;
      p.libila = r.ip;
      return p;
    }
    if (!m.has_lwt) {
      p.role = Role::kUplink;
      p.verdict = XDP_PASS;
      p.stat = "pass_not_local_locator";
      p.libila = ip;
      return p;
    }
    p.role = Role::kRouter;
    if (auto mapping = m.mappings.find(dst); mapping != m.mappings.end()) {
      const LwtLine& lwt = *m.origin.at(dst);
      if (hop_limit_out) {
        p.verdict = XDP_PASS;
        p.stat = "pass_hop_limit";
        p.libila = ip;
        p.kernel = KernelDid::kTimeExceeded;
        if (lwt.hook_input) {
          p.quote = Rewrite(ip, LinuxLwtDestination(dst, lwt), LinuxLwtMode(lwt)).ip;
          p.label =
              "hop limit 1: libila passes untranslated, Linux (hook-type input) quotes the "
              "translated packet";
        } else {
          p.quote = ip;
        }
        return p;
      }
      auto ila = mapping->second.IlaDestination();
      REQUIRE(ila.ok());
      Rewritten r = Rewrite(ip, ila->address(), mapping->second.csum_mode);
      p.adjusted = IsAdjust(mapping->second.csum_mode) && r.adjusted;
      p.not_adjustable = IsAdjust(mapping->second.csum_mode) && r.not_adjustable;
      r.ip[kHopLimitOffset] -= 1;
      p.libila = r.ip;
      p.verdict = XDP_REDIRECT;
      p.stat = "router_forwarded";
      if (lwt.hook_input && lwt.mode == ChecksumMode::kNeutralMap) {
        p.kernel = KernelDid::kSkippedNeutral;
        p.label =
            "hook-type input + neutral-map: Linux skips the neutral adjustment, libila "
            "translates as for any hook";
      }
      return p;
    }
    if (m.prefixes.contains(dst.high64())) {
      p.verdict = XDP_DROP;
      p.stat = "drop_router_miss";
      if (m.refused.contains(dst)) {
        p.kernel = KernelDid::kHalfTranslated;
      } else {
        p.kernel = KernelDid::kForwardedUntranslated;
        p.label =
            "SIR destination without mapping: a libila router drops the miss, Linux routes "
            "it untranslated";
      }
      return p;
    }
    p.verdict = XDP_PASS;
    p.stat = "pass_not_sir";
    p.libila = ip;
    return p;
  }

  // Checks libila's run against the prediction and the kernel's output for the packet (taken from
  // the head of `egress` or `back`); returns the kernel's packet (L3) that it matched.
  Bytes CheckPacket(const Model& m, const KernelRecord& k, const Prediction& p, const XdpRun& r,
                    const Bytes& in, std::vector<Bytes>& egress, std::vector<Bytes>& back,
                    std::set<std::string>& labels) {
    INFO("role " << ToString(p.role) << ", expected " << VerdictName(p.verdict) << " (" << p.stat
                 << "), got " << VerdictName(r.verdict) << "; counters:\n"
                 << r.delta.ToText());
    REQUIRE(VerdictName(r.verdict) == VerdictName(p.verdict));
    CHECK(r.delta.Packets(CounterNamed(p.stat)) == 1);
    if (p.verdict != XDP_DROP) CHECK(r.delta.TotalDropped() == 0);
    CHECK(r.delta.Packets("transport_not_adjusted") == (p.not_adjustable ? 1u : 0u));
    if (p.icmp_error_delivered) {
      bool translated = p.kernel == KernelDid::kQuoteUntranslated;
      CHECK(r.delta.Packets("icmp_inner_translated") == (translated ? 1u : 0u));
      CHECK(r.delta.Packets("icmp_inner_unknown") == (translated ? 0u : 1u));
    }
    Bytes mine;
    if (p.libila) {
      REQUIRE(r.frame.size() >= kEthLen);
      mine = Ipv6Of(r.frame);
      INFO("libila's output is the C++ reference's\n  libila    " << Hex(mine) << "\n  reference "
                                                                  << Hex(*p.libila));
      CHECK(Hex(mine) == Hex(*p.libila));
    }

    // The kernel's frame for this packet: the next one out of rout (egress) or back out of rin.
    auto try_queue = [&](std::vector<Bytes>& queue, std::string& why) -> std::optional<Bytes> {
      if (queue.empty()) {
        why += "  (none left)\n";
        return std::nullopt;
      }
      Bytes kernel = Ipv6Of(queue.front());
      std::string label;
      if (Matches(m, k, p, in, mine, kernel, label, why)) {
        queue.erase(queue.begin());
        labels.insert(label);
        return kernel;
      }
      return std::nullopt;
    };
    std::string why_egress, why_back;
    std::optional<Bytes> kernel;
    if (p.kernel != KernelDid::kTimeExceeded) kernel = try_queue(egress, why_egress);
    if (!kernel) kernel = try_queue(back, why_back);
    INFO("libila  " << Hex(mine) << "\ninput   " << Hex(in) << "\nagainst the next egress frame:\n"
                    << why_egress << "against the next back frame:\n"
                    << why_back);
    CHECK(kernel.has_value());
    if (!kernel) labels.insert(kMismatch);
    return kernel.value_or(Bytes{});
  }

  // Whether `kernel` (L3) is what the kernel did with this packet, per the prediction's relation.
  // Sets `label` to how it compares; appends the reason to `why` when it does not.
  bool Matches(const Model& m, const KernelRecord& k, const Prediction& p, const Bytes& in,
               const Bytes& mine, const Bytes& kernel, std::string& label, std::string& why) {
    auto fail = [&](const std::string& reason) {
      why += "  " + Hex(kernel) + "\n  -> " + reason + "\n";
      return false;
    };
    if (kernel.size() < kIpv6Len) return fail("not an IPv6 packet");
    // The kernel forwards once; libila decremented the hop limit when it forwarded, not when it
    // passed the packet to the kernel (which decrements it then).
    auto hop_limit_consistent = [&](const Bytes& ours, bool ours_forwarded) {
      return kernel[kHopLimitOffset] + (ours_forwarded ? 0 : 1) == ours[kHopLimitOffset];
    };
    switch (p.kernel) {
      case KernelDid::kSame: {
        if (!hop_limit_consistent(mine, p.verdict == XDP_REDIRECT)) return fail("hop limit");
        std::vector<size_t> diff = DiffIgnoringHopLimit(mine, kernel);
        if (diff.empty()) {
          label = p.label.empty() ? kExact : p.label;
          return true;
        }
        if (!p.adjusted || m.linux_compat) return fail("differs at " + DiffText(diff));
        // Difference 1: Linux's adj-transport checksum.
        size_t at = TransportChecksumAt(mine);
        if (!OnlyAt(diff, {at, at + 1})) {
          return fail("differs beyond the transport checksum, at " + DiffText(diff));
        }
        if (!TransportChecksumOk(mine)) return fail("libila's transport checksum is not valid");
        if (TransportChecksumOk(kernel)) return fail("the kernel's checksum is valid, yet differs");
        label = "adj-transport: Linux's checksum is wrong, libila's valid (README §1)";
        return true;
      }
      case KernelDid::kForwardedUntranslated: {
        if (!hop_limit_consistent(in, false)) return fail("hop limit");
        std::vector<size_t> diff = DiffIgnoringHopLimit(in, kernel);
        if (!diff.empty()) return fail("not the untranslated packet: differs at " + DiffText(diff));
        label = p.label;
        return true;
      }
      case KernelDid::kHalfTranslated: {
        if (!hop_limit_consistent(in, false)) return fail("hop limit");
        const LwtLine& lwt = *m.refused.at(DstOf(in));
        Bytes half = in;
        Ipv6Address dst = Ipv6Address::FromHalves(lwt.locator.value(), DstOf(in).low64());
        std::copy(dst.bytes().begin(), dst.bytes().end(), half.begin() + kDstOffset);
        std::vector<size_t> diff = DiffIgnoringHopLimit(half, kernel);
        if (!diff.empty()) return fail("not the locator-only rewrite, at " + DiffText(diff));
        bool warned = std::any_of(k.kmsg.begin(), k.kmsg.end(), [](const std::string& s) {
          return s.find("WARNING") != std::string::npos;
        });
        if (!warned) return fail("the kernel did not warn");
        label =
            "neutral-map meets a C-bit identifier: libila refuses the mapping, Linux "
            "half-translates (README §3)";
        return true;
      }
      case KernelDid::kSkippedNeutral: {
        if (!hop_limit_consistent(mine, true)) return fail("hop limit");
        std::vector<size_t> diff = DiffIgnoringHopLimit(mine, kernel);
        std::set<size_t> identifier;
        for (size_t i = kDstOffset + 8; i < kDstOffset + 16; ++i) identifier.insert(i);
        if (!OnlyAt(diff, identifier))
          return fail("differs beyond the identifier, at " + DiffText(diff));
        const LwtLine& lwt = *m.origin.at(DstOf(in));
        if (DstOf(kernel) != LinuxLwtDestination(DstOf(in), lwt)) {
          return fail("the kernel's destination is not the locator-only rewrite");
        }
        if (HasTransportChecksum(mine)) {
          if (!TransportChecksumOk(mine)) return fail("libila's transport checksum is not valid");
          if (TransportChecksumOk(kernel)) return fail("the kernel's checksum is valid");
        }
        label = p.label;
        return true;
      }
      case KernelDid::kTimeExceeded: {
        if (kernel[6] != kProtoIcmpv6 || kernel.size() < kIpv6Len + kIcmpHeaderLen + kIpv6Len ||
            kernel[kIpv6Len] != 3) {
          return fail("not an ICMPv6 Time Exceeded");
        }
        Bytes quote(kernel.begin() + kIpv6Len + kIcmpHeaderLen, kernel.end());
        if (quote.size() > p.quote.size() ||
            !std::equal(quote.begin(), quote.end(), p.quote.begin())) {
          return fail("quotes " + Hex(quote) + "\n     expected " + Hex(p.quote));
        }
        if (!TransportChecksumOk(kernel)) return fail("the Time Exceeded's checksum is not valid");
        label = p.label.empty() ? kExact : p.label;
        return true;
      }
      case KernelDid::kQuoteUntranslated: {
        if (!hop_limit_consistent(mine, true)) return fail("hop limit");
        size_t q = QuoteOffset(mine);
        std::set<size_t> allowed = {kIpv6Len + 2, kIpv6Len + 3};
        for (size_t i = q + kDstOffset; i < q + kDstOffset + 16; ++i) allowed.insert(i);
        Bytes quote(mine.begin() + static_cast<long>(q), mine.end());
        if (HasTransportChecksum(quote)) {
          allowed.insert(q + TransportChecksumAt(quote));
          allowed.insert(q + TransportChecksumAt(quote) + 1);
        }
        std::vector<size_t> diff = DiffIgnoringHopLimit(mine, kernel);
        if (!OnlyAt(diff, allowed)) {
          return fail("differs beyond the quote's translation, at " + DiffText(diff));
        }
        if (AddressAt(kernel, q + kDstOffset) != AddressAt(in, q + kDstOffset)) {
          return fail("the kernel changed the quoted destination");
        }
        if (!TransportChecksumOk(mine)) return fail("libila's ICMPv6 checksum is not valid");
        label = p.label;
        return true;
      }
    }
    return fail("unknown relation");
  }

  // Difference 2 on the recorded bytes: make the quoted destination of a delivered ICMPv6 error an
  // ILA address libila knows, and check that the quote is translated back and nothing else moves.
  void ReverseTranslatedQuote(Model& m, const Bytes& frame, const Bytes& kernel,
                              std::set<std::string>& labels) {
    Bytes in = Ipv6Of(frame);
    size_t q = QuoteOffset(in);
    REQUIRE(q != 0);
    Ipv6Address quoted = AddressAt(in, q + kDstOffset);
    const LocatorEntry& entry = m.locators.at(DstOf(in).high64());
    Mapping mapping{SirAddress{entry.sir_prefix, Identifier(quoted.low64())},
                    Locator(quoted.high64()), ChecksumMode::kNoAction, IdentifierType::kLuid};
    INFO("with a mapping " << mapping.sir << " -> " << mapping.locator
                           << " whose ILA address is the quoted destination");
    if (m.mappings.contains(mapping.sir.address())) return;  // the case itself maps it
    absl::Status st = dp_.mappings().Upsert(mapping);
    INFO(st.ToString());
    REQUIRE(st.ok());
    m.mappings[mapping.sir.address()] = mapping;
    Prediction p = Predict(m, in);
    REQUIRE(p.kernel == KernelDid::kQuoteUntranslated);
    XdpRun r = RunOne(p.role, frame);
    std::vector<Bytes> queue = {EthernetIpv6(kRinMac, kAinMac, kernel)}, none;
    KernelRecord record;
    CheckPacket(m, record, p, r, in, queue, none, labels);
    CHECK(AddressAt(Ipv6Of(r.frame), q + kDstOffset) == mapping.sir.address());
    CHECK(dp_.mappings().Remove(mapping.sir).ok());
    m.mappings.erase(mapping.sir.address());
  }

  HostFixture& host_;
  Dataplane& dp_;
  std::set<uint64_t> routed_;
};

// The vectors ship with the repository (tests/data/kernel-ila): their absence is a failure.
void RequireVectors() {
  auto missing = VectorsMissingReason();
  INFO(missing.value_or(""));
  REQUIRE_FALSE(missing.has_value());
}

std::optional<std::string> SkipReason() {
  RequireVectors();
  if (auto r = BpfUnavailableReason()) return r;
  return NetnsUnavailableReason();
}

}  // namespace

TEST_CASE("Kernel ILA vectors: every case replays or is listed with no libila equivalent") {
  RequireVectors();
  fs::path dir = *VectorsDir();
  std::vector<std::string> cases = CaseNames(dir, "cases", ".case");
  std::vector<std::string> outputs = CaseNames(dir, "expected", ".out");
  CHECK(cases == outputs);  // every case was recorded, and nothing else
  REQUIRE_FALSE(cases.empty());

  std::set<std::string> listed;
  for (const NoEquivalent& n : kNoEquivalent) {
    INFO(n.name);
    CHECK(listed.insert(std::string(n.name)).second);
    CHECK(std::find(cases.begin(), cases.end(), n.name) != cases.end());
  }
  std::set<std::string> unmappable;
  for (const std::string& name : cases) {
    INFO("case " << name);
    try {
      CaseSpec c = ReadCase(dir / "cases" / (name + ".case"));
      KernelRecord k = ReadRecord(dir / "expected" / (name + ".out"));
      CHECK(k.in.size() == c.frames.size());
      CHECK(k.cfg.size() == c.config.size());
      if (auto why = WhyNoEquivalent(c)) {
        INFO(*why);
        unmappable.insert(name);
      }
    } catch (const ParseError& e) {
      FAIL_CHECK("cannot parse: " << e.what());
      unmappable.insert(name);
    }
  }
  // The list names exactly the cases that the replay cannot map: a new case either replays or
  // must be listed here with its reason.
  CHECK(unmappable == listed);
}

TEST_CASE("Kernel ILA vectors: libila matches Linux where it is right, and differs as documented") {
  ILA_SKIP_IF(SkipReason());
  fs::path dir = *VectorsDir();
  auto host = HostFixture::Create();
  INFO(host.status().ToString());
  REQUIRE(host.ok());
  // The fixture's own data plane: its programs run on the uplink the frames arrive on, which
  // makes the uplink's MAC theirs.
  Replayer replay(**host, (*host)->dp());

  std::map<std::string, std::set<std::string>> results;
  std::set<std::string> listed;
  for (const NoEquivalent& n : kNoEquivalent) listed.insert(std::string(n.name));
  for (const std::string& name : CaseNames(dir, "cases", ".case")) {
    if (listed.contains(name)) continue;
    try {
      CaseSpec c = ReadCase(dir / "cases" / (name + ".case"));
      KernelRecord k = ReadRecord(dir / "expected" / (name + ".out"));
      if (WhyNoEquivalent(c)) continue;  // the coverage test reports it
      results[name] = replay.Run(c, k);
    } catch (const ParseError& e) {
      FAIL_CHECK(name << ": cannot parse: " << e.what());
    } catch (const Catch::TestFailureException&) {
      // Recorded already; go on with the next case from clean tables.
      results[name].insert(kMismatch);
      replay.Reset();
    }
  }

  // A summary, for the record (visible with ctest -V).
  size_t exact = 0, documented = 0;
  std::ostringstream summary;
  for (const auto& [name, labels] : results) {
    bool is_exact = labels == std::set<std::string>{kExact};
    if (is_exact)
      ++exact;
    else if (!labels.contains(kMismatch))
      ++documented;
    summary << "  " << name << ": ";
    for (const std::string& l : labels) {
      if (l != kExact || is_exact) summary << l << "; ";
    }
    summary << "\n";
  }
  std::cout << "kernel vectors: " << results.size() << " replayed, " << exact
            << " identical to Linux at L3, " << documented << " with asserted differences, "
            << std::size(kNoEquivalent) << " listed with no libila equivalent\n"
            << summary.str() << std::flush;
}
