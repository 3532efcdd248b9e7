// ila-cni, the real binary, invoked exactly as runtimes invoke it (CNI_* in the environment, the
// network configuration on stdin, in the host's network namespace) against real ila-agents and a
// real etcd (cluster/agent_bed.h): every command, the spec's errors, what Kubernetes' CRI sends,
// chaining, idempotent DEL, CHECK after someone changed the container, GC, and concurrent ADDs
// on two hosts.
#include <algorithm>
#include <catch2/catch.hpp>
#include <future>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/agent_bed.h"
#include "support/skip.h"
#include "testbed/netns.h"
#include "testbed/process.h"

namespace ila::cluster_test {
namespace {

using nlohmann::json;

json NetConf(const std::string& socket) {
  return {{"cniVersion", "1.0.0"},     {"name", "ila"},         {"type", "ila-cni"},
          {"sirPrefix", "3333:0:0:1"}, {"agentSocket", socket}, {"reservationSeconds", 0}};
}

struct CniRun {
  int exit_code = 0;
  json out;  // stdout as JSON (null when empty)
  std::string text;
};

// Runs ila-cni in `host_ns` (or in this namespace when null) with `env` and `config` on stdin.
// No Catch2 assertion in here: the concurrent test calls it from several threads.
absl::StatusOr<CniRun> RunPlugin(const std::string& plugin, const testbed::Netns* host_ns,
                                 const std::map<std::string, std::string>& env,
                                 const json& config) {
  std::vector<std::string> argv;
  if (host_ns != nullptr) argv = {"ip", "netns", "exec", host_ns->name()};
  argv.emplace_back("env");
  argv.emplace_back("-i");  // nothing of this process's environment: only what a runtime passes
  for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
  argv.push_back(plugin);
  auto r =
      testbed::RunCommand(argv, testbed::Duration(60000), config.is_null() ? "" : config.dump());
  if (!r.ok()) return r.status();
  CniRun run{r->exit_code, nullptr, r->output};
  if (!r->output.empty()) run.out = json::parse(r->output, nullptr, false);
  return run;
}

absl::StatusOr<CniRun> RunCni(const testbed::Netns* host_ns,
                              const std::map<std::string, std::string>& env, const json& config) {
  return RunPlugin(ILA_CNI_PATH, host_ns, env, config);
}

CniRun Cni(const testbed::Netns* host_ns, const std::map<std::string, std::string>& env,
           const json& config) {
  auto r = RunCni(host_ns, env, config);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *std::move(r);
}

std::map<std::string, std::string> Env(const std::string& command, const std::string& id,
                                       const std::string& netns,
                                       const std::string& ifname = "eth0") {
  return {{"CNI_COMMAND", command},
          {"CNI_CONTAINERID", id},
          {"CNI_NETNS", netns},
          {"CNI_IFNAME", ifname},
          {"CNI_PATH", "/usr/lib/cni"}};
}

std::string NetnsPath(const testbed::Netns& ns) { return "/run/netns/" + ns.name(); }

int ErrorCode(const CniRun& r) {
  INFO(r.text);
  REQUIRE(r.exit_code != 0);
  REQUIRE(r.out.is_object());
  return r.out.value("code", 0);
}

std::string AddressOf(const CniRun& r) {
  INFO(r.text);
  REQUIRE(r.exit_code == 0);
  const std::string a = r.out["ips"][0]["address"].get<std::string>();
  return a.substr(0, a.find('/'));
}

std::unique_ptr<AgentBed> MakeBed(int hosts) {
  auto bed = AgentBed::Create({.hosts = hosts});
  INFO(bed.status().ToString());
  REQUIRE(bed.ok());
  REQUIRE((*bed)->PutPrefix().ok());
  for (int i = 0; i < hosts; ++i) REQUIRE((*bed)->StartAgent(i).ok());
  return std::move(*bed);
}

// The mapping record of `sir` in etcd ("" when none).
std::string MappingRecord(AgentBed& bed, const std::string& sir) {
  auto v = bed.Etcdctl({"get", "--print-value-only", "/ila/v1/mappings/3333:0:0:1/" + sir});
  REQUIRE(v.ok());
  return *v;
}

bool LinkExists(const testbed::Netns& ns, const std::string& name) {
  auto r = testbed::RunCommand({"ip", "-n", ns.name(), "link", "show", name});
  return r.ok() && r->exit_code == 0;
}

TEST_CASE("ila-cni: VERSION and every malformed invocation get the spec's error codes") {
  // No agent is needed for these: they are refused before anything is asked of it.
  const json conf = NetConf("/nonexistent/agent.sock");
  CniRun v = Cni(nullptr, {{"CNI_COMMAND", "VERSION"}}, json{{"cniVersion", "1.0.0"}});
  REQUIRE(v.exit_code == 0);
  CHECK(v.out["supportedVersions"] == json({"1.0.0", "1.1.0"}));

  CHECK(ErrorCode(Cni(nullptr, {}, conf)) == 4);  // no CNI_COMMAND
  CHECK(ErrorCode(Cni(nullptr, {{"CNI_COMMAND", "FROB"}}, conf)) == 4);
  auto add = Env("ADD", "c1", "/run/netns/none");
  add.erase("CNI_NETNS");
  CHECK(ErrorCode(Cni(nullptr, add, conf)) == 4);
  CHECK(ErrorCode(Cni(nullptr, Env("ADD", "c/1", "/run/netns/none"), conf)) == 4);
  CHECK(ErrorCode(Cni(nullptr, Env("ADD", "c1", "/run/netns/none", "a-name-too-long-x"), conf)) ==
        4);
  auto with_args = Env("ADD", "c1", "/run/netns/none");
  with_args["CNI_ARGS"] = "K8S_POD_NAME";
  CHECK(ErrorCode(Cni(nullptr, with_args, conf)) == 4);

  CniRun garbled = Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), nullptr);
  CHECK(ErrorCode(garbled) == 6);
  json old = conf;
  old["cniVersion"] = "0.3.1";
  CniRun incompatible = Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), old);
  CHECK(ErrorCode(incompatible) == 1);
  CHECK(incompatible.out["msg"].get<std::string>().find("0.3.1") != std::string::npos);
  CHECK(ErrorCode(Cni(nullptr, {{"CNI_COMMAND", "GC"}}, conf)) == 1);  // GC is 1.1.0's

  json no_prefix = conf;
  no_prefix.erase("sirPrefix");
  CniRun missing = Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), no_prefix);
  CHECK(ErrorCode(missing) == 7);
  CHECK(missing.out["msg"].get<std::string>().find("sirPrefix") != std::string::npos);
  json bad_mtu = conf;
  bad_mtu["mtu"] = 1000;
  CHECK(ErrorCode(Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), bad_mtu)) == 7);
  json outside = conf;
  outside["runtimeConfig"] = {{"ips", {"3333:0:0:2::5/128"}}};
  CHECK(ErrorCode(Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), outside)) == 7);
  json ipam = conf;
  ipam["ipam"] = {{"subnet", "3333:0:0:1::/64"}};
  CHECK(ErrorCode(Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), ipam)) == 7);  // no type
  // The agent is not there: try again later; STATUS: not available.
  CHECK(ErrorCode(Cni(nullptr, Env("ADD", "c1", "/run/netns/none"), conf)) == 11);
  json v11 = conf;
  v11["cniVersion"] = "1.1.0";
  CHECK(ErrorCode(Cni(nullptr, {{"CNI_COMMAND", "STATUS"}}, v11)) == 50);
}

