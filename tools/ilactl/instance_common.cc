// Shared helpers of ilactl's instance objects (instance_common.h).
#include "instance_common.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_join.h"

namespace ilactl {

std::string_view PolicyName(ila::MissPolicy p) {
  return p == ila::MissPolicy::kDrop ? "drop" : "pass-to-router";
}
std::string_view PolicyName(ila::MovedPolicy p) {
  return p == ila::MovedPolicy::kDrop ? "drop" : "forward";
}

std::string_view KindName(ila::CounterKind k) {
  switch (k) {
    case ila::CounterKind::kForwarded: return "forwarded";
    case ila::CounterKind::kPassed: return "passed";
    case ila::CounterKind::kDropped: return "dropped";
    case ila::CounterKind::kObservation: return "observed";
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
  j.FieldInt("ifindex", a.ifindex.value());
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

namespace {

// What status prints, read before anything is printed.
struct StatusView {
  ila::DataplaneConfig config;
  std::string dir;
  size_t mappings = 0;
  size_t locators = 0;
  size_t endpoints = 0;
  size_t prefixes = 0;
  std::optional<ila::Stats> stats;  // with -s
  std::vector<ila::Attachment> attachments;
  ila::NexthopCacheState nexthops;
};

// Reads the tables' sizes, the stats when asked for, the attachments and the next-hop cache.
absl::StatusOr<StatusView> ReadStatus(const Context& ctx, ila::Dataplane& dp) {
  StatusView v;
  v.config = dp.config();
  v.dir = dp.pin_directory().value_or("");
  auto mappings = dp.mappings().List();
  if (!mappings.ok()) return mappings.status();
  v.mappings = mappings->size();
  auto locators = dp.locators().List();
  if (!locators.ok()) return locators.status();
  v.locators = locators->size();
  auto endpoints = dp.endpoints().List();
  if (!endpoints.ok()) return endpoints.status();
  v.endpoints = endpoints->size();
  auto prefixes = dp.sir_prefixes().List();
  if (!prefixes.ok()) return prefixes.status();
  v.prefixes = prefixes->size();
  if (ctx.options.stats) {
    auto s = dp.ReadStats();
    if (!s.ok()) return s.status();
    v.stats = *s;
  }
  v.attachments = SortedAttachments(dp);
  v.nexthops = dp.nexthop_cache();
  return v;
}

void ConfigJson(JsonWriter& j, const ila::DataplaneConfig& c) {
  j.BeginObject();
  j.Field("miss_policy", PolicyName(c.miss_policy));
  j.Field("moved_policy", PolicyName(c.moved_policy));
  j.FieldUint("miss_event_interval_ns", static_cast<uint64_t>(c.miss_event_interval.count()));
  j.FieldUint("miss_event_rate", c.miss_event_rate);
  j.FieldUint("miss_event_burst", c.miss_event_burst);
  j.FieldUint("max_mappings", c.max_mappings);
  j.FieldUint("max_endpoints", c.max_endpoints);
  j.FieldUint("max_locators", c.max_locators);
  j.FieldUint("max_sir_prefixes", c.max_sir_prefixes);
  j.FieldUint("max_prefix_rules", c.max_prefix_rules);
  j.Field("forwarding_cache", c.forwarding_cache);
  j.Field("nexthop_cache", c.nexthop_cache);
  j.EndObject();
}

void PrintStatusJson(Context& ctx, const StatusView& v) {
  JsonWriter j = ctx.Json();
  j.BeginObject();
  j.Field("instance", v.dir);
  j.Key("config");
  ConfigJson(j, v.config);
  j.Key("nexthop_cache");
  j.BeginObject();
  j.Field("enabled", v.nexthops.enabled);
  if (!v.nexthops.enabled) j.Field("reason", v.nexthops.reason);
  j.EndObject();
  j.Key("tables");
  j.BeginObject();
  j.FieldUint("mappings", v.mappings);
  j.FieldUint("locators", v.locators);
  j.FieldUint("endpoints", v.endpoints);
  j.FieldUint("sir_prefixes", v.prefixes);
  j.EndObject();
  j.Key("attachments");
  j.BeginArray();
  for (const ila::Attachment& a : v.attachments) AttachmentJson(j, a);
  j.EndArray();
  if (v.stats) {
    j.Key("stats");
    StatsJson(j, *v.stats);
  }
  j.EndObject();
  ctx.out += j.Finish();
}

// One line per attachment; with -d, why its mode and its libxdp note.
void PrintAttachmentsText(Context& ctx, const std::vector<ila::Attachment>& attachments) {
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
}

void PrintStatusText(Context& ctx, const StatusView& v) {
  const ila::DataplaneConfig& c = v.config;
  Append(&ctx.out, "instance ", v.dir, "\n");
  Append(&ctx.out, "  miss-policy ", PolicyName(c.miss_policy), " moved-policy ",
         PolicyName(c.moved_policy), " miss-event-interval ", FormatDuration(c.miss_event_interval),
         " miss-event-rate ", c.miss_event_rate, " miss-event-burst ", c.miss_event_burst, "\n");
  Append(&ctx.out, "  max-mappings ", c.max_mappings, " max-endpoints ", c.max_endpoints,
         " max-locators ", c.max_locators, " max-sir-prefixes ", c.max_sir_prefixes,
         " max-prefix-rules ", c.max_prefix_rules, c.forwarding_cache ? " forwarding-cache" : "",
         "\n");
  Append(&ctx.out, "  mappings ", v.mappings, " locators ", v.locators, " endpoints ", v.endpoints,
         " sir-prefixes ", v.prefixes, "\n");
  Append(&ctx.out, "  nexthop-cache ", v.nexthops.enabled ? "on" : "off",
         v.nexthops.enabled ? "" : Cat(" (", v.nexthops.reason, ")"), "\n");
  PrintAttachmentsText(ctx, v.attachments);
  if (v.stats) {
    ctx.out += "stats\n";
    ctx.out += StatsText(*v.stats, ctx.options.details);
  }
}

}  // namespace

absl::Status PrintStatus(Context& ctx, ila::Dataplane& dp) {
  auto view = ReadStatus(ctx, dp);
  if (!view.ok()) return view.status();
  if (ctx.options.json) {
    PrintStatusJson(ctx, *view);
  } else {
    PrintStatusText(ctx, *view);
  }
  return absl::OkStatus();
}

}  // namespace ilactl
