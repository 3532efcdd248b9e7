// A real runtime puts containers on the overlay: a private containerd and runc in each host's
// namespace of the cluster topology (etcd, an ila-agent per host and the ILA router), ctr running
// busybox containers with `--cni` and ila-cni as the network's plugin. The containers reach each
// other across the hosts over ILA; stopping one runs CNI DEL, and its mapping leaves etcd and
// every data plane when its reservation runs out.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "e2e/e2e_support.h"
#include "support/skip.h"
#include "testbed/containerd.h"
#include "testbed/netns.h"
#include "testbed/process.h"
#include "traffic.h"

using namespace ila;
using namespace ila::e2e;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr char kImage[] = "localhost/ila-busybox:test";

std::optional<std::string> ClusterSkipReason() {
  if (auto r = SkipReason()) return r;
  if (access("/usr/bin/etcd", X_OK) != 0) return "etcd is not installed (Debian's etcd-server)";
  return std::nullopt;
}

std::optional<std::string> RuntimeSkipReason() {
  if (auto r = ClusterSkipReason()) return r;
  return testbed::Containerd::UnavailableReason();
}

// The address the host's agent has for the container on an ila-cni veth ("" when none yet).
std::string CniContainerOn(demo::ClusterControl& cluster, const std::string& host) {
  auto status = cluster.AgentCommand(host, "status", {});
  if (!status.ok()) return "";
  json s = json::parse(*status, nullptr, false);
  if (!s.is_object()) return "";
  for (const json& c : s.value("containers", json::array())) {
    if (c.value("interface", std::string()).rfind("ila", 0) == 0) return c["sir"];
  }
  return "";
}

std::unique_ptr<demo::Topology> MakeClusterTopology(const std::string& tag) {
  demo::TopologyOptions o = Options();
  o.tag = tag;
  o.attach_mode = AttachMode::kAuto;
  o.agent_path = ILA_AGENT_PATH;
  auto created = demo::Topology::Create(o);
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  return std::move(*created);
}

// ila-cni run as a runtime runs it, in host `h`'s namespace: its result or error object.
json Cni(demo::Topology& topo, int h, const std::string& command, const std::string& netns,
         const std::string& pod, int reservation_seconds) {
  const json conf = {{"cniVersion", "1.0.0"},
                     {"name", "ila"},
                     {"type", "ila-cni"},
                     {"sirPrefix", "2001:db8:0:1"},
                     {"agentSocket", topo.cluster()->AgentSocket(topo.host(h).name)},
                     {"reservationSeconds", reservation_seconds}};
  auto r = testbed::RunCommand(
      {"ip", "netns", "exec", topo.host(h).ns->name(), "env", "-i", "CNI_COMMAND=" + command,
       "CNI_CONTAINERID=" + pod + "-" + std::to_string(h), "CNI_NETNS=" + netns, "CNI_IFNAME=eth0",
       "CNI_PATH=/usr/lib/cni", "CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod,
       ILA_CNI_PATH},
      testbed::Duration(30000), conf.dump());
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  INFO(r->output);
  REQUIRE(r->exit_code == 0);
  return r->output.empty() ? json() : json::parse(r->output);
}

}  // namespace

TEST_CASE(
    "ila-cni: a pod deleted on host 1 and added on host 2 keeps its address and a flow to it "
    "follows while the untouched flow loses nothing") {
  ILA_SKIP_IF(ClusterSkipReason());
  auto topo = MakeClusterTopology("ilacm");
  WarmUp(*topo);
  // The pod's namespace stays; its veth goes to the other host, as a rescheduled pod's would.
  auto pod = testbed::Netns::Create("ilacmpod");
  REQUIRE(pod.ok());
  const std::string netns = "/run/netns/" + pod->name();
  const json added = Cni(*topo, 0, "ADD", netns, "web-0", 30);
  const std::string address = added["ips"][0]["address"].get<std::string>();
  const SirAddress sir = *SirAddress::Parse(address.substr(0, address.find('/')));
  REQUIRE(topo->WaitForMapping(sir, topo->LocatorFor(0, sir.prefix)).ok());

  std::atomic<uint32_t> sent{0};
  demo::UdpStreamOptions u;
  u.sender = topo->container("c2a")->ns.get();
  u.receiver = &*pod;
  u.to = sir.address();
  u.port = 5311;
  u.packets = 4000;
  u.rate_pps = 1000;
  u.sent_progress = &sent;
  auto moved_flow = std::async(std::launch::async, [&] { return demo::UdpStream(u); });
  demo::UdpStreamOptions other;
  other.sender = topo->container("c1b")->ns.get();
  other.receiver = topo->container("c2b")->ns.get();
  other.to = topo->container("c2b")->sir.address();
  other.port = 5312;
  other.packets = 4000;
  other.rate_pps = 1000;
  auto other_flow = std::async(std::launch::async, [&] { return demo::UdpStream(other); });
  while (sent.load() < 1000) std::this_thread::sleep_for(5ms);

  // The runtime deletes the pod on host 1 and adds it on host 2: the same address, now host 2's.
  const auto t0 = std::chrono::steady_clock::now();
  Cni(*topo, 0, "DEL", netns, "web-0", 30);
  const json again = Cni(*topo, 1, "ADD", netns, "web-0", 30);
  const auto moved_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  CHECK(again["ips"][0]["address"] == address);
  CHECK(topo->WaitForMapping(sir, topo->LocatorFor(1, sir.prefix)).ok());
  auto m = moved_flow.get();
  auto o = other_flow.get();
  REQUIRE(m.ok());
  REQUIRE(o.ok());
  std::cout << "measured: DEL on host 1 + ADD on host 2 took " << moved_ms
            << " ms; the flow to the pod lost " << m->lost << " of " << m->sent << " (longest gap "
            << m->longest_gap << "), the untouched flow " << o->lost << " of " << o->sent
            << std::endl;
  CHECK(o->lost == 0);
  CHECK(m->corrupt == 0);
  // The flow follows: what was lost is the time between DEL and ADD, and nothing after it.
  CHECK(m->lost <= static_cast<uint32_t>(moved_ms) + 100);
  CHECK(m->received >= m->sent - m->lost);
  Cni(*topo, 1, "DEL", netns, "web-0", 0);
  TearDownAndCheck(topo);
}

