// The etcd client's unary RPCs (KV, Lease, Cluster, Maintenance) over one Connection
// (connection.cc), each with request_timeout and the auth token; watches are in watch.cc.
#include "etcd/client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "etcd/client_internal.h"

namespace ila::agent::etcd {
namespace {

using internal::Connection;
using internal::FromProto;
using internal::PrefixRangeEnd;
using internal::Quote;

// etcd's range for "this key" or "every key with this prefix". The empty prefix is every key:
// "\0" to "\0" (clientv3's WithPrefix on an empty key).
void SetRange(const std::string& key, bool prefix, std::string* out_key, std::string* out_end) {
  if (prefix && key.empty()) {
    *out_key = std::string(1, '\0');
    *out_end = std::string(1, '\0');
    return;
  }
  *out_key = key;
  if (prefix) *out_end = PrefixRangeEnd(key);
}

etcdserverpb::Compare ToProto(const Compare& c) {
  etcdserverpb::Compare out;
  out.set_key(c.key);
  switch (c.op) {
    case Compare::Op::kEqual: out.set_result(etcdserverpb::Compare::EQUAL); break;
    case Compare::Op::kNotEqual: out.set_result(etcdserverpb::Compare::NOT_EQUAL); break;
    case Compare::Op::kGreater: out.set_result(etcdserverpb::Compare::GREATER); break;
    case Compare::Op::kLess: out.set_result(etcdserverpb::Compare::LESS); break;
  }
  switch (c.target) {
    case Compare::Target::kVersion:
      out.set_target(etcdserverpb::Compare::VERSION);
      out.set_version(c.number);
      break;
    case Compare::Target::kCreateRevision:
      out.set_target(etcdserverpb::Compare::CREATE);
      out.set_create_revision(c.number);
      break;
    case Compare::Target::kModRevision:
      out.set_target(etcdserverpb::Compare::MOD);
      out.set_mod_revision(c.number);
      break;
    case Compare::Target::kValue:
      out.set_target(etcdserverpb::Compare::VALUE);
      out.set_value(c.value);
      break;
  }
  return out;
}

etcdserverpb::RequestOp ToProto(const Operation& op) {
  etcdserverpb::RequestOp out;
  switch (op.kind) {
    case Operation::Kind::kPut: {
      auto* put = out.mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case Operation::Kind::kDelete: {
      auto* del = out.mutable_request_delete_range();
      SetRange(op.key, op.prefix, del->mutable_key(), del->mutable_range_end());
      break;
    }
    case Operation::Kind::kGet: {
      auto* get = out.mutable_request_range();
      SetRange(op.key, op.prefix, get->mutable_key(), get->mutable_range_end());
      break;
    }
  }
  return out;
}

class ClientImpl : public Client {
 public:
  explicit ClientImpl(std::shared_ptr<Connection> connection) : c_(std::move(connection)) {}

  absl::StatusOr<RangeResult> RangePrefix(const std::string& prefix, int64_t revision) override {
    RangeResult result;
    result.revision = revision;
    etcdserverpb::RangeRequest request;
    SetRange(prefix, /*prefix=*/true, request.mutable_key(), request.mutable_range_end());
    request.set_limit(c_->options().range_page_size);
    const std::string what = absl::StrCat("KV.Range prefix ", Quote(prefix));
    while (true) {
      // Every page after the first is read at the first page's revision: one snapshot.
      request.set_revision(result.revision);
      etcdserverpb::RangeResponse response;
      absl::Status st = c_->Unary(
          what, [&](grpc::ClientContext* ctx) { return c_->kv().Range(ctx, request, &response); });
      if (!st.ok()) return st;
      if (result.revision == 0) result.revision = response.header().revision();
      for (const mvccpb::KeyValue& kv : response.kvs()) result.kvs.push_back(FromProto(kv));
      if (!response.more() || response.kvs().empty()) return result;
      // The next page starts just after the last key of this one.
      request.set_key(response.kvs().rbegin()->key() + std::string(1, '\0'));
    }
  }

  absl::StatusOr<RangeResult> Get(const std::string& key) override {
    etcdserverpb::RangeRequest request;
    request.set_key(key);
    etcdserverpb::RangeResponse response;
    absl::Status st = c_->Unary(absl::StrCat("KV.Range ", Quote(key)),
                                [&](auto* ctx) { return c_->kv().Range(ctx, request, &response); });
    if (!st.ok()) return st;
    RangeResult result;
    result.revision = response.header().revision();
    for (const mvccpb::KeyValue& kv : response.kvs()) result.kvs.push_back(FromProto(kv));
    return result;
  }

  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value,
                              int64_t lease) override {
    etcdserverpb::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    request.set_lease(lease);
    etcdserverpb::PutResponse response;
    absl::Status st = c_->Unary(absl::StrCat("KV.Put ", Quote(key)),
                                [&](auto* ctx) { return c_->kv().Put(ctx, request, &response); });
    if (!st.ok()) return st;
    return response.header().revision();
  }

  absl::StatusOr<int64_t> Delete(const std::string& key, bool prefix) override {
    etcdserverpb::DeleteRangeRequest request;
    SetRange(key, prefix, request.mutable_key(), request.mutable_range_end());
    etcdserverpb::DeleteRangeResponse response;
    absl::Status st =
        c_->Unary(absl::StrCat("KV.DeleteRange ", prefix ? "prefix " : "", Quote(key)),
                  [&](auto* ctx) { return c_->kv().DeleteRange(ctx, request, &response); });
    if (!st.ok()) return st;
    return response.deleted();
  }

  absl::StatusOr<TxnResult> Txn(const std::vector<Compare>& compares,
                                const std::vector<Operation>& success,
                                const std::vector<Operation>& failure) override {
    etcdserverpb::TxnRequest request;
    for (const Compare& c : compares) *request.add_compare() = ToProto(c);
    for (const Operation& op : success) *request.add_success() = ToProto(op);
    for (const Operation& op : failure) *request.add_failure() = ToProto(op);
    std::vector<std::string> keys;
    for (const Compare& c : compares) keys.push_back(Quote(c.key));
    for (const Operation& op : success) keys.push_back(Quote(op.key));
    etcdserverpb::TxnResponse response;
    absl::Status st = c_->Unary(absl::StrCat("KV.Txn on ", absl::StrJoin(keys, ", ")),
                                [&](auto* ctx) { return c_->kv().Txn(ctx, request, &response); });
    if (!st.ok()) return st;
    TxnResult result;
    result.succeeded = response.succeeded();
    result.revision = response.header().revision();
    for (const etcdserverpb::ResponseOp& op : response.responses()) {
      if (!op.has_response_range()) continue;
      std::vector<KeyValue>& kvs = result.gets.emplace_back();
      for (const mvccpb::KeyValue& kv : op.response_range().kvs()) kvs.push_back(FromProto(kv));
    }
    return result;
  }

  absl::Status Compact(int64_t revision) override {
    etcdserverpb::CompactionRequest request;
    request.set_revision(revision);
    request.set_physical(true);
    etcdserverpb::CompactionResponse response;
    return c_->Unary(absl::StrCat("KV.Compact to revision ", revision),
                     [&](auto* ctx) { return c_->kv().Compact(ctx, request, &response); });
  }

  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds, int64_t id) override {
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(ttl_seconds);
    request.set_id(id);
    etcdserverpb::LeaseGrantResponse response;
    const std::string what = absl::StrCat("Lease.LeaseGrant TTL ", ttl_seconds, " id ", id);
    absl::Status st =
        c_->Unary(what, [&](auto* ctx) { return c_->lease().LeaseGrant(ctx, request, &response); });
    if (!st.ok()) return st;
    if (!response.error().empty()) {
      return absl::FailedPreconditionError(absl::StrCat("etcd ", what, ": ", response.error()));
    }
    return response.id();
  }

