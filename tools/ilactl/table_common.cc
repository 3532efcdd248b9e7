// Shared helpers of ilactl's table objects (table_common.h) and of every object (ilactl.h).
#include "table_common.h"

#include <net/if.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_join.h"

namespace ilactl {

// ---------------------------------------------------------------------------------------------
// Shared helpers

absl::StatusOr<ila::InterfaceIndex> IndexOfInterface(const Args& args, const std::string& name) {
  unsigned idx = name.empty() || name.size() >= IF_NAMESIZE ? 0 : if_nametoindex(name.c_str());
  if (idx == 0) {
    return args.Error(Cat("no interface named \"", name, "\" in this network namespace"));
  }
  return ila::InterfaceIndex(static_cast<int>(idx));
}

std::string InterfaceName(ila::InterfaceIndex ifindex) {
  char buf[IF_NAMESIZE] = {};
  if (!ifindex.valid() || if_indextoname(static_cast<unsigned>(ifindex.value()), buf) == nullptr)
    return "";
  return buf;
}

absl::Status RequirePrefix(ila::Dataplane& dp, ila::SirPrefix prefix, std::string_view what,
                           std::string_view command) {
  auto prefixes = dp.sir_prefixes().List();
  if (!prefixes.ok()) return prefixes.status();
  if (std::find(prefixes->begin(), prefixes->end(), prefix) != prefixes->end()) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      Cat(command, ": the SIR prefix ", prefix.ToString(), " of ", what,
          " is not registered; add it first with \"ilactl prefix add ", prefix.ToString(), "\""));
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns == 0) return "0";
  if (ns % 1000000000 == 0) return Cat(ns / 1000000000, "s");
  if (ns % 1000000 == 0) return Cat(ns / 1000000, "ms");
  if (ns % 1000 == 0) return Cat(ns / 1000, "us");
  return Cat(ns, "ns");
}

// The verb; no words at all means show, as `ip route` means `ip route show`.
absl::StatusOr<int> TakeVerb(Args& args, std::string_view object, bool with_flush) {
  if (args.done()) return kShow;
  std::string word = args.take();
  absl::StatusOr<int> v =
      with_flush
          ? MatchKeyword(word,
                         {{"add", kAdd},
                          {"del", kDel},
                          {"delete", kDel},
                          {"show", kShow},
                          {"list", kShow},
                          {"flush", kFlush}},
                         "command")
          : MatchKeyword(
                word,
                {{"add", kAdd}, {"del", kDel}, {"delete", kDel}, {"show", kShow}, {"list", kShow}},
                "command");
  if (!v.ok()) {
    return absl::InvalidArgumentError(Cat(object, ": ", v.status().message()));
  }
  return *v;
}

// Prefixes an error with the command it came from (defined below).
absl::Status WithCommand(const absl::Status& st, std::string_view command);

absl::StatusOr<ChecksumMode> ParseCsum(Args& args) {
  auto word = args.Need("a checksum mode");
  if (!word.ok()) return word.status();
  auto id = MatchKeyword(
      *word,
      {{"adj-transport", static_cast<int>(ChecksumMode::kAdjustTransport)},
       {"neutral-map", static_cast<int>(ChecksumMode::kNeutralMap)},
       {"neutral-map-auto", static_cast<int>(ChecksumMode::kNeutralMapAuto)},
       {"no-action", static_cast<int>(ChecksumMode::kNoAction)},
       {"adj-transport-linux-compat", static_cast<int>(ChecksumMode::kAdjustTransportLinuxCompat)}},
      "csum-mode");
  if (!id.ok()) return args.Invalid(id.status());
  return static_cast<ChecksumMode>(*id);
}

