// ilactl: an iproute2-style command line over libila's public API, for a running (pinned) ILA
// data plane. See docs/ilactl.md.
#include "ilactl.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#ifndef ILA_VERSION
#define ILA_VERSION "unknown"
#endif

namespace ilactl {

std::string Usage() {
  return R"(Usage: ilactl [OPTIONS] OBJECT [COMMAND [ARGUMENTS]]

  ilactl [OPTIONS] create [miss-policy {pass-to-router|drop}] [moved-policy {forward|drop}]
                          [max-mappings N] [max-endpoints N] [max-locators N]
                          [max-sir-prefixes N] [max-prefix-rules N]
                          [miss-event-interval DURATION]
                          [miss-event-rate N] [miss-event-burst N]
                          [forwarding-cache] [no-nexthop-cache]
  ilactl [OPTIONS] destroy
  ilactl [OPTIONS] status
  ilactl [OPTIONS] stats [--prometheus]
  ilactl [OPTIONS] upgrade
  ilactl [OPTIONS] probe [dev DEV] [feature NAME]   (what this kernel offers libila)
  ilactl [OPTIONS] keep         (runs until stopped: keeps the next-hop cache, prints changes)
  ilactl [OPTIONS] attach container DEV sir SIR mac MAC [mode MODE]
  ilactl [OPTIONS] attach uplink DEV [mode MODE] [steer CPU[,CPU...]]
  ilactl [OPTIONS] attach router DEV [mode MODE]
  ilactl [OPTIONS] detach {DEV | ifindex N}
  ilactl [OPTIONS] prefix {add|del} PREFIX
  ilactl [OPTIONS] prefix show
  ilactl [OPTIONS] prefix rule {add|del} PREFIX PREFIX   (the two may reach each other)
  ilactl [OPTIONS] prefix rule show
  ilactl [OPTIONS] locator add LOCATOR sir PREFIX [csum-mode CSUM] [reforward LOCATOR]
  ilactl [OPTIONS] locator del LOCATOR
  ilactl [OPTIONS] locator show [LOCATOR]
  ilactl [OPTIONS] cluster add LOCATOR sir PREFIX [csum-mode CSUM] [reforward LOCATOR]
                                                                    (another host's locator)
  ilactl [OPTIONS] cluster del LOCATOR
  ilactl [OPTIONS] cluster show
  ilactl [OPTIONS] map add SIR locator LOCATOR [csum-mode CSUM] [ident-type TYPE]
  ilactl [OPTIONS] map del SIR
  ilactl [OPTIONS] map show [SIR]
  ilactl [OPTIONS] map flush
  ilactl [OPTIONS] endpoint add SIR dev DEV mac MAC
  ilactl [OPTIONS] endpoint del SIR
  ilactl [OPTIONS] endpoint show [SIR]
  The kernel's grammar (ip -6 route ... encap ila, ip ila):
  ilactl [OPTIONS] route add SIR[/128] encap ila LOCATOR [csum-mode CSUM] [ident-type TYPE]
  ilactl [OPTIONS] route del SIR[/128] [encap ila LOCATOR ...]
  ilactl [OPTIONS] route show
  ilactl [OPTIONS] ila add loc_match LOCATOR loc SIRPREFIX [csum-mode CSUM] [ident-type TYPE]
                           [dev DEV]
  ilactl [OPTIONS] ila del loc_match LOCATOR [loc SIRPREFIX] [dev DEV]
  ilactl [OPTIONS] ila list

OPTIONS := --root DIR       bpffs directory holding the instances (default /sys/fs/bpf/ila)
           --instance NAME  instance name (default netns-<inode of the network namespace>)
           -n NETNS         work in network namespace NETNS (/run/netns/NETNS) without
                            remounting /sys, so /sys/fs/bpf stays the host's bpffs
           -j  JSON output          -p  pretty JSON
           -d  details (also: errors keep the line breaks of the logs they carry)
           -s  with no object: stats; with status: status and stats
           -h  this help            -V  version
MODE     := auto (default: containers and uplinks at tc on veth, native XDP on NICs that have
            it, else tc; routers native, else generic) | native | generic | tc (containers and
            uplinks: at tc instead of XDP, keeping TSO and checksum offload on veth)
CSUM     := adj-transport | neutral-map | neutral-map-auto | no-action |
            adj-transport-linux-compat
TYPE     := luid | use-format
LOCATOR  := four 16-bit hex groups, e.g. 2001:db8:aaaa:1
PREFIX   := a /64 such as 2001:db8:0:1::/64 (or four hex groups)
DURATION := N[ns|us|ms|s] (a bare number is milliseconds)
Keywords may be abbreviated to any unique prefix (ilactl m a ..., ilactl loc sh).
)";
}

absl::StatusOr<std::unique_ptr<ila::Dataplane>> Context::Open() const {
  // ilactl exits at once: the long-lived controller keeps the next-hop cache, not ilactl.
  auto dp = ila::Dataplane::Open(where(), {.keep_nexthop_cache = false});
  if (absl::IsNotFound(dp.status())) {
    return absl::NotFoundError(Cat(dp.status().message(), "; create one with \"ilactl create\"",
                                   options.root == "/sys/fs/bpf/ila" ? "" : " with the same --root",
                                   options.instance.empty() ? "" : " and --instance"));
  }
  return dp;
}

namespace {

enum Object {
  kCreate,
  kDestroy,
  kStatus,
  kStats,
  kUpgrade,
  kKeep,
  kAttach,
  kDetach,
  kPrefix,
  kLocator,
  kCluster,
  kMap,
  kEndpoint,
  kRoute,
  kIla,
  kProbe,
  kHelp,
};

absl::Status EnterNetns(const std::string& name) {
  std::string path = name.find('/') == std::string::npos ? "/run/netns/" + name : name;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(Cat("-n: cannot open network namespace \"", name, "\" (", path,
                                   "): ", std::strerror(errno)));
  }
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::PermissionDeniedError(
        Cat("-n: cannot enter network namespace \"", name, "\": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

// Options come first, as with ip. Returns the index of the object word.
absl::StatusOr<size_t> ParseOptions(const std::vector<std::string>& argv, Options* o,
                                    std::string* netns, bool* help, bool* version) {
  size_t i = 0;
  auto value = [&](const std::string& opt, std::string_view inline_value,
                   bool has_inline) -> absl::StatusOr<std::string> {
    if (has_inline) {
      if (inline_value.empty()) {
        return absl::InvalidArgumentError(Cat("option \"", opt, "\" needs a value"));
      }
      return std::string(inline_value);
    }
    if (i + 1 >= argv.size() || argv[i + 1].empty()) {
      return absl::InvalidArgumentError(Cat("option \"", opt, "\" needs a value"));
    }
    return argv[++i];
  };
  for (; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a[0] != '-') break;
    std::string name = a;
    std::string_view inline_value;
    bool has_inline = false;
    if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      inline_value = std::string_view(a).substr(eq + 1);
      has_inline = true;
    }
    auto is = [&](std::initializer_list<std::string_view> names) {
      for (std::string_view n : names)
        if (name == n) return true;
      return false;
    };
    bool takes_value =
        is({"--root", "-root", "--instance", "-instance", "-n", "-netns", "--netns"});
    if (has_inline && !takes_value) {
      return absl::InvalidArgumentError(Cat("option \"", name, "\" takes no value"));
    }
    if (is({"-j", "-json", "--json"})) {
      o->json = true;
    } else if (is({"-p", "-pretty", "--pretty"})) {
      o->pretty = true;
    } else if (is({"-d", "-details", "--details"})) {
      o->details = true;
    } else if (is({"-s", "-stats", "-statistics", "--stats"})) {
      o->stats = true;
    } else if (is({"-h", "-help", "--help"})) {
      *help = true;
    } else if (is({"-V", "-Version", "--version"})) {
      *version = true;
    } else if (is({"--root", "-root"})) {
      auto v = value(name, inline_value, has_inline);
      if (!v.ok()) return v.status();
      o->root = *v;
    } else if (is({"--instance", "-instance"})) {
      auto v = value(name, inline_value, has_inline);
      if (!v.ok()) return v.status();
      if (v->find('/') != std::string::npos || *v == "." || *v == "..") {
        return absl::InvalidArgumentError(
            Cat("invalid instance name \"", *v, "\"; expected a name without '/'"));
      }
      o->instance = *v;
    } else if (is({"-n", "-netns", "--netns"})) {
      auto v = value(name, inline_value, has_inline);
      if (!v.ok()) return v.status();
      *netns = *v;
    } else {
      return absl::InvalidArgumentError(Cat("unknown option \"", a,
                                            "\"; expected -j, -p, -d, -s, -n NETNS, --root DIR, "
                                            "--instance NAME, -h or -V"));
    }
  }
  return i;
}

// Every error is one line on stderr (library messages that carry a log, such as libxdp's
// reasons or the verifier's, are joined with "; "); with -d they keep their lines.
int Fail(const absl::Status& st, bool details = false) {
  std::string msg(st.message());
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (!details) {
    for (size_t i = msg.find('\n'); i != std::string::npos; i = msg.find('\n', i)) {
      msg.replace(i, 1, "; ");
    }
  }
  std::fprintf(stderr, "ilactl: %s\n", msg.c_str());
  return 1;
}

// The object word at words[first] and the words after it (`rest`); with no object, -s means
// stats.
absl::StatusOr<int> ParseObject(const std::vector<std::string>& words, size_t first,
                                const Options& options, std::vector<std::string>* rest) {
  if (first >= words.size()) {
    if (!options.stats) {
      return absl::InvalidArgumentError(
          "missing object; expected create, destroy, status, stats, upgrade, keep, attach, detach, "
          "prefix, locator, cluster, map, endpoint, route, ila, probe or help (ilactl help shows "
          "the "
          "usage)");
    }
    return kStats;
  }
  auto o = MatchKeyword(words[first],
                        {{"create", kCreate},
                         {"destroy", kDestroy},
                         {"status", kStatus},
                         {"stats", kStats},
                         {"statistics", kStats},
                         {"upgrade", kUpgrade},
                         {"keep", kKeep},
                         {"attach", kAttach},
                         {"detach", kDetach},
                         {"prefix", kPrefix},
                         {"locator", kLocator},
                         {"cluster", kCluster},
                         {"map", kMap},
                         {"mapping", kMap},
                         {"endpoint", kEndpoint},
                         {"route", kRoute},
                         {"ila", kIla},
                         {"probe", kProbe},
                         {"help", kHelp}},
                        "object");
  if (!o.ok()) return o.status();
  rest->assign(words.begin() + static_cast<std::ptrdiff_t>(first) + 1, words.end());
  return *o;
}

// The object's command, its output left in ctx.out.
absl::Status RunObject(int object, Context& ctx, Args& args) {
  switch (object) {
    case kCreate: return CmdCreate(ctx, args);
    case kDestroy: return CmdDestroy(ctx, args);
    case kStatus: return CmdStatus(ctx, args);
    case kStats: return CmdStats(ctx, args);
    case kUpgrade: return CmdUpgrade(ctx, args);
    case kKeep: return CmdKeep(ctx, args);
    case kAttach: return CmdAttach(ctx, args);
    case kDetach: return CmdDetach(ctx, args);
    case kPrefix: return CmdPrefix(ctx, args);
    case kLocator: return CmdLocator(ctx, args);
    case kCluster: return CmdCluster(ctx, args);
    case kMap: return CmdMap(ctx, args);
    case kEndpoint: return CmdEndpoint(ctx, args);
    case kRoute: return CmdRoute(ctx, args);
    case kIla: return CmdIla(ctx, args);
    case kProbe: return CmdProbe(ctx, args);
    default: return absl::InternalError("unhandled object");
  }
}

int Run(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  Context ctx;
  std::string netns;
  bool help = false, version = false;
  auto first = ParseOptions(words, &ctx.options, &netns, &help, &version);
  if (!first.ok()) return Fail(first.status());
  if (help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (version) {
    std::printf("ilactl (libila) %s\n", ILA_VERSION);
    return 0;
  }
  std::vector<std::string> rest;
  auto object = ParseObject(words, *first, ctx.options, &rest);
  if (!object.ok()) return Fail(object.status());
  if (*object == kHelp || (!rest.empty() && rest[0] == "help")) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (!netns.empty()) {
    if (absl::Status st = EnterNetns(netns); !st.ok()) return Fail(st, ctx.options.details);
  }
  Args args(std::move(rest), "", "");
  if (absl::Status st = RunObject(*object, ctx, args); !st.ok()) {
    return Fail(st, ctx.options.details);
  }
  std::fputs(ctx.out.c_str(), stdout);
  if (std::fflush(stdout) != 0) return 1;
  return 0;
}

}  // namespace
}  // namespace ilactl

int main(int argc, char** argv) { return ilactl::Run(argc, argv); }
