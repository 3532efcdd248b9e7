// ila_bench: libila's benchmark suite (Google Benchmark). Usually run through bench/run.sh, which
// runs the groups one after another, merges their JSON and writes the report.
//
//   ila_bench [--quick] [--benchmark_filter=REGEX] [--benchmark_out=FILE --benchmark_out_format=json]
//
// Needs root (BPF, network namespaces); prints "ILA_SKIP: <reason>" and exits 0 without them.
#include <sys/utsname.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench_support.h"
#include "benches.h"
#include "testbed/kernel.h"
#include "testbed/netns.h"
#include "worlds.h"

namespace {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool quick = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
      continue;
    }
    args.push_back(argv[i]);
  }
  int nargs = static_cast<int>(args.size());
  ila::bench::SetQuick(quick);

  if (auto reason = ila::testbed::BpfUnavailableReason()) {
    std::cout << "ILA_SKIP: " << *reason << std::endl;
    return 0;
  }
  if (auto reason = ila::testbed::NetnsUnavailableReason()) {
    std::cout << "ILA_SKIP: " << *reason << std::endl;
    return 0;
  }
  // One core for everything measured: the generator, the programs and the softirq work of the
  // veths all run where the benchmark thread runs.
  ila::bench::PinToLastCpu();
  ila::bench::InstallInterruptHandler();

  ila::bench::RegisterCostBenchmarks();
  ila::bench::RegisterLiveBenchmarks();
  ila::bench::RegisterCompareBenchmarks();
  ila::bench::RegisterTcpBenchmarks();
  ila::bench::RegisterScaleBenchmarks();
  ila::bench::RegisterControlBenchmarks();

  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;
  utsname u{};
  uname(&u);
  benchmark::AddCustomContext("kernel", std::string(u.release));
  benchmark::AddCustomContext("cpu_model", CpuModel());
  benchmark::AddCustomContext("ila_bench_mode", quick ? "quick" : "full");
  benchmark::RunSpecifiedBenchmarks();
  ila::bench::DestroyWorlds();
  benchmark::Shutdown();
  return 0;
}
