// ilactl's instance objects: create, destroy, status, stats, upgrade, attach, detach.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ilactl.h"

namespace ilactl {
namespace {

std::string_view PolicyName(ila::MissPolicy p) {
  return p == ila::MissPolicy::kDrop ? "drop" : "pass-to-router";
}
std::string_view PolicyName(ila::MovedPolicy p) {
  return p == ila::MovedPolicy::kDrop ? "drop" : "forward";
}

std::string_view KindName(ila::CounterKind k) {
  switch (k) {
    case ila::CounterKind::kForwarded:
      return "forwarded";
    case ila::CounterKind::kPassed:
      return "passed";
    case ila::CounterKind::kDropped:
      return "dropped";
    case ila::CounterKind::kObservation:
      return "observed";
  }
  return "";
}

// "DURATION := N[ns|us|ms|s]", a bare number being milliseconds.
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view unit = text.substr(digits);
  int64_t scale;
  if (unit.empty() || unit == "ms")
    scale = 1000000;
  else if (unit == "s")
    scale = 1000000000;
  else if (unit == "us")
    scale = 1000;
  else if (unit == "ns")
    scale = 1;
  else
    return std::nullopt;
  auto n = ParseUnsigned(text.substr(0, digits), static_cast<uint64_t>(INT64_MAX / scale));
  if (!n) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(*n) * scale);
}

// Library notes may span lines (libxdp's log); text output keeps one line per item.
std::string OneLine(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  for (size_t i = s.find('\n'); i != std::string::npos; i = s.find('\n', i)) s.replace(i, 1, "; ");
  return s;
}

std::vector<ila::Attachment> SortedAttachments(const ila::Dataplane& dp) {
  std::vector<ila::Attachment> list = dp.attachments();
  std::sort(list.begin(), list.end(), [](const ila::Attachment& a, const ila::Attachment& b) {
    return a.ifindex < b.ifindex;
  });
  return list;
}

std::string DevName(const ila::Attachment& a) {
  std::string name = InterfaceName(a.ifindex);
  return name.empty() ? a.interface : name;
}

void AttachmentJson(JsonWriter& j, const ila::Attachment& a) {
  j.BeginObject();
  j.Field("dev", DevName(a));
  j.FieldInt("ifindex", a.ifindex);
  j.Field("role", ila::ToString(a.role));
  j.Field("mode", ila::ToString(a.mode));
  if (!a.mode_reason.empty()) j.Field("mode_reason", a.mode_reason);
  j.Field("multiprog", a.multiprog);
  if (!a.libxdp_note.empty()) j.Field("libxdp_note", a.libxdp_note);
  j.FieldUint("prog_id", a.program_id);
  j.Field("peer_napi", a.peer_napi_attached);
  j.Key("steer_cpus");
  j.BeginArray();
  for (int cpu : a.steer_cpus) j.Int(cpu);
  j.EndArray();
  j.EndObject();
}

std::string AttachmentLine(const ila::Attachment& a) {
  std::string line = Cat(DevName(a), " ifindex ", a.ifindex, " ", ila::ToString(a.role), " mode ",
                         ila::ToString(a.mode), " multiprog ", a.multiprog ? "on" : "off",
                         " prog-id ", a.program_id);
  if (a.peer_napi_attached) line += " peer-napi on";
  if (!a.steer_cpus.empty()) Append(&line, " steer ", absl::StrJoin(a.steer_cpus, ","));
  return line;
}

void StatsJson(JsonWriter& j, const ila::Stats& s) {
  j.BeginObject();
  for (const ila::Counter& c : s.counters) {
    j.Key(c.name);
    j.BeginObject();
    j.Field("kind", KindName(c.kind));
    j.FieldUint("packets", c.packets);
    j.FieldUint("bytes", c.bytes);
    j.EndObject();
  }
  j.EndObject();
}

std::string StatsText(const ila::Stats& s, bool details) {
  if (!details) return s.ToText();
  std::string out;
  for (const ila::Counter& c : s.counters) {
    Append(&out, "  ", c.name, " ", c.packets, " pkts ", c.bytes, " bytes (", KindName(c.kind),
           "): ", c.help, "\n");
  }
  return out;
}

