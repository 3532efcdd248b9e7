// ilactl against real pinned instances: every command run as a separate process inside a network
// namespace (`ip netns exec NS ilactl --root <private bpffs> ...`), its JSON parsed and checked;
// every bad-input path (exit 1, one line on stderr, nothing applied); the kernel's grammar.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ila/stats.h"
#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/skip.h"
#include "testbed/netns.h"

#ifndef ILACTL_PATH
#error "ILACTL_PATH must name the built ilactl"
#endif

using namespace ila;
using namespace ila::testbed;
using Json = nlohmann::json;

namespace {

std::optional<std::string> SkipReason() {
  if (auto r = BpfUnavailableReason()) return r;
  return NetnsUnavailableReason();
}

// Whether libxdp's dispatcher works here (it needs freplace programs, which some kernels refuse).
bool LibxdpMultiprog() { return !FeatureMissingReason(KernelFeature::kLibxdpMultiprog); }

struct Result {
  int status = -1;
  std::string out;
  std::string err;
  std::string Describe() const {
    return "exit " + std::to_string(status) + "\nstdout: " + out + "\nstderr: " + err;
  }
};

std::string ReadAll(int fd) {
  std::string s;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

// Runs argv (no shell) with stdout and stderr captured apart.
Result Exec(const std::vector<std::string>& argv) {
  Result r;
  int out = memfd_create("ilactl-out", MFD_CLOEXEC);
  int err = memfd_create("ilactl-err", MFD_CLOEXEC);
  REQUIRE(out >= 0);
  REQUIRE(err >= 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execvp(args[0], args.data());
    _exit(127);
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  close(out);
  close(err);
  return r;
}

// A host namespace with a container veth, an uplink veth and a router-facing veth, a private
// bpffs, and ilactl run inside the host namespace. Everything is removed on every exit path.
class Host {
 public:
  Host() {
    auto dir = MountPrivateBpffs();
    INFO(dir.status().ToString());
    REQUIRE(dir.ok());
    bpffs_.dir = *dir;
    auto host = Netns::Create("ictl-h");
    REQUIRE(host.ok());
    host_.emplace(std::move(*host));
    auto c1 = Netns::Create("ictl-c");
    REQUIRE(c1.ok());
    c1_.emplace(std::move(*c1));
    auto fabric = Netns::Create("ictl-f");
    REQUIRE(fabric.ok());
    fabric_.emplace(std::move(*fabric));
    c1h_ = UniqueIfName("ch");
    up_ = UniqueIfName("up");
    rt_ = UniqueIfName("rt");
    auto c1link = VethPair::Create({&*c1_, UniqueIfName("c"), "02:00:00:00:c1:01", {}},
                                   {&*host_, c1h_, "", {}});
    INFO(c1link.status().ToString());
    REQUIRE(c1link.ok());
    c1link_.emplace(std::move(*c1link));
    auto uplink = VethPair::Create({&*host_, up_, "", {"fd00:ff::1/64"}},
                                   {&*fabric_, UniqueIfName("f"), "", {"fd00:ff::2/64"}});
    REQUIRE(uplink.ok());
    uplink_.emplace(std::move(*uplink));
    auto rlink = VethPair::Create({&*host_, rt_, "", {}}, {&*fabric_, UniqueIfName("r"), "", {}});
    REQUIRE(rlink.ok());
    rlink_.emplace(std::move(*rlink));
  }
  ~Host() {
    // Best effort: the instance goes with its pins (the bpffs unmount would drop them anyway).
    // Exit 1 (nothing pinned) is expected; anything else, such as a sanitized ilactl's report
    // (exit 66, cmake/run-sanitized-tests.sh), is printed, where the run finds it.
    if (!host_) return;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"destroy"}, {"--instance", "other", "destroy"}}) {
      Result r = Run(args);
      if (r.status != 0 && r.status != 1) std::cerr << Join(args) << "\n" << r.Describe() << "\n";
    }
  }

  // `ip netns exec HOST ilactl --root BPFFS args...`
  std::vector<std::string> Command(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"ip",        "netns",  "exec",    host_->name(),
                                     ILACTL_PATH, "--root", bpffs_.dir};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Result Run(const std::vector<std::string>& args) const { return Exec(Command(args)); }
  // Runs and requires success.
  std::string Ok(const std::vector<std::string>& args) const {
    Result r = Run(args);
    INFO(Join(args) + "\n" + r.Describe());
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    return r.out;
  }
  Json OkJson(std::vector<std::string> args) const {
    args.insert(args.begin(), "-j");
    std::string out = Ok(args);
    INFO(Join(args) + "\n" + out);
    Json j;
    REQUIRE_NOTHROW(j = Json::parse(out));
    return j;
  }
  // Runs and requires the bad-input contract: exit 1, nothing on stdout, exactly one line on
  // stderr that contains `mention`.
  std::string Fails(const std::vector<std::string>& args, const std::string& mention) const {
    Result r = Run(args);
    INFO(Join(args) + "\n" + r.Describe());
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(!r.err.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.back() == '\n');
    CHECK(r.err.rfind("ilactl: ", 0) == 0);
    CHECK_THAT(r.err, Catch::Contains(mention));
    return r.err;
  }

  static std::string Join(const std::vector<std::string>& args) {
    std::string s = "ilactl";
    for (const std::string& a : args) s += " " + a;
    return s;
  }

  const Netns& host_ns() const { return *host_; }
  const std::string& bpffs() const { return bpffs_.dir; }
  const std::string& c1h() const { return c1h_; }
  const std::string& up() const { return up_; }
  const std::string& rt() const { return rt_; }

 private:
  struct Bpffs {
    std::string dir;
    ~Bpffs() {
      if (!dir.empty()) UnmountPrivateBpffs(dir);
    }
  };
  Bpffs bpffs_;  // declared first: unmounted last
  std::optional<Netns> host_, c1_, fabric_;
  std::optional<VethPair> c1link_, uplink_, rlink_;
  std::string c1h_, up_, rt_;
};

constexpr const char* kSir = "2001:db8:0:1::/64";
constexpr const char* kL1 = "2001:db8:aaaa:1";

// Everything an instance holds that a command could change.
std::string Snapshot(const Host& h) {
  std::string s;
  for (const auto* object : {"map", "locator", "endpoint", "prefix"}) {
    s += object;
    s += ": " + h.OkJson({object, "show"}).dump() + "\n";
  }
  s += "prefix rules: " + h.OkJson({"prefix", "rule", "show"}).dump() + "\n";
  Json status = h.OkJson({"status"});
  s += "attachments: " + status["attachments"].dump() + "\n";
  s += "config: " + status["config"].dump() + "\n";
  return s;
}

}  // namespace

