// The demo leaves nothing behind: interrupted (Ctrl-C) at any step it removes everything it made
// and exits 130; killed outright, its namespaces are removed by the next run.
#include <signal.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "e2e/e2e_support.h"
#include "testbed/host_fixture.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::e2e;
using namespace std::chrono_literals;

namespace {

std::string DemoPrefix(int pid) { return "ilademo-" + std::to_string(pid) + "-"; }

}  // namespace

TEST_CASE("the demo removes everything it created when interrupted, at any step") {
  ILA_SKIP_IF(SkipReason());
  // Starting up (probing, before and after its signal handlers exist), building, pinging,
  // capturing, transferring, moving.
  for (auto after : {0ms, 20ms, 60ms, 120ms, 200ms, 300ms, 1500ms, 2500ms, 3500ms, 5000ms}) {
    CAPTURE(after.count());
    auto demo = testbed::BackgroundProcess::Start({ILA_DEMO_PATH});
    INFO(demo.status().ToString());
    REQUIRE(demo.ok());
    const int pid = (*demo)->pid();
    std::this_thread::sleep_for(after);
    (*demo)->Signal(SIGINT);
    testbed::CommandResult r = (*demo)->Finish(testbed::Duration(30000));
    INFO(r.output);
    // 130: interrupted and cleaned up; 0: it had already finished.
    CHECK((r.exit_code == 130 || r.exit_code == 0));
    CHECK(testbed::NamespacesWithPrefix(DemoPrefix(pid)).empty());
  }
}

TEST_CASE("the namespaces of a demo that was killed outright are removed by the next run") {
  ILA_SKIP_IF(SkipReason());
  auto demo = testbed::BackgroundProcess::Start({ILA_DEMO_PATH});
  INFO(demo.status().ToString());
  REQUIRE(demo.ok());
  const int pid = (*demo)->pid();
  // Wait until it has built its topology.
  REQUIRE((*demo)->WaitForOutput("Step 2", testbed::Duration(30000)));
  (*demo)->Signal(SIGKILL);
  testbed::CommandResult r = (*demo)->Finish(testbed::Duration(5000));
  CHECK(r.exit_code == 128 + SIGKILL);
  CHECK_FALSE(testbed::NamespacesWithPrefix(DemoPrefix(pid)).empty());  // it had no chance
  std::vector<std::string> removed = testbed::RemoveStaleNamespaces("ilademo");
  CHECK_FALSE(removed.empty());
  CHECK(testbed::NamespacesWithPrefix(DemoPrefix(pid)).empty());
  // And its control plane's state directory and private bpffs (agents, etcd).
  const std::string cluster_dir = "/tmp/ila-cluster-" + std::to_string(pid) + "-";
  std::vector<std::string> temporaries = testbed::RemoveStaleTemporaries();
  CHECK(std::any_of(temporaries.begin(), temporaries.end(),
                    [&](const std::string& t) { return t.rfind(cluster_dir, 0) == 0; }));
  const std::string etcd_dir = "/tmp/ila-etcd-" + std::to_string(pid) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    CHECK(e.path().string().rfind(cluster_dir, 0) != 0);
    CHECK(e.path().string().rfind(etcd_dir, 0) != 0);
  }
}
