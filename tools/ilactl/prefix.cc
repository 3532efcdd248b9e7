// ilactl prefix: the SIR prefixes this host translates.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {

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

}  // namespace ilactl