TEST_CASE("ilactl create, status, stats, destroy on a pinned instance") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  Json created =
      h.OkJson({"create", "miss-policy", "drop", "moved-policy", "drop", "max-mappings", "1024",
                "max-endpoints", "64", "max-locators", "8", "max-sir-prefixes", "4",
                "max-prefix-rules", "16", "miss-event-interval", "250ms", "forwarding-cache"});
  CHECK(created["config"]["miss_policy"] == "drop");
  CHECK(created["config"]["moved_policy"] == "drop");
  CHECK(created["config"]["max_mappings"] == 1024);
  CHECK(created["config"]["max_endpoints"] == 64);
  CHECK(created["config"]["max_locators"] == 8);
  CHECK(created["config"]["max_sir_prefixes"] == 4);
  CHECK(created["config"]["max_prefix_rules"] == 16);
  CHECK(created["config"]["miss_event_interval_ns"] == 250000000);
  CHECK(created["config"]["forwarding_cache"] == true);
  std::string instance = created["instance"];
  CHECK(instance.rfind(h.bpffs() + "/netns-", 0) == 0);  // the default name: per network namespace
  CHECK(created["attachments"].empty());

  // A new process adopts it (Dataplane::Open) and sees the same options.
  Json status = h.OkJson({"status"});
  CHECK(status["instance"] == instance);
  CHECK(status["config"] == created["config"]);
  CHECK(status["tables"] ==
        Json({{"mappings", 0}, {"locators", 0}, {"endpoints", 0}, {"sir_prefixes", 0}}));
  // ilactl keeps no next-hop cache, and the process that created the instance has exited.
  CHECK(status["config"]["nexthop_cache"] == true);
  CHECK(status["nexthop_cache"]["enabled"] == false);
  CHECK_THAT(std::string(status["nexthop_cache"]["reason"]),
             Catch::Contains("no process keeps it"));
  std::string text = h.Ok({"status"});
  CHECK_THAT(text, Catch::Contains("nexthop-cache off (no process keeps it"));
  CHECK_THAT(text, Catch::Contains("miss-policy drop moved-policy drop miss-event-interval 250ms"));
  CHECK_THAT(text, Catch::Contains("max-mappings 1024 max-endpoints 64 max-locators 8 "
                                   "max-sir-prefixes 4 max-prefix-rules 16 forwarding-cache\n"));

  // Stats: every counter, in JSON, text and Prometheus form.
  Json stats = h.OkJson({"stats"});
  for (std::string_view name : CounterNames()) {
    CAPTURE(name);
    REQUIRE(stats.contains(std::string(name)));
    CHECK(stats[std::string(name)]["packets"] == 0);
    CHECK(stats[std::string(name)]["bytes"] == 0);
  }
  CHECK(stats["drop_miss"]["kind"] == "dropped");
  CHECK(h.Ok({"stats"}) == "  (no packets)\n");
  std::string prom = h.Ok({"stats", "--prometheus"});
  CHECK_THAT(prom, Catch::Contains("# TYPE ila_packets_total counter"));
  CHECK_THAT(prom, Catch::Contains(
                       "ila_packets_total{reason=\"drop_spoofed_source\",kind=\"dropped\"} 0"));
  CHECK(h.Ok({"stats", "prom"}) == prom);
  CHECK(h.Ok({"-s"}) == h.Ok({"stats"}));
  Json with_stats = h.OkJson({"-s", "status"});
  CHECK(with_stats["stats"] == stats);
  CHECK_THAT(h.Ok({"-d", "stats"}), Catch::Contains("tx_remote 0 pkts 0 bytes (forwarded): "));

  // Pretty JSON parses to the same document.
  std::string pretty = h.Ok({"-j", "-p", "status"});
  CHECK_THAT(pretty, Catch::Contains("\n    \"config\": {\n        \"miss_policy\": \"drop\""));
  CHECK(Json::parse(pretty) == status);

  // A second create is refused and changes nothing.
  h.Fails({"create"}, "already pinned at " + instance);
  CHECK(h.OkJson({"status"})["config"] == created["config"]);

  // A second, named instance next to it.
  Json other = h.OkJson({"--instance", "other", "create"});
  CHECK(other["instance"] == h.bpffs() + "/other");
  CHECK(other["config"]["max_mappings"] == 65536);
  CHECK(other["config"]["forwarding_cache"] == false);
  CHECK(h.OkJson({"--instance=other", "status"})["instance"] == h.bpffs() + "/other");
  CHECK(h.Ok({"--instance", "other", "destroy"}).empty());

  CHECK(h.Ok({"destroy"}).empty());
  h.Fails({"status"}, "no ILA instance is pinned at " + instance);
  h.Fails({"destroy"}, "no ILA instance is pinned");
  h.Fails({"map", "show"}, "create one with \"ilactl create\"");
}

