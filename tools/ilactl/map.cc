// ilactl map: identifier -> locator mappings.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {

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

}  // namespace ilactl
