// ilactl endpoint: local containers.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "table_common.h"

namespace ilactl {

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
          auto idx = IndexOfInterface(args, *name);
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
      return WithCommand((*dp)->endpoints().Add(ep), "endpoint add");
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

}  // namespace ilactl
