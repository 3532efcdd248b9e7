// ilactl status and stats.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "instance_common.h"

namespace ilactl {

absl::Status CmdStatus(Context& ctx, Args& args) {
  args.set_command("status", "status");
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  return PrintStatus(ctx, **dp);
}

absl::Status CmdStats(Context& ctx, Args& args) {
  args.set_command("stats", "stats [--prometheus]");
  bool prometheus = false;
  while (!args.done()) {
    std::string word = args.take();
    std::string_view w = word;
    while (!w.empty() && w.front() == '-') w.remove_prefix(1);
    if (word.size() - w.size() > 2 || !MatchKeyword(w, {{"prometheus", 0}}, "stats option").ok()) {
      return args.Unexpected(word, "--prometheus or nothing");
    }
    if (prometheus) return args.Duplicate("--prometheus");
    prometheus = true;
  }
  if (prometheus && ctx.options.json) {
    return args.Error("-j and --prometheus are two different output formats; choose one");
  }
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  auto stats = (*dp)->ReadStats();
  if (!stats.ok()) return stats.status();
  if (prometheus) {
    ctx.out += stats->ToPrometheus();
  } else if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    StatsJson(j, *stats);
    ctx.out += j.Finish();
  } else {
    ctx.out += StatsText(*stats, ctx.options.details);
  }
  return absl::OkStatus();
}

}  // namespace ilactl
