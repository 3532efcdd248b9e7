// The fan-out benchmark (issue 17): one etcd member and W watchers, each on its own connection
// (its own gRPC channel and subchannel: `ss` counts them), in one process:
//   etcd     W plain watches on the mappings: put -> the event seen by all W (p50/p99);
//   agents   W of the agent's sync loops (its etcd client, schema, cluster state and diff) over a
//            null data plane that keeps the table it would have written: put -> applied by all W
//            (p50/p99), beside the plain watches' figure;
//   memory   the process's resident memory per agent, and per mapping each agent holds (the
//            growth when every agent takes M more mappings).
// Prints a table and writes one JSON object (--out FILE). Needs etcd (Debian's etcd-server).
//
//   ila_bench_cluster_fanout [--quick] [--watchers W] [--out FILE]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "cluster_common.h"
#include "etcd/client.h"
#include "log.h"
#include "schema.h"
#include "state_applier.h"
#include "sync_loop.h"
#include "testbed/etcd_cluster.h"
#include "testbed/process.h"

namespace {

using namespace ila::bench_cluster;
using ila::Mapping;
using ila::SirAddress;
using ila::agent::ClusterState;
using ila::agent::StateApplier;
using ila::agent::WriteCounts;
namespace etcd = ila::agent::etcd;
using nlohmann::json;

// A data plane that is not there: keeps the mapping table the agent would have written (so that
// memory and work are the agent's, less the BPF maps), and writes nowhere.
class NullDataplane final : public StateApplier {
 public:
  WriteCounts Reconcile(const ClusterState& state) override {
    WriteCounts c;
    for (auto it = table_.begin(); it != table_.end();) {
      if (state.mappings().contains(it->first)) {
        ++it;
        continue;
      }
      table_.erase(it++);
      ++c.removed;
    }
    for (const auto& [sir, record] : state.mappings()) Upsert(record.mapping, c);
    return c;
  }
  WriteCounts ReconcileMappings(const ClusterState& state,
                                std::span<const SirAddress> changed) override {
    WriteCounts c;
    for (const SirAddress& sir : changed) {
      auto it = state.mappings().find(sir);
      if (it != state.mappings().end()) {
        Upsert(it->second.mapping, c);
      } else if (table_.erase(sir) > 0) {
        ++c.removed;
      }
    }
    return c;
  }
  size_t mapping_count() const override { return table_.size(); }
  const std::string& last_error() const override { return last_error_; }

 private:
  void Upsert(const Mapping& m, WriteCounts& c) {
    auto [it, inserted] = table_.try_emplace(m.sir, m);
    if (!inserted && it->second == m) return;
    it->second = m;
    ++c.written;
  }
  absl::flat_hash_map<SirAddress, Mapping> table_;
  std::string last_error_;
};

double ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024;
  }
  return 0;
}

// Established TCP connections to `port`, as `ss` lists them.
int Connections(int port) {
  auto r = ila::testbed::RunCommand(
      {"ss", "-Htn", "state", "established", absl::StrCat("( dport = :", port, " )")});
  if (!r.ok()) return -1;
  return static_cast<int>(std::count(r->output.begin(), r->output.end(), '\n'));
}

void PutMappings(etcd::Client& client, uint64_t first, uint64_t count) {
  constexpr uint64_t kPerTxn = 64;
  for (uint64_t k = first; k < first + count; k += kPerTxn) {
    std::vector<etcd::Operation> ops;
    for (uint64_t id = k; id < std::min(first + count, k + kPerTxn); ++id) {
      ops.push_back({.key = MappingKey(id), .value = kValue});
    }
    Must(client.Txn({}, ops, {}), "txn");
  }
}

// Polls (without spinning: the watchers need both cores) until `done` holds; the time it took.
template <typename F>
double WaitAll(Clock::time_point t0, F done) {
  while (!done()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  return Micros(Clock::now() - t0);
}

}  // namespace

