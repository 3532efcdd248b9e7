// Load failures reach the caller with their reason: the verifier's own words for a rejection.
#include <catch2/catch.hpp>

#include "kernel/log_capture.h"
#include "kernel/object.h"
#include "support/skip.h"
#include "verifier_reject.skel.h"

TEST_CASE("a verifier rejection carries the program name and the tail of the verifier log") {
  ILA_SKIP_IF(ila::testbed::BpfUnavailableReason());
  ila::internal::LogCapture log;
  verifier_reject* skel = verifier_reject::open();
  REQUIRE(skel != nullptr);
  absl::Status st = ila::internal::LoadBpfObject(skel->obj, log);
  verifier_reject::destroy(skel);
  INFO(st.ToString());
  CHECK(absl::IsInternal(st));
  std::string msg(st.message());
  CHECK_THAT(msg, Catch::Contains("the kernel rejected the BPF programs"));
  CHECK_THAT(msg, Catch::Contains("prog 'reads_unchecked'"));
  CHECK_THAT(msg, Catch::Contains("invalid access to packet"));
}
