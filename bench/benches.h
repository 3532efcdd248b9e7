// The benchmark groups; registration order is run order (benchmarks sharing a world run together).
#ifndef ILA_BENCH_BENCHES_H_
#define ILA_BENCH_BENCHES_H_

namespace ila::bench {

void RegisterCostBenchmarks();     // check/*, cost/*
void RegisterLiveBenchmarks();     // live/*
void RegisterCompareBenchmarks();  // compare/*
void RegisterTcpBenchmarks();      // tcp/*
void RegisterScaleBenchmarks();    // scale/*
void RegisterControlBenchmarks();  // control/*

}  // namespace ila::bench

#endif  // ILA_BENCH_BENCHES_H_