  absl::StatusOr<int64_t> LeaseKeepAlive(int64_t id) override {
    const std::string what = absl::StrCat("Lease.LeaseKeepAlive lease ", id);
    etcdserverpb::LeaseKeepAliveResponse response;
    absl::Status st = c_->Unary(what, [&](grpc::ClientContext* ctx) {
      auto stream = c_->lease().LeaseKeepAlive(ctx);
      etcdserverpb::LeaseKeepAliveRequest request;
      request.set_id(id);
      bool answered = stream->Write(request) && stream->Read(&response);
      stream->WritesDone();
      grpc::Status status = stream->Finish();
      if (status.ok() && !answered) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream ended without a reply");
      }
      return status;
    });
    if (!st.ok()) return st;
    if (response.ttl() <= 0) {
      return absl::NotFoundError(absl::StrCat("etcd ", what,
                                              ": the lease has expired or never "
                                              "existed"));
    }
    return response.ttl();
  }

  absl::StatusOr<int64_t> LeaseTimeToLive(int64_t id) override {
    etcdserverpb::LeaseTimeToLiveRequest request;
    request.set_id(id);
    etcdserverpb::LeaseTimeToLiveResponse response;
    const std::string what = absl::StrCat("Lease.LeaseTimeToLive lease ", id);
    absl::Status st = c_->Unary(
        what, [&](auto* ctx) { return c_->lease().LeaseTimeToLive(ctx, request, &response); });
    if (!st.ok()) return st;
    // etcd answers TTL -1 for a lease it does not know.
    if (response.ttl() < 0) {
      return absl::NotFoundError(absl::StrCat("etcd ", what,
                                              ": the lease has expired or never "
                                              "existed"));
    }
    return response.ttl();
  }

