// ilactl probe [dev DEV] [feature NAME]: the kernel feature probe (ila/kernel_probe.h), as text
// or -j. Needs no instance. Exits 0 whatever is missing: the output says what is.
#include <optional>

#include "ila/kernel_probe.h"
#include "ilactl.h"

namespace ilactl {
namespace {

void WriteJson(Context& ctx, const ila::KernelProbe& probe) {
  JsonWriter j = ctx.Json();
  j.BeginObject();
  if (!probe.kernel_release.empty()) j.Field("kernel", probe.kernel_release);
  if (probe.interface) j.Field("dev", *probe.interface);
  j.Key("features");
  j.BeginArray();
  for (const ila::FeatureProbe& p : probe.features) {
    j.BeginObject();
    j.Field("name", ila::ToString(p.feature));
    j.Field("available", p.available);
    j.Field("detail", p.detail);
    j.Field("required", ila::RequiredForCreate(p.feature));
    j.Field("use", ila::FeatureUse(p.feature));
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  ctx.out += j.Finish();
}

}  // namespace

absl::Status CmdProbe(Context& ctx, Args& args) {
  args.set_command("probe", "probe [dev DEV] [feature NAME]");
  ila::ProbeOptions options;
  std::optional<ila::KernelFeature> only;
  while (!args.done()) {
    auto kw = args.NeedKeyword({{"dev", 0}, {"feature", 1}}, "keyword");
    if (!kw.ok()) return kw.status();
    auto value = args.Need(*kw == 0 ? "DEV" : "NAME");
    if (!value.ok()) return value.status();
    if (*kw == 0) {
      if (absl::StatusOr<ila::InterfaceIndex> idx = IndexOfInterface(args, *value); !idx.ok())
        return idx.status();
      options.interface = *value;
    } else {
      auto f = ila::ParseKernelFeature(*value);
      if (!f.ok()) return args.Invalid(f.status());
      only = *f;
    }
  }
  ila::KernelProbe probe;
  if (only) {
    auto one = ila::ProbeKernelFeature(*only, options);
    if (!one.ok()) return one.status();
    probe.interface = options.interface;
    probe.features.push_back(*one);
  } else {
    auto all = ila::ProbeKernel(options);
    if (!all.ok()) return all.status();
    probe = std::move(*all);
  }
  if (ctx.options.json) {
    WriteJson(ctx, probe);
    return absl::OkStatus();
  }
  std::string text = probe.ToText();
  if (only) text = text.substr(text.find('\n') + 1);  // the feature's line alone
  ctx.out += text;
  if (ctx.options.details) {
    for (const ila::FeatureProbe& p : probe.features) {
      ctx.out += Cat("  ", ila::ToString(p.feature), ": ", ila::FeatureUse(p.feature),
                     ila::RequiredForCreate(p.feature) ? " (required)" : "", "\n");
    }
  }
  return absl::OkStatus();
}

}  // namespace ilactl
