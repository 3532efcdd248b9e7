// A real runtime puts containers on the overlay: a private containerd and runc in each host's
// namespace of the cluster topology (etcd, an ila-agent per host and the ILA router), ctr running
// busybox containers with `--cni` and ila-cni as the network's plugin. The containers reach each
// other across the hosts over ILA; stopping one runs CNI DEL, and its mapping leaves etcd and
// every data plane when its reservation runs out.
#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "e2e/e2e_support.h"
#include "support/skip.h"
#include "testbed/containerd.h"
#include "testbed/process.h"

using namespace ila;
using namespace ila::e2e;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr char kImage[] = "localhost/ila-busybox:test";

std::optional<std::string> RuntimeSkipReason() {
  if (auto r = SkipReason()) return r;
  if (auto r = testbed::Containerd::UnavailableReason()) return r;
  if (access("/usr/bin/etcd", X_OK) != 0) return "etcd is not installed (Debian's etcd-server)";
  return std::nullopt;
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

}  // namespace

TEST_CASE("containerd: ctr run --cni on two hosts puts busybox containers on the overlay") {
  ILA_SKIP_IF(RuntimeSkipReason());
  demo::TopologyOptions o = Options();
  o.tag = "ilacr";
  o.attach_mode = AttachMode::kAuto;
  o.agent_path = ILA_AGENT_PATH;
  auto created = demo::Topology::Create(o);
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  std::unique_ptr<demo::Topology> topo = std::move(*created);
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

  // A client on host 2 pings it across the overlay, and so does a library-made container.
  REQUIRE(runtimes[1]->Run("ilacr-client", kImage, {"ping", "-c", "3", "-W", "5", server}).ok());
  testbed::CommandResult client = runtimes[1]->Wait("ilacr-client", 60000ms);
  INFO(client.output);
  CHECK(client.exit_code == 0);
  CHECK(client.output.find("3 packets received") != std::string::npos);
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
  for (auto& rt : runtimes) rt.reset();
  TearDownAndCheck(topo);
}
