// The cluster as this agent last read it from etcd: every record of the schema, by kind, with
// the revision it was read at. Built from a Range and kept current by the watch's events; the
// reconciler derives the data plane's tables from it.
//
// Thread safety: not synchronised; the sync loop owns it (readers elsewhere take a copy under
// the agent's mutex).
#ifndef ILA_AGENT_CLUSTER_STATE_H_
#define ILA_AGENT_CLUSTER_STATE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "schema.h"

namespace ila::agent {

// What one put or delete changed: the reconciler rewrites only that part of the data plane.
enum class StateChange {
  kNone,      // the same value again, or a key this agent does not act on
  kMapping,   // one mapping: rewrite that address
  kTopology,  // a SIR prefix, rule or host, or a dead host handed to the routers: re-derive
              // prefixes, rules and locators (and the mappings that depend on them)
  kAlive,     // a liveness key
};

class ClusterState {
 public:
  explicit ClusterState(Schema schema) : schema_(std::move(schema)) {}

  // Applies a put of `value` under `key`. An invalid record is refused (InvalidArgument naming
  // the key and what is wrong) and the key is then treated as absent: a record that cannot be
  // read must not leave its previous, valid version in force.
  [[nodiscard]] absl::Status Put(const std::string& key, const std::string& value,
                                 StateChange* change);
  StateChange Delete(const std::string& key);
  // The address a mapping key names (a changed mapping that was deleted is no longer in
  // mappings()). False for other keys.
  bool MappingAddressOf(const std::string& key, SirAddress* sir) const;

  const absl::flat_hash_map<SirAddress, MappingRecord>& mappings() const { return mappings_; }
  const std::map<std::string, HostRecord>& hosts() const { return hosts_; }
  const std::set<SirPrefix>& prefixes() const { return prefixes_; }
  const std::map<std::string, PrefixRule>& rules() const { return rules_; }
  const std::map<std::string, AliveRecord>& alive() const { return alive_; }
  const std::map<std::string, DeadHostRecord>& dead() const { return dead_; }
  // The policy "routers" has run for `host`: hosts withdraw its mappings (dead_hosts.h).
  bool HandedToRouters(const std::string& host) const {
    auto it = dead_.find(host);
    return it != dead_.end() && it->second.to_routers;
  }
  // Keys that did not parse, with why (shown by `ila-agent status`, counted in metrics).
  const std::map<std::string, std::string>& invalid() const { return invalid_; }
  const Schema& schema() const { return schema_; }

  // The etcd revision everything here reflects.
  int64_t revision() const { return revision_; }
  void set_revision(int64_t revision) { revision_ = revision; }

 private:
  StateChange Remove(const std::string& key);
  Schema schema_;
  absl::flat_hash_map<SirAddress, MappingRecord> mappings_;
  std::map<std::string, HostRecord> hosts_;
  std::set<SirPrefix> prefixes_;
  std::map<std::string, PrefixRule> rules_;
  std::map<std::string, AliveRecord> alive_;
  std::map<std::string, DeadHostRecord> dead_;
  std::map<std::string, std::string> invalid_;
  int64_t revision_ = 0;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_CLUSTER_STATE_H_
