// Conditional transactions on mapping records (ownership.h).
#include "ownership.h"

#include <chrono>
#include <variant>

#include "absl/strings/str_cat.h"

namespace ila::agent {
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<std::pair<MappingRecord, int64_t>> Ownership::Owner(const SirAddress& sir) {
  const std::string key = schema_.MappingKey(sir);
  absl::StatusOr<etcd::RangeResult> got = client_.Get(key);
  if (!got.ok()) return got.status();
  if (got->kvs.empty()) {
    return absl::NotFoundError(absl::StrCat(sir.ToString(), " has no owner"));
  }
  absl::StatusOr<Record> record = schema_.Parse(key, got->kvs[0].value);
  if (!record.ok()) return record.status();
  const auto* mapping = std::get_if<MappingRecord>(&*record);
  if (mapping == nullptr) return absl::InternalError(absl::StrCat(key, " is not a mapping"));
  return std::make_pair(*mapping, got->kvs[0].mod_revision);
}

absl::Status Ownership::Claim(const MappingRecord& record, bool move) {
  if (record.host != self_) {
    return absl::InvalidArgumentError(
        absl::StrCat("a claim by ", self_, " names host ", record.host));
  }
  const std::string key = schema_.MappingKey(record.mapping.sir);
  const std::string value = Schema::Encode(record);
  absl::StatusOr<std::pair<MappingRecord, int64_t>> owner = Owner(record.mapping.sir);
  etcd::Compare compare{.key = key};
  if (absl::IsNotFound(owner.status())) {
    compare.target = etcd::Compare::Target::kCreateRevision;
    compare.number = 0;
  } else if (!owner.ok()) {
    // An unreadable record (written by hand?) is taken over only by a move.
    if (!absl::IsInvalidArgument(owner.status()) || !move) return owner.status();
    absl::StatusOr<etcd::RangeResult> got = client_.Get(key);
    if (!got.ok()) return got.status();
    if (got->kvs.empty()) return absl::AbortedError(absl::StrCat(key, " changed; try again"));
    compare.number = got->kvs[0].mod_revision;
  } else {
    const bool same_workload = !record.workload.empty() && owner->first.workload == record.workload;
    const bool lapsed = owner->first.reserved_until != 0 && owner->first.reserved_until <= Now();
    if (owner->first.host == self_ && owner->first.reserved_until > Now() && !move &&
        !same_workload) {
      return absl::AlreadyExistsError(absl::StrCat(
          record.mapping.sir.ToString(), " is reserved for workload '", owner->first.workload,
          "' until ", owner->first.reserved_until, " (unix time)"));
    }
    if (owner->first.host != self_ && !move && !same_workload && !lapsed) {
      return absl::AlreadyExistsError(absl::StrCat(record.mapping.sir.ToString(),
                                                   " is owned by host ", owner->first.host,
                                                   " (attach with move to take it over)"));
    }
    if (owner->first == record) return absl::OkStatus();
    compare.number = owner->second;
  }
  absl::StatusOr<etcd::TxnResult> txn = client_.Txn(
      {compare}, {etcd::Operation{.kind = etcd::Operation::Kind::kPut, .key = key, .value = value}},
      {etcd::Operation{.kind = etcd::Operation::Kind::kGet, .key = key}});
  if (!txn.ok()) return txn.status();
  if (txn->succeeded) return absl::OkStatus();
  std::string winner = "another host";
  if (!txn->gets.empty() && !txn->gets[0].empty()) {
    if (absl::StatusOr<Record> r = schema_.Parse(key, txn->gets[0][0].value); r.ok()) {
      if (const auto* m = std::get_if<MappingRecord>(&*r)) winner = "host " + m->host;
    }
  }
  return absl::AbortedError(
      absl::StrCat(record.mapping.sir.ToString(), " was claimed by ", winner, " at the same time"));
}

absl::Status Ownership::Reserve(const SirAddress& sir, int64_t until) {
  absl::StatusOr<std::pair<MappingRecord, int64_t>> owner = Owner(sir);
  if (absl::IsNotFound(owner.status())) return absl::OkStatus();
  if (!owner.ok()) return owner.status();
  if (owner->first.host != self_) return absl::OkStatus();
  MappingRecord reserved = owner->first;
  reserved.reserved_until = until;
  const std::string key = schema_.MappingKey(sir);
  absl::StatusOr<etcd::TxnResult> txn =
      client_.Txn({etcd::Compare{.key = key, .number = owner->second}},
                  {etcd::Operation{.key = key, .value = Schema::Encode(reserved)}}, {});
  // Not succeeded: it moved after the read; the new owner's record is not ours.
  return txn.ok() ? absl::OkStatus() : txn.status();
}

absl::Status Ownership::Release(const SirAddress& sir, bool only_lapsed) {
  absl::StatusOr<std::pair<MappingRecord, int64_t>> owner = Owner(sir);
  if (absl::IsNotFound(owner.status())) return absl::OkStatus();
  if (!owner.ok()) return owner.status();
  if (owner->first.host != self_) return absl::OkStatus();
  if (only_lapsed && (owner->first.reserved_until == 0 || owner->first.reserved_until > Now())) {
    return absl::OkStatus();  // taken up again, or not yet due
  }
  const std::string key = schema_.MappingKey(sir);
  absl::StatusOr<etcd::TxnResult> txn =
      client_.Txn({etcd::Compare{.key = key, .number = owner->second}},
                  {etcd::Operation{.kind = etcd::Operation::Kind::kDelete, .key = key}}, {});
  if (!txn.ok()) return txn.status();
  // Not succeeded: it changed after the read (a move); the new record is not ours to delete.
  return absl::OkStatus();
}

}  // namespace ila::agent
