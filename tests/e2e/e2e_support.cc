#include "testbed/host_fixture.h"
#include "e2e/e2e_support.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

#include "support/skip.h"
#include "testbed/netns.h"

namespace ila::e2e {

std::optional<std::string> SkipReason() {
  if (auto r = testbed::BpfUnavailableReason()) return r;
  if (auto r = testbed::NetnsUnavailableReason()) return r;
  for (const char* tool : {"ping", "ethtool"}) {
    auto r = testbed::RunCommand({"sh", "-c", std::string("command -v ") + tool});
    if (!r.ok() || r->exit_code != 0) {
      return std::string(tool) + " is not installed (cmake/install-deps.sh installs it)";
    }
  }
  return std::nullopt;
}

demo::TopologyOptions Options() {
  demo::TopologyOptions o;
  o.tag = "ilae2e";
  o.attach_mode = AttachMode::kNative;  // XDP everywhere unless a test asks for tc
  return o;
}

std::unique_ptr<demo::Topology> MakeTopology(const demo::TopologyOptions& options) {
  auto topo = demo::Topology::Create(options);
  INFO(topo.status().ToString());
  REQUIRE(topo.ok());
  demo::Topology& t = **topo;
  CHECK(t.ila_router().attachment.mode == AttachMode::kNative);
  for (int i = 0; i < demo::Topology::kHosts; ++i) {
    CHECK(t.host(i).uplink_attachment.mode ==
          options.uplink_attach_mode.value_or(AttachMode::kNative));
  }
  for (const std::string& name : t.container_names()) {
    CAPTURE(name);
    CHECK(t.container(name)->attachment.mode ==
          options.container_attach_mode.value_or(AttachMode::kNative));
  }
  return std::move(*topo);
}

void TearDownAndCheck(std::unique_ptr<demo::Topology>& topo) {
  const std::string prefix = topo->name_prefix();
  absl::Status st = topo->Teardown();
  INFO(st.ToString());
  CHECK(st.ok());
  topo.reset();
  CHECK(testbed::NamespacesWithPrefix(prefix).empty());
}

uint64_t Packets(const Stats& stats, const std::string& name) {
  std::vector<std::string_view> names = CounterNames();
  INFO("counter " << name);
  REQUIRE(std::find(names.begin(), names.end(), std::string_view(name)) != names.end());
  return stats.Packets(ila::testbed::CounterNamed(name));
}

Stats HostStats(demo::Topology& topo, int host) {
  auto s = topo.HostStats(host);
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  return *s;
}

Stats RouterStats(demo::Topology& topo) {
  auto s = topo.RouterStats();
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  return *s;
}

testbed::CommandResult Ping(demo::Topology& topo, const std::string& from, const std::string& to,
                            int count) {
  demo::Topology::Container* dst = topo.container(to);
  REQUIRE(dst != nullptr);
  auto r = topo.Ping(from, dst->sir.address(), count);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

void WarmUp(demo::Topology& topo) {
  for (auto [from, to] : {std::pair{"c1a", "c2a"}, std::pair{"c2b", "c1b"}}) {
    testbed::CommandResult r = Ping(topo, from, to, 1);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
}

}  // namespace ila::e2e
