// ilactl prefix: the SIR prefixes this host translates, and the rules that let two of them reach
// each other (without one, a container's traffic stays within its own prefix).
#include <algorithm>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {
namespace {

void PrintRules(Context& ctx, const std::vector<ila::PrefixRule>& rules) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const ila::PrefixRule& r : rules) {
      j.BeginObject();
      j.Field("a", r.a.ToString());
      j.Field("b", r.b.ToString());
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return;
  }
  for (const ila::PrefixRule& r : rules)
    Append(&ctx.out, r.a.ToString(), " <-> ", r.b.ToString(), "\n");
}

// ilactl prefix rule {add|del} PREFIX PREFIX, ilactl prefix rule show.
absl::Status CmdPrefixRule(Context& ctx, Args& args) {
  auto verb = TakeVerb(args, "prefix rule", false);
  if (!verb.ok()) return verb.status();
  if (*verb == kShow) {
    args.set_command("prefix rule show", "prefix rule show");
    if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
    auto dp = ctx.Open();
    if (!dp.ok()) return dp.status();
    auto list = (*dp)->prefix_rules().List();
    if (!list.ok()) return list.status();
    PrintRules(ctx, *list);
    return absl::OkStatus();
  }
  std::string command = *verb == kAdd ? "prefix rule add" : "prefix rule del";
  args.set_command(command, Cat(command, " PREFIX PREFIX"));
  auto a = ParseWord<ila::SirPrefix>(args, "a SIR prefix", &ila::SirPrefix::Parse);
  if (!a.ok()) return a.status();
  auto b = ParseWord<ila::SirPrefix>(args, "a second SIR prefix", &ila::SirPrefix::Parse);
  if (!b.ok()) return b.status();
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  // `add` replaces an existing entry, as every table's add does.
  if (*verb == kAdd) return WithCommand((*dp)->prefix_rules().Upsert({*a, *b}), command);
  return WithCommand((*dp)->prefix_rules().Remove({*a, *b}), command);
}

}  // namespace

absl::Status CmdPrefix(Context& ctx, Args& args) {
  if (!args.done() && args.peek() == "rule") {
    (void)args.take();
    return CmdPrefixRule(ctx, args);
  }
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

}  // namespace ilactl
