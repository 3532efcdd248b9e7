// Control plane: MappingTable upserts (single and batch), loading a whole table, what a mapping
// costs in kernel memory, Get and List.
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench_support.h"
#include "benches.h"
#include "worlds.h"

namespace ila::bench {
namespace {

using testbed::HostFixture;

absl::StatusOr<std::unique_ptr<Dataplane>> NewTable(uint32_t max_mappings) {
  DataplaneConfig config;
  config.max_mappings = max_mappings;
  auto dp = Dataplane::Create(config);
  if (!dp.ok()) return dp.status();
  if (absl::Status st = (*dp)->sir_prefixes().Add(HostFixture::Sir()); !st.ok()) return st;
  return dp;
}

std::vector<Mapping> MakeMappings(size_t n) {
  std::vector<Mapping> out;
  out.reserve(n);
  for (const SirAddress& s : MakeSirs(HostFixture::Sir(), n, 0x10000)) {
    out.push_back({s, HostFixture::L2(), ChecksumMode::kNeutralMapAuto});
  }
  return out;
}

std::set<uint32_t> MapIds() {
  std::set<uint32_t> ids;
  for (const MapMemory& m : ProcessMaps()) ids.insert(m.id);
  return ids;
}

void UpsertSingle(benchmark::State& state) {
  auto w = GetControlWorld();
  if (!w.ok()) return Fail(state, w.status());
  auto dp = NewTable(65536);
  if (!dp.ok()) return Fail(state, dp.status());
  std::vector<Mapping> pool = MakeMappings(65536);
  size_t i = 0;
  for (auto _ : state) {
    if (StopNow(state)) break;
    if (absl::Status st = (*dp)->mappings().Upsert(pool[i++ % pool.size()]); !st.ok()) {
      return Fail(state, st);
    }
  }
  state.SetItemsProcessed(state.iterations());
  Progress("control/upsert_single", absl::StrCat("iterations=", state.iterations()));
}

void UpsertBatch(benchmark::State& state) {
  size_t batch = static_cast<size_t>(state.range(0));
  auto w = GetControlWorld();
  if (!w.ok()) return Fail(state, w.status());
  auto dp = NewTable(1u << 17);
  if (!dp.ok()) return Fail(state, dp.status());
  std::vector<Mapping> pool = MakeMappings(100000);
  size_t windows = pool.size() / batch;
  size_t k = 0;
  AllCpus cpus;  // large batches check and write on two threads when two CPUs are there
  for (auto _ : state) {
    if (StopNow(state)) break;
    std::span<const Mapping> window(pool.data() + (k++ % windows) * batch, batch);
    if (absl::Status st = (*dp)->mappings().UpsertBatch(window); !st.ok()) return Fail(state, st);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
  Progress(absl::StrCat("control/upsert_batch/", batch),
           absl::StrCat("iterations=", state.iterations()));
}

// A fresh table sized for N, loaded with N mappings in one UpsertBatch (timed), and what the
// kernel says its maps take.
void Load(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  auto w = GetControlWorld();
  if (!w.ok()) return Fail(state, w.status());
  std::vector<Mapping> all = MakeMappings(n);
  std::unique_ptr<Dataplane> dp;
  std::set<uint32_t> mine;
  for (auto _ : state) {
    if (StopNow(state)) break;
    state.PauseTiming();
    dp.reset();
    (*w)->loaded.erase(n);
    std::set<uint32_t> before = MapIds();
    auto fresh = NewTable(static_cast<uint32_t>(n));
    if (!fresh.ok()) return Fail(state, fresh.status());
    dp = std::move(*fresh);
    mine.clear();
    for (uint32_t id : MapIds()) {
      if (!before.contains(id)) mine.insert(id);
    }
    AllCpus cpus;  // large batches check and write on two threads when two CPUs are there
    state.ResumeTiming();
    if (absl::Status st = dp->mappings().UpsertBatch(all); !st.ok()) return Fail(state, st);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
  state.counters["mappings"] = static_cast<double>(n);
  double mappings = 0, reverse = 0, all_maps = 0;
  for (const MapMemory& m : ProcessMaps()) {
    if (!mine.contains(m.id)) continue;
    all_maps += static_cast<double>(m.memlock);
    // The mapping table: the slot table of a full data plane with its endpoint cells (ila_mappings
    // is then one entry). Map names are cut to 15 characters by the kernel.
    if (m.name == "ila_mappings" || m.name == "ila_slots" || m.name == "ila_slot_endpoi") {
      mappings += static_cast<double>(m.memlock);
    }
    if (m.name == "ila_reverse") reverse = static_cast<double>(m.memlock);
  }
  state.counters["memlock_mappings_bytes"] = mappings;
  state.counters["memlock_reverse_bytes"] = reverse;
  state.counters["memlock_all_maps_bytes"] = all_maps;
  state.counters["bytes_per_mapping"] = (mappings + reverse) / static_cast<double>(n);
  state.counters["bytes_per_mapping_forward_only"] = mappings / static_cast<double>(n);
  (*w)->loaded[n] = std::move(dp);
  Progress(absl::StrCat("control/load/", n),
           absl::StrCat("bytes_per_mapping=", (mappings + reverse) / static_cast<double>(n)));
}

// What the kernel alone takes to batch-load N entries into two BPF hash maps with the data plane's
// key and value sizes (forward and reverse), with no validation: the floor any MappingTable built
// on BPF hash maps has for a load.
void KernelFloor(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  auto w = GetControlWorld();
  if (!w.ok()) return Fail(state, w.status());
  std::vector<std::array<uint8_t, 16>> keys(n);
  std::vector<std::array<uint8_t, 24>> values(n);
  std::vector<SirAddress> sirs = MakeSirs(HostFixture::Sir(), n, 0x10000);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(keys[i].data(), sirs[i].address().bytes().data(), 16);
    values[i].fill(static_cast<uint8_t>(i));
  }
  int threads = 1;
  for (auto _ : state) {
    if (StopNow(state)) break;
    state.PauseTiming();
    int fds[2];
    for (int& fd : fds) {
      fd = bpf_map_create(BPF_MAP_TYPE_HASH, "bench_floor", 16, 24, static_cast<uint32_t>(n),
                          nullptr);
      if (fd < 0) return Fail(state, absl::InternalError("bpf_map_create failed"));
    }
    // The two maps from two threads when two CPUs are there, as MappingTable does.
    AllCpus cpus;
    threads = cpus.count() > 1 ? 2 : 1;
    state.ResumeTiming();
    bool failed[2] = {false, false};
    auto load = [&](int i) {
      uint32_t count = static_cast<uint32_t>(n);
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      failed[i] = bpf_map_update_batch(fds[i], keys.data(), values.data(), &count, &opts) != 0;
    };
    if (threads == 2) {
      std::thread second(load, 1);
      load(0);
      second.join();
    } else {
      load(0);
      load(1);
    }
    if (failed[0] || failed[1]) {
      return Fail(state, absl::InternalError("bpf_map_update_batch failed"));
    }
    state.PauseTiming();
    for (int fd : fds) close(fd);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
  state.counters["mappings"] = static_cast<double>(n);
  state.counters["threads"] = threads;
  Progress(absl::StrCat("control/kernel_floor/", n), absl::StrCat("threads=", threads));
}

absl::StatusOr<Dataplane*> Loaded(size_t n) {
  auto w = GetControlWorld();
  if (!w.ok()) return w.status();
  auto& slot = (*w)->loaded[n];
  if (!slot) {
    auto dp = NewTable(static_cast<uint32_t>(n));
    if (!dp.ok()) return dp.status();
    if (absl::Status st = (*dp)->mappings().UpsertBatch(MakeMappings(n)); !st.ok()) return st;
    slot = std::move(*dp);
  }
  return slot.get();
}

void Get(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  auto dp = Loaded(n);
  if (!dp.ok()) return Fail(state, dp.status());
  std::vector<SirAddress> sirs = MakeSirs(HostFixture::Sir(), n, 0x10000);
  std::mt19937_64 rng(7);
  std::vector<SirAddress> order(1u << 16);
  for (SirAddress& s : order) s = sirs[rng() % n];
  size_t i = 0;
  for (auto _ : state) {
    if (StopNow(state)) break;
    auto m = (*dp)->mappings().Get(order[i++ % order.size()]);
    if (!m.ok()) return Fail(state, m.status());
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
  Progress(absl::StrCat("control/get/", n), absl::StrCat("iterations=", state.iterations()));
}

void List(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  auto dp = Loaded(n);
  if (!dp.ok()) return Fail(state, dp.status());
  AllCpus cpus;  // List sorts on two threads when two CPUs are there
  for (auto _ : state) {
    if (StopNow(state)) break;
    auto all = (*dp)->mappings().List();
    if (!all.ok()) return Fail(state, all.status());
    if (all->size() != n) {
      return Fail(state,
                  absl::InternalError(absl::StrCat("List returned ", all->size(), " of ", n)));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
  state.counters["mappings"] = static_cast<double>(n);
  Progress(absl::StrCat("control/list/", n), "");
}

}  // namespace

void RegisterControlBenchmarks() {
  // Fixed iteration counts (no calibration runs): one progress line each, predictable time.
  benchmark::RegisterBenchmark("control/upsert_single", UpsertSingle)
      ->Iterations(Pick<int64_t>(20000, 5000))
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  for (int64_t b : {100, 1000, 10000}) {
    benchmark::RegisterBenchmark("control/upsert_batch", UpsertBatch)
        ->Arg(b)
        ->Iterations(std::max<int64_t>(Pick<int64_t>(40000, 10000) / b, 2))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  std::vector<int64_t> sizes = {1000, 100000, 1000000};
  if (Quick()) sizes = {1000, 100000};
  for (int64_t n : sizes) {
    benchmark::RegisterBenchmark("control/load", Load)
        ->Arg(n)
        ->Iterations(n >= 1000000 ? 2 : Pick<int64_t>(3, 1))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("control/kernel_floor", KernelFloor)
        ->Arg(n)
        ->Iterations(n >= 1000000 ? 2 : Pick<int64_t>(3, 1))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("control/get", Get)
        ->Arg(n)
        ->Iterations(Pick<int64_t>(50000, 20000))
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("control/list", List)
        ->Arg(n)
        ->Iterations(n >= 1000000 ? 1 : Pick<int64_t>(3, 1))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace ila::bench
