// ilactl route: the kernel's `ip -6 route ... encap ila` grammar, mapped onto mappings.
#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {
namespace {

struct RouteSpec {
  Mapping mapping;
  bool have_encap = false;
  bool have_csum = false;
  bool have_type = false;
};

// "[to] SIR[/128]": the destination, one SIR address (a mapping translates no wider prefix).
absl::StatusOr<ila::SirAddress> ParseRouteDestination(Args& args) {
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
  return *sir;
}

// "ila LOCATOR", after "encap".
absl::StatusOr<ila::Locator> ParseEncapIla(Args& args) {
  auto type = args.Need("the encapsulation type (ila)");
  if (!type.ok()) return type.status();
  if (*type != "ila") {
    return args.Error(
        Cat("\"encap ", *type, "\" has no equivalent in libila; expected encap ila LOCATOR"));
  }
  return ParseWord<ila::Locator>(args, "a locator after \"encap ila\"", &ila::Locator::Parse);
}

// One keyword after the destination and its value, into `r`.
absl::Status ParseRouteWord(Args& args, const std::string& word, RouteSpec& r) {
  enum { kEncap, kCsum, kType };
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
    auto loc = ParseEncapIla(args);
    if (!loc.ok()) return loc.status();
    r.mapping.locator = *loc;
    r.have_encap = true;
  } else if (*k == kCsum) {
    if (r.have_csum) return args.Duplicate("csum-mode");
    auto c = ParseCsum(args);
    if (!c.ok()) return c.status();
    r.mapping.csum_mode = *c;
    r.have_csum = true;
  } else {
    if (r.have_type) return args.Duplicate("ident-type");
    auto t = ParseIdentType(args);
    if (!t.ok()) return t.status();
    r.mapping.ident_type = *t;
    r.have_type = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<RouteSpec> ParseRoute(Args& args, bool adding) {
  RouteSpec r;
  // The kernel's defaults for an ILA route.
  r.mapping.csum_mode = ChecksumMode::kNoAction;
  r.mapping.ident_type = IdentifierType::kUseFormat;
  auto sir = ParseRouteDestination(args);
  if (!sir.ok()) return sir.status();
  r.mapping.sir = *sir;
  while (!args.done()) {
    if (absl::Status st = ParseRouteWord(args, args.take(), r); !st.ok()) return st;
  }
  if ((r.have_csum || r.have_type) && !r.have_encap) {
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

}  // namespace ilactl
