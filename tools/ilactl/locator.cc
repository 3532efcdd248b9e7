// ilactl locator: this host's locators; ilactl cluster: the other hosts'.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {

// "LOCATOR sir PREFIX [csum-mode CSUM] [reforward LOCATOR]", the rest of `locator add` and `cluster add`; `whose`
// names the table in errors ("a host's", "a cluster").
absl::StatusOr<LocatorEntry> ParseLocatorEntry(Args& args, const std::string& whose) {
  auto loc = ParseWord<ila::Locator>(args, "a locator", &ila::Locator::Parse);
  if (!loc.ok()) return loc.status();
  LocatorEntry e{*loc, {}, ChecksumMode::kNoAction};
  bool have_sir = false, have_csum = false;
  enum { kSir, kCsum, kReforward };
  while (!args.done()) {
    std::string word = args.take();
    auto k = MatchKeyword(
        word,
        {{"sir", kSir}, {"sir-prefix", kSir}, {"csum-mode", kCsum}, {"reforward", kReforward}},
        "keyword");
    if (!k.ok()) return args.Unexpected(word, "sir PREFIX, csum-mode CSUM or reforward LOCATOR");
    if (*k == kReforward) {
      if (e.reforward) return args.Duplicate("reforward");
      auto r = ParseWord<ila::Locator>(args, "a re-forward locator", &ila::Locator::Parse);
      if (!r.ok()) return r.status();
      e.reforward = *r;
    } else if (*k == kSir) {
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
  if (e.locator.value() == 0) return args.Error(Cat("\"0:0:0:0\" cannot be ", whose, " locator"));
  return e;
}

absl::Status CmdLocator(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "locator", false);
  if (!verb.ok()) return verb.status();
  switch (*verb) {
    case kAdd: {
      args.set_command("locator add",
                       "locator add LOCATOR sir PREFIX [csum-mode CSUM] [reforward LOCATOR]");
      auto e = ParseLocatorEntry(args, "a host's");
      if (!e.ok()) return e.status();
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      if (absl::Status st = RequirePrefix(**dp, e->sir_prefix,
                                          Cat("locator ", e->locator.ToString()), "locator add");
          !st.ok()) {
        return st;
      }
      return WithCommand((*dp)->locators().Upsert(*e), "locator add");
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

// ilactl cluster: the other hosts' locators (ClusterLocatorTable).
absl::Status CmdCluster(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "cluster", false);
  if (!verb.ok()) return verb.status();
  switch (*verb) {
    case kAdd: {
      args.set_command("cluster add",
                       "cluster add LOCATOR sir PREFIX [csum-mode CSUM] [reforward LOCATOR]");
      auto e = ParseLocatorEntry(args, "a cluster");
      if (!e.ok()) return e.status();
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      return WithCommand((*dp)->cluster_locators().Upsert(*e), "cluster add");
    }
    case kDel:
      return DeleteOne<ila::Locator>(ctx, args, "cluster del", "cluster del LOCATOR", "a locator",
                                     &ila::Locator::Parse,
                                     [](ila::Dataplane& dp, const ila::Locator& l) {
                                       return dp.cluster_locators().Remove(l);
                                     });
    default: {
      args.set_command("cluster show", "cluster show");
      if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
      auto dp = ctx.Open();
      if (!dp.ok()) return dp.status();
      auto list = (*dp)->cluster_locators().List();
      if (!list.ok()) return list.status();
      PrintLocators(ctx, *list, false);
      return absl::OkStatus();
    }
  }
}

}  // namespace ilactl
