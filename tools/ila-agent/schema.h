// The cluster's key schema in etcd (docs/cluster.md is its specification): key names, and the
// JSON values of each kind of record, encoded and parsed with every field checked.
//
// Values are JSON (nlohmann-json), not protobuf: operators read and write them with etcdctl
// (`etcdctl put /ila/v1/mappings/... '{"v":1,...}'`), and a reader ignores fields it does not
// know, which is how agents of two adjacent schema versions read each other's records during a
// rolling upgrade (a newer version only adds fields; see docs/cluster.md "Versions").
//
// Thread safety: Schema is an immutable value; its methods may be called from any thread.
#ifndef ILA_AGENT_SCHEMA_H_
#define ILA_AGENT_SCHEMA_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "ila/mapping.h"
#include "ila/types.h"

namespace ila::agent {

// The schema version this build writes; it reads records of this version and the next.
inline constexpr int kSchemaVersion = 1;

enum class HostRole { kHost, kRouter };
std::string_view ToString(HostRole role);

// A host (or ILA router) and its locators, one per SIR prefix it serves. Written by the host's
// own agent at start; not leased (a host that is cut off keeps its record).
struct HostRecord {
  std::string name;
  HostRole role = HostRole::kHost;
  std::vector<LocatorEntry> locators = {};
  friend bool operator==(const HostRecord&, const HostRecord&) = default;
};

// A host's liveness key, under its lease: it disappears when the host stops renewing.
struct AliveRecord {
  std::string name;
  int64_t lease = 0;
  friend bool operator==(const AliveRecord&, const AliveRecord&) = default;
};

// Where one SIR address is, and which host owns it (the only host that may move it away, or
// release it, without a conditional transaction on its revision).
// `workload`: the identity of what runs there (ila-cni: "<k8s namespace>/<pod>", or the container
// id), which may take the address over from another host without asking for a move: the same
// workload restarted elsewhere. `reserved_until` (unix seconds, 0: in use): the container is gone
// and the address is kept for the same workload until then (its owner deletes the record after).
struct MappingRecord {
  Mapping mapping = {};
  std::string host = {};
  std::string workload = {};
  int64_t reserved_until = 0;
  friend bool operator==(const MappingRecord&, const MappingRecord&) = default;
};

// The elected agent's marker on a host whose liveness key expired (dead_hosts.h). Hosts act on
// `to_routers` only: set once the policy "routers" has run, it withdraws the dead host's mappings
// from every host's table (not the routers'), so that traffic to them goes to the ILA routers.
struct DeadHostRecord {
  std::string name;
  int64_t since = 0;  // unix seconds, the leader's clock
  bool done = false;  // the policy has been carried out
  bool to_routers = false;
  friend bool operator==(const DeadHostRecord&, const DeadHostRecord&) = default;
};

struct PrefixRecord {
  SirPrefix prefix;
  friend bool operator==(const PrefixRecord&, const PrefixRecord&) = default;
};

struct RuleRecord {
  PrefixRule rule;
  friend bool operator==(const RuleRecord&, const RuleRecord&) = default;
};

// A key this agent does not act on (a record of a later schema's new kind, an election key):
// kept so that a resync does not report it as a change.
struct OtherRecord {
  friend bool operator==(const OtherRecord&, const OtherRecord&) = default;
};

using Record = std::variant<PrefixRecord, RuleRecord, HostRecord, AliveRecord, MappingRecord,
                            DeadHostRecord, OtherRecord>;

// The schema version record: {"version":N}.
struct SchemaRecord {
  int version = kSchemaVersion;
};

class Schema {
 public:
  // `root` is the cluster's key prefix, e.g. "/ila/" (must start and end with '/').
  [[nodiscard]] static absl::StatusOr<Schema> Create(std::string root);

  const std::string& root() const { return root_; }
  // root + "schema": the version record.
  std::string VersionKey() const { return root_ + "schema"; }
  // root + "v1/": every record of this version (what an agent reads and watches).
  std::string DataPrefix() const { return root_ + "v" + std::to_string(kSchemaVersion) + "/"; }

  std::string PrefixKey(SirPrefix prefix) const;
  std::string RuleKey(const PrefixRule& rule) const;
  std::string HostKey(std::string_view host) const;
  std::string AliveKey(std::string_view host) const;
  std::string AlivePrefix() const { return DataPrefix() + "alive/"; }
  std::string DeadKey(std::string_view host) const;
  std::string DeadPrefix() const { return DataPrefix() + "dead/"; }
  std::string MappingKey(const SirAddress& sir) const;
  // Every mapping of one SIR prefix: the unit of a host's write permission (docs/cluster.md).
  std::string MappingPrefix(SirPrefix prefix) const;
  // The election of the agent that carries out the policy for dead hosts.
  std::string ElectionPrefix() const { return DataPrefix() + "election/"; }

  // The record a key and value hold. InvalidArgument naming the key and what is wrong: an
  // unparsable or non-canonical key, a value that is not JSON, a missing or malformed field, a
  // value whose fields contradict its key. A kind this version does not know is an OtherRecord.
  [[nodiscard]] absl::StatusOr<Record> Parse(std::string_view key, std::string_view value) const;

  static std::string Encode(const HostRecord& r);
  static std::string Encode(const AliveRecord& r);
  static std::string Encode(const MappingRecord& r);
  static std::string Encode(const DeadHostRecord& r);
  static std::string Encode(const PrefixRecord& r);
  static std::string Encode(const RuleRecord& r);
  static std::string Encode(const SchemaRecord& r);
  [[nodiscard]] static absl::StatusOr<SchemaRecord> ParseVersion(std::string_view value);

  // Host names: 1-63 of [A-Za-z0-9._-] (a DNS label, and safe in a key).
  [[nodiscard]] static absl::Status ValidateHostName(std::string_view name);

 private:
  explicit Schema(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

// "3333:0:0:1": a SIR prefix as a key component (four groups: no '/' and no "::" in keys).
std::string PrefixKeyText(SirPrefix prefix);

}  // namespace ila::agent

#endif  // ILA_AGENT_SCHEMA_H_
