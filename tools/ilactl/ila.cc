// ilactl ila: the kernel's `ip ila` grammar, mapped onto locators.
#include <algorithm>
#include <functional>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {

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
