// ilactl's table objects: prefix, locator, map, endpoint, and the kernel's grammar for the same
// tables (route ... encap ila, ila ...).
#include <net/if.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "absl/strings/str_join.h"
#include "ila/mapping.h"
#include "ilactl.h"

namespace ilactl {

using ila::ChecksumMode;
using ila::IdentifierType;
using ila::LocatorEntry;
using ila::Mapping;

// ---------------------------------------------------------------------------------------------
// Shared helpers

absl::StatusOr<int> InterfaceIndex(const Args& args, const std::string& name) {
  unsigned idx = name.empty() || name.size() >= IF_NAMESIZE ? 0 : if_nametoindex(name.c_str());
  if (idx == 0) {
    return args.Error(Cat("no interface named \"", name, "\" in this network namespace"));
  }
  return static_cast<int>(idx);
}

std::string InterfaceName(int ifindex) {
  char buf[IF_NAMESIZE] = {};
  if (ifindex <= 0 || if_indextoname(static_cast<unsigned>(ifindex), buf) == nullptr) return "";
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

namespace {

enum Verb { kAdd, kDel, kShow, kFlush };

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

template <typename T>
absl::StatusOr<T> ParseWord(Args& args, std::string_view what,
                            absl::StatusOr<T> (*parse)(std::string_view)) {
  auto word = args.Need(what);
  if (!word.ok()) return word.status();
  auto v = parse(*word);
  if (!v.ok()) return args.Invalid(v.status());
  return *v;
}

// Prefixes an error with the command it came from (defined below).
absl::Status WithCommand(const absl::Status& st, std::string_view command);

// "<table> del KEY": one key, then the table's removal (the same shape for every table).
template <typename Key>
absl::Status DeleteOne(Context& ctx, Args& args, const char* command, const char* usage,
                       const char* what, absl::StatusOr<Key> (*parse)(std::string_view),
                       const std::function<absl::Status(ila::Dataplane&, const Key&)>& remove) {
  args.set_command(command, usage);
  auto key = ParseWord<Key>(args, what, parse);
  if (!key.ok()) return key.status();
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  return WithCommand(remove(**dp, *key), command);
}

// "<table> show [KEY]": the one entry asked for, or all of them.
template <typename Key, typename Entry>
absl::StatusOr<std::vector<Entry>> ShowOneOrAll(
    Context& ctx, Args& args, const char* command, const char* usage, const char* what,
    absl::StatusOr<Key> (*parse)(std::string_view),
    const std::function<absl::StatusOr<Entry>(ila::Dataplane&, const Key&)>& get,
    const std::function<absl::StatusOr<std::vector<Entry>>(ila::Dataplane&)>& list) {
  args.set_command(command, usage);
  std::optional<Key> one;
  if (!args.done()) {
    auto key = ParseWord<Key>(args, what, parse);
    if (!key.ok()) return key.status();
    one = *key;
  }
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  if (!one) return list(**dp);
  auto e = get(**dp, *one);
  if (!e.ok()) return WithCommand(e.status(), command);
  return std::vector<Entry>{*e};
}

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
             ila::ToString(e.csum_mode), "\n");
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
      j.FieldInt("ifindex", e.ifindex);
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

}  // namespace

// ---------------------------------------------------------------------------------------------
// prefix

absl::Status CmdPrefix(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "prefix", false);
  if (!verb.ok()) return verb.status();
  if (*verb == kShow) {
    args.set_command("prefix show", "prefix show");
    if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
    auto dp = ctx.Open();
    if (!dp.ok()) return dp.status();
    auto list = (*dp)->sir_prefixes().List();
    if (!list.ok()) return list.status();
    PrintPrefixes(ctx, *list);
    return absl::OkStatus();
  }
  std::string command = *verb == kAdd ? "prefix add" : "prefix del";
  args.set_command(command, Cat(command, " PREFIX"));
  auto prefix = ParseWord<ila::SirPrefix>(args, "a SIR prefix", &ila::SirPrefix::Parse);
  if (!prefix.ok()) return prefix.status();
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  if (*verb == kAdd) return WithCommand((*dp)->sir_prefixes().Add(*prefix), command);
  return WithCommand((*dp)->sir_prefixes().Remove(*prefix), command);
}

