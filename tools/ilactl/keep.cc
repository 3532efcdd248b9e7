// ilactl keep: holds the next-hop cache until stopped.
#include <algorithm>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "instance_common.h"

namespace ilactl {

absl::Status CmdKeep(Context& ctx, Args& args) {
  args.set_command("keep", "keep");
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  // Blocked before the keeper thread exists, so that it inherits the mask and the signals wait
  // for sigtimedwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto dp = ila::Dataplane::Open(ctx.where(), {.keep_nexthop_cache = true});
  if (!dp.ok()) return dp.status();
  const ila::NexthopCacheState first = (*dp)->nexthop_cache();
  if (!first.kept) {
    return absl::FailedPreconditionError(
        Cat("the instance at ", (*dp)->pin_directory().value_or(""),
            " was created with the next-hop cache off; there is nothing to keep"));
  }
  auto report = [&](const ila::NexthopCacheState& s) {
    std::string line;
    if (ctx.options.json) {
      JsonWriter j = ctx.Json();
      j.BeginObject();
      j.Field("enabled", s.enabled);
      if (!s.enabled) j.Field("reason", s.reason);
      j.FieldUint("invalidations", s.invalidations);
      j.EndObject();
      line = j.Finish();
    } else {
      line = Cat("nexthop-cache ", s.enabled ? "on" : Cat("off (", s.reason, ")"), "\n");
    }
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
  };
  report(first);
  ila::NexthopCacheState last = first;
  for (;;) {
    timespec tick{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&stop, nullptr, &tick);
    if (sig > 0) break;
    ila::NexthopCacheState now = (*dp)->nexthop_cache();
    if (now.enabled != last.enabled || now.reason != last.reason) report(now);
    last = now;
  }
  return absl::OkStatus();  // the keeper switches the cache off as the Dataplane goes
}

}  // namespace ilactl