int Main(int argc, char** argv) {
  bool quick = false;
  int watchers = 0;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--watchers" && i + 1 < argc) {
      watchers = std::atoi(argv[++i]);
    } else if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--watchers W] [--out FILE]\n", argv[0]);
      return 2;
    }
  }
  if (access("/usr/bin/etcd", X_OK) != 0) {
    std::printf("ILA_SKIP: etcd is not installed (Debian's etcd-server)\n");
    return 0;
  }
  if (watchers <= 0) watchers = quick ? 50 : 1000;
  const int puts = quick ? 30 : 200;
  const uint64_t seeded = quick ? 200 : 1000;  // mappings every agent starts with
  const uint64_t more = quick ? 200 : 1000;    // ... and takes afterwards (memory per mapping)

  // A socket per connection on each side, and etcd inherits the limit.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  const rlim_t want = 4 * static_cast<rlim_t>(watchers) + 1024;
  if (files.rlim_cur < want) {
    files.rlim_cur = want;
    files.rlim_max = std::max(files.rlim_max, want);
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) {
      std::fprintf(stderr, "ila_bench_cluster_fanout: cannot raise the open-file limit to %lu\n",
                   static_cast<unsigned long>(want));
      return 1;
    }
  }
  ila::agent::SetLogLevel(ila::agent::LogLevel::kWarning);
  auto cluster = Must(ila::testbed::EtcdCluster::Start({}), "etcd");
  etcd::ClientOptions co;
  co.endpoints = cluster->client_endpoints();
  const int port = std::atoi(co.endpoints[0].substr(co.endpoints[0].rfind(':') + 1).c_str());
  auto writer = Must(etcd::Client::Connect(co), "connect");
  PutMappings(*writer, 0x100000, seeded);
  const ila::agent::Schema schema = Must(ila::agent::Schema::Create("/ila/"), "schema");
  uint64_t next_id = 0x200000;
  const int connections_before = Connections(port);

  // ---- etcd alone: W plain watches --------------------------------------------------------
  std::vector<double> etcd_us;
  int etcd_connections = 0;
  {
    const int64_t from = Must(writer->Get("/ila/schema"), "get").revision + 1;
    std::vector<std::unique_ptr<etcd::Client>> clients;
    std::vector<std::unique_ptr<etcd::Watch>> watches;
    std::vector<std::atomic<int64_t>> seen(static_cast<size_t>(watchers));
    std::vector<std::thread> threads;
    for (int w = 0; w < watchers; ++w) {
      clients.push_back(Must(etcd::Client::Connect(co), "connect"));
      watches.push_back(Must(clients.back()->WatchPrefix(schema.DataPrefix(), from), "watch"));
      threads.emplace_back([&seen, w, watch = watches.back().get()] {
        while (true) {
          absl::StatusOr<etcd::Watch::Batch> b = watch->Read();
          if (!b.ok()) return;
          for (const etcd::Event& e : b->events) {
            seen[static_cast<size_t>(w)] =
                std::max(seen[static_cast<size_t>(w)].load(), e.kv.mod_revision);
          }
        }
      });
    }
    etcd_connections = Connections(port) - connections_before;
    for (int i = 0; i < puts; ++i) {
      const auto t0 = Clock::now();
      const int64_t rev = Must(writer->Put(MappingKey(next_id++), kValue), "put");
      etcd_us.push_back(WaitAll(t0, [&] {
        return std::all_of(seen.begin(), seen.end(), [&](const auto& s) { return s >= rev; });
      }));
    }
    for (auto& w : watches) w->Cancel();
    for (std::thread& t : threads) t.join();
  }

  // ---- W agents over a null data plane -------------------------------------------------------
  struct Agent {
    std::unique_ptr<etcd::Client> client;
    NullDataplane table;
    std::unique_ptr<ila::agent::SyncLoop> loop;
    std::thread thread;
  };
  const double rss0 = ResidentBytes();
  std::vector<std::unique_ptr<Agent>> agents;
  const auto s0 = Clock::now();
  for (int w = 0; w < watchers; ++w) {
    auto a = std::make_unique<Agent>();
    a->client = Must(etcd::Client::Connect(co), "connect");
    a->loop = std::make_unique<ila::agent::SyncLoop>(*a->client, a->table, schema,
                                                     ila::agent::SyncLoop::Options{});
    a->thread = std::thread([loop = a->loop.get()] { (void)loop->Run(); });
    agents.push_back(std::move(a));
  }
  auto all_at = [&](int64_t rev) {
    return std::all_of(agents.begin(), agents.end(),
                       [&](const auto& a) { return a->loop->counters().revision >= rev; });
  };
  const uint64_t first_mappings = seeded + static_cast<uint64_t>(puts);
  WaitAll(s0, [&] {
    return std::all_of(agents.begin(), agents.end(), [&](const auto& a) {
      return a->loop->counters().in_sync && a->loop->counters().mappings >= first_mappings;
    });
  });
  const double start_s = std::chrono::duration<double>(Clock::now() - s0).count();
  const int agent_connections = Connections(port) - connections_before;
  const double rss1 = ResidentBytes();
  std::vector<double> agent_us;
  for (int i = 0; i < puts; ++i) {
    const auto t0 = Clock::now();
    const int64_t rev = Must(writer->Put(MappingKey(next_id++), kValue), "put");
    agent_us.push_back(WaitAll(t0, [&] { return all_at(rev); }));
  }
  PutMappings(*writer, 0x300000, more);
  const int64_t last = Must(writer->Get("/ila/schema"), "get").revision;
  WaitAll(Clock::now(), [&] { return all_at(last); });
  const double rss2 = ResidentBytes();
  for (auto& a : agents) a->loop->Stop();
  for (auto& a : agents) a->thread.join();
  agents.clear();

  const double per_agent = (rss1 - rss0) / watchers;
  const double per_mapping =
      (rss2 - rss1) / (static_cast<double>(watchers) * static_cast<double>(more));
  json r = {{"watchers", watchers},
            {"puts", puts},
            {"connections", {{"plain_watches", etcd_connections}, {"agents", agent_connections}}},
            {"etcd_put_to_all_watchers_p50_us", Percentile(etcd_us, 0.5)},
            {"etcd_put_to_all_watchers_p99_us", Percentile(etcd_us, 0.99)},
            {"agents_put_to_all_applied_p50_us", Percentile(agent_us, 0.5)},
            {"agents_put_to_all_applied_p99_us", Percentile(agent_us, 0.99)},
            {"agents_p99_over_etcd_p99", Percentile(agent_us, 0.99) / Percentile(etcd_us, 0.99)},
            {"agents_start_to_loaded_s", start_s},
            {"mappings_at_start", first_mappings},
            {"resident_bytes_per_agent", per_agent},
            {"resident_bytes_per_mapping_per_agent", per_mapping}};
  std::printf(
      "fan-out: %d watchers, each on its own connection (ss: %d for the plain watches, %d for the "
      "agents), one etcd member, this machine:\n"
      "  put -> event at all %d plain watches     p50 %8.0f us  p99 %8.0f us\n"
      "  put -> applied by all %d agents           p50 %8.0f us  p99 %8.0f us  (p99 %.2fx the "
      "watches')\n"
      "  %d agents started and loaded %lu mappings each in %.2f s\n"
      "  resident memory: %.0f KB an agent (with %lu mappings), %.0f bytes a mapping an agent\n",
      watchers, etcd_connections, agent_connections, watchers, Percentile(etcd_us, 0.5),
      Percentile(etcd_us, 0.99), watchers, Percentile(agent_us, 0.5), Percentile(agent_us, 0.99),
      r["agents_p99_over_etcd_p99"].get<double>(), watchers,
      static_cast<unsigned long>(first_mappings), start_s, per_agent / 1024,
      static_cast<unsigned long>(first_mappings), per_mapping);
  writer.reset();
  cluster.reset();
  if (!out.empty()) {
    if (!WriteReport(out, r)) {
      std::fprintf(stderr, "%s: cannot write %s\n", argv[0], out.c_str());
      return 1;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ila_bench_cluster_fanout: %s\n", e.what());
    return 1;
  }
}
