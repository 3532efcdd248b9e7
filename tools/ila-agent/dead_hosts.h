// What happens to the mappings of a host whose liveness key expired: the cluster's policy,
// carried out exactly once, by whichever agent currently leads an etcd election.
//
// Policy (`/ila/v1/policy`, {"v":1,"dead_host":"keep"|"delete"|"routers","grace_seconds":N};
// absent: keep):
//   keep     a dead host's mappings stay: its containers may be alive behind a host that is merely
//            cut off from etcd, and withdrawing them would cut them off from the data plane too;
//   delete   after `grace_seconds` of continuous death, the leader deletes every mapping the host
//            owns. A host that comes back re-publishes its saved inventory;
//   routers  after `grace_seconds`, the leader sets "to_routers" in the host's marker: every host
//            withdraws the dead host's mappings from its own table and the ILA routers keep them,
//            so traffic to its containers takes the SIR prefix's route to the routers (which still
//            reach a host that is only cut off from etcd), and etcd keeps the records. Hosts
//            install them again when the marker goes.
// All write a marker `/ila/v1/dead/<host>` ({"v":1,"since":<unix s>,"done":bool,...}) when the
// death is first seen; it is removed when the host is alive again. The deletions are
// transactions conditioned on the host still being dead and on each mapping's revision as read,
// and the marker's "done" is set with the last of them: a leader that dies half-way leaves the
// rest to the next one, and no mapping that changed owner meanwhile is touched.
//
// Election (etcd's concurrency.Election pattern): every agent keeps a key
// `/ila/v1/election/<host>` under its own lease; the leader is the one whose key has the lowest
// create revision, so leadership passes when the leader's lease expires.
//
// Thread safety: Run() on one thread; Stop() from any thread.
#ifndef ILA_AGENT_DEAD_HOSTS_H_
#define ILA_AGENT_DEAD_HOSTS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "etcd/client.h"
#include "schema.h"

namespace ila::agent {

class DeadHosts {
 public:
  DeadHosts(etcd::Client& client, Schema schema, std::string self, std::function<int64_t()> lease,
            std::chrono::milliseconds interval);
  void Run();
  void Stop();
  bool leader() const { return leader_.load(); }
  uint64_t mappings_deleted() const { return deleted_.load(); }

  // One round (what Run() does every interval); for tests.
  [[nodiscard]] absl::Status Round();

 private:
  absl::Status Campaign(int64_t lease);
  absl::StatusOr<bool> IsLeader();
  absl::Status Enforce();
  absl::Status MarkDead(const std::string& host, const DeadHostRecord& marker);
  absl::Status DeleteMappingsOf(const std::string& host, const std::string& marker_key,
                                int64_t since);

  etcd::Client& client_;
  Schema schema_;
  std::string self_;
  std::function<int64_t()> lease_;
  std::chrono::milliseconds interval_;
  int64_t campaigned_lease_ = 0;
  std::atomic<bool> leader_{false};
  std::atomic<uint64_t> deleted_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_DEAD_HOSTS_H_
