// The differential fuzzer, standalone (tests/fuzz/runner.h): as many frames as asked, through the
// real programs at XDP and tc and the reference model.
//
//   ila_fuzz [--frames N] [--seed N] [--model correct|adj-sign|c-bit|udp-zero|zero-fold|quote]
//            [--reports N] [--quiet]
//
// Prints the frames run, the verdicts and counters reached, the mismatches (0), the invalid
// checksums (0), what each mutant model would have been caught on, and frames/s. Exit 0 when there
// is no mismatch and no invalid checksum, 1 otherwise (with a mutant --model: the mismatches are
// that mutant caught), 77 when the kernel cannot run it here.
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "fuzz/runner.h"
#include "testbed/kernel.h"
#include "testbed/netns.h"

namespace {

using ila::fuzz::ModelVariant;

bool ParseVariant(std::string_view s, ModelVariant* v) {
  const std::pair<std::string_view, ModelVariant> names[] = {
      {"correct", ModelVariant::kCorrect},        {"adj-sign", ModelVariant::kAdjSignFlipped},
      {"c-bit", ModelVariant::kNoCBitRestore},    {"udp-zero", ModelVariant::kUdpZeroRewritten},
      {"zero-fold", ModelVariant::kZeroFoldKept}, {"quote", ModelVariant::kQuoteUntouched}};
  for (const auto& [name, variant] : names) {
    if (s == name) {
      *v = variant;
      return true;
    }
  }
  return false;
}

int Usage() {
  std::cerr
      << "usage: ila_fuzz [--frames N] [--seed N] "
         "[--model correct|adj-sign|c-bit|udp-zero|zero-fold|quote] [--reports N] [--quiet]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ila::fuzz::FuzzOptions options;
  options.frames = 1000000;
  options.progress = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--frames" && has_value) {
      options.frames = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--seed" && has_value) {
      options.seed = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--reports" && has_value) {
      options.max_reports = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--model" && has_value) {
      if (!ParseVariant(argv[++i], &options.model)) return Usage();
    } else if (arg == "--quiet") {
      options.progress = false;
    } else {
      return Usage();
    }
  }
  for (auto reason :
       {ila::testbed::BpfUnavailableReason(), ila::testbed::NetnsUnavailableReason()}) {
    if (reason) {
      std::cerr << "ila_fuzz: cannot run here: " << *reason << "\n";
      return 77;
    }
  }
  std::cout << "ila_fuzz: seed " << options.seed << ", " << options.frames << " frames, model "
            << ToString(options.model) << std::endl;
  auto report = ila::fuzz::RunFuzz(options);
  if (!report.ok()) {
    std::cerr << "ila_fuzz: " << report.status() << "\n";
    return 1;
  }
  for (const std::string& r : report->reports) std::cout << r;
  std::cout << report->Summary();
  return report->mismatches == 0 && report->checksums_invalid == 0 ? 0 : 1;
}
