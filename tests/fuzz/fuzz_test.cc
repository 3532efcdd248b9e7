// Differential fuzzing of the data plane (issue 16 item 11), the CI run: a fixed seed's frames
// through the real programs, at XDP and at tc, against the reference model (model.h). No
// disagreement, no invalid checksum, and every verdict, counter, checksum mode and identifier type
// reached (runner.h lists what cannot be, and why).
//
// The mutation check: the programs are compiled once (no #ifdef flavours), so a bug is planted in
// the model instead. Each mutant model (model.h: the adj-transport delta's sign flipped, the
// neutral-map C-bit restore removed, UDP's checksum 0 adjusted, a restored 0xffff kept, ICMPv6
// quotes left alone) is held to the same runs, and the fixed seed must catch every one: a bug of
// that kind in the programs would make the same frames disagree with the correct model.
// `ila_fuzz --model adj-sign` does the same by hand.
#include <cstdlib>
#include <random>

#include <catch2/catch.hpp>

#include "fuzz/model.h"
#include "fuzz/runner.h"
#include "ila/translation.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::fuzz;

namespace {

constexpr uint64_t kCiSeed = 20240611;
constexpr uint64_t kCiFrames = 100000;

uint64_t Frames() {
  const char* env = std::getenv("ILA_FUZZ_FRAMES");
  return env ? std::strtoull(env, nullptr, 0) : kCiFrames;
}

}  // namespace

TEST_CASE("the model's address arithmetic is the translation reference's") {
  // Written apart from include/ila/translation.h; where the reference accepts a mapping, the two
  // must agree both ways (the fuzzer then holds the programs to the model).
  std::mt19937_64 rng(kCiSeed);
  const ChecksumMode modes[] = {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                                ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction,
                                ChecksumMode::kAdjustTransportLinuxCompat};
  for (int i = 0; i < 200000; ++i) {
    uint64_t id = rng();
    if (i % 4 == 0) id &= ~uint64_t{0xffff};
    const SirAddress sir{SirPrefix(rng() | 1), Identifier(id)};
    const Locator loc(i % 8 == 0 ? sir.prefix.value() : rng() | 1);
    const ChecksumMode mode = modes[i % 5];
    auto ila = SirToIla(sir, loc, mode);
    if (!ila.ok()) continue;
    CAPTURE(sir, loc, mode);
    REQUIRE(ModelSirToIla(sir, loc, mode) == ila->address());
    REQUIRE(ModelIlaToSir(ila->address(), sir.prefix, mode) == sir.address());
    // Any ILA address, not only those a mapping makes.
    const Ipv6Address any = Ipv6Address::FromHalves(loc.value(), rng());
    REQUIRE(ModelIlaToSir(any, sir.prefix, mode) ==
            IlaToSir(IlaAddress::From(any), sir.prefix, mode).address());
  }
}

TEST_CASE("differential fuzzing: the programs at XDP and tc agree with the reference model") {
  ILA_SKIP_IF(testing::HostTestSkipReason());
  FuzzOptions options;
  options.frames = Frames();
  options.seed = kCiSeed;
  auto report = RunFuzz(options);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  std::string reports;
  for (const std::string& r : report->reports) reports += r;
  INFO(report->Summary() << reports);
  std::cout << report->Summary();  // the numbers, also when it passes (ctest -V)
  CHECK(report->frames == options.frames);
  CHECK(report->mismatches == 0);
  CHECK(report->checksums_invalid == 0);
  CHECK(report->checksums_checked > options.frames / 10);
  CHECK(report->Uncovered().empty());
  for (ModelVariant v : kMutants) {
    CAPTURE(ToString(v));
    CHECK(report->mutant_mismatches[v] > 0);
  }
}