TEST_CASE("ilactl prefix, locator, map and endpoint tables") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  h.Ok({"create"});

  // prefix
  CHECK(h.Ok({"prefix", "add", kSir}).empty());
  CHECK(h.Ok({"prefix", "add", "2001:db8:0:2::/64"}).empty());
  CHECK(h.OkJson({"prefix", "show"}) ==
        Json::parse(R"([{"prefix":"2001:db8:0:1::/64"},{"prefix":"2001:db8:0:2::/64"}])"));
  CHECK(h.Ok({"pre", "s"}) == "2001:db8:0:1::/64\n2001:db8:0:2::/64\n");
  // prefix rules: either way round, listed once with the lower prefix first
  CHECK(h.Ok({"prefix", "rule", "add", "2001:db8:0:2::/64", kSir}).empty());
  CHECK(h.Ok({"prefix", "rule", "add", kSir, "2001:db8:0:2::/64"}).empty());  // add replaces
  CHECK(h.Ok({"prefix", "rule"}) == "2001:db8:0:1::/64 <-> 2001:db8:0:2::/64\n");
  CHECK(h.OkJson({"prefix", "rule", "show"}) ==
        Json::parse(R"([{"a":"2001:db8:0:1::/64","b":"2001:db8:0:2::/64"}])"));
  h.Fails({"prefix", "del", "2001:db8:0:2::/64"}, "is still linked to 2001:db8:0:1::/64");
  CHECK(h.Ok({"prefix", "rule", "del", kSir, "2001:db8:0:2::/64"}).empty());
  CHECK(h.OkJson({"prefix", "rule", "show"}) == Json::array());
  CHECK(h.Ok({"prefix", "del", "2001:db8:0:2::/64"}).empty());
  CHECK(h.Ok({"prefix"}) == "2001:db8:0:1::/64\n");  // no command means show

  // locator
  CHECK(h.Ok({"locator", "add", kL1, "sir", kSir, "csum-mode", "neutral-map-auto"}).empty());
  Json locs = h.OkJson({"locator", "show"});
  REQUIRE(locs.size() == 1);
  CHECK(locs[0]["locator_match"] == kL1);
  CHECK(locs[0]["locator"] == "2001:db8:0:1");
  CHECK(locs[0]["sir_prefix"] == kSir);
  CHECK(locs[0]["csum_mode"] == "neutral-map-auto");
  CHECK(h.Ok({"loc", "sh"}) ==
        "2001:db8:aaaa:1 sir 2001:db8:0:1::/64 csum-mode neutral-map-auto\n");
  CHECK(h.OkJson({"locator", "show", kL1}) == locs);
  CHECK(h.Ok({"l", "a", "2001:db8:aaaa:9", "s", kSir}).empty());  // csum-mode defaults to no-action
  CHECK(h.OkJson({"locator", "show", "2001:db8:aaaa:9"})[0]["csum_mode"] == "no-action");
  CHECK(h.Ok({"locator", "del", "2001:db8:aaaa:9"}).empty());
  h.Fails({"locator", "show", "2001:db8:aaaa:9"}, "locator 2001:db8:aaaa:9 is not registered");
  h.Fails({"locator", "del", "2001:db8:aaaa:9"}, "locator 2001:db8:aaaa:9 is not registered");

  // cluster: the other hosts' locators
  CHECK(h.Ok({"cluster", "add", "2001:db8:bbbb:2", "sir", kSir, "csum-mode", "adj-transport"})
            .empty());
  CHECK(h.Ok({"cluster"}) == "2001:db8:bbbb:2 sir 2001:db8:0:1::/64 csum-mode adj-transport\n");
  CHECK(h.OkJson({"cluster", "show"})[0]["csum_mode"] == "adj-transport");
  h.Fails({"cluster", "add", kL1, "sir", kSir}, "is one of this host's locators");
  h.Fails({"cluster", "add", "0:0:0:0", "sir", kSir}, "cannot be a cluster locator");
  // A re-forward locator (same one's-complement sum), shown with its locator only.
  CHECK(h.Ok({"cluster", "add", "2001:db8:bbbb:2", "sir", kSir, "csum-mode", "adj-transport",
              "reforward", "2001:db8:bbbc:1"})
            .empty());
  CHECK(
      h.Ok({"cluster"}) ==
      "2001:db8:bbbb:2 sir 2001:db8:0:1::/64 csum-mode adj-transport reforward 2001:db8:bbbc:1\n");
  CHECK(h.OkJson({"cluster", "show"})[0]["reforward"] == "2001:db8:bbbc:1");
  h.Fails({"cluster", "add", "2001:db8:bbbb:2", "sir", kSir, "reforward", "2001:db8:bbbc:2"},
          "one's-complement sums of the two differ");
  h.Fails({"cluster", "del", "2001:db8:bbbc:1"}, "is the re-forward locator of another");
  CHECK(h.Ok({"cluster", "del", "2001:db8:bbbb:2"}).empty());
  h.Fails({"cluster", "del", "2001:db8:bbbb:2"}, "is not in the table");
  CHECK(h.OkJson({"cluster", "show"}) == Json::array());

  // map
  CHECK(h.Ok({"map", "add", "2001:db8:0:1::2", "locator", "2001:db8:bbbb:2", "csum-mode",
              "neutral-map-auto", "ident-type", "luid"})
            .empty());
  CHECK(
      h.Ok({"m", "a", "2001:db8:0:1::3", "loc", "2001:db8:bbbb:3", "c", "adj-transport"}).empty());
  CHECK(h.Ok({"mapping", "add", "2001:db8:0:1::4", "locator", "2001:db8:bbbb:4"}).empty());
  Json maps = h.OkJson({"map", "show"});
  REQUIRE(maps.size() == 3);
  CHECK(maps[0]["sir"] == "2001:db8:0:1::2");
  CHECK(maps[0]["locator"] == "2001:db8:bbbb:2");
  CHECK(maps[0]["csum_mode"] == "neutral-map-auto");
  CHECK(maps[0]["ident_type"] == "luid");
  SirAddress s2 = *SirAddress::Parse("2001:db8:0:1::2");
  CHECK(
      maps[0]["ila_address"] ==
      SirToIla(s2, *Locator::Parse("2001:db8:bbbb:2"), ChecksumMode::kNeutralMapAuto)->ToString());
  CHECK(maps[1]["csum_mode"] == "adj-transport");
  CHECK(maps[2]["csum_mode"] == "no-action");  // the library's defaults
  CHECK(maps[2]["ident_type"] == "luid");
  CHECK(h.OkJson({"map", "show", "2001:db8:0:1::3"}) == Json::array({maps[1]}));
  CHECK(h.Ok({"map", "show", "2001:db8:0:1::4"}) ==
        "2001:db8:0:1::4 locator 2001:db8:bbbb:4 csum-mode no-action ident-type luid\n");
  CHECK_THAT(h.Ok({"-d", "map", "show", "2001:db8:0:1::4"}),
             Catch::Contains("ila-address 2001:db8:bbbb:4::4"));
  // add replaces
  CHECK(h.Ok({"map", "add", "2001:db8:0:1::4", "locator", "2001:db8:bbbb:5"}).empty());
  CHECK(h.OkJson({"map", "show", "2001:db8:0:1::4"})[0]["locator"] == "2001:db8:bbbb:5");
  CHECK(h.Ok({"map", "del", "2001:db8:0:1::4"}).empty());
  h.Fails({"map", "del", "2001:db8:0:1::4"}, "no mapping for 2001:db8:0:1::4");
  h.Fails({"map", "show", "2001:db8:0:1::4"}, "no mapping for 2001:db8:0:1::4");
  CHECK(h.OkJson({"map", "show"}).size() == 2);
  // The prefix cannot go while mappings use it.
  h.Fails({"prefix", "del", kSir}, "still used by the mapping for 2001:db8:0:1::");
  CHECK(h.Ok({"map", "flush"}).empty());
  CHECK(h.OkJson({"map"}).empty());

  // endpoint
  CHECK(h.Ok({"endpoint", "add", "2001:db8:0:1::1", "dev", h.c1h(), "mac", "02:00:00:00:c1:01"})
            .empty());
  Json eps = h.OkJson({"endpoint", "show"});
  REQUIRE(eps.size() == 1);
  CHECK(eps[0]["sir"] == "2001:db8:0:1::1");
  CHECK(eps[0]["dev"] == h.c1h());
  CHECK(eps[0]["ifindex"].get<int>() > 0);
  CHECK(eps[0]["mac"] == "02:00:00:00:c1:01");
  CHECK(h.Ok({"e", "s", "2001:db8:0:1::1"}) ==
        "2001:db8:0:1::1 dev " + h.c1h() + " mac 02:00:00:00:c1:01\n");
  h.Fails({"prefix", "del", kSir}, "still used by endpoint 2001:db8:0:1::1");
  CHECK(h.Ok({"endpoint", "del", "2001:db8:0:1::1"}).empty());
  CHECK(h.OkJson({"endpoint", "show"}).empty());
  h.Fails({"endpoint", "del", "2001:db8:0:1::1"}, "no endpoint 2001:db8:0:1::1");

  CHECK(h.Ok({"locator", "del", kL1}).empty());
  CHECK(h.Ok({"prefix", "del", kSir}).empty());
  CHECK(h.OkJson({"prefix", "show"}).empty());
}

