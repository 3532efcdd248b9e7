// A small synchronous client for etcd's v3 gRPC API (generated from etcd's own .proto files, see
// CMakeLists.txt here): what ila-agent needs, with etcd clientv3's semantics for endpoints,
// authentication, TLS and timeouts. Errors are absl::Status: UNAVAILABLE/DEADLINE_EXCEEDED for a
// cluster that cannot be reached (retry), OUT_OF_RANGE for a compacted revision, PERMISSION_DENIED
// for what the user's role may not do, FAILED_PRECONDITION etc. as etcd said; the message names
// the RPC and the key.
//
// Thread safety: every method may be called from any thread concurrently (one gRPC channel).
#ifndef ILA_AGENT_ETCD_CLIENT_H_
#define ILA_AGENT_ETCD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ila::agent::etcd {

struct ClientOptions {
  // "host:port", "http://host:port" or "https://host:port" (IPv6: "[::1]:2379"); several: the
  // client fails over between them (one gRPC channel, pick_first over all of them, as clientv3
  // does). One endpoint naming a host is resolved by gRPC (and again on reconnects); several
  // that name hosts are resolved once, by Connect().
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};
  // TLS (used when cacert or cert is set or an endpoint says https://): PEM file paths; without
  // cacert the system's roots are trusted. cert and key together: client-certificate
  // authentication. Every member's server certificate must name the first endpoint's host: the
  // one channel checks one name for all of them.
  std::string cacert;
  std::string cert;
  std::string key;
  // etcd authentication (Auth.Authenticate); empty user: none. The token is renewed when etcd
  // says it is invalid (expired), and the call retried once.
  std::string user;
  std::string password;
  std::chrono::milliseconds dial_timeout{2000};     // connecting (Connect() and reconnects)
  std::chrono::milliseconds request_timeout{5000};  // each unary RPC
  // HTTP/2 keep-alive pings while a call or stream is open (a watch always is), so that a dead
  // TCP path fails the calls and the channel moves to another endpoint. etcd refuses pings more
  // often than its --grpc-keepalive-min-time (5 s by default) and closes the connection after a
  // few: keep keepalive_time above it.
  std::chrono::milliseconds keepalive_time{10000};
  std::chrono::milliseconds keepalive_timeout{3000};
  // Keys per Range request of RangePrefix (its pages): bounds each reply's size.
  int64_t range_page_size = 10000;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  // The store's revision the read was made at: the revision asked for, or when that was 0 (the
  // newest), the first reply's header.revision.
  int64_t revision = 0;
};

// One comparison of a transaction (etcd's Compare), on one key.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key = {};
  Target target = Target::kModRevision;
  Op op = Op::kEqual;
  int64_t number = 0;      // for kVersion/kCreateRevision/kModRevision (0 = "does not exist")
  std::string value = {};  // for kValue
};

// One operation of a transaction.
struct Operation {
  enum class Kind { kPut, kDelete, kGet };
  Kind kind = Kind::kPut;
  std::string key = {};
  std::string value = {};  // kPut
  int64_t lease = 0;       // kPut
  bool prefix = false;     // kDelete/kGet: every key with this prefix
};

struct TxnResult {
  bool succeeded = false;  // the compares held: the success branch ran
  int64_t revision = 0;
  // For each kGet of the branch that ran, in order: what it read.
  std::vector<std::vector<KeyValue>> gets;
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision (the deletion's revision) only
};

// One Watch stream on a key prefix. Read() blocks.
class Watch {
 public:
  virtual ~Watch() = default;
  struct Batch {
    std::vector<Event> events;  // empty for a progress notification
    int64_t revision = 0;       // header.revision: everything up to it has been delivered
  };
  // The next batch of events (or progress notification: etcd sends one every ~10 min by
  // default, and the client asks for one with RequestProgress()). Errors: OUT_OF_RANGE with the
  // compact revision in compact_revision() when the start revision was compacted (resync from a
  // fresh Range); UNAVAILABLE/CANCELLED/other when the stream broke or Cancel() was called.
  [[nodiscard]] virtual absl::StatusOr<Batch> Read() = 0;
  virtual int64_t compact_revision() const = 0;
  // Asks etcd for a progress notification (WatchProgressRequest): a Batch without events whose
  // revision says how far the stream is.
  virtual void RequestProgress() = 0;
  // Ends the stream; a Read() blocked in another thread returns CANCELLED. Safe from any thread.
  virtual void Cancel() = 0;
};

// The overloads without the last argument (no default arguments on virtual methods: a default
// would depend on the static type it is called through).
class Client {
 public:
  // Connects (waiting up to dial_timeout for the channel) and authenticates when a user is given.
  // Errors: unreadable TLS files, malformed endpoints, wrong credentials (named as such),
  // UNAVAILABLE when no endpoint answers.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const ClientOptions& options);
  virtual ~Client() = default;