absl::StatusOr<IdentifierType> ParseIdentType(Args& args) {
  auto word = args.Need("an identifier type");
  if (!word.ok()) return word.status();
  // Every name the library knows parses (the refusal of non-luid types then comes from the
  // mapping's validation, with its reason); prefixes of luid and use-format are accepted.
  auto id = MatchKeyword(*word,
                         {{"luid", static_cast<int>(IdentifierType::kLuid)},
                          {"use-format", static_cast<int>(IdentifierType::kUseFormat)},
                          {"iid", static_cast<int>(IdentifierType::kIid)},
                          {"virt-v4", static_cast<int>(IdentifierType::kVirtV4)},
                          {"virt-uni-v6", static_cast<int>(IdentifierType::kVirtUniV6)},
                          {"virt-multi-v6", static_cast<int>(IdentifierType::kVirtMultiV6)},
                          {"nonlocal-addr", static_cast<int>(IdentifierType::kNonlocalAddr)}},
                         "ident-type");
  if (!id.ok()) return args.Invalid(id.status());
  return static_cast<IdentifierType>(*id);
}

// --- output -----------------------------------------------------------------------------------

std::string IlaText(const Mapping& m) {
  auto ila = m.IlaDestination();
  return ila.ok() ? ila->ToString() : std::string("-");
}

void PrintMappings(Context& ctx, const std::vector<Mapping>& list) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const Mapping& m : list) {
      j.BeginObject();
      j.Field("sir", m.sir.ToString());
      j.Field("locator", m.locator.ToString());
      j.Field("csum_mode", ila::ToString(m.csum_mode));
      j.Field("ident_type", ila::ToString(m.ident_type));
      j.Field("ila_address", IlaText(m));
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return;
  }
  for (const Mapping& m : list) {
    Append(&ctx.out, m.sir.ToString(), " locator ", m.locator.ToString(), " csum-mode ",
           ila::ToString(m.csum_mode), " ident-type ", ila::ToString(m.ident_type));
    if (ctx.options.details) Append(&ctx.out, " ila-address ", IlaText(m));
    ctx.out += "\n";
  }
}

// `ip -6 route show`'s form of a mapping.
void PrintRoutes(Context& ctx, const std::vector<Mapping>& list) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const Mapping& m : list) {
      j.BeginObject();
      j.Field("dst", m.sir.ToString());
      j.Field("encap", "ila");
      j.Field("locator", m.locator.ToString());
      j.Field("csum_mode", ila::ToString(m.csum_mode));
      j.Field("ident_type", ila::ToString(m.ident_type));
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return;
  }
  for (const Mapping& m : list) {
    Append(&ctx.out, m.sir.ToString(), " encap ila ", m.locator.ToString(), " csum-mode ",
           ila::ToString(m.csum_mode), " ident-type ", ila::ToString(m.ident_type), "\n");
  }
}

// Locator entries, with `ip -j ila list`'s keys: locator_match is this host's locator, locator
// the SIR prefix that arrivals are translated back to.
void PrintLocators(Context& ctx, const std::vector<LocatorEntry>& list, bool ip_form) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const LocatorEntry& e : list) {
      j.BeginObject();
      j.Field("locator_match", e.locator.ToString());
      j.Field("locator", ila::Locator(e.sir_prefix.value()).ToString());
      j.Field("sir_prefix", e.sir_prefix.ToString());
      j.Field("csum_mode", ila::ToString(e.csum_mode));
      if (e.reforward) j.Field("reforward", e.reforward->ToString());
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return;
  }
  for (const LocatorEntry& e : list) {
    if (ip_form) {
      Append(&ctx.out, "loc_match ", e.locator.ToString(), " loc ",
             ila::Locator(e.sir_prefix.value()).ToString(), " csum-mode ",
             ila::ToString(e.csum_mode), "\n");
    } else {
      Append(&ctx.out, e.locator.ToString(), " sir ", e.sir_prefix.ToString(), " csum-mode ",
             ila::ToString(e.csum_mode),
             e.reforward ? Cat(" reforward ", e.reforward->ToString()) : std::string(), "\n");
    }
  }
}

