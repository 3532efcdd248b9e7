// The agent's Prometheus endpoint (prometheus-cpp's pull exposer, Debian's prometheus-cpp-dev):
// GET http://<address>/metrics gives the sync loop's figures (revision applied, etcd's revision
// and the lag between them, events, resyncs, compactions, reconnects, errors, writes, table size,
// lease) and the host data plane's packet counters by named reason, each read when scraped.
//
// Thread safety: the exposer's threads call the collector; it reads atomics and the data plane's
// per-CPU counters, both safe from any thread.
#ifndef ILA_AGENT_METRICS_H_
#define ILA_AGENT_METRICS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ila/dataplane.h"
#include "sync_loop.h"

namespace prometheus {
class Exposer;
}

namespace ila::agent {

class MetricsServer {
 public:
  // Serves on `address` ("127.0.0.1:9469"; port 0 picks a free one, see port()).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, const SyncCounters& sync, const Dataplane& dataplane,
      std::function<int64_t()> lease);
  ~MetricsServer();
  int port() const;

 private:
  MetricsServer() = default;
  std::shared_ptr<class AgentCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_METRICS_H_