absl::Status PrintStatus(Context& ctx, ila::Dataplane& dp) {
  const ila::DataplaneConfig& c = dp.config();
  std::string dir = dp.pin_directory().value_or("");
  auto mappings = dp.mappings().List();
  if (!mappings.ok()) return mappings.status();
  auto locators = dp.locators().List();
  if (!locators.ok()) return locators.status();
  auto endpoints = dp.endpoints().List();
  if (!endpoints.ok()) return endpoints.status();
  auto prefixes = dp.sir_prefixes().List();
  if (!prefixes.ok()) return prefixes.status();
  std::optional<ila::Stats> stats;
  if (ctx.options.stats) {
    auto s = dp.ReadStats();
    if (!s.ok()) return s.status();
    stats = *s;
  }
  std::vector<ila::Attachment> attachments = SortedAttachments(dp);
  const ila::NexthopCacheState nexthops = dp.nexthop_cache();

  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginObject();
    j.Field("instance", dir);
    j.Key("config");
    j.BeginObject();
    j.Field("miss_policy", PolicyName(c.miss_policy));
    j.Field("moved_policy", PolicyName(c.moved_policy));
    j.FieldUint("miss_event_interval_ns", static_cast<uint64_t>(c.miss_event_interval.count()));
    j.FieldUint("max_mappings", c.max_mappings);
    j.FieldUint("max_endpoints", c.max_endpoints);
    j.FieldUint("max_locators", c.max_locators);
    j.FieldUint("max_sir_prefixes", c.max_sir_prefixes);
    j.Field("forwarding_cache", c.forwarding_cache);
    j.Field("nexthop_cache", c.nexthop_cache);
    j.EndObject();
    j.Key("nexthop_cache");
    j.BeginObject();
    j.Field("enabled", nexthops.enabled);
    if (!nexthops.enabled) j.Field("reason", nexthops.reason);
    j.EndObject();
    j.Key("tables");
    j.BeginObject();
    j.FieldUint("mappings", mappings->size());
    j.FieldUint("locators", locators->size());
    j.FieldUint("endpoints", endpoints->size());
    j.FieldUint("sir_prefixes", prefixes->size());
    j.EndObject();
    j.Key("attachments");
    j.BeginArray();
    for (const ila::Attachment& a : attachments) AttachmentJson(j, a);
    j.EndArray();
    if (stats) {
      j.Key("stats");
      StatsJson(j, *stats);
    }
    j.EndObject();
    ctx.out += j.Finish();
    return absl::OkStatus();
  }
  Append(&ctx.out, "instance ", dir, "\n");
  Append(&ctx.out, "  miss-policy ", PolicyName(c.miss_policy), " moved-policy ",
         PolicyName(c.moved_policy), " miss-event-interval ", FormatDuration(c.miss_event_interval),
         "\n");
  Append(&ctx.out, "  max-mappings ", c.max_mappings, " max-endpoints ", c.max_endpoints,
         " max-locators ", c.max_locators, " max-sir-prefixes ", c.max_sir_prefixes,
         c.forwarding_cache ? " forwarding-cache" : "", "\n");
  Append(&ctx.out, "  mappings ", mappings->size(), " locators ", locators->size(), " endpoints ",
         endpoints->size(), " sir-prefixes ", prefixes->size(), "\n");
  Append(&ctx.out, "  nexthop-cache ", nexthops.enabled ? "on" : "off",
         nexthops.enabled ? "" : Cat(" (", nexthops.reason, ")"), "\n");
  ctx.out += "attachments\n";
  if (attachments.empty()) ctx.out += "  (none)\n";
  for (const ila::Attachment& a : attachments) {
    Append(&ctx.out, "  ", AttachmentLine(a), "\n");
    if (ctx.options.details) {
      if (!a.mode_reason.empty()) Append(&ctx.out, "    mode: ", OneLine(a.mode_reason), "\n");
      if (!a.multiprog) {
        Append(&ctx.out, "    libxdp: ",
               a.libxdp_note.empty() ? "one program on the interface (no libxdp dispatcher)"
                                     : OneLine(a.libxdp_note),
               "\n");
      }
    }
  }
  if (stats) {
    ctx.out += "stats\n";
    ctx.out += StatsText(*stats, ctx.options.details);
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

absl::Status CmdCreate(Context& ctx, Args& args) {
  args.set_command("create",
                   "create [miss-policy {pass-to-router|drop}] [moved-policy {forward|drop}] "
                   "[max-mappings N] [max-endpoints N] [max-locators N] [max-sir-prefixes N] "
                   "[miss-event-interval DURATION] [forwarding-cache] [no-nexthop-cache]");
  ila::DataplaneConfig config;
  enum {
    kMiss,
    kMoved,
    kMaxMappings,
    kMaxEndpoints,
    kMaxLocators,
    kMaxPrefixes,
    kInterval,
    kCache,
    kNoNexthopCache
  };
  std::vector<int> seen;
  while (!args.done()) {
    std::string word = args.take();
    auto k = MatchKeyword(word,
                          {{"miss-policy", kMiss},
                           {"moved-policy", kMoved},
                           {"max-mappings", kMaxMappings},
                           {"max-endpoints", kMaxEndpoints},
                           {"max-locators", kMaxLocators},
                           {"max-sir-prefixes", kMaxPrefixes},
                           {"miss-event-interval", kInterval},
                           {"forwarding-cache", kCache},
                           {"no-nexthop-cache", kNoNexthopCache}},
                          "keyword");
    if (!k.ok()) return args.Invalid(k.status());
    if (std::find(seen.begin(), seen.end(), *k) != seen.end()) return args.Duplicate(word);
    seen.push_back(*k);
    switch (*k) {
      case kMiss: {
        auto v = args.NeedKeyword({{"pass-to-router", 0}, {"drop", 1}}, "miss-policy");
        if (!v.ok()) return v.status();
        config.miss_policy = *v == 1 ? ila::MissPolicy::kDrop : ila::MissPolicy::kPassToRouter;
        break;
      }
      case kMoved: {
        auto v = args.NeedKeyword({{"forward", 0}, {"drop", 1}}, "moved-policy");
        if (!v.ok()) return v.status();
        config.moved_policy = *v == 1 ? ila::MovedPolicy::kDrop : ila::MovedPolicy::kForward;
        break;
      }
      case kCache:
        config.forwarding_cache = true;
        break;
      case kNoNexthopCache:
        config.nexthop_cache = false;
        break;
      case kInterval: {
        auto v = args.Need("a duration");
        if (!v.ok()) return v.status();
        auto d = ParseDuration(*v);
        if (!d) {
          return args.Error(
              Cat("invalid duration \"", *v, "\"; expected N[ns|us|ms|s] such as 500ms"));
        }
        config.miss_event_interval = *d;
        break;
      }
      default: {
        auto v = args.Need("a table size");
        if (!v.ok()) return v.status();
        auto n = ParseUnsigned(*v, UINT32_MAX);
        if (!n || *n == 0) {
          return args.Error(Cat("invalid table size \"", *v, "\" for ", word,
                                "; expected a whole number from 1 to ", UINT32_MAX));
        }
        uint32_t size = static_cast<uint32_t>(*n);
        if (*k == kMaxMappings)
          config.max_mappings = size;
        else if (*k == kMaxEndpoints)
          config.max_endpoints = size;
        else if (*k == kMaxLocators)
          config.max_locators = size;
        else
          config.max_sir_prefixes = size;
      }
    }
  }
  config.pinning = ctx.where();
  auto dp = ila::Dataplane::Create(config);
  if (!dp.ok()) {
    if (absl::IsAlreadyExists(dp.status())) {
      auto dir = ctx.where().Directory();
      return absl::AlreadyExistsError(
          Cat("create: an ILA instance is already pinned at ", dir.ok() ? *dir : ctx.options.root,
              "; use it as it is, or remove it with \"ilactl destroy\" first"));
    }
    return absl::Status(dp.status().code(), Cat("create: ", dp.status().message()));
  }
  return PrintStatus(ctx, **dp);
}

absl::Status CmdDestroy(Context& ctx, Args& args) {
  args.set_command("destroy", "destroy");
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  absl::Status st = (*dp)->Destroy();
  if (!st.ok()) return absl::Status(st.code(), Cat("destroy: ", st.message()));
  return absl::OkStatus();
}

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

absl::Status CmdUpgrade(Context& ctx, Args& args) {
  args.set_command("upgrade", "upgrade");
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  std::vector<ila::Attachment> before = SortedAttachments(**dp);
  if (absl::Status st = (*dp)->Upgrade(); !st.ok()) {
    return absl::Status(st.code(), Cat("upgrade: ", st.message()));
  }
  std::vector<ila::Attachment> after = SortedAttachments(**dp);
  auto old_id = [&](int ifindex) -> uint32_t {
    for (const ila::Attachment& a : before)
      if (a.ifindex == ifindex) return a.program_id;
    return 0;
  };
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    j.BeginArray();
    for (const ila::Attachment& a : after) {
      j.BeginObject();
      j.Field("dev", DevName(a));
      j.FieldInt("ifindex", a.ifindex);
      j.Field("role", ila::ToString(a.role));
      j.FieldUint("old_prog_id", old_id(a.ifindex));
      j.FieldUint("prog_id", a.program_id);
      j.EndObject();
    }
    j.EndArray();
    ctx.out += j.Finish();
    return absl::OkStatus();
  }
  if (after.empty()) ctx.out += "no attachments; the new programs are pinned for the next attach\n";
  for (const ila::Attachment& a : after) {
    Append(&ctx.out, DevName(a), " ", ila::ToString(a.role), " prog-id ", old_id(a.ifindex), " -> ",
           a.program_id, "\n");
  }
  return absl::OkStatus();
}