  // Every key with `prefix`, at `revision` (0: the newest), read page by page at one revision
  // (the first page's) so that the result is one consistent snapshot however large.
  [[nodiscard]] virtual absl::StatusOr<RangeResult> RangePrefix(const std::string& prefix,
                                                                int64_t revision) = 0;
  [[nodiscard]] absl::StatusOr<RangeResult> RangePrefix(const std::string& prefix) {
    return RangePrefix(prefix, 0);
  }
  // One key; the result's kvs is empty when it does not exist.
  [[nodiscard]] virtual absl::StatusOr<RangeResult> Get(const std::string& key) = 0;
  // Returns the revision of the put.
  [[nodiscard]] virtual absl::StatusOr<int64_t> Put(const std::string& key,
                                                    const std::string& value, int64_t lease) = 0;
  [[nodiscard]] absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value) {
    return Put(key, value, 0);
  }
  // Deletes the key (or every key with the prefix); returns how many were deleted.
  [[nodiscard]] virtual absl::StatusOr<int64_t> Delete(const std::string& key, bool prefix) = 0;
  [[nodiscard]] absl::StatusOr<int64_t> Delete(const std::string& key) {
    return Delete(key, false);
  }
  [[nodiscard]] virtual absl::StatusOr<TxnResult> Txn(const std::vector<Compare>& compares,
                                                      const std::vector<Operation>& success,
                                                      const std::vector<Operation>& failure) = 0;
  // Compacts the key-value store's history up to `revision` (physical: waits for it).
  [[nodiscard]] virtual absl::Status Compact(int64_t revision) = 0;

  // Leases. Grant with id 0 lets etcd choose the id; returns the id.
  [[nodiscard]] virtual absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds, int64_t id) = 0;
  [[nodiscard]] absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds) {
    return LeaseGrant(ttl_seconds, 0);
  }
  // One keep-alive (a round trip on a LeaseKeepAlive stream): the remaining TTL in seconds;
  // NOT_FOUND when the lease has expired or never existed.
  [[nodiscard]] virtual absl::StatusOr<int64_t> LeaseKeepAlive(int64_t id) = 0;
  // The remaining TTL; NOT_FOUND when expired or unknown.
  [[nodiscard]] virtual absl::StatusOr<int64_t> LeaseTimeToLive(int64_t id) = 0;
  [[nodiscard]] virtual absl::Status LeaseRevoke(int64_t id) = 0;

  // Watches every key with `prefix` from `start_revision` (inclusive; 0: from now on), with
  // progress notifications enabled; waits up to request_timeout for etcd to confirm the watch.
  // Errors: PERMISSION_DENIED when the user's role may not read the prefix. The stream asks etcd
  // to end it (UNAVAILABLE) when its member loses the cluster's leader ("hasleader"), so that a
  // partitioned member does not leave the watch silent.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<Watch>> WatchPrefix(
      const std::string& prefix, int64_t start_revision) = 0;

  // The cluster's members as the client sees them (Cluster.MemberList), and the member id of
  // the current leader (Maintenance.Status of an endpoint): for tests and `ila-agent status`.
  struct Member {
    uint64_t id = 0;
    std::string name;
    std::vector<std::string> client_urls;
  };
  [[nodiscard]] virtual absl::StatusOr<std::vector<Member>> MemberList() = 0;
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Leader() = 0;
};

}  // namespace ila::agent::etcd

#endif  // ILA_AGENT_ETCD_CLIENT_H_