TEST_CASE("ilactl attach, status, upgrade and detach report what is really attached") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  h.Ok({"create"});
  h.Ok({"prefix", "add", kSir});
  h.Ok({"locator", "add", kL1, "sir", kSir, "csum-mode", "neutral-map-auto"});

  // The default on a veth: tc, and why.
  Json c1_auto = h.OkJson(
      {"attach", "container", h.c1h(), "sir", "2001:db8:0:1::1", "mac", "02:00:00:00:c1:01"});
  CHECK(c1_auto["mode"] == "tc");
  CHECK_THAT(c1_auto["mode_reason"].get<std::string>(), Catch::StartsWith("tc: a veth"));
  CHECK(h.OkJson({"status"})["attachments"][0]["mode_reason"] == c1_auto["mode_reason"]);
  CHECK(h.Ok({"detach", h.c1h()}).empty());

  Json c1 = h.OkJson({"attach", "container", h.c1h(), "sir", "2001:db8:0:1::1", "mac",
                      "02:00:00:00:c1:01", "mode", "native"});
  CHECK(c1["dev"] == h.c1h());
  CHECK(c1["role"] == "container");
  CHECK(c1["mode"] == "native");
  CHECK(!c1.contains("mode_reason"));  // asked for native directly
  if (!LibxdpMultiprog()) CHECK(c1["multiprog"] == false);
  CHECK(c1["prog_id"].get<uint64_t>() > 0);
  CHECK(c1["peer_napi"] == true);
  CHECK(c1["steer_cpus"].empty());
  // Attaching a container registers its endpoint.
  CHECK(h.OkJson({"endpoint", "show"})[0]["dev"] == h.c1h());

  std::vector<std::string> steer_args = {"attach", "uplink", h.up(), "mode", "native"};
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus >= 2) {
    steer_args.push_back("steer");
    steer_args.push_back("0,1");
  }
  Json up = h.OkJson(steer_args);
  CHECK(up["role"] == "uplink");
  CHECK(up["mode"] == "native");
  CHECK(!up.contains("mode_reason"));  // asked for native directly
  if (cpus >= 2) CHECK(up["steer_cpus"] == Json::array({0, 1}));

  std::string rt_text = h.Ok({"a", "r", h.rt(), "mode", "generic"});
  CHECK_THAT(rt_text, Catch::StartsWith(h.rt() + " ifindex "));
  CHECK_THAT(rt_text, Catch::Contains(" router mode generic multiprog "));

  // A new process sees all three, with the mode in use, multiprog and program ids.
  Json status = h.OkJson({"status"});
  REQUIRE(status["attachments"].size() == 3);
  std::map<std::string, Json> by_dev;
  for (const Json& a : status["attachments"]) by_dev[a["dev"]] = a;
  CHECK(by_dev[h.c1h()]["mode"] == "native");
  CHECK(by_dev[h.c1h()]["prog_id"] == c1["prog_id"]);
  CHECK(by_dev[h.c1h()]["peer_napi"] == true);
  CHECK(by_dev[h.up()]["mode"] == "native");
  if (cpus >= 2) CHECK(by_dev[h.up()]["steer_cpus"] == Json::array({0, 1}));
  CHECK(by_dev[h.rt()]["mode"] == "generic");
  CHECK(by_dev[h.rt()]["role"] == "router");
  if (!LibxdpMultiprog()) {
    for (auto& [dev, a] : by_dev) CHECK(a["multiprog"] == false);
  }
  CHECK(status["tables"]["endpoints"] == 1);
  std::string text = h.Ok({"-d", "status"});
  CHECK_THAT(text, Catch::Contains(h.c1h() + " ifindex "));
  const std::string c1_id = std::to_string(c1["prog_id"].get<uint64_t>());
  if (c1["multiprog"] == false) {
    // Attached alone: the kernel runs the program ilactl reports, and ilactl says why alone.
    auto link = h.host_ns().RunOutput("ip -j link show dev " + h.c1h());
    REQUIRE(link.ok());
    Json kernel = Json::parse(*link);
    CHECK(kernel[0]["xdp"]["prog"]["id"] == c1["prog_id"]);
    CHECK_THAT(text, Catch::Contains(" container mode native multiprog off prog-id " + c1_id +
                                     " peer-napi on"));
    CHECK_THAT(text, Catch::Contains("libxdp: "));
  } else {
    CHECK_THAT(text, Catch::Contains(" container mode native multiprog on prog-id " + c1_id));
  }

  // Native where the driver has no XDP: refused, in one line; auto attaches an uplink at tc
  // there (not generic XDP) and says why; a router, which needs XDP, falls back to generic.
  std::string br = UniqueIfName("br");
  REQUIRE(h.host_ns().Run("ip link add " + br + " type bridge && ip link set " + br + " up").ok());
  h.Fails({"attach", "uplink", br, "mode", "native"},
          "attaching the uplink program to " + br + " failed: native: ");
  Json at_tc = h.OkJson({"attach", "uplink", br});
  CHECK(at_tc["mode"] == "tc");
  CHECK_THAT(at_tc["mode_reason"].get<std::string>(),
             Catch::StartsWith("tc: the driver has no native XDP"));
  CHECK(h.Ok({"detach", br}).empty());
  Json generic = h.OkJson({"attach", "router", br});
  CHECK(generic["mode"] == "generic");
  CHECK_THAT(generic["mode_reason"].get<std::string>(),
             Catch::StartsWith("generic: native attach failed"));
  CHECK(h.OkJson({"status"})["attachments"].size() == 4);
  CHECK(h.Ok({"detach", br}).empty());

  // tc mode is for containers; on any other role it is refused before anything is applied.
  h.Fails({"attach", "router", br, "mode", "tc"}, "router program runs at XDP only");
  CHECK(h.OkJson({"status"})["attachments"] == status["attachments"]);

  // Attaching twice is refused and leaves the first attachment alone.
  h.Fails({"attach", "router", h.c1h()}, "already has the container program");
  CHECK(h.OkJson({"status"})["attachments"] == status["attachments"]);

  // Upgrade: new programs everywhere, same maps.
  h.Ok({"map", "add", "2001:db8:0:1::2", "locator", "2001:db8:bbbb:2"});
  Json upgraded = h.OkJson({"upgrade"});
  REQUIRE(upgraded.size() == 3);
  for (const Json& u : upgraded) {
    CAPTURE(u.dump());
    CHECK(u["old_prog_id"] == by_dev[u["dev"]]["prog_id"]);
    CHECK(u["prog_id"] != u["old_prog_id"]);
    CHECK(u["prog_id"].get<uint64_t>() > 0);
  }
  Json after = h.OkJson({"status"});
  for (const Json& a : after["attachments"]) {
    for (const Json& u : upgraded) {
      if (u["dev"] == a["dev"]) CHECK(a["prog_id"] == u["prog_id"]);
    }
  }
  Json c1_upgraded;
  for (const Json& u : upgraded) {
    if (u["dev"] == h.c1h()) c1_upgraded = u;
  }
  if (c1["multiprog"] == false) {
    auto link = h.host_ns().RunOutput("ip -j link show dev " + h.c1h());
    REQUIRE(link.ok());
    CHECK(Json::parse(*link)[0]["xdp"]["prog"]["id"] == c1_upgraded["prog_id"]);
  }
  CHECK(h.OkJson({"map", "show"}).size() == 1);  // the tables carried on
  CHECK_THAT(h.Ok({"upgrade"}), Catch::Contains(h.c1h() + " container prog-id "));

  // Detach: the container's program and its endpoint go; the others stay.
  CHECK(h.Ok({"detach", h.c1h()}).empty());
  Json detached = h.OkJson({"status"});
  CHECK(detached["attachments"].size() == 2);
  for (const Json& a : detached["attachments"]) CHECK(a["dev"] != h.c1h());
  CHECK(h.OkJson({"endpoint", "show"}).empty());
  auto detached_link = h.host_ns().RunOutput("ip -j link show dev " + h.c1h());
  REQUIRE(detached_link.ok());
  CHECK(!Json::parse(*detached_link)[0].contains("xdp"));
  h.Fails({"detach", h.c1h()}, "has no program of this instance (attached: ");
  // An interface can also be named by its index (for one that has lost its name).
  CHECK(h.Ok({"det", "ifindex", std::to_string(by_dev[h.rt()]["ifindex"].get<int>())}).empty());
  CHECK(h.Ok({"detach", h.up()}).empty());
  CHECK(h.OkJson({"status"})["attachments"].empty());
  CHECK_THAT(h.Ok({"status"}), Catch::Contains("attachments\n  (none)\n"));
}

