// ilactl ila: the kernel's `ip ila` grammar, mapped onto locators.
#include <algorithm>
#include <functional>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {
namespace {

// The words of an `ila add` or `ila del` command, checked.
struct IlaWords {
  bool adding = false;
  std::optional<ila::Locator> loc_match;
  std::optional<ila::SirPrefix> loc;
  std::optional<ChecksumMode> csum;
  bool have_type = false;
  bool have_dev = false;
};

// "ila list": every locator, in `ip ila list`'s form.
absl::Status ListIla(Context& ctx, Args& args) {
  args.set_command("ila list", "ila list");
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  auto all = (*dp)->locators().List();
  if (!all.ok()) return all.status();
  PrintLocators(ctx, *all, true);
  return absl::OkStatus();
}

// "ident-type TYPE": checked only, since nothing of libila's locator table depends on it.
absl::Status ParseIlaIdentType(Args& args) {
  auto t = ParseIdentType(args);
  if (!t.ok()) return t.status();
  // Linux's translation back to SIR ignores the identifier type, and so does libila's
  // locator table; only the types a mapping can carry are accepted.
  if (*t != IdentifierType::kLuid && *t != IdentifierType::kUseFormat) {
    return args.Error(Cat("ident-type ", ila::ToString(*t),
                          ": only luid identifiers are translated; expected luid or "
                          "use-format"));
  }
  return absl::OkStatus();
}

// "dev DEV": checked to name an interface, then unused (locators are not per interface).
absl::Status ParseIlaDev(Args& args) {
  auto name = args.Need("an interface name");
  if (!name.ok()) return name.status();
  auto idx = IndexOfInterface(args, *name);
  if (!idx.ok()) return idx.status();
  return absl::OkStatus();
}

// One keyword of an `ila add` or `ila del` command and its value, into `w`.
absl::Status ParseIlaWord(Args& args, const std::string& word, IlaWords& w) {
  enum { kLocMatch, kLoc, kCsum, kType, kDev };
  if (word == "hook-type") return args.Error(*NoEquivalent(word));
  auto k = w.adding ? MatchKeyword(word,
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
        word, w.adding ? "loc_match, loc, csum-mode, ident-type or dev" : "loc_match, loc or dev");
  }
  switch (*k) {
    case kLocMatch: {
      if (w.loc_match) return args.Duplicate("loc_match");
      auto l = ParseWord<ila::Locator>(args, "the locator to match", &ila::Locator::Parse);
      if (!l.ok()) return l.status();
      w.loc_match = *l;
      break;
    }
    case kLoc: {
      if (w.loc) return args.Duplicate("loc");
      auto p = ParseWord<ila::SirPrefix>(args, "the SIR prefix (loc)", &ila::SirPrefix::Parse);
      if (!p.ok()) return p.status();
      w.loc = *p;
      break;
    }
    case kCsum: {
      if (w.csum) return args.Duplicate("csum-mode");
      auto c = ParseCsum(args);
      if (!c.ok()) return c.status();
      w.csum = *c;
      break;
    }
    case kType: {
      if (w.have_type) return args.Duplicate("ident-type");
      if (absl::Status st = ParseIlaIdentType(args); !st.ok()) return st;
      w.have_type = true;
      break;
    }
    default: {
      if (w.have_dev) return args.Duplicate("dev");
      if (absl::Status st = ParseIlaDev(args); !st.ok()) return st;
      w.have_dev = true;
      break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<IlaWords> ParseIla(Args& args, bool adding) {
  IlaWords w;
  w.adding = adding;
  while (!args.done()) {
    if (absl::Status st = ParseIlaWord(args, args.take(), w); !st.ok()) return st;
  }
  if (!w.loc_match) return args.Error("missing \"loc_match LOCATOR\" (this host's locator)");
  if (adding && !w.loc)
    return args.Error("missing \"loc SIRPREFIX\" (the SIR prefix to translate back to)");
  if (w.loc_match->value() == 0) return args.Error("\"0:0:0:0\" cannot be a host's locator");
  return w;
}

absl::Status AddIla(ila::Dataplane& dp, const IlaWords& w) {
  LocatorEntry e{*w.loc_match, *w.loc, w.csum.value_or(ChecksumMode::kNoAction)};
  bool added = false;
  if (absl::Status st = EnsurePrefix(dp, e.sir_prefix, &added); !st.ok()) {
    return WithCommand(st, "ila add");
  }
  // ip ila add refuses a duplicate; so does this.
  absl::Status st = dp.locators().Add(e);
  if (!st.ok() && added) (void)dp.sir_prefixes().Remove(e.sir_prefix);
  return WithCommand(st, "ila add");
}

absl::Status DeleteIla(ila::Dataplane& dp, const IlaWords& w) {
  auto current = dp.locators().Get(*w.loc_match);
  if (!current.ok()) return WithCommand(current.status(), "ila del");
  if (w.loc && current->sir_prefix != *w.loc) {
    return absl::NotFoundError(Cat("ila del: locator ", w.loc_match->ToString(), " translates to ",
                                   ila::Locator(current->sir_prefix.value()).ToString(), ", not ",
                                   ila::Locator(w.loc->value()).ToString(), "; nothing removed"));
  }
  return WithCommand(dp.locators().Remove(*w.loc_match), "ila del");
}

}  // namespace

absl::Status CmdIla(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "ila", false);
  if (!verb.ok()) return verb.status();
  if (*verb == kShow) return ListIla(ctx, args);
  bool adding = *verb == kAdd;
  if (adding) {
    args.set_command("ila add",
                     "ila add loc_match LOCATOR loc SIRPREFIX [csum-mode CSUM] [ident-type TYPE] "
                     "[dev DEV]");
  } else {
    args.set_command("ila del", "ila del loc_match LOCATOR [loc SIRPREFIX] [dev DEV]");
  }
  auto words = ParseIla(args, adding);
  if (!words.ok()) return words.status();
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  return adding ? AddIla(**dp, *words) : DeleteIla(**dp, *words);
}

}  // namespace ilactl
