// What every packet test file needs around HostFixture: the skip reason and a fixture or a failed
// test.
#ifndef ILA_TESTS_SUPPORT_HOST_TEST_H_
#define ILA_TESTS_SUPPORT_HOST_TEST_H_

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>

#include "support/host_fixture.h"
#include "support/kernel.h"
#include "support/netns.h"

namespace ila::testing {

// Why HostFixture tests cannot run here (no BPF, no network namespaces), or nullopt.
inline std::optional<std::string> HostTestSkipReason() {
  if (auto r = BpfUnavailableReason()) return r;
  return NetnsUnavailableReason();
}

// A fixture, or the current test fails with the reason it could not be built.
inline std::unique_ptr<HostFixture> MakeHostOrFail(const HostFixture::Options& options = {}) {
  auto f = HostFixture::Create(options);
  INFO(f.status().ToString());
  REQUIRE(f.ok());
  return std::move(*f);
}

}  // namespace ila::testing

#endif  // ILA_TESTS_SUPPORT_HOST_TEST_H_
