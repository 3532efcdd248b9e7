// Prometheus metrics of the agent and its data plane (metrics.h).
#include "metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace ila::agent {

namespace {

std::string KindName(CounterKind kind) {
  switch (kind) {
    case CounterKind::kForwarded: return "forwarded";
    case CounterKind::kPassed: return "passed";
    case CounterKind::kDropped: return "dropped";
    case CounterKind::kObservation: return "observed";
  }
  return "observed";
}

}  // namespace

class AgentCollector : public prometheus::Collectable {
 public:
  AgentCollector(const SyncCounters& sync, const Dataplane& dataplane,
                 std::function<int64_t()> lease)
      : sync_(sync), dataplane_(dataplane), lease_(std::move(lease)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto gauge = [&](const char* name, const char* help, double value) {
      prometheus::ClientMetric m;
      m.gauge.value = value;
      out.push_back({name, help, prometheus::MetricType::Gauge, {m}});
    };
    auto counter = [&](const char* name, const char* help, double value) {
      prometheus::ClientMetric m;
      m.counter.value = value;
      out.push_back({name, help, prometheus::MetricType::Counter, {m}});
    };
    const auto applied = static_cast<double>(sync_.revision.load());
    const auto etcd = static_cast<double>(sync_.etcd_revision.load());
    gauge("ila_agent_revision_applied", "etcd revision the data plane reflects", applied);
    gauge("ila_agent_etcd_revision", "newest etcd revision the watch reported", etcd);
    gauge("ila_agent_sync_lag_revisions", "revisions etcd is ahead of the data plane",
          etcd > applied ? etcd - applied : 0);
    gauge("ila_agent_in_sync", "1 while a watch is established", sync_.in_sync.load() ? 1 : 0);
    gauge("ila_agent_mappings", "mappings in the data plane",
          static_cast<double>(sync_.mappings.load()));
    gauge("ila_agent_invalid_records", "records in etcd the schema refuses",
          static_cast<double>(sync_.invalid_records.load()));
    gauge("ila_agent_lease", "the liveness lease id (0: none)", static_cast<double>(lease_()));
    counter("ila_agent_watch_events_total", "watch events applied",
            static_cast<double>(sync_.events.load()));
    counter("ila_agent_resyncs_total", "full reads of the cluster state",
            static_cast<double>(sync_.resyncs.load()));
    counter("ila_agent_compactions_total", "resyncs caused by a compacted watch",
            static_cast<double>(sync_.compactions.load()));
    counter("ila_agent_reconnects_total", "watches re-established after an error",
            static_cast<double>(sync_.reconnects.load()));
    counter("ila_agent_errors_total", "etcd errors (each retried)",
            static_cast<double>(sync_.errors.load()));
    counter("ila_agent_writes_total", "data-plane entries written or removed",
            static_cast<double>(sync_.writes.load()));
    counter("ila_agent_failed_writes_total", "data-plane writes refused",
            static_cast<double>(sync_.failed_writes.load()));
    if (absl::StatusOr<Stats> stats = dataplane_.ReadStats(); stats.ok()) {
      // The same families as Stats::ToPrometheus (ilactl stats -prometheus).
      prometheus::MetricFamily packets{"ila_packets_total",
                                       "Packets seen by the ILA programs, by outcome.",
                                       prometheus::MetricType::Counter,
                                       {}};
      prometheus::MetricFamily bytes{"ila_bytes_total",
                                     "Bytes seen by the ILA programs, by outcome.",
                                     prometheus::MetricType::Counter,
                                     {}};
      for (const Counter& c : stats->counters) {
        prometheus::ClientMetric m;
        m.label = {{"kind", KindName(c.kind)}, {"reason", std::string(c.name)}};
        m.counter.value = static_cast<double>(c.packets);
        packets.metric.push_back(m);
        m.counter.value = static_cast<double>(c.bytes);
        bytes.metric.push_back(std::move(m));
      }
      out.push_back(std::move(packets));
      out.push_back(std::move(bytes));
    }
    return out;
  }

 private:
  const SyncCounters& sync_;
  const Dataplane& dataplane_;
  std::function<int64_t()> lease_;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, const SyncCounters& sync, const Dataplane& dataplane,
    std::function<int64_t()> lease) {
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->collector_ = std::make_shared<AgentCollector>(sync, dataplane, std::move(lease));
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  server->exposer_->RegisterCollectable(server->collector_);
  return server;
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const {
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace ila::agent