TEST_CASE("ilactl accepts the kernel's ILA grammar and names what has no equivalent") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  h.Ok({"create"});

  // The kernel documentation's example; the SIR prefix is registered on the way.
  CHECK(h.Ok({"route", "add", "3333:0:0:1:2000:0:1:87/128", "encap", "ila", "2001:0:87:0",
              "csum-mode", "neutral-map", "ident-type", "use-format"})
            .empty());
  CHECK(h.OkJson({"prefix", "show"}) == Json::parse(R"([{"prefix":"3333:0:0:1::/64"}])"));
  Json routes = h.OkJson({"route", "show"});
  CHECK(routes ==
        Json::parse(R"([{"dst":"3333::1:2000:0:1:87","encap":"ila","locator":"2001:0:87:0",
                                  "csum_mode":"neutral-map","ident_type":"use-format"}])"));
  Json maps = h.OkJson({"map", "show"});
  REQUIRE(maps.size() == 1);
  CHECK(maps[0]["ila_address"] == "2001:0:87:0:3000:0:1:333");  // docs/translation.md
  CHECK(h.Ok({"route", "show"}) ==
        "3333::1:2000:0:1:87 encap ila 2001:0:87:0 csum-mode neutral-map ident-type use-format\n");
  // Without /128, and with the kernel's defaults (no-action, use-format).
  CHECK(h.Ok({"r", "a", "to", "3333:0:0:1:2000:0:1:88", "encap", "ila", "2001:0:88:0"}).empty());
  Json m88 = h.OkJson({"map", "show", "3333:0:0:1:2000:0:1:88"});
  CHECK(m88[0]["csum_mode"] == "no-action");
  CHECK(m88[0]["ident_type"] == "use-format");

  // ip ila: loc_match is this host's locator, loc the SIR prefix.
  CHECK(h.Ok({"ila", "add", "loc_match", "2001:0:87:0", "loc", "3333:0:0:1", "csum-mode",
              "neutral-map", "ident-type", "luid", "dev", h.up()})
            .empty());
  Json ila = h.OkJson({"ila", "list"});
  CHECK(ila == Json::parse(R"([{"locator_match":"2001:0:87:0","locator":"3333:0:0:1",
                               "sir_prefix":"3333:0:0:1::/64","csum_mode":"neutral-map"}])"));
  CHECK(h.Ok({"ila", "list"}) == "loc_match 2001:0:87:0 loc 3333:0:0:1 csum-mode neutral-map\n");
  CHECK(h.OkJson({"locator", "show"}) == ila);
  // A second locator whose SIR prefix is new registers it too.
  CHECK(h.Ok({"ila", "add", "loc_match", "2001:0:87:1", "loc", "4444:0:0:1"}).empty());
  CHECK(h.OkJson({"prefix", "show"}).size() == 2);
  CHECK(h.OkJson({"locator", "show", "2001:0:87:1"})[0]["csum_mode"] == "no-action");

  // What has no equivalent: one line each, nothing applied.
  std::string before = Snapshot(h);
  // As with ip: adding what exists is refused (ip route add / ip ila add say "File exists").
  h.Fails({"route", "add", "3333:0:0:1:2000:0:1:87/128", "encap", "ila", "2001:0:99:0"},
          "already has a mapping");
  h.Fails({"ila", "add", "loc_match", "2001:0:87:0", "loc", "3333:0:0:1"}, "already registered");
  h.Fails({"route", "add", "3333:0:0:1::/64", "encap", "ila", "2001:0:87:0"},
          "prefixes shorter than /128 have no equivalent");
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0", "via", "fe80::1"},
          "\"via\" has no equivalent");
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0", "dev", h.up()},
          "\"dev\" has no equivalent");
  h.Fails(
      {"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0", "hook-type", "input"},
      "\"hook-type\" has no equivalent");
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0", "table", "100"},
          "route attribute \"table\" has no equivalent");
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "mpls", "100"},
          "\"encap mpls\" has no equivalent");
  h.Fails({"route", "add", "default", "encap", "ila", "2001:0:87:0"},
          "\"default\" has no equivalent");
  h.Fails({"route", "add", "3333:0:0:1::5/129", "encap", "ila", "2001:0:87:0"},
          "invalid prefix length in \"3333:0:0:1::5/129\"");
  h.Fails({"route", "add", "3333:0:0:1::5/128"}, "missing \"encap ila LOCATOR\"");
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87"},
          "invalid locator \"2001:0:87\"");
  h.Fails(
      {"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0", "csum-mode", "bogus"},
      "unknown csum-mode \"bogus\"");
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0", "frobnicate"},
          "\"frobnicate\" has no equivalent in a libila mapping");
  // use-format reading a non-luid type (identifier 0x0000...: iid) is refused, as Linux does.
  h.Fails({"route", "add", "3333:0:0:1::5/128", "encap", "ila", "2001:0:87:0"},
          "only luid identifiers can be translated");
  h.Fails({"ila", "add", "loc_match", "2001:0:87:2"}, "missing \"loc SIRPREFIX\"");
  h.Fails({"ila", "add", "loc", "3333:0:0:1"}, "missing \"loc_match LOCATOR\"");
  h.Fails({"ila", "add", "loc_match", "2001:0:87:2", "loc", "3333:0:0:1", "hook-type", "input"},
          "\"hook-type\" has no equivalent");
  h.Fails({"ila", "add", "loc_match", "2001:0:87:2", "loc", "3333:0:0:1", "ident-type", "iid"},
          "ident-type iid: only luid identifiers are translated");
  h.Fails({"ila", "add", "loc_match", "2001:0:87:2", "loc", "3333:0:0:1", "dev", "nosuchdev0"},
          "no interface named \"nosuchdev0\"");
  h.Fails({"ila", "add", "l", "2001:0:87:2"}, "unexpected \"l\"");
  h.Fails({"ila", "del", "loc_match", "2001:0:87:0", "loc", "5555:0:0:1"},
          "locator 2001:0:87:0 translates to 3333:0:0:1, not 5555:0:0:1; nothing removed");
  h.Fails({"route", "del", "3333:0:0:1:2000:0:1:87/128", "encap", "ila", "2001:0:99:0"},
          "maps to locator 2001:0:87:0, not 2001:0:99:0; nothing removed");
  h.Fails({"route", "del", "3333:0:0:1::77"}, "no mapping for 3333:0:0:1::77");
  // A mapping refused by the library after the prefix was registered for it takes the prefix
  // back: 5555:0:0:1::/64 is new, and the ILA address is the existing mapping's.
  h.Fails({"route", "add", "5555:0:0:1:2000:0:1:88/128", "encap", "ila", "2001:0:88:0"},
          "is already the destination of 3333::1:2000:0:1:88");
  CHECK(Snapshot(h) == before);

  CHECK(
      h.Ok({"route", "del", "3333:0:0:1:2000:0:1:87/128", "encap", "ila", "2001:0:87:0"}).empty());
  CHECK(h.Ok({"route", "delete", "3333:0:0:1:2000:0:1:88"}).empty());
  CHECK(h.OkJson({"route", "show"}).empty());
  CHECK(
      h.Ok({"ila", "del", "loc_match", "2001:0:87:0", "loc", "3333:0:0:1", "dev", h.up()}).empty());
  CHECK(h.Ok({"ila", "del", "loc_match", "2001:0:87:1"}).empty());
  CHECK(h.OkJson({"ila", "list"}).empty());
  h.Fails({"ila", "del", "loc_match", "2001:0:87:1"}, "locator 2001:0:87:1 is not registered");
}