  absl::Status LeaseRevoke(int64_t id) override {
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(id);
    etcdserverpb::LeaseRevokeResponse response;
    return c_->Unary(absl::StrCat("Lease.LeaseRevoke lease ", id),
                     [&](auto* ctx) { return c_->lease().LeaseRevoke(ctx, request, &response); });
  }

  absl::StatusOr<std::unique_ptr<Watch>> WatchPrefix(const std::string& prefix,
                                                     int64_t start_revision) override {
    return internal::StartWatch(c_, prefix, start_revision);
  }

  absl::StatusOr<std::vector<Member>> MemberList() override {
    etcdserverpb::MemberListRequest request;
    etcdserverpb::MemberListResponse response;
    absl::Status st = c_->Unary("Cluster.MemberList", [&](auto* ctx) {
      return c_->cluster().MemberList(ctx, request, &response);
    });
    if (!st.ok()) return st;
    std::vector<Member> members;
    for (const etcdserverpb::Member& m : response.members()) {
      members.push_back(Member{m.id(), m.name(), {m.clienturls().begin(), m.clienturls().end()}});
    }
    return members;
  }

  absl::StatusOr<uint64_t> Leader() override {
    etcdserverpb::StatusRequest request;
    etcdserverpb::StatusResponse response;
    absl::Status st = c_->Unary("Maintenance.Status", [&](auto* ctx) {
      return c_->maintenance().Status(ctx, request, &response);
    });
    if (!st.ok()) return st;
    if (response.leader() == 0) {
      return absl::UnavailableError(absl::StrCat("etcd Maintenance.Status: member ",
                                                 response.header().member_id(),
                                                 " knows no leader (an election is under way)"));
    }
    return response.leader();
  }

 private:
  std::shared_ptr<Connection> c_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto connection = internal::Open(options);
  if (!connection.ok()) return connection.status();
  return std::make_unique<ClientImpl>(*std::move(connection));
}

}  // namespace ila::agent::etcd
