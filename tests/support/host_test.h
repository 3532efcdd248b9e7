// What every packet test file needs around HostFixture (testbed/host_fixture.h): the skip reason
// and a fixture or a failed test.
#ifndef ILA_TESTS_SUPPORT_HOST_TEST_H_
#define ILA_TESTS_SUPPORT_HOST_TEST_H_

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <initializer_list>
#include <string_view>
#include <memory>
#include <optional>
#include <string>

#include "support/skip.h"
#include "testbed/host_fixture.h"
#include "testbed/netns.h"

namespace ila::testing {

using testbed::Outcomes;
using testbed::RunQuiet;
using testbed::TcVerdictFor;

// Why HostFixture tests cannot run here (no BPF, no network namespaces), or nullopt.
inline std::optional<std::string> HostTestSkipReason() {
  if (auto r = testbed::BpfUnavailableReason()) return r;
  return testbed::NetnsUnavailableReason();
}

// A fixture, or the current test fails with the reason it could not be built.
inline std::unique_ptr<testbed::HostFixture> MakeHostOrFail(
    const testbed::HostFixture::Options& options = {}) {
  auto f = testbed::HostFixture::Create(options);
  INFO(f.status().ToString());
  REQUIRE(f.ok());
  return std::move(*f);
}

// The outcome and translation counters that moved, as text ("name=packets ..."): what the XDP
// and tc flavours of a program must agree on (bytes differ: tc counts the skb, XDP the frame; the
// next-hop cache and miss reporting depend on what ran before).
inline std::string OutcomesText(const Stats& delta) {
  std::string s;
  for (const Counter& c : delta.counters) {
    if (c.packets == 0 || c.name.rfind("nexthop_", 0) == 0 || c.name.rfind("miss_event", 0) == 0)
      continue;
    s += std::string(c.name) + "=" + std::to_string(c.packets) + " ";
  }
  return s;
}

// HostFixture::Run, but with counter deltas free of background traffic (testbed::RunQuiet).
// A container's or an uplink's frame is then also run through the tc flavour of the program
// (AttachMode::kTc), which must give the same verdict, the same bytes and the same counters: every
// from_container and from_uplink case of the packet tests holds for both hooks (the router has no
// tc flavour).
// The tc flavour's run `tc` of a frame is the XDP program's run `xdp` of it: the same verdict, the
// same bytes, the same outcome and translation counters.
inline void CheckTcSameAsXdp(const testbed::XdpRun& xdp, const testbed::XdpRun& tc) {
  INFO("the same frame through the tc program\nxdp moved: "
       << OutcomesText(xdp.delta) << "\ntc moved: " << OutcomesText(tc.delta));
  CHECK(tc.verdict == TcVerdictFor(xdp.verdict));
  CHECK(testbed::Hex(tc.frame) == testbed::Hex(xdp.frame));
  CHECK(OutcomesText(tc.delta) == OutcomesText(xdp.delta));
}

inline testbed::XdpRun Run(testbed::HostFixture& host, Role role, const testbed::Bytes& frame,
                           InterfaceIndex ingress) {
  testbed::XdpRun r = RunQuiet([&] { return host.Run(role, frame, ingress); });
  // BPF_PROG_TEST_RUN refuses an skb shorter than an Ethernet header, or than an IPv6 header when
  // its EtherType says IPv6, so those frames are held to XDP alone.
  const bool ipv6 = frame.size() >= 14 && frame[12] == 0x86 && frame[13] == 0xdd;
  if (role != Role::kRouter && frame.size() >= (ipv6 ? 54u : 14u)) {
    const int tc_fd = host.dp().program_fd(role, AttachMode::kTc);
    CheckTcSameAsXdp(r, RunQuiet([&] { return host.RunTc(tc_fd, frame, ingress); }));
  }
  return r;
}

// Observations about how a packet was translated; RequireOnly insists that exactly the listed ones
// moved. (Other observations, e.g. miss reporting, are not about the packet's bytes.)
inline const CounterName kTranslationObservations[] = {
    "transport_not_adjusted", "icmp_inner_translated", "icmp_inner_unknown"};

// The run's only outcome is `name` (one packet), and of the translation observations exactly
// `observations` moved (once each).
inline void RequireOnly(const testbed::XdpRun& r, CounterName name,
                        std::initializer_list<CounterName> observations = {}) {
  INFO("counters moved:\n" << r.delta.ToText());
  CHECK(r.delta.Packets(name) == 1);
  CHECK(Outcomes(r.delta) == 1);
  auto listed = [](std::initializer_list<CounterName> list, CounterName o) {
    for (CounterName l : list)
      if (l.index() == o.index()) return true;
    return false;
  };
  for (CounterName o : kTranslationObservations) {
    CAPTURE(o.str());
    CHECK(r.delta.Packets(o) == (listed(observations, o) ? 1u : 0u));
  }
  for (CounterName o : observations) {
    CAPTURE(o.str());
    CHECK(listed(
        {kTranslationObservations[0], kTranslationObservations[1], kTranslationObservations[2]},
        o));
  }
}

inline void RequireVerdict(const testbed::XdpRun& r, int verdict) {
  REQUIRE(testbed::VerdictName(r.verdict) == testbed::VerdictName(verdict));
}

}  // namespace ila::testing

#endif  // ILA_TESTS_SUPPORT_HOST_TEST_H_