TEST_CASE("containerd: ctr run --cni on two hosts puts busybox containers on the overlay") {
  ILA_SKIP_IF(RuntimeSkipReason());
  // Nothing of the machine's own CNI directories is touched.
  const char* const machine_dirs[] = {"/etc/cni", "/opt/cni", "/var/lib/cni"};
  std::vector<bool> existed;
  for (const char* d : machine_dirs) existed.push_back(std::filesystem::exists(d));
  std::unique_ptr<demo::Topology> topo = MakeClusterTopology("ilacr");
  demo::ClusterControl& cluster = *topo->cluster();

  // The image, without a registry.
  const std::string image_dir = testbed::RunChecked({"mktemp", "-d"}).value_or("");
  REQUIRE(!image_dir.empty());
  const std::string dir = image_dir.substr(0, image_dir.find('\n'));
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { (void)testbed::RunCommand({"rm", "-rf", path}); }
  } remove_dir{dir};
  auto made = testbed::RunChecked({"bash", ILA_BUSYBOX_IMAGE_SCRIPT, dir + "/busybox.tar", kImage});
  INFO(made.status().ToString());
  REQUIRE(made.ok());

  // containerd on each host, with ila-cni asking that host's agent.
  std::unique_ptr<testbed::Containerd> runtimes[2];
  for (int h = 0; h < 2; ++h) {
    const std::string host = topo->host(h).name;
    const json conflist = {{"cniVersion", "1.0.0"},
                           {"name", "ila"},
                           {"plugins",
                            {{{"type", "ila-cni"},
                              {"sirPrefix", "2001:db8:0:1"},
                              {"agentSocket", cluster.AgentSocket(host)},
                              {"reservationSeconds", 2}}}}};
    auto rt = testbed::Containerd::Start({.netns = topo->host(h).ns->name(),
                                          .conflist = conflist.dump(),
                                          .plugins = {{"ila-cni", ILA_CNI_PATH}}});
    INFO(rt.status().ToString());
    REQUIRE(rt.ok());
    runtimes[h] = std::move(*rt);
    REQUIRE(runtimes[h]->ImportImage(dir + "/busybox.tar").ok());
  }

  // A server on host 1 (it only sleeps: ping is answered by its kernel).
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(runtimes[0]->Run("ilacr-server", kImage, {"sleep", "300"}).ok());
  std::string server;
  while ((server = CniContainerOn(cluster, topo->host(0).name)).empty() &&
         std::chrono::steady_clock::now() < t0 + 30s) {
    std::this_thread::sleep_for(50ms);
  }
  INFO(cluster.AgentLog(topo->host(0).name));
  REQUIRE(!server.empty());
  const SirAddress server_sir = *SirAddress::Parse(server);
  // Every host's and the router's data plane maps it to host 1.
  REQUIRE(topo->WaitForMapping(server_sir, topo->LocatorFor(0, server_sir.prefix)).ok());
  std::cout << "step: host1 `ctr run --rm --cni` ilacr-server: ila-cni gave it " << server
            << ", on every data plane "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms after ctr started" << std::endl;

  // A client on host 2 pings it across the overlay, and so does a library-made container.
  REQUIRE(runtimes[1]->Run("ilacr-client", kImage, {"ping", "-c", "3", "-W", "5", server}).ok());
  testbed::CommandResult client = runtimes[1]->Wait("ilacr-client", 60000ms);
  INFO(client.output);
  CHECK(client.exit_code == 0);
  CHECK(client.output.find("3 packets received") != std::string::npos);
  std::cout << "step: host2 `ctr run --rm --cni` ilacr-client ping -c 3 " << server << ":\n"
            << client.output << std::endl;
  auto ping = topo->Ping("c2a", server_sir.address(), 3);
  REQUIRE(ping.ok());
  INFO(ping->output);
  CHECK(ping->exit_code == 0);

  // Stopping the server runs DEL; after its 2 s reservation the mapping leaves etcd and every
  // data plane.
  testbed::CommandResult stopped = runtimes[0]->Kill("ilacr-server", 30000ms);
  INFO(stopped.output);
  const std::string key = "/ila/v1/mappings/2001:db8:0:1/" + server;
  CHECK(cluster.Etcdctl({"get", "--print-value-only", key}).value_or("").find("reserved_until") !=
        std::string::npos);
  bool gone = false;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    gone = cluster.Etcdctl({"get", "--print-value-only", key}).value_or("x").empty() &&
           !topo->host(0).dp->mappings().Get(server_sir).ok() &&
           !topo->host(1).dp->mappings().Get(server_sir).ok() &&
           !topo->ila_router().dp->mappings().Get(server_sir).ok();
    std::this_thread::sleep_for(100ms);
  }
  CHECK(gone);
  std::cout << "step: `ctr task kill` ilacr-server: DEL reserved " << server
            << " for 2 s, then it left etcd and every data plane: " << (gone ? "yes" : "NO")
            << std::endl;
  for (auto& rt : runtimes) rt.reset();
  TearDownAndCheck(topo);
  for (size_t i = 0; i < existed.size(); ++i) {
    INFO(machine_dirs[i]);
    CHECK(std::filesystem::exists(machine_dirs[i]) == existed[i]);
  }
}