absl::Status CmdAttach(Context& ctx, Args& args) {
  args.set_command("attach",
                   "attach {container DEV sir SIR mac MAC | uplink DEV [steer CPU[,CPU...]] | "
                   "router DEV} [mode MODE]");
  enum { kContainer, kUplink, kRouter };
  auto role = args.NeedKeyword(
      {{"container", kContainer}, {"uplink", kUplink}, {"router", kRouter}}, "role");
  if (!role.ok()) return role.status();
  auto dev = args.Need("an interface name");
  if (!dev.ok()) return dev.status();
  auto ifindex = InterfaceIndex(args, *dev);
  if (!ifindex.ok()) return ifindex.status();

  std::optional<ila::SirAddress> sir;
  std::optional<ila::MacAddress> mac;
  std::optional<ila::AttachMode> mode;
  std::optional<std::vector<int>> steer;
  enum { kSir, kMac, kMode, kSteer };
  while (!args.done()) {
    std::string word = args.take();
    auto k = MatchKeyword(word, {{"sir", kSir}, {"mac", kMac}, {"mode", kMode}, {"steer", kSteer}},
                          "keyword");
    if (!k.ok()) {
      return args.Unexpected(word, *role == kContainer ? "sir SIR, mac MAC or mode MODE"
                                   : *role == kUplink  ? "mode MODE or steer CPU[,CPU...]"
                                                       : "mode MODE");
    }
    if ((*k == kSir || *k == kMac) && *role != kContainer) {
      return args.Error(Cat("\"", word, "\" is only for container attachments"));
    }
    if (*k == kSteer && *role != kUplink) {
      return args.Error("\"steer\" (cpumap steering) is only for uplink attachments");
    }
    switch (*k) {
      case kSir: {
        if (sir) return args.Duplicate("sir");
        auto w = args.Need("a SIR address");
        if (!w.ok()) return w.status();
        auto v = ila::SirAddress::Parse(*w);
        if (!v.ok()) return args.Invalid(v.status());
        sir = *v;
        break;
      }
      case kMac: {
        if (mac) return args.Duplicate("mac");
        auto w = args.Need("a MAC address");
        if (!w.ok()) return w.status();
        auto v = ila::MacAddress::Parse(*w);
        if (!v.ok()) return args.Invalid(v.status());
        if (v->IsZero()) return args.Error("the container MAC cannot be 00:00:00:00:00:00");
        mac = *v;
        break;
      }
      case kMode: {
        if (mode) return args.Duplicate("mode");
        auto v = args.NeedKeyword({{"native", static_cast<int>(ila::AttachMode::kNative)},
                                   {"generic", static_cast<int>(ila::AttachMode::kGeneric)},
                                   {"auto", static_cast<int>(ila::AttachMode::kAuto)},
                                   {"tc", static_cast<int>(ila::AttachMode::kTc)}},
                                  "mode");
        if (!v.ok()) return v.status();
        mode = static_cast<ila::AttachMode>(*v);
        break;
      }
      default: {
        if (steer) return args.Duplicate("steer");
        auto w = args.Need("a list of CPUs such as 0,1");
        if (!w.ok()) return w.status();
        std::vector<int> cpus;
        for (absl::string_view part : absl::StrSplit(*w, ',')) {
          auto n = ParseUnsigned(std::string_view(part.data(), part.size()), 63);
          if (!n) {
            return args.Error(Cat("invalid CPU list \"", *w,
                                  "\"; expected CPU numbers from 0 to 63 separated by "
                                  "commas, such as 0,1"));
          }
          int cpu = static_cast<int>(*n);
          if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end()) {
            return args.Error(Cat("CPU ", cpu, " appears twice in \"", *w, "\""));
          }
          cpus.push_back(cpu);
        }
        steer = cpus;
      }
    }
  }
  if (*role == kContainer) {
    if (!sir) return args.Error("missing \"sir SIR\" (the container's SIR address)");
    if (!mac) return args.Error("missing \"mac MAC\" (the container's MAC address)");
  }

  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  absl::StatusOr<ila::Attachment> att;
  ila::AttachMode m = mode.value_or(ila::AttachMode::kAuto);
  if (*role == kContainer) {
    if (absl::Status st = RequirePrefix(**dp, sir->prefix, sir->ToString(), "attach"); !st.ok()) {
      return st;
    }
    att = (*dp)->AttachContainer({.interface = *dev, .sir = *sir, .mac = *mac, .mode = m});
  } else if (*role == kUplink) {
    att = (*dp)->AttachUplink(
        {.interface = *dev, .mode = m, .steer_cpus = steer.value_or(std::vector<int>{})});
  } else {
    att = (*dp)->AttachRouter({.interface = *dev, .mode = m, .steer_cpus = {}});
  }
  if (!att.ok()) {
    return absl::Status(att.status().code(), Cat("attach: ", att.status().message()));
  }
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    AttachmentJson(j, *att);
    ctx.out += j.Finish();
    return absl::OkStatus();
  }
  Append(&ctx.out, AttachmentLine(*att), "\n");
  if (!att->mode_reason.empty()) Append(&ctx.out, "  mode: ", OneLine(att->mode_reason), "\n");
  if (!att->multiprog && !att->libxdp_note.empty()) {
    Append(&ctx.out, "  libxdp: ", OneLine(att->libxdp_note), "\n");
  }
  return absl::OkStatus();
}

