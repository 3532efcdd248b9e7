// The cluster benchmarks (issue 17): how fast what is written into etcd reaches the data planes of
// three hosts through their ila-agents, each figure beside etcd's own in the same run.
//   latency   one put at a time: put -> applied in all three hosts' BPF tables (p50/p99), beside
//             put -> watch event at a plain etcd watcher;
//   rate      changes written as fast as etcd takes them (8 writers, 64 puts a transaction): the
//             rate every host applied them at, beside the rate etcd accepted them at;
//   cold      1M mappings in etcd (--quick: 25k), a fourth agent started on a fresh host: start ->
//             table loaded, beside a bare read of the same keys.
// Prints a table and writes one JSON object (--out FILE). Needs root (BPF, namespaces, etcd).
//
//   ila_bench_cluster [--quick] [--out FILE]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster_common.h"
#include "cluster_control.h"
#include "etcd/client.h"
#include "ila/dataplane.h"
#include "testbed/kernel.h"
#include "testbed/netns.h"

namespace {

using namespace ila::bench_cluster;
using ila::Dataplane;
using ila::SirAddress;
using nlohmann::json;

constexpr int kHosts = 3;

struct Host {
  std::unique_ptr<ila::testbed::Netns> ns;
  std::unique_ptr<Dataplane> dp;
};

bool AllHave(std::vector<Host>& hosts, const SirAddress& sir) {
  for (Host& h : hosts) {
    if (!h.dp->mappings().Get(sir).ok()) return false;
  }
  return true;
}

}  // namespace