TEST_CASE("ilactl bad input: exit 1, one line naming the word, nothing applied") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  h.Ok({"create"});
  h.Ok({"prefix", "add", kSir});
  h.Ok({"locator", "add", kL1, "sir", kSir});
  h.Ok({"map", "add", "2001:db8:0:1::2", "locator", "2001:db8:bbbb:2"});
  h.Ok({"attach", "container", h.c1h(), "sir", "2001:db8:0:1::1", "mac", "02:00:00:00:c1:01"});
  std::string before = Snapshot(h);

  struct Case {
    std::vector<std::string> args;
    std::string mention;
  };
  std::vector<Case> cases = {
      // objects, commands, options
      {{"frobnicate"}, "unknown object \"frobnicate\"; expected create, destroy"},
      {{"st"}, "ambiguous object \"st\": it could be status or stats"},
      {{"de"}, "ambiguous object \"de\": it could be destroy or detach"},
      {{"map", "frob"}, "map: unknown command \"frob\"; expected add, del, show or flush"},
      {{"map", "d", "2001:db8:0:1::9", "x"}, "unexpected \"x\" at the end of the command"},
      {{"-x", "status"}, "unknown option \"-x\""},
      {{"--root"}, "option \"--root\" needs a value"},
      {{"--instance", "a/b", "status"}, "invalid instance name \"a/b\""},
      {{"--json=1", "status"}, "option \"--json\" takes no value"},
      {{}, "missing object"},
      // map
      {{"map", "add"}, "missing a SIR address after \"add\""},
      {{"map", "add", "2001:db8:0:1::zz", "locator", "1:2:3:4"},
       "invalid IPv6 address \"2001:db8:0:1::zz\""},
      {{"map", "add", "2001:db8:0:1::9"}, "missing \"locator LOCATOR\""},
      {{"map", "add", "2001:db8:0:1::9", "locator"}, "missing a locator after \"locator\""},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3"}, "invalid locator \"1:2:3\""},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3:4", "csum-mode", "fast"},
       "unknown csum-mode \"fast\""},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3:4", "csum-mode", "neutral"},
       "ambiguous csum-mode \"neutral\": it could be neutral-map or neutral-map-auto"},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3:4", "ident-type", "virt"},
       "ambiguous ident-type \"virt\""},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3:4", "ident-type", "iid"},
       "only luid identifiers can be translated"},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3:4", "locator", "1:2:3:5"},
       "\"locator\" is given twice"},
      {{"map", "add", "2001:db8:0:1::9", "locator", "1:2:3:4", "color", "red"},
       "unexpected \"color\""},
      {{"map", "add", "2001:db8:0:1::9", "locator", "0:0:0:0"}, "the locator is zero"},
      {{"map", "add", "2001:db8:0:1:1000::9", "locator", "1:2:3:4", "csum-mode", "neutral-map"},
       "C-bit"},
      {{"map", "add", "2001:db8:0:1::ffff", "locator", "1:2:3:4", "csum-mode", "neutral-map-auto"},
       "0xffff"},
      {{"map", "add", "2001:db8:0:9::9", "locator", "1:2:3:4"},
       "the SIR prefix 2001:db8:0:9::/64 of 2001:db8:0:9::9 is not registered; add it first with "
       "\"ilactl prefix add 2001:db8:0:9::/64\""},
      {{"map", "del", "2001:db8:0:1::9"}, "no mapping for 2001:db8:0:1::9"},
      {{"map", "show", "bogus"}, "invalid IPv6 address \"bogus\""},
      {{"map", "flush", "now"}, "unexpected \"now\""},
      // prefix
      {{"prefix", "add", "2001:db8::/48"},
       "invalid SIR prefix \"2001:db8::/48\": the prefix length must be 64"},
      {{"prefix", "add"}, "missing a SIR prefix"},
      {{"prefix", "rule", "add", kSir}, "missing a second SIR prefix"},
      {{"prefix", "rule", "add", kSir, kSir}, "a SIR prefix always reaches itself"},
      {{"prefix", "rule", "add", kSir, "2001:db8:0:7::/64"},
       "SIR prefix 2001:db8:0:7::/64 is not registered"},
      {{"prefix", "rule", "del", kSir, "2001:db8:0:7::/64"}, "does not exist"},
      {{"prefix", "rule", "frob"}, "prefix rule: unknown command \"frob\""},
      {{"create", "max-prefix-rules", "0"}, "invalid table size \"0\" for max-prefix-rules"},
      {{"prefix", "del", "2001:db8:0:7::/64"}, "SIR prefix 2001:db8:0:7::/64 is not registered"},
      // locator
      {{"locator", "add", kL1}, "missing \"sir PREFIX\""},
      {{"locator", "add", "0:0:0:0", "sir", kSir}, "\"0:0:0:0\" cannot be a host's locator"},
      {{"locator", "add", kL1, "sir", "2001:db8:0:9::/64"},
       "the SIR prefix 2001:db8:0:9::/64 of locator"},
      {{"locator", "add", "zz:1", "sir", kSir}, "invalid locator \"zz:1\""},
      // endpoint
      {{"endpoint", "add", "2001:db8:0:1::5", "dev", "nosuchdev0", "mac", "02:00:00:00:00:05"},
       "no interface named \"nosuchdev0\""},
      {{"endpoint", "add", "2001:db8:0:1::5", "dev", h.c1h()}, "missing \"mac MAC\""},
      {{"endpoint", "add", "2001:db8:0:1::5", "dev", h.c1h(), "mac", "00:00:00:00:00:00"},
       "cannot be 00:00:00:00:00:00"},
      {{"endpoint", "add", "2001:db8:0:1::5", "dev", h.c1h(), "mac", "02:00:00:00:00"},
       "invalid MAC address \"02:00:00:00:00\""},
      // attach / detach
      {{"attach", "container", h.c1h()}, "missing \"sir SIR\""},
      {{"attach", "container", h.up(), "sir", "2001:db8:0:1::7"}, "missing \"mac MAC\""},
      {{"attach", "container", h.up(), "sir", "2001:db8:0:1::7", "mac", "02:00:00:00:00:07",
        "steer", "0"},
       "\"steer\" (cpumap steering) is only for uplink attachments"},
      {{"attach", "uplink", h.up(), "sir", "2001:db8:0:1::7"},
       "\"sir\" is only for container attachments"},
      {{"attach", "uplink", h.up(), "steer", "0,x"}, "invalid CPU list \"0,x\""},
      {{"attach", "uplink", h.up(), "steer", "0,0"}, "CPU 0 appears twice"},
      {{"attach", "uplink", h.up(), "mode", "turbo"},
       "unknown mode \"turbo\"; expected native, generic, auto or tc"},
      {{"attach", "bridge", h.up()},
       "unknown role \"bridge\"; expected container, uplink or router"},
      {{"attach", "uplink", "nosuchdev0"}, "no interface named \"nosuchdev0\""},
      {{"attach", "container", h.c1h(), "sir", "2001:db8:0:1::1", "mac", "02:00:00:00:c1:01"},
       "already has the container program"},
      {{"attach", "router", h.up(), "steer", "0"}, "only for uplink attachments"},
      {{"detach"}, "missing an interface name"},
      {{"detach", h.up()}, "has no program of this instance (attached: " + h.c1h() + ")"},
      {{"detach", "ifindex", "0"}, "invalid interface index \"0\""},
      // create (an instance exists: the parse errors come first)
      {{"create", "max-mappings", "0"}, "invalid table size \"0\" for max-mappings"},
      {{"create", "max-mappings", "4294967296"}, "invalid table size \"4294967296\""},
      {{"create", "max", "10"}, "ambiguous keyword \"max\""},
      {{"create", "miss-policy", "maybe"}, "unknown miss-policy \"maybe\""},
      {{"create", "miss-event-interval", "5 min"}, "invalid duration \"5 min\""},
      {{"create", "moved-policy", "drop", "moved-policy", "drop"},
       "\"moved-policy\" is given twice"},
      {{"create"}, "already pinned"},
      // stats, status, upgrade, destroy
      {{"stats", "--json"}, "unexpected \"--json\"; expected --prometheus or nothing"},
      {{"-j", "stats", "--prometheus"}, "-j and --prometheus are two different output formats"},
      {{"status", "now"}, "unexpected \"now\""},
      {{"upgrade", "now"}, "unexpected \"now\""},
      {{"destroy", "now"}, "unexpected \"now\""},
      // kernel grammar
      {{"route", "add", "2001:db8:0:1::/64", "encap", "ila", "1:2:3:4"},
       "prefixes shorter than /128"},
      {{"ila", "add", "loc_match", kL1}, "missing \"loc SIRPREFIX\""},
  };
  for (const Case& c : cases) {
    CAPTURE(Host::Join(c.args));
    h.Fails(c.args, c.mention);
  }
  CHECK(Snapshot(h) == before);
}

