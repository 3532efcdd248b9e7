// This host's liveness in etcd: a key under the host's own lease, renewed at a third of its TTL,
// and the host record (locators) beside it, which is not leased. The lease id is kept in the
// agent's state directory, so that an agent restarted within the TTL keeps its lease: its
// liveness key never disappears and no other agent starts the policy for dead hosts.
//
// When the lease has expired anyway (the host was cut off longer than the TTL), a new one is
// granted, the key put again, and `on_new_lease` runs (the agent re-publishes its inventory).
//
// Thread safety: Run() on one thread; Stop() and lease() from any thread.
#ifndef ILA_AGENT_LIVENESS_H_
#define ILA_AGENT_LIVENESS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "etcd/client.h"
#include "schema.h"

namespace ila::agent {

class Liveness {
 public:
  struct Options {
    std::chrono::seconds ttl{10};
    std::string lease_file;  // where the lease id is kept ("" : not kept)
  };
  Liveness(etcd::Client& client, Schema schema, HostRecord host, Options options);

  void Run();
  void Stop();
  // The current lease (0 before the first grant).
  int64_t lease() const { return lease_.load(); }
  uint64_t leases_granted() const { return granted_.load(); }
  void set_on_new_lease(std::function<void()> f) { on_new_lease_ = std::move(f); }

 private:
  absl::Status Establish(bool* fresh);
  bool Sleep(std::chrono::milliseconds d);

  etcd::Client& client_;
  Schema schema_;
  HostRecord host_;
  Options options_;
  std::function<void()> on_new_lease_;
  std::atomic<int64_t> lease_{0};
  std::atomic<uint64_t> granted_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_LIVENESS_H_