// ---------------------------------------------------------------------------------------------
// locator

absl::Status CmdLocator(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "locator", false);
  if (!verb.ok()) return verb.status();
  switch (*verb) {
    case kAdd: {
      args.set_command("locator add", "locator add LOCATOR sir PREFIX [csum-mode CSUM]");
      auto loc = ParseWord<ila::Locator>(args, "a locator", &ila::Locator::Parse);
      if (!loc.ok()) return loc.status();
      LocatorEntry e{*loc, {}, ChecksumMode::kNoAction};
      bool have_sir = false, have_csum = false;
      enum { kSir, kCsum };
      while (!args.done()) {
        std::string word = args.take();
        auto k = MatchKeyword(word, {{"sir", kSir}, {"sir-prefix", kSir}, {"csum-mode", kCsum}},
                              "keyword");
        if (!k.ok()) return args.Unexpected(word, "sir PREFIX or csum-mode CSUM");
        if (*k == kSir) {
          if (have_sir) return args.Duplicate("sir");
          auto p = ParseWord<ila::SirPrefix>(args, "a SIR prefix", &ila::SirPrefix::Parse);
          if (!p.ok()) return p.status();
          e.sir_prefix = *p;
          have_sir = true;
        } else {
          if (have_csum) return args.Duplicate("csum-mode");
          auto c = ParseCsum(args);
          if (!c.ok()) return c.status();
          e.csum_mode = *c;
          have_csum = true;
        }
      }
      if (!have_sir)
        return args.Error(
            "missing \"sir PREFIX\" (the SIR prefix arrivals on this locator are translated back "
            "to)");
      if (e.locator.value() == 0) {
        return args.Error("\"0:0:0:0\" cannot be a host's locator");
      }
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      if (absl::Status st = RequirePrefix(**dp, e.sir_prefix, Cat("locator ", e.locator.ToString()),
                                          "locator add");
          !st.ok()) {
        return st;
      }
      return WithCommand((*dp)->locators().Upsert(e), "locator add");
    }
    case kDel:
      return DeleteOne<ila::Locator>(
          ctx, args, "locator del", "locator del LOCATOR", "a locator", &ila::Locator::Parse,
          [](ila::Dataplane& dp, const ila::Locator& l) { return dp.locators().Remove(l); });
    default: {
      auto list = ShowOneOrAll<ila::Locator, LocatorEntry>(
          ctx, args, "locator show", "locator show [LOCATOR]", "a locator", &ila::Locator::Parse,
          [](ila::Dataplane& dp, const ila::Locator& l) { return dp.locators().Get(l); },
          [](ila::Dataplane& dp) { return dp.locators().List(); });
      if (!list.ok()) return list.status();
      PrintLocators(ctx, *list, false);
      return absl::OkStatus();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// map

absl::Status CmdMap(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "map", true);
  if (!verb.ok()) return verb.status();
  switch (*verb) {
    case kAdd: {
      args.set_command("map add", "map add SIR locator LOCATOR [csum-mode CSUM] [ident-type TYPE]");
      auto sir = ParseWord<ila::SirAddress>(args, "a SIR address", &ila::SirAddress::Parse);
      if (!sir.ok()) return sir.status();
      Mapping m;
      m.sir = *sir;
      bool have_loc = false, have_csum = false, have_type = false;
      enum { kLoc, kCsum, kType };
      while (!args.done()) {
        std::string word = args.take();
        auto k = MatchKeyword(
            word, {{"locator", kLoc}, {"csum-mode", kCsum}, {"ident-type", kType}}, "keyword");
        if (!k.ok())
          return args.Unexpected(word, "locator LOCATOR, csum-mode CSUM or ident-type TYPE");
        if (*k == kLoc) {
          if (have_loc) return args.Duplicate("locator");
          auto l = ParseWord<ila::Locator>(args, "a locator", &ila::Locator::Parse);
          if (!l.ok()) return l.status();
          m.locator = *l;
          have_loc = true;
        } else if (*k == kCsum) {
          if (have_csum) return args.Duplicate("csum-mode");
          auto c = ParseCsum(args);
          if (!c.ok()) return c.status();
          m.csum_mode = *c;
          have_csum = true;
        } else {
          if (have_type) return args.Duplicate("ident-type");
          auto t = ParseIdentType(args);
          if (!t.ok()) return t.status();
          m.ident_type = *t;
          have_type = true;
        }
      }
      if (!have_loc) return args.Error("missing \"locator LOCATOR\" (where the SIR address lives)");
      // The mapping on its own (locator, identifier type, checksum-neutral constraints).
      if (absl::Status st = ila::ValidateMapping(m); !st.ok()) return args.Invalid(st);
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      if (absl::Status st = RequirePrefix(**dp, m.sir.prefix, m.sir.ToString(), "map add");
          !st.ok()) {
        return st;
      }
      return WithCommand((*dp)->mappings().Upsert(m), "map add");
    }
    case kDel:
      return DeleteOne<ila::SirAddress>(
          ctx, args, "map del", "map del SIR", "a SIR address", &ila::SirAddress::Parse,
          [](ila::Dataplane& dp, const ila::SirAddress& a) { return dp.mappings().Remove(a); });
    case kFlush: {
      args.set_command("map flush", "map flush");
      if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      return WithCommand((*dp)->mappings().Flush(), "map flush");
    }
    default: {
      auto list = ShowOneOrAll<ila::SirAddress, Mapping>(
          ctx, args, "map show", "map show [SIR]", "a SIR address", &ila::SirAddress::Parse,
          [](ila::Dataplane& dp, const ila::SirAddress& a) { return dp.mappings().Get(a); },
          [](ila::Dataplane& dp) { return dp.mappings().List(); });
      if (!list.ok()) return list.status();
      PrintMappings(ctx, *list);
      return absl::OkStatus();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// endpoint

absl::Status CmdEndpoint(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "endpoint", false);
  if (!verb.ok()) return verb.status();
  switch (*verb) {
    case kAdd: {
      args.set_command("endpoint add", "endpoint add SIR dev DEV mac MAC");
      auto sir = ParseWord<ila::SirAddress>(args, "a SIR address", &ila::SirAddress::Parse);
      if (!sir.ok()) return sir.status();
      ila::Endpoint ep;
      ep.sir = *sir;
      bool have_dev = false, have_mac = false;
      enum { kDev, kMac };
      while (!args.done()) {
        std::string word = args.take();
        auto k = MatchKeyword(word, {{"dev", kDev}, {"mac", kMac}}, "keyword");
        if (!k.ok()) return args.Unexpected(word, "dev DEV or mac MAC");
        if (*k == kDev) {
          if (have_dev) return args.Duplicate("dev");
          auto name = args.Need("an interface name");
          if (!name.ok()) return name.status();
          auto idx = InterfaceIndex(args, *name);
          if (!idx.ok()) return idx.status();
          ep.ifindex = *idx;
          have_dev = true;
        } else {
          if (have_mac) return args.Duplicate("mac");
          auto mac = ParseWord<ila::MacAddress>(args, "a MAC address", &ila::MacAddress::Parse);
          if (!mac.ok()) return mac.status();
          if (mac->IsZero()) return args.Error("the container MAC cannot be 00:00:00:00:00:00");
          ep.mac = *mac;
          have_mac = true;
        }
      }
      if (!have_dev)
        return args.Error("missing \"dev DEV\" (the host side of the container's veth)");
      if (!have_mac) return args.Error("missing \"mac MAC\" (the container's MAC address)");
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      if (absl::Status st = RequirePrefix(**dp, ep.sir.prefix, ep.sir.ToString(), "endpoint add");
          !st.ok()) {
        return st;
      }
      return WithCommand((*dp)->endpoints().Upsert(ep), "endpoint add");
    }
    case kDel:
      return DeleteOne<ila::SirAddress>(
          ctx, args, "endpoint del", "endpoint del SIR", "a SIR address", &ila::SirAddress::Parse,
          [](ila::Dataplane& dp, const ila::SirAddress& a) { return dp.endpoints().Remove(a); });
    default: {
      auto list = ShowOneOrAll<ila::SirAddress, ila::Endpoint>(
          ctx, args, "endpoint show", "endpoint show [SIR]", "a SIR address",
          &ila::SirAddress::Parse,
          [](ila::Dataplane& dp, const ila::SirAddress& a) { return dp.endpoints().Get(a); },
          [](ila::Dataplane& dp) { return dp.endpoints().List(); });
      if (!list.ok()) return list.status();
      PrintEndpoints(ctx, *list);
      return absl::OkStatus();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// route: `ip -6 route {add|del} SIR/128 encap ila LOCATOR [csum-mode M] [ident-type T]`

namespace {

// Words of `ip route` that a libila mapping has no equivalent for, with the reason.
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

struct RouteSpec {
  Mapping mapping;
  bool have_encap = false;
};

absl::StatusOr<RouteSpec> ParseRoute(Args& args, bool adding) {
  RouteSpec r;
  // The kernel's defaults for an ILA route.
  r.mapping.csum_mode = ChecksumMode::kNoAction;
  r.mapping.ident_type = IdentifierType::kUseFormat;
  auto dst = args.Need("the destination SIR address (SIR/128)");
  if (!dst.ok()) return dst.status();
  if (*dst == "to") {
    dst = args.Need("the destination SIR address (SIR/128)");
    if (!dst.ok()) return dst.status();
  }
  if (*dst == "default") {
    return args.Error(
        "\"default\" has no equivalent in libila: a mapping translates one SIR address (a /128)");
  }
  if (auto why = NoEquivalent(*dst)) return args.Error(*why);
  std::string addr = *dst;
  if (size_t slash = dst->find('/'); slash != std::string::npos) {
    addr = dst->substr(0, slash);
    std::string len = dst->substr(slash + 1);
    auto n = ParseUnsigned(len, 128);
    if (!n) {
      return args.Error(Cat("invalid prefix length in \"", *dst, "\"; expected /128"));
    }
    if (*n != 128) {
      return args.Error(
          Cat("\"", *dst,
              "\": prefixes shorter than /128 have no equivalent in libila, whose "
              "mappings translate one SIR address each; add one route per address (SIR/128)"));
    }
  }
  auto sir = ila::SirAddress::Parse(addr);
  if (!sir.ok()) return args.Invalid(sir.status());
  r.mapping.sir = *sir;

  bool have_csum = false, have_type = false;
  enum { kEncap, kCsum, kType };
  while (!args.done()) {
    std::string word = args.take();
    if (auto why = NoEquivalent(word)) return args.Error(*why);
    auto k = MatchKeyword(word, {{"encap", kEncap}, {"csum-mode", kCsum}, {"ident-type", kType}},
                          "keyword");
    if (!k.ok()) {
      return args.Error(Cat("\"", word,
                            "\" has no equivalent in a libila mapping (a SIR address, a locator, "
                            "csum-mode and ident-type); expected encap ila LOCATOR [csum-mode "
                            "CSUM] [ident-type TYPE]"));
    }
    if (*k == kEncap) {
      if (r.have_encap) return args.Duplicate("encap");
      auto type = args.Need("the encapsulation type (ila)");
      if (!type.ok()) return type.status();
      if (*type != "ila") {
        return args.Error(
            Cat("\"encap ", *type, "\" has no equivalent in libila; expected encap ila LOCATOR"));
      }
      auto loc =
          ParseWord<ila::Locator>(args, "a locator after \"encap ila\"", &ila::Locator::Parse);
      if (!loc.ok()) return loc.status();
      r.mapping.locator = *loc;
      r.have_encap = true;
    } else if (*k == kCsum) {
      if (have_csum) return args.Duplicate("csum-mode");
      auto c = ParseCsum(args);
      if (!c.ok()) return c.status();
      r.mapping.csum_mode = *c;
      have_csum = true;
    } else {
      if (have_type) return args.Duplicate("ident-type");
      auto t = ParseIdentType(args);
      if (!t.ok()) return t.status();
      r.mapping.ident_type = *t;
      have_type = true;
    }
  }
  if ((have_csum || have_type) && !r.have_encap) {
    return args.Error("csum-mode and ident-type belong to \"encap ila LOCATOR\", which is missing");
  }
  if (adding) {
    if (!r.have_encap) return args.Error("missing \"encap ila LOCATOR\"");
    if (absl::Status st = ila::ValidateMapping(r.mapping); !st.ok()) return args.Invalid(st);
  }
  return r;
}

}  // namespace

absl::Status CmdRoute(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "route", false);
  if (!verb.ok()) return verb.status();
  switch (*verb) {
    case kAdd: {
      args.set_command("route add",
                       "route add SIR[/128] encap ila LOCATOR [csum-mode CSUM] [ident-type TYPE]");
      auto r = ParseRoute(args, true);
      if (!r.ok()) return r.status();
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      // The kernel has no SIR prefix table: register the prefix, and take it back on failure.
      bool added = false;
      if (absl::Status st = EnsurePrefix(**dp, r->mapping.sir.prefix, &added); !st.ok()) {
        return WithCommand(st, "route add");
      }
      // ip route add refuses an existing route; so does this (the same semantics).
      absl::Status st = (*dp)->mappings().Add(r->mapping);
      if (!st.ok() && added) (void)(*dp)->sir_prefixes().Remove(r->mapping.sir.prefix);
      return WithCommand(st, "route add");
    }
    case kDel: {
      args.set_command("route del", "route del SIR[/128] [encap ila LOCATOR ...]");
      auto r = ParseRoute(args, false);
      if (!r.ok()) return r.status();
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      auto current = (*dp)->mappings().Get(r->mapping.sir);
      if (!current.ok()) return WithCommand(current.status(), "route del");
      if (r->have_encap && current->locator != r->mapping.locator) {
        return absl::NotFoundError(Cat("route del: ", r->mapping.sir.ToString(),
                                       " maps to locator ", current->locator.ToString(), ", not ",
                                       r->mapping.locator.ToString(), "; nothing removed"));
      }
      return WithCommand((*dp)->mappings().Remove(r->mapping.sir), "route del");
    }
    default: {
      args.set_command("route show", "route show");
      if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      auto all = (*dp)->mappings().List();
      if (!all.ok()) return all.status();
      PrintRoutes(ctx, *all);
      return absl::OkStatus();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ila: `ip ila {add|del} loc_match LOCATOR loc SIRPREFIX [csum-mode M] [ident-type T] [dev DEV]`

absl::Status CmdIla(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "ila", false);
  if (!verb.ok()) return verb.status();
  if (*verb == kShow) {
    args.set_command("ila list", "ila list");
    if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
    auto dp = ctx.Open();
    if (!dp.ok()) return dp.status();
    auto all = (*dp)->locators().List();
    if (!all.ok()) return all.status();
    PrintLocators(ctx, *all, true);
    return absl::OkStatus();
  }
  bool adding = *verb == kAdd;
  if (adding) {
    args.set_command("ila add",
                     "ila add loc_match LOCATOR loc SIRPREFIX [csum-mode CSUM] [ident-type TYPE] "
                     "[dev DEV]");
  } else {
    args.set_command("ila del", "ila del loc_match LOCATOR [loc SIRPREFIX] [dev DEV]");
  }
  std::optional<ila::Locator> loc_match;
  std::optional<ila::SirPrefix> loc;
  std::optional<ChecksumMode> csum;
  bool have_type = false, have_dev = false;
  enum { kLocMatch, kLoc, kCsum, kType, kDev };
  while (!args.done()) {
    std::string word = args.take();
    if (word == "hook-type") return args.Error(*NoEquivalent(word));
    auto k = adding ? MatchKeyword(word,
                                   {{"loc_match", kLocMatch},
                                    {"loc", kLoc},
                                    {"csum-mode", kCsum},
                                    {"ident-type", kType},
                                    {"dev", kDev}},
                                   "keyword")
                    : MatchKeyword(word, {{"loc_match", kLocMatch}, {"loc", kLoc}, {"dev", kDev}},
                                   "keyword");
    if (!k.ok()) {
      return args.Unexpected(
          word, adding ? "loc_match, loc, csum-mode, ident-type or dev" : "loc_match, loc or dev");
    }
    switch (*k) {
      case kLocMatch: {
        if (loc_match) return args.Duplicate("loc_match");
        auto l = ParseWord<ila::Locator>(args, "the locator to match", &ila::Locator::Parse);
        if (!l.ok()) return l.status();
        loc_match = *l;
        break;
      }
      case kLoc: {
        if (loc) return args.Duplicate("loc");
        auto p = ParseWord<ila::SirPrefix>(args, "the SIR prefix (loc)", &ila::SirPrefix::Parse);
        if (!p.ok()) return p.status();
        loc = *p;
        break;
      }
      case kCsum: {
        if (csum) return args.Duplicate("csum-mode");
        auto c = ParseCsum(args);
        if (!c.ok()) return c.status();
        csum = *c;
        break;
      }
      case kType: {
        if (have_type) return args.Duplicate("ident-type");
        auto t = ParseIdentType(args);
        if (!t.ok()) return t.status();
        // Linux's translation back to SIR ignores the identifier type, and so does libila's
        // locator table; only the types a mapping can carry are accepted.
        if (*t != IdentifierType::kLuid && *t != IdentifierType::kUseFormat) {
          return args.Error(Cat("ident-type ", ila::ToString(*t),
                                ": only luid identifiers are translated; expected luid or "
                                "use-format"));
        }
        have_type = true;
        break;
      }
      default: {
        if (have_dev) return args.Duplicate("dev");
        auto name = args.Need("an interface name");
        if (!name.ok()) return name.status();
        auto idx = InterfaceIndex(args, *name);
        if (!idx.ok()) return idx.status();
        have_dev = true;
        break;
      }
    }
  }
  if (!loc_match) return args.Error("missing \"loc_match LOCATOR\" (this host's locator)");
  if (adding && !loc)
    return args.Error("missing \"loc SIRPREFIX\" (the SIR prefix to translate back to)");
  if (loc_match->value() == 0) return args.Error("\"0:0:0:0\" cannot be a host's locator");

  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  if (adding) {
    LocatorEntry e{*loc_match, *loc, csum.value_or(ChecksumMode::kNoAction)};
    bool added = false;
    if (absl::Status st = EnsurePrefix(**dp, e.sir_prefix, &added); !st.ok()) {
      return WithCommand(st, "ila add");
    }
    // ip ila add refuses a duplicate; so does this.
    absl::Status st = (*dp)->locators().Add(e);
    if (!st.ok() && added) (void)(*dp)->sir_prefixes().Remove(e.sir_prefix);
    return WithCommand(st, "ila add");
  }
  auto current = (*dp)->locators().Get(*loc_match);
  if (!current.ok()) return WithCommand(current.status(), "ila del");
  if (loc && current->sir_prefix != *loc) {
    return absl::NotFoundError(Cat("ila del: locator ", loc_match->ToString(), " translates to ",
                                   ila::Locator(current->sir_prefix.value()).ToString(), ", not ",
                                   ila::Locator(loc->value()).ToString(), "; nothing removed"));
  }
  return WithCommand((*dp)->locators().Remove(*loc_match), "ila del");
}

}  // namespace ilactl