TEST_CASE("ila-cni: ADD plumbs and publishes, CHECK finds what changed, DEL is idempotent") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  const testbed::Netns& host = bed->host_ns(0);
  const json conf = NetConf(bed->socket(0));
  auto pod = testbed::Netns::Create("ilacni");
  REQUIRE(pod.ok());

  CniRun add = Cni(&host, Env("ADD", "pod1", NetnsPath(*pod)), conf);
  const std::string sir = AddressOf(add);
  CHECK(add.out["cniVersion"] == "1.0.0");
  REQUIRE(add.out["interfaces"].size() == 2);
  const std::string veth = add.out["interfaces"][0]["name"].get<std::string>();
  CHECK(add.out["interfaces"][1]["sandbox"] == NetnsPath(*pod));
  CHECK(add.out["ips"][0]["interface"] == 1);
  CHECK(add.out["routes"][0]["dst"] == "::/0");
  CHECK(LinkExists(host, veth));
  CHECK(MappingRecord(*bed, sir).find(R"("host":"h1")") != std::string::npos);
  auto dp = bed->Open(0);
  REQUIRE(dp.ok());
  CHECK((*dp)->endpoints().Get(*SirAddress::Parse(sir)).ok());
  // The container has its address, default route and gateway neighbour.
  auto route = testbed::RunCommand({"ip", "-n", pod->name(), "-6", "route", "show", "default"});
  REQUIRE(route.ok());
  CHECK(route->output.find("fe80::1") != std::string::npos);

  json check = conf;
  check["prevResult"] = add.out;
  CHECK(Cni(&host, Env("CHECK", "pod1", NetnsPath(*pod)), check).exit_code == 0);
  // Someone removes the container's default route: CHECK says so.
  REQUIRE(pod->Ip({"-6", "route", "del", "default"}).ok());
  CniRun changed = Cni(&host, Env("CHECK", "pod1", NetnsPath(*pod)), check);
  CHECK(ErrorCode(changed) == 101);
  CHECK(changed.out.value("details", std::string()).find("::/0") != std::string::npos);

  // DEL: the mapping and the veth go; twice is fine.
  json del = conf;
  del["prevResult"] = add.out;
  CniRun d1 = Cni(&host, Env("DEL", "pod1", NetnsPath(*pod)), del);
  INFO(d1.text);
  CHECK(d1.exit_code == 0);
  CHECK(d1.text.empty());
  CHECK(MappingRecord(*bed, sir).empty());
  CHECK_FALSE(LinkExists(host, veth));
  CHECK_FALSE((*dp)->endpoints().Get(*SirAddress::Parse(sir)).ok());
  CHECK(Cni(&host, Env("DEL", "pod1", NetnsPath(*pod)), del).exit_code == 0);

  // DEL after the namespace is gone (the runtime passes no CNI_NETNS then).
  auto created = testbed::Netns::Create("ilacni");
  REQUIRE(created.ok());
  std::optional<testbed::Netns> pod2(std::move(*created));
  CniRun add2 = Cni(&host, Env("ADD", "pod2", NetnsPath(*pod2)), conf);
  const std::string sir2 = AddressOf(add2);
  CHECK(sir2 != sir);
  pod2.reset();  // the namespace goes, and the container side with it
  CniRun d2 = Cni(&host, Env("DEL", "pod2", ""), conf);
  INFO(d2.text);
  CHECK(d2.exit_code == 0);
  CHECK(MappingRecord(*bed, sir2).empty());
  CHECK_FALSE(LinkExists(host, add2.out["interfaces"][0]["name"].get<std::string>()));
}