int Main(int argc, char** argv) {
  bool quick = false;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--out FILE]\n", argv[0]);
      return 2;
    }
  }
  if (auto why = ila::testbed::BpfUnavailableReason()) {
    std::printf("ILA_SKIP: %s\n", why->c_str());
    return 0;
  }
  const int latency_puts = quick ? 50 : 500;
  const int rate_changes = quick ? 5000 : 40000;
  // The full run's cold start reads 1M mappings (the ones the other phases wrote included).
  const int cold_mappings = quick ? 20000 : 1000000 - rate_changes - latency_puts;

  const std::string tag = absl::StrCat("ilabc-", getpid(), "-");
  auto cluster = Must(ila::demo::ClusterControl::Start(tag, ILA_AGENT_PATH, nullptr), "etcd");
  Must(cluster->Etcdctl({"put", "/ila/v1/prefixes/3333:0:0:1", R"({"v":1})"}), "prefix");
  std::vector<Host> hosts(kHosts);
  auto start_host = [&](Host& h, int i) {
    h.ns = std::make_unique<ila::testbed::Netns>(
        Must(ila::testbed::Netns::CreateNamed(absl::StrCat(tag, "h", i)), "namespace"));
    const std::string name = absl::StrCat("h", i);
    if (absl::Status s = cluster->StartAgent(
            name, *h.ns,
            {"--locator", absl::StrCat("2001:db8:", i, ":0,3333:0:0:1"), "--max-mappings",
             std::to_string(cold_mappings + rate_changes + latency_puts + 1024), "--log-level",
             "warning"},
            std::chrono::seconds(300));
        !s.ok()) {
      Die("starting " + name, s);
    }
    h.dp = Must(Dataplane::Open(cluster->Pins(name), {.keep_nexthop_cache = false}), "open");
  };
  for (int i = 0; i < kHosts; ++i) start_host(hosts[i], i + 1);

  // Our own etcd client, made inside a host's namespace (so are its gRPC threads).
  ila::agent::etcd::ClientOptions co;
  co.endpoints = cluster->etcd().client_endpoints();
  std::unique_ptr<ila::agent::etcd::Client> client;
  std::unique_ptr<ila::agent::etcd::Watch> watch;
  // The first host's namespace reaches etcd over its management veth.
  auto entered = Must(ila::testbed::NetnsEntered::Enter(*hosts[0].ns), "setns");
  client = Must(ila::agent::etcd::Client::Connect(co), "connect");
  const int64_t rev0 = Must(client->Put("/bench/start", "x"), "put");
  watch = Must(client->WatchPrefix("/bench/probe/", rev0 + 1), "watch");

  // ---- latency: one change at a time ------------------------------------------------------
  std::vector<double> etcd_us, agent_us;
  for (int i = 0; i < latency_puts; ++i) {
    auto t0 = Clock::now();
    Must(client->Put(absl::StrCat("/bench/probe/", i), "x"), "put");
    auto batch = Must(watch->Read(), "watch");
    etcd_us.push_back(Micros(Clock::now() - t0));
    (void)batch;
    const uint64_t id = 0x100000 + static_cast<uint64_t>(i);
    const SirAddress sir{kPrefix, ila::Identifier(id)};
    t0 = Clock::now();
    Must(client->Put(MappingKey(id), kValue), "put");
    // Polled, not spun: a spinning poller would take one of the two cores from etcd and the agents.
    while (!AllHave(hosts, sir)) std::this_thread::sleep_for(std::chrono::microseconds(20));
    agent_us.push_back(Micros(Clock::now() - t0));
  }

  // ---- rate: as fast as etcd takes them ----------------------------------------------------
  constexpr int kWriters = 8;
  constexpr int kPerTxn = 64;
  std::atomic<int> next{0};
  const auto w0 = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      while (true) {
        const int first = next.fetch_add(kPerTxn);
        if (first >= rate_changes) return;
        std::vector<ila::agent::etcd::Operation> ops;
        for (int k = first; k < std::min(first + kPerTxn, rate_changes); ++k) {
          ops.push_back({.key = MappingKey(0x200000 + static_cast<uint64_t>(k)), .value = kValue});
        }
        Must(client->Txn({}, ops, {}), "txn");
      }
    });
  }
  for (std::thread& t : writers) t.join();
  const auto written = Clock::now();
  const SirAddress last{kPrefix,
                        ila::Identifier(0x200000 + static_cast<uint64_t>(rate_changes - 1))};
  size_t expected = static_cast<size_t>(latency_puts) + static_cast<size_t>(rate_changes);
  for (Host& h : hosts) {
    while (true) {
      auto list = h.dp->mappings().List();
      if (list.ok() && list->size() >= expected && h.dp->mappings().Get(last).ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const auto applied = Clock::now();
  const double etcd_rate = rate_changes / std::chrono::duration<double>(written - w0).count();
  const double agent_rate = rate_changes / std::chrono::duration<double>(applied - w0).count();

  // ---- cold start ------------------------------------------------------------------------------
  next = 0;
  writers.clear();
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      while (true) {
        const int first = next.fetch_add(kPerTxn);
        if (first >= cold_mappings) return;
        std::vector<ila::agent::etcd::Operation> ops;
        for (int k = first; k < std::min(first + kPerTxn, cold_mappings); ++k) {
          ops.push_back({.key = MappingKey(0x1000000 + static_cast<uint64_t>(k)), .value = kValue});
        }
        Must(client->Txn({}, ops, {}), "txn");
      }
    });
  }
  for (std::thread& t : writers) t.join();
  expected += static_cast<size_t>(cold_mappings);
  const auto r0 = Clock::now();
  auto all = Must(client->RangePrefix("/ila/v1/"), "range");
  const double range_s = std::chrono::duration<double>(Clock::now() - r0).count();
  Host fresh;
  const auto c0 = Clock::now();
  start_host(fresh, kHosts + 1);
  while (true) {
    auto list = fresh.dp->mappings().List();
    if (list.ok() && list->size() >= expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double cold_s = std::chrono::duration<double>(Clock::now() - c0).count();
  // The fresh agent's resident memory with the whole table (its fixed part included).
  double rss_bytes = 0;
  {
    std::ifstream status(
        absl::StrCat("/proc/", cluster->AgentPid(absl::StrCat("h", kHosts + 1)), "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) rss_bytes = std::stod(line.substr(6)) * 1024;
    }
  }

  json r = {{"hosts", kHosts},
            {"latency",
             {{"puts", latency_puts},
              {"etcd_put_to_watch_p50_us", Percentile(etcd_us, 0.5)},
              {"etcd_put_to_watch_p99_us", Percentile(etcd_us, 0.99)},
              {"agents_put_to_applied_p50_us", Percentile(agent_us, 0.5)},
              {"agents_put_to_applied_p99_us", Percentile(agent_us, 0.99)},
              {"added_p99_over_etcd_p99", (Percentile(agent_us, 0.99) - Percentile(etcd_us, 0.99)) /
                                              Percentile(etcd_us, 0.99)}}},
            {"rate",
             {{"changes", rate_changes},
              {"etcd_accepted_per_s", etcd_rate},
              {"all_hosts_applied_per_s", agent_rate},
              {"applied_over_accepted", agent_rate / etcd_rate}}},
            {"cold_start",
             {{"mappings", all.kvs.size()},
              {"bare_range_read_s", range_s},
              {"agent_start_to_loaded_s", cold_s},
              {"ratio", cold_s / range_s}}}};
  std::printf(
      "cluster benchmarks (%d hosts, one etcd member, this machine):\n"
      "  put -> watch event (etcd alone)        p50 %8.0f us  p99 %8.0f us\n"
      "  put -> applied on all %d hosts          p50 %8.0f us  p99 %8.0f us  (added p99 = %.2fx "
      "etcd's p99; goal <= 2)\n"
      "  changes/s: etcd accepted %8.0f, all hosts applied %8.0f (%.2f; goal >= 10k/s applied)\n"
      "  cold start, %zu keys: bare range read %.2f s, agent start -> loaded %.2f s (%.1fx; goal "
      "<= 5)\n"
      "  the agent's resident memory then: %.1f MB, %.0f bytes a mapping (fixed part included)\n",
      kHosts, Percentile(etcd_us, 0.5), Percentile(etcd_us, 0.99), kHosts,
      Percentile(agent_us, 0.5), Percentile(agent_us, 0.99),
      r["latency"]["added_p99_over_etcd_p99"].get<double>(), etcd_rate, agent_rate,
      agent_rate / etcd_rate, all.kvs.size(), range_s, cold_s, cold_s / range_s, rss_bytes / 1e6,
      rss_bytes / static_cast<double>(expected));
  // Teardown: the agents, then their data planes, then etcd and the namespaces.
  watch.reset();
  client.reset();
  for (int i = 1; i <= kHosts + 1; ++i) cluster->StopAgent(absl::StrCat("h", i), SIGTERM);
  for (Host& h : hosts) (void)h.dp->Destroy();
  (void)fresh.dp->Destroy();
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
    std::fprintf(stderr, "ila_bench_cluster: %s\n", e.what());
    return 1;
  }
}
