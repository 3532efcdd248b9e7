// What the etcd client's two halves share (client.cc: connecting and the unary RPCs; watch.cc: the
// Watch stream): the connection (channel, stubs, the auth token and its renewal), the mapping of
// gRPC errors, and etcd's key-range rules.
#ifndef ILA_AGENT_ETCD_CLIENT_INTERNAL_H_
#define ILA_AGENT_ETCD_CLIENT_INTERNAL_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcd/client.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace ila::agent::etcd::internal {

// "etcd <what>: <gRPC message>", with gRPC's code (absl's codes have the same numbers).
absl::Status FromGrpc(const grpc::Status& status, absl::string_view what);
// A key as it appears in messages: quoted, C-escaped (keys are bytes).
std::string Quote(absl::string_view key);
// The range end that covers every key starting with `prefix` (clientv3's GetPrefixRangeEnd):
// the prefix with its trailing 0xff bytes dropped and its last byte incremented; "\0" (every key
// from `prefix` on) when nothing is left.
std::string PrefixRangeEnd(absl::string_view prefix);
KeyValue FromProto(const mvccpb::KeyValue& kv);

// The channel and what every call needs from it. Shared by the client and its watches, so that a
// watch may outlive the Client object.
class Connection {
 public:
  Connection(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  // A context for one call: the auth token as metadata; the deadline when `timeout` is set.
  // Returns the token it used (for Reauthenticate).
  std::string Prepare(grpc::ClientContext* context,
                      std::optional<std::chrono::milliseconds> timeout) const;
  // Whether etcd refused the call's token (expired or from an older auth store revision): the
  // caller re-authenticates and retries once.
  bool TokenRefused(const grpc::Status& status) const;
  // Gets a new token unless another thread already replaced `stale` (force: regardless).
  absl::Status Reauthenticate(const std::string& stale, bool force = false);
  bool authenticating() const { return !options_.user.empty(); }

  // One unary RPC: `call(context)` with the token and request_timeout, retried once with a new
  // token when etcd refused the old one. `what` names the RPC and key for the error.
  template <typename Call>
  absl::Status Unary(absl::string_view what, Call&& call) {
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext context;
      std::string token = Prepare(&context, options_.request_timeout);
      grpc::Status status = call(&context);
      if (status.ok()) return absl::OkStatus();
      if (attempt == 0 && TokenRefused(status)) {
        if (absl::Status st = Reauthenticate(token); !st.ok()) return st;
        continue;
      }
      return FromGrpc(status, what);
    }
  }

  const ClientOptions& options() const { return options_; }
  grpc::Channel* channel() const { return channel_.get(); }
  etcdserverpb::KV::Stub& kv() { return *kv_; }
  etcdserverpb::Watch::Stub& watch() { return *watch_; }
  etcdserverpb::Lease::Stub& lease() { return *lease_; }
  etcdserverpb::Cluster::Stub& cluster() { return *cluster_; }
  etcdserverpb::Maintenance::Stub& maintenance() { return *maintenance_; }

 private:
  const std::shared_ptr<grpc::Channel> channel_;
  const ClientOptions options_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Cluster::Stub> cluster_;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance_;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth_;
  mutable std::mutex token_mu_;  // guards token_
  std::string token_;
  std::mutex renew_mu_;  // one Authenticate at a time
};

// Checks the options, makes the channel, waits up to dial_timeout for it to connect, and
// authenticates when a user is given (connection.cc).
absl::StatusOr<std::shared_ptr<Connection>> Open(const ClientOptions& options);

// Opens a Watch stream over every key with `prefix` from `start_revision` and waits (up to
// request_timeout) for etcd to confirm it (watch.cc).
absl::StatusOr<std::unique_ptr<Watch>> StartWatch(const std::shared_ptr<Connection>& connection,
                                                  const std::string& prefix,
                                                  int64_t start_revision);

}  // namespace ila::agent::etcd::internal

#endif  // ILA_AGENT_ETCD_CLIENT_INTERNAL_H_