TEST_CASE("ila-cni: a failed ADD leaves no veth and no mapping behind") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  const testbed::Netns& host = bed->host_ns(0);
  json conf = NetConf(bed->socket(0));
  // The address asked for belongs to another host: the agent's claim fails.
  REQUIRE(bed->Etcdctl({"put", "/ila/v1/mappings/3333:0:0:1/3333:0:0:1::99",
                        R"({"v":1,"host":"h9","locator":"2001:db8:9:0"})"})
              .ok());
  auto pod = testbed::Netns::Create("ilacni");
  REQUIRE(pod.ok());
  conf["runtimeConfig"] = {{"ips", {"3333:0:0:1::99/128"}}};
  CniRun taken = Cni(&host, Env("ADD", "pod1", NetnsPath(*pod)), conf);
  CHECK(ErrorCode(taken) == 100);
  CHECK_FALSE(LinkExists(*pod, "eth0"));
  auto links = testbed::RunCommand({"ip", "-n", host.name(), "-o", "link", "show"});
  REQUIRE(links.ok());
  CHECK(links->output.find(": ila") == std::string::npos);
  CHECK(MappingRecord(*bed, "3333:0:0:1::99").find(R"("host":"h9")") != std::string::npos);
  // A namespace that does not exist: the container is unknown (3), nothing is left.
  conf.erase("runtimeConfig");
  CniRun gone = Cni(&host, Env("ADD", "pod2", "/run/netns/ila-no-such-ns"), conf);
  CHECK(ErrorCode(gone) == 3);
  links = testbed::RunCommand({"ip", "-n", host.name(), "-o", "link", "show"});
  REQUIRE(links.ok());
  CHECK(links->output.find(": ila") == std::string::npos);
  auto status = bed->Status(0);
  REQUIRE(status.ok());
  CHECK((*status)["containers"].empty());
}

