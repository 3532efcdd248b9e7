// ilactl create and destroy: making and removing a pinned instance.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "instance_common.h"

namespace ilactl {

namespace {

enum CreateKeyword {
  kMiss,
  kMoved,
  kMaxMappings,
  kMaxEndpoints,
  kMaxLocators,
  kMaxPrefixes,
  kMaxPrefixRules,
  kInterval,
  kCache,
  kNoNexthopCache,
  kMissRate,
  kMissBurst
};

// "miss-event-interval DURATION".
absl::StatusOr<std::chrono::nanoseconds> ParseInterval(Args& args) {
  auto v = args.Need("a duration");
  if (!v.ok()) return v.status();
  auto d = ParseDuration(*v);
  if (!d) {
    return args.Error(Cat("invalid duration \"", *v, "\"; expected N[ns|us|ms|s] such as 500ms"));
  }
  return *d;
}

// "max-... N" (`word` is the keyword as written, for the error), into the table size `k` names.
absl::Status ParseTableSize(Args& args, const std::string& word, int k,
                            ila::DataplaneConfig& config) {
  auto v = args.Need("a table size");
  if (!v.ok()) return v.status();
  auto n = ParseUnsigned(*v, UINT32_MAX);
  if (!n || *n == 0) {
    return args.Error(Cat("invalid table size \"", *v, "\" for ", word,
                          "; expected a whole number from 1 to ", UINT32_MAX));
  }
  uint32_t size = static_cast<uint32_t>(*n);
  if (k == kMaxMappings)
    config.max_mappings = size;
  else if (k == kMaxEndpoints)
    config.max_endpoints = size;
  else if (k == kMaxLocators)
    config.max_locators = size;
  else if (k == kMaxPrefixRules)
    config.max_prefix_rules = size;
  else
    config.max_sir_prefixes = size;
  return absl::OkStatus();
}

// One keyword of a create command and its value, into `config`; `seen` refuses repeats.
absl::Status ParseCreateWord(Args& args, const std::string& word, std::vector<int>& seen,
                             ila::DataplaneConfig& config) {
  auto k = MatchKeyword(word,
                        {{"miss-policy", kMiss},
                         {"moved-policy", kMoved},
                         {"max-mappings", kMaxMappings},
                         {"max-endpoints", kMaxEndpoints},
                         {"max-locators", kMaxLocators},
                         {"max-sir-prefixes", kMaxPrefixes},
                         {"max-prefix-rules", kMaxPrefixRules},
                         {"miss-event-interval", kInterval},
                         {"forwarding-cache", kCache},
                         {"no-nexthop-cache", kNoNexthopCache},
                         {"miss-event-rate", kMissRate},
                         {"miss-event-burst", kMissBurst}},
                        "keyword");
  if (!k.ok()) return args.Invalid(k.status());
  if (std::find(seen.begin(), seen.end(), *k) != seen.end()) return args.Duplicate(word);
  seen.push_back(*k);
  switch (*k) {
    case kMiss: {
      auto v = args.NeedKeyword({{"pass-to-router", 0}, {"drop", 1}}, "miss-policy");
      if (!v.ok()) return v.status();
      config.miss_policy = *v == 1 ? ila::MissPolicy::kDrop : ila::MissPolicy::kPassToRouter;
      return absl::OkStatus();
    }
    case kMoved: {
      auto v = args.NeedKeyword({{"forward", 0}, {"drop", 1}}, "moved-policy");
      if (!v.ok()) return v.status();
      config.moved_policy = *v == 1 ? ila::MovedPolicy::kDrop : ila::MovedPolicy::kForward;
      return absl::OkStatus();
    }
    case kCache: config.forwarding_cache = true; return absl::OkStatus();
    case kNoNexthopCache: config.nexthop_cache = false; return absl::OkStatus();
    case kInterval: {
      auto d = ParseInterval(args);
      if (!d.ok()) return d.status();
      config.miss_event_interval = *d;
      return absl::OkStatus();
    }
    case kMissRate:
    case kMissBurst: {
      auto v = args.Need("a number of events");
      if (!v.ok()) return v.status();
      auto n = ParseUnsigned(*v, 1000000000);
      if (!n) return args.Error(Cat("invalid number of events \"", *v, "\" for ", word));
      (*k == kMissRate ? config.miss_event_rate : config.miss_event_burst) =
          static_cast<uint32_t>(*n);
      return absl::OkStatus();
    }
    default: return ParseTableSize(args, word, *k, config);
  }
}

absl::StatusOr<ila::DataplaneConfig> ParseCreate(Args& args) {
  ila::DataplaneConfig config;
  std::vector<int> seen;
  while (!args.done()) {
    if (absl::Status st = ParseCreateWord(args, args.take(), seen, config); !st.ok()) return st;
  }
  return config;
}

// Create's failure, said for the instance it was about.
absl::Status CreateError(const Context& ctx, const absl::Status& st) {
  if (absl::IsAlreadyExists(st)) {
    auto dir = ctx.where().Directory();
    return absl::AlreadyExistsError(
        Cat("create: an ILA instance is already pinned at ", dir.ok() ? *dir : ctx.options.root,
            "; use it as it is, or remove it with \"ilactl destroy\" first"));
  }
  return absl::Status(st.code(), Cat("create: ", st.message()));
}

}  // namespace

absl::Status CmdCreate(Context& ctx, Args& args) {
  args.set_command("create",
                   "create [miss-policy {pass-to-router|drop}] [moved-policy {forward|drop}] "
                   "[max-mappings N] [max-endpoints N] [max-locators N] [max-sir-prefixes N] "
                   "[max-prefix-rules N] [miss-event-interval DURATION] [miss-event-rate N] "
                   "[miss-event-burst N] "
                   "[forwarding-cache] [no-nexthop-cache]");
  auto config = ParseCreate(args);
  if (!config.ok()) return config.status();
  config->pinning = ctx.where();
  auto dp = ila::Dataplane::Create(*config);
  if (!dp.ok()) return CreateError(ctx, dp.status());
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

}  // namespace ilactl