absl::Status CmdDetach(Context& ctx, Args& args) {
  args.set_command("detach", "detach {DEV | ifindex N}");
  auto dev = args.Need("an interface name");
  if (!dev.ok()) return dev.status();
  int ifindex;
  std::string label = *dev;
  if (*dev == "ifindex") {
    auto n = args.Need("an interface index");
    if (!n.ok()) return n.status();
    auto v = ParseUnsigned(*n, INT32_MAX);
    if (!v || *v == 0) return args.Error(Cat("invalid interface index \"", *n, "\""));
    ifindex = static_cast<int>(*v);
    label = Cat("ifindex ", ifindex);
  } else {
    auto idx = InterfaceIndex(args, *dev);
    if (!idx.ok()) return idx.status();
    ifindex = *idx;
  }
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  std::vector<std::string> attached;
  bool found = false;
  for (const ila::Attachment& a : SortedAttachments(**dp)) {
    attached.push_back(DevName(a));
    found = found || a.ifindex == ifindex;
  }
  if (!found) {
    return absl::NotFoundError(
        Cat("detach: ", label, " has no program of this instance (attached: ",
            attached.empty() ? std::string("none") : absl::StrJoin(attached, ", "), ")"));
  }
  absl::Status st = (*dp)->Detach(ifindex);
  if (!st.ok()) return absl::Status(st.code(), Cat("detach: ", st.message()));
  return absl::OkStatus();
}



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
    return absl::FailedPreconditionError(Cat(
        "the instance at ", (*dp)->pin_directory().value_or(""),
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