TEST_CASE("ila-cni: what Kubernetes sends through CRI and a chained prevResult") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  const testbed::Netns& host = bed->host_ns(0);
  auto pod = testbed::Netns::Create("ilacni");
  REQUIRE(pod.ok());
  // What containerd's CRI passes for a pod: CNI_ARGS with the pod's identity, runtimeConfig with
  // the "ips" capability, and (chained after an IPv4 plugin) that plugin's result.
  json conf = NetConf(bed->socket(0));
  conf["runtimeConfig"] = {{"ips", {"3333:0:0:1::77/128"}}};
  conf["prevResult"] = {{"cniVersion", "1.0.0"},
                        {"interfaces", {{{"name", "eth0"}, {"sandbox", NetnsPath(*pod)}}}},
                        {"ips", {{{"address", "10.88.0.5/16"}, {"interface", 0}}}},
                        {"routes", {{{"dst", "0.0.0.0/0"}}}}};
  auto env = Env("ADD", "0123456789abcdef", NetnsPath(*pod), "net1");
  env["CNI_ARGS"] =
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
      "K8S_POD_INFRA_CONTAINER_ID=0123456789abcdef;K8S_POD_UID=4d1c";
  CniRun add = Cni(&host, env, conf);
  INFO(add.text);
  REQUIRE(add.exit_code == 0);
  // The earlier plugin's entries first, this plugin's after them.
  REQUIRE(add.out["ips"].size() == 2);
  CHECK(add.out["ips"][0]["address"] == "10.88.0.5/16");
  CHECK(add.out["ips"][1]["address"] == "3333:0:0:1::77/128");
  REQUIRE(add.out["interfaces"].size() == 3);
  CHECK(add.out["ips"][1]["interface"] == 2);
  CHECK(add.out["interfaces"][2]["name"] == "net1");
  CHECK(add.out["routes"].size() == 2);
  CHECK(LinkExists(*pod, "net1"));
  CHECK(MappingRecord(*bed, "3333:0:0:1::77").find(R"("host":"h1")") != std::string::npos);
  json del = NetConf(bed->socket(0));
  del["prevResult"] = add.out;
  env["CNI_COMMAND"] = "DEL";
  CHECK(Cni(&host, env, del).exit_code == 0);
  CHECK(MappingRecord(*bed, "3333:0:0:1::77").empty());
}

