// ilactl attach, detach and upgrade.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "instance_common.h"

namespace ilactl {

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
  auto old_id = [&](ila::InterfaceIndex ifindex) -> uint32_t {
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
      j.FieldInt("ifindex", a.ifindex.value());
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

namespace {

enum AttachRole { kContainer, kUplink, kRouter };

// The words of an attach command, checked.
struct AttachWords {
  int role = kContainer;
  std::string dev;
  std::optional<ila::SirAddress> sir;
  std::optional<ila::MacAddress> mac;
  std::optional<ila::AttachMode> mode;
  std::optional<std::vector<int>> steer;
};

// "0,1": distinct CPU numbers from 0 to 63.
absl::StatusOr<std::vector<int>> ParseCpuList(const Args& args, const std::string& w) {
  std::vector<int> cpus;
  for (absl::string_view part : absl::StrSplit(w, ',')) {
    auto n = ParseUnsigned(std::string_view(part.data(), part.size()), 63);
    if (!n) {
      return args.Error(Cat("invalid CPU list \"", w,
                            "\"; expected CPU numbers from 0 to 63 separated by "
                            "commas, such as 0,1"));
    }
    int cpu = static_cast<int>(*n);
    if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end()) {
      return args.Error(Cat("CPU ", cpu, " appears twice in \"", w, "\""));
    }
    cpus.push_back(cpu);
  }
  return cpus;
}

// One keyword of an attach command and its value, into `a`.
absl::Status ParseAttachWord(Args& args, const std::string& word, AttachWords& a) {
  enum { kSir, kMac, kMode, kSteer };
  auto k = MatchKeyword(word, {{"sir", kSir}, {"mac", kMac}, {"mode", kMode}, {"steer", kSteer}},
                        "keyword");
  if (!k.ok()) {
    return args.Unexpected(word, a.role == kContainer ? "sir SIR, mac MAC or mode MODE"
                                 : a.role == kUplink  ? "mode MODE or steer CPU[,CPU...]"
                                                      : "mode MODE");
  }
  if ((*k == kSir || *k == kMac) && a.role != kContainer) {
    return args.Error(Cat("\"", word, "\" is only for container attachments"));
  }
  if (*k == kSteer && a.role != kUplink) {
    return args.Error("\"steer\" (cpumap steering) is only for uplink attachments");
  }
  auto& sir = a.sir;
  auto& mac = a.mac;
  auto& mode = a.mode;
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
      if (a.steer) return args.Duplicate("steer");
      auto w = args.Need("a list of CPUs such as 0,1");
      if (!w.ok()) return w.status();
      auto cpus = ParseCpuList(args, *w);
      if (!cpus.ok()) return cpus.status();
      a.steer = *cpus;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AttachWords> ParseAttach(Args& args) {
  AttachWords a;
  auto role = args.NeedKeyword(
      {{"container", kContainer}, {"uplink", kUplink}, {"router", kRouter}}, "role");
  if (!role.ok()) return role.status();
  a.role = *role;
  auto dev = args.Need("an interface name");
  if (!dev.ok()) return dev.status();
  if (auto ifindex = IndexOfInterface(args, *dev); !ifindex.ok()) return ifindex.status();
  a.dev = *dev;
  while (!args.done()) {
    if (absl::Status st = ParseAttachWord(args, args.take(), a); !st.ok()) return st;
  }
  if (a.role == kContainer) {
    if (!a.sir) return args.Error("missing \"sir SIR\" (the container's SIR address)");
    if (!a.mac) return args.Error("missing \"mac MAC\" (the container's MAC address)");
  }
  return a;
}

absl::StatusOr<ila::Attachment> Attach(ila::Dataplane& dp, const AttachWords& a) {
  ila::AttachMode m = a.mode.value_or(ila::AttachMode::kAuto);
  if (a.role == kContainer) {
    if (absl::Status st = RequirePrefix(dp, a.sir->prefix, a.sir->ToString(), "attach"); !st.ok()) {
      return st;
    }
    return dp.AttachContainer({.interface = a.dev, .sir = *a.sir, .mac = *a.mac, .mode = m});
  }
  if (a.role == kUplink) {
    return dp.AttachUplink(
        {.interface = a.dev, .mode = m, .steer_cpus = a.steer.value_or(std::vector<int>{})});
  }
  return dp.AttachRouter({.interface = a.dev, .mode = m, .steer_cpus = {}});
}

void PrintAttachment(Context& ctx, const ila::Attachment& att) {
  if (ctx.options.json) {
    JsonWriter j = ctx.Json();
    AttachmentJson(j, att);
    ctx.out += j.Finish();
    return;
  }
  Append(&ctx.out, AttachmentLine(att), "\n");
  if (!att.mode_reason.empty()) Append(&ctx.out, "  mode: ", OneLine(att.mode_reason), "\n");
  if (!att.multiprog && !att.libxdp_note.empty()) {
    Append(&ctx.out, "  libxdp: ", OneLine(att.libxdp_note), "\n");
  }
}

}  // namespace

absl::Status CmdAttach(Context& ctx, Args& args) {
  args.set_command("attach",
                   "attach {container DEV sir SIR mac MAC | uplink DEV [steer CPU[,CPU...]] | "
                   "router DEV} [mode MODE]");
  auto words = ParseAttach(args);
  if (!words.ok()) return words.status();
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  auto att = Attach(**dp, *words);
  if (!att.ok()) {
    return absl::Status(att.status().code(), Cat("attach: ", att.status().message()));
  }
  PrintAttachment(ctx, *att);
  return absl::OkStatus();
}

absl::Status CmdDetach(Context& ctx, Args& args) {
  args.set_command("detach", "detach {DEV | ifindex N}");
  auto dev = args.Need("an interface name");
  if (!dev.ok()) return dev.status();
  ila::InterfaceIndex ifindex;
  std::string label = *dev;
  if (*dev == "ifindex") {
    auto n = args.Need("an interface index");
    if (!n.ok()) return n.status();
    auto v = ParseUnsigned(*n, INT32_MAX);
    if (!v || *v == 0) return args.Error(Cat("invalid interface index \"", *n, "\""));
    ifindex = ila::InterfaceIndex(static_cast<int>(*v));
    label = Cat("ifindex ", ifindex);
  } else {
    auto idx = IndexOfInterface(args, *dev);
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

}  // namespace ilactl