TEST_CASE("ilactl -n enters a namespace without remounting /sys, and help and version") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  Json created = h.OkJson({"create"});
  // Run directly (no ip netns exec): -n switches only the network namespace, and the default
  // instance name follows it.
  Result r = Exec({ILACTL_PATH, "-n", h.host_ns().name(), "--root", h.bpffs(), "-j", "status"});
  INFO(r.Describe());
  REQUIRE(r.status == 0);
  CHECK(Json::parse(r.out)["instance"] == created["instance"]);
  r = Exec({ILACTL_PATH, "-n", "ilactl-no-such-netns", "--root", h.bpffs(), "status"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot open network namespace \"ilactl-no-such-netns\""));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);

  r = Exec({ILACTL_PATH, "help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("Usage: ilactl"));
  CHECK(Exec({ILACTL_PATH, "-h"}).out == r.out);
  CHECK(Exec({ILACTL_PATH, "map", "help"}).out == r.out);
  r = Exec({ILACTL_PATH, "-V"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("ilactl (libila) "));
}

// `ilactl keep` runs in the background; its output lines are read as they come.
class Keeper {
 public:
  explicit Keeper(const std::vector<std::string>& argv) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
  }
  ~Keeper() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      (void)Wait();
    }
    if (out_ >= 0) close(out_);
  }
  // The next line containing `text` within 5 s, or "" (everything read so far is in seen()).
  std::string LineWith(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        seen_ += line + "\n";
        if (line.find(text) != std::string::npos) return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[512];
      ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  int Stop(int sig) {
    kill(pid_, sig);
    return Wait();
  }
  const std::string& seen() const { return seen_; }

 private:
  int Wait() {
    int wstatus = 0;
    while (waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  }
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_, seen_;
};

TEST_CASE("ilactl keep holds the next-hop cache on until it is stopped") {
  ILA_SKIP_IF(SkipReason());
  Host h;
  REQUIRE(h.host_ns().EnableForwarding().ok());
  h.Ok({"create"});
  CHECK(h.OkJson({"status"})["nexthop_cache"]["enabled"] == false);

  Keeper keeper(h.Command({"keep"}));
  INFO(keeper.seen());
  CHECK_FALSE(keeper.LineWith("nexthop-cache on").empty());
  CHECK(h.OkJson({"status"})["nexthop_cache"]["enabled"] == true);

  // It follows the routing configuration.
  REQUIRE(h.host_ns().Run("ip -6 rule add from 2001:db8::/32 table 100 priority 100").ok());
  CHECK_FALSE(keeper.LineWith("policy rule (priority 100").empty());
  CHECK(h.OkJson({"status"})["nexthop_cache"]["enabled"] == false);
  REQUIRE(h.host_ns().Run("ip -6 rule del from 2001:db8::/32 table 100 priority 100").ok());
  CHECK_FALSE(keeper.LineWith("nexthop-cache on").empty());

  // Stopped, it exits cleanly and the cache is off: nobody would retire stale answers.
  CHECK(keeper.Stop(SIGTERM) == 0);
  Json status = h.OkJson({"status"});
  CHECK(status["nexthop_cache"]["enabled"] == false);
  CHECK_THAT(std::string(status["nexthop_cache"]["reason"]),
             Catch::Contains("no process keeps it"));

  // With the cache configured off there is nothing to keep.
  h.Ok({"destroy"});
  h.Ok({"create", "no-nexthop-cache"});
  CHECK(h.OkJson({"status"})["config"]["nexthop_cache"] == false);
  h.Fails({"keep"}, "created with the next-hop cache off");
}

TEST_CASE("ilactl probe lists every kernel feature, as text and JSON, as the library sees them") {
  ILA_SKIP_IF(SkipReason());
  Result r = Exec({ILACTL_PATH, "-j", "probe"});
  INFO(r.Describe());
  REQUIRE(r.status == 0);
  Json j = Json::parse(r.out);
  auto lib = ProbeKernel();
  REQUIRE(lib.ok());
  CHECK(j["kernel"] == lib->kernel_release);
  REQUIRE(j["features"].size() == static_cast<size_t>(kKernelFeatureCount));
  for (int i = 0; i < kKernelFeatureCount; ++i) {
    auto f = static_cast<KernelFeature>(i);
    const Json& e = j["features"][static_cast<size_t>(i)];
    CAPTURE(ToString(f), e.dump());
    CHECK(e["name"] == std::string(ToString(f)));
    CHECK(e["available"] == lib->Has(f));
    CHECK(e["required"] == RequiredForCreate(f));
    // A missing feature always says what the kernel answered.
    if (!e["available"].get<bool>()) CHECK(!e["detail"].get<std::string>().empty());
  }
  // What every test here already relies on is there.
  CHECK(lib->Has(KernelFeature::kDevmap));
  CHECK(lib->Has(KernelFeature::kTcClsact));

  Result text = Exec({ILACTL_PATH, "probe"});
  REQUIRE(text.status == 0);
  for (int i = 0; i < kKernelFeatureCount; ++i) {
    auto f = static_cast<KernelFeature>(i);
    CHECK_THAT(text.out, Catch::Contains("\n" + std::string(ToString(f)) + " "));
  }
  Result one = Exec({ILACTL_PATH, "probe", "feature", "devmap"});
  CHECK(one.status == 0);
  CHECK_THAT(one.out, Catch::StartsWith("devmap") && Catch::Contains("yes"));

  Result bad = Exec({ILACTL_PATH, "probe", "feature", "warp_drive"});
  CHECK(bad.status == 1);
  CHECK_THAT(bad.err, Catch::Contains("unknown kernel feature \"warp_drive\"; one of: btf, "));
  Result nodev = Exec({ILACTL_PATH, "probe", "dev", "no-such-dev0"});
  CHECK(nodev.status == 1);
  CHECK_THAT(nodev.err, Catch::Contains("no-such-dev0"));
  // The probe's scratch interfaces never appear here.
  auto links = RunChecked({"ip", "-o", "link"});
  REQUIRE(links.ok());
  CHECK_THAT(*links, !Catch::Contains("ilaprobe"));
}