TEST_CASE("ila-cni: GC removes this network's attachments the runtime no longer has") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(1);
  const testbed::Netns& host = bed->host_ns(0);
  json conf = NetConf(bed->socket(0));
  conf["cniVersion"] = "1.1.0";
  std::vector<testbed::Netns> pods;
  std::vector<std::string> sirs;
  for (int i = 0; i < 3; ++i) {
    auto pod = testbed::Netns::Create("ilacni");
    REQUIRE(pod.ok());
    pods.push_back(std::move(*pod));
    sirs.push_back(
        AddressOf(Cni(&host, Env("ADD", absl::StrCat("gc", i), NetnsPath(pods.back())), conf)));
  }
  CHECK(Cni(&host, {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", "/usr/lib/cni"}}, conf).exit_code == 0);
  // The runtime still has gc0 and gc2; gc1's DEL never came.
  json gc = conf;
  gc["cni.dev/valid-attachments"] = {{{"containerID", "gc0"}, {"ifname", "eth0"}},
                                     {{"containerID", "gc2"}, {"ifname", "eth0"}}};
  CniRun r = Cni(&host, {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/usr/lib/cni"}}, gc);
  INFO(r.text);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(MappingRecord(*bed, sirs[0]).empty());
  CHECK(MappingRecord(*bed, sirs[1]).empty());
  CHECK_FALSE(MappingRecord(*bed, sirs[2]).empty());
  CHECK_FALSE(LinkExists(pods[1], "eth0"));
  CHECK(LinkExists(pods[0], "eth0"));
}

TEST_CASE("ila-cni: 50 concurrent ADDs on two hosts get 50 different addresses") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  std::vector<testbed::Netns> pods;
  for (int i = 0; i < 50; ++i) {
    auto pod = testbed::Netns::Create("ilacni");
    REQUIRE(pod.ok());
    pods.push_back(std::move(*pod));
  }
  std::vector<std::future<absl::StatusOr<CniRun>>> adds;
  for (int i = 0; i < 50; ++i) {
    const int h = i % 2;
    adds.push_back(std::async(std::launch::async, [&, i, h] {
      return RunCni(&bed->host_ns(h), Env("ADD", absl::StrCat("many", i), NetnsPath(pods[i])),
                    NetConf(bed->socket(h)));
    }));
  }
  std::set<std::string> addresses;
  for (auto& f : adds) {
    absl::StatusOr<CniRun> run = f.get();
    INFO(run.status().ToString());
    REQUIRE(run.ok());
    const CniRun& r = *run;
    INFO(r.text);
    REQUIRE(r.exit_code == 0);
    addresses.insert(AddressOf(r));
  }
  CHECK(addresses.size() == 50);
  for (const std::string& a : addresses) CHECK_FALSE(MappingRecord(*bed, a).empty());
}

TEST_CASE(
    "ila-cni: a pod deleted on one host and added on another keeps its address and nobody else "
    "gets it meanwhile") {
  ILA_SKIP_IF(SkipReason());
  auto bed = MakeBed(2);
  auto dp1 = bed->Open(0);
  REQUIRE(dp1.ok());
  auto pod_a = testbed::Netns::Create("ilacni");
  auto pod_b = testbed::Netns::Create("ilacni");
  auto other = testbed::Netns::Create("ilacni");
  REQUIRE((pod_a.ok() && pod_b.ok() && other.ok()));
  auto conf = [&](int host) {
    json c = NetConf(bed->socket(host));
    c["reservationSeconds"] = 30;
    return c;
  };
  auto env = [&](const std::string& command, const std::string& id, const testbed::Netns* ns,
                 const std::string& pod) {
    auto e = Env(command, id, ns != nullptr ? NetnsPath(*ns) : "");
    e["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod;
    return e;
  };

  const std::string sir =
      AddressOf(Cni(&bed->host_ns(0), env("ADD", "a1", &*pod_a, "web-0"), conf(0)));
  CHECK(MappingRecord(*bed, sir).find(R"("workload":"default/web-0")") != std::string::npos);
  // DEL on host 1: the container goes, its address stays reserved for default/web-0.
  REQUIRE(Cni(&bed->host_ns(0), env("DEL", "a1", &*pod_a, "web-0"), conf(0)).exit_code == 0);
  const std::string reserved = MappingRecord(*bed, sir);
  CHECK(reserved.find(R"("host":"h1")") != std::string::npos);
  CHECK(reserved.find("reserved_until") != std::string::npos);
  CHECK_FALSE((*dp1)->endpoints().Get(*SirAddress::Parse(sir)).ok());

  // Meanwhile another pod asking for that address is refused, on either host.
  for (int host : {0, 1}) {
    json ask = conf(host);
    ask["runtimeConfig"] = {{"ips", {sir + "/128"}}};
    CniRun refused = Cni(&bed->host_ns(host), env("ADD", "x1", &*other, "intruder"), ask);
    CHECK(ErrorCode(refused) == 100);
    CHECK_FALSE(LinkExists(*other, "eth0"));
  }
  // The same pod on host 2 gets the same address: a move by transaction, h2 owns it now.
  CniRun moved = Cni(&bed->host_ns(1), env("ADD", "b1", &*pod_b, "web-0"), conf(1));
  CHECK(AddressOf(moved) == sir);
  const std::string now_h2 = MappingRecord(*bed, sir);
  CHECK(now_h2.find(R"("host":"h2")") != std::string::npos);
  CHECK(now_h2.find("reserved_until") == std::string::npos);
  // Host 1 forwards to host 2's locator; a late DEL on host 1 leaves host 2's mapping alone.
  CHECK(WaitUntil([&] {
    auto m = (*dp1)->mappings().Get(*SirAddress::Parse(sir));
    return m.ok() && m->locator == AgentBed::LocatorOf(1);
  }));
  REQUIRE(Cni(&bed->host_ns(0), env("DEL", "a1", nullptr, "web-0"), conf(0)).exit_code == 0);
  CHECK(MappingRecord(*bed, sir).find(R"("host":"h2")") != std::string::npos);

  // A reservation that runs out: the record goes (the owner's agent deletes it).
  json short_ttl = conf(1);
  short_ttl["reservationSeconds"] = 1;
  REQUIRE(Cni(&bed->host_ns(1), env("DEL", "b1", &*pod_b, "web-0"), short_ttl).exit_code == 0);
  CHECK_FALSE(MappingRecord(*bed, sir).empty());
  CHECK(WaitUntil([&] { return MappingRecord(*bed, sir).empty(); }, std::chrono::seconds(10)));
}

TEST_CASE("ila-cni: addresses from an IPAM plugin (host-local), given back on DEL and on failure") {
  ILA_SKIP_IF(SkipReason());
  ILA_SKIP_IF(access("/usr/lib/cni/host-local", X_OK) == 0
                  ? std::nullopt
                  : std::optional<std::string>("/usr/lib/cni/host-local is not installed "
                                               "(Debian's containernetworking-plugins)"));
  auto bed = MakeBed(1);
  const testbed::Netns& host = bed->host_ns(0);
  const std::string data_dir = bed->dir() + "/host-local";
  json conf = NetConf(bed->socket(0));
  conf["ipam"] = {{"type", "host-local"},
                  {"dataDir", data_dir},
                  {"ranges",
                   {{{{"subnet", "3333:0:0:1::/64"},
                      {"rangeStart", "3333:0:0:1::100"},
                      {"rangeEnd", "3333:0:0:1::1ff"}}}}}};
  auto pod = testbed::Netns::Create("ilacni");
  REQUIRE(pod.ok());
  CniRun add = Cni(&host, Env("ADD", "ipam1", NetnsPath(*pod)), conf);
  const std::string sir = AddressOf(add);
  CHECK(sir == "3333:0:0:1::100");
  CHECK(MappingRecord(*bed, sir).find(R"("host":"h1")") != std::string::npos);
  const std::string lease = data_dir + "/ila/3333:0:0:1::100";
  CHECK(access(lease.c_str(), F_OK) == 0);
  // DEL gives it back to the IPAM plugin, and the mapping goes at once (no reservation: the
  // plugin may hand the address to the next container).
  CHECK(Cni(&host, Env("DEL", "ipam1", NetnsPath(*pod)), conf).exit_code == 0);
  CHECK(access(lease.c_str(), F_OK) != 0);
  CHECK(MappingRecord(*bed, sir).empty());

  // The address the plugin gives next belongs to another host: ADD fails and gives it back.
  REQUIRE(bed->Etcdctl({"put", "/ila/v1/mappings/3333:0:0:1/3333:0:0:1::101",
                        R"({"v":1,"host":"h9","locator":"2001:db8:9:0"})"})
              .ok());
  CniRun taken = Cni(&host, Env("ADD", "ipam2", NetnsPath(*pod)), conf);
  CHECK(ErrorCode(taken) == 100);
  CHECK(access((data_dir + "/ila/3333:0:0:1::101").c_str(), F_OK) != 0);
  CHECK_FALSE(LinkExists(*pod, "eth0"));
  // An IPAM plugin that is not there.
  json missing = NetConf(bed->socket(0));
  missing["ipam"] = {{"type", "no-such-ipam"}};
  CHECK(ErrorCode(Cni(&host, Env("ADD", "ipam3", NetnsPath(*pod)), missing)) == 7);
}

TEST_CASE(
    "ila-cni: chained after an IPv4 plugin it adopts that plugin's veth for a dual-stack pod") {
  ILA_SKIP_IF(SkipReason());
  ILA_SKIP_IF(access("/usr/lib/cni/ptp", X_OK) == 0
                  ? std::nullopt
                  : std::optional<std::string>("/usr/lib/cni/ptp is not installed "
                                               "(Debian's containernetworking-plugins)"));
  auto bed = MakeBed(1);
  const testbed::Netns& host = bed->host_ns(0);
  auto pod = testbed::Netns::Create("ilacni");
  REQUIRE(pod.ok());
  const auto env = [&](const std::string& command) {
    return Env(command, "dual1", NetnsPath(*pod));
  };
  // The list [ptp (IPv4 from host-local), ila-cni]: ptp first, as the runtime runs it.
  const json ptp = {{"cniVersion", "1.0.0"},
                    {"name", "ila"},
                    {"type", "ptp"},
                    {"ipam",
                     {{"type", "host-local"},
                      {"dataDir", bed->dir() + "/host-local"},
                      {"subnet", "10.89.0.0/24"}}}};
  auto v4 = RunPlugin("/usr/lib/cni/ptp", &host, env("ADD"), ptp);
  REQUIRE(v4.ok());
  INFO(v4->text);
  REQUIRE(v4->exit_code == 0);
  const std::string ptp_veth = v4->out["interfaces"][0]["name"].get<std::string>();

  json conf = NetConf(bed->socket(0));
  conf["prevResult"] = v4->out;
  CniRun add = Cni(&host, env("ADD"), conf);
  INFO(add.text);
  REQUIRE(add.exit_code == 0);
  // No interface of its own: its address on ptp's eth0, the agent attached to ptp's veth.
  CHECK(add.out["interfaces"].size() == v4->out["interfaces"].size());
  REQUIRE(add.out["ips"].size() == 2);
  CHECK(add.out["ips"][0]["address"].get<std::string>().rfind("10.89.0.", 0) == 0);
  const std::string address = add.out["ips"][1]["address"].get<std::string>();
  const std::string sir = address.substr(0, address.find('/'));
  CHECK(add.out["ips"][1]["interface"] == v4->out["ips"][0]["interface"]);
  auto seen = bed->Call(0, {{"op", "container"}, {"sir", sir}});
  REQUIRE(seen.ok());
  CHECK((*seen)["interface"] == ptp_veth);
  CHECK((*seen)["endpoint"] == true);
  auto addrs = testbed::RunCommand({"ip", "-n", pod->name(), "addr", "show", "dev", "eth0"});
  REQUIRE(addrs.ok());
  CHECK(addrs->output.find("10.89.0.") != std::string::npos);
  CHECK(addrs->output.find(sir) != std::string::npos);
  json check = NetConf(bed->socket(0));
  check["prevResult"] = add.out;
  CniRun checked = Cni(&host, env("CHECK"), check);
  INFO(checked.text);
  CHECK(checked.exit_code == 0);
  // GC knows the adopted attachment by the runtime's name for it and keeps it while listed.
  json gc = NetConf(bed->socket(0));
  gc["cniVersion"] = "1.1.0";
  gc["cni.dev/valid-attachments"] = {{{"containerID", "dual1"}, {"ifname", "eth0"}}};
  CHECK(Cni(&host, {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/usr/lib/cni"}}, gc).exit_code == 0);
  CHECK_FALSE(MappingRecord(*bed, sir).empty());

  // DEL in the list's reverse order: ila-cni takes back its part, ptp deletes its veth.
  CHECK(Cni(&host, env("DEL"), check).exit_code == 0);
  CHECK(MappingRecord(*bed, sir).empty());
  CHECK(LinkExists(host, ptp_veth));
  addrs = testbed::RunCommand({"ip", "-n", pod->name(), "addr", "show", "dev", "eth0"});
  REQUIRE(addrs.ok());
  CHECK(addrs->output.find(sir) == std::string::npos);
  CHECK(addrs->output.find("10.89.0.") != std::string::npos);
  json ptp_del = ptp;
  ptp_del["prevResult"] = add.out;
  auto gone = RunPlugin("/usr/lib/cni/ptp", &host, env("DEL"), ptp_del);
  REQUIRE(gone.ok());
  CHECK(gone->exit_code == 0);
  CHECK_FALSE(LinkExists(host, ptp_veth));
}

}  // namespace
}  // namespace ila::cluster_test