void PrintEndpoints(Context& ctx, const std::vector<ila::Endpoint>& list) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const ila::Endpoint& e : list) {
      j.BeginObject();
      j.Field("sir", e.sir.ToString());
      std::string dev = InterfaceName(e.ifindex);
      j.Key("dev");
      if (dev.empty())
        j.Null();
      else
        j.String(dev);
      j.FieldInt("ifindex", e.ifindex.value());
      j.Field("mac", e.mac.ToString());
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return;
  }
  for (const ila::Endpoint& e : list) {
    std::string dev = InterfaceName(e.ifindex);
    Append(&ctx.out, e.sir.ToString(), " dev ",
           dev.empty() ? Cat("(ifindex ", e.ifindex, ")") : dev, " mac ", e.mac.ToString());
    if (ctx.options.details) Append(&ctx.out, " ifindex ", e.ifindex);
    ctx.out += "\n";
  }
}

void PrintPrefixes(Context& ctx, const std::vector<ila::SirPrefix>& list) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const ila::SirPrefix& p : list) {
      j.BeginObject();
      j.Field("prefix", p.ToString());
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return;
  }
  for (const ila::SirPrefix& p : list) Append(&ctx.out, p.ToString(), "\n");
}

// Registers `prefix` when it is not yet (the kernel's grammar has no SIR prefix table); sets
// *added so that the caller can undo it if the rest fails.
absl::Status EnsurePrefix(ila::Dataplane& dp, ila::SirPrefix prefix, bool* added) {
  *added = false;
  auto prefixes = dp.sir_prefixes().List();
  if (!prefixes.ok()) return prefixes.status();
  if (std::find(prefixes->begin(), prefixes->end(), prefix) != prefixes->end()) {
    return absl::OkStatus();
  }
  if (absl::Status st = dp.sir_prefixes().Add(prefix); !st.ok()) return st;
  *added = true;
  return absl::OkStatus();
}

absl::Status WithCommand(const absl::Status& st, std::string_view command) {
  if (st.ok()) return st;
  return absl::Status(st.code(), Cat(command, ": ", st.message()));
}

std::optional<std::string> NoEquivalent(std::string_view word) {
  static constexpr std::string_view kForwarding[] = {"via",     "dev",  "oif",
                                                     "nexthop", "nhid", "onlink"};
  for (std::string_view w : kForwarding) {
    if (word == w) {
      return Cat(
          "\"", std::string(word),
          "\" has no equivalent in libila: a translated packet follows the "
          "underlay's route for its locator /64 (bpf_fib_lookup), so route the locator with ip "
          "route instead; drop \"",
          std::string(word), "\" from the command");
    }
  }
  if (word == "hook-type") {
    return std::string(
        "\"hook-type\" has no equivalent in libila: translation runs in XDP on the interfaces "
        "the programs are attached to (container interfaces translate what containers send, "
        "router interfaces what they forward), not at a route hook; drop it and use "
        "\"ilactl attach container|router\"");
  }
  static constexpr std::string_view kRouteAttrs[] = {"table",
                                                     "metric",
                                                     "preference",
                                                     "pref",
                                                     "proto",
                                                     "protocol",
                                                     "scope",
                                                     "src",
                                                     "from",
                                                     "tos",
                                                     "dsfield",
                                                     "mtu",
                                                     "advmss",
                                                     "expires",
                                                     "realm",
                                                     "realms",
                                                     "rtt",
                                                     "rttvar",
                                                     "reordering",
                                                     "window",
                                                     "cwnd",
                                                     "initcwnd",
                                                     "initrwnd",
                                                     "quickack",
                                                     "congctl",
                                                     "features",
                                                     "ssthresh",
                                                     "hoplimit",
                                                     "fastopen_no_cookie",
                                                     "ttl-propagate",
                                                     "unicast",
                                                     "local",
                                                     "blackhole",
                                                     "unreachable",
                                                     "prohibit",
                                                     "throw",
                                                     "nat",
                                                     "anycast",
                                                     "multicast",
                                                     "broadcast",
                                                     "vrf"};
  for (std::string_view w : kRouteAttrs) {
    if (word == w) {
      return Cat("route attribute \"", std::string(word),
                 "\" has no equivalent in a libila mapping (a SIR address, a locator, "
                 "csum-mode and ident-type)");
    }
  }
  return std::nullopt;
}

}  // namespace ilactl
