// Conditional transactions on mapping records (ownership.h).
#include "ownership.h"

#include <variant>

#include "absl/strings/str_cat.h"

namespace ila::agent {

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
    if (owner->first.host != self_ && !move) {
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

absl::Status Ownership::Release(const SirAddress& sir) {
  absl::StatusOr<std::pair<MappingRecord, int64_t>> owner = Owner(sir);
  if (absl::IsNotFound(owner.status())) return absl::OkStatus();
  if (!owner.ok()) return owner.status();
  if (owner->first.host != self_) return absl::OkStatus();
  const std::string key = schema_.MappingKey(sir);
  absl::StatusOr<etcd::TxnResult> txn =
      client_.Txn({etcd::Compare{.key = key, .number = owner->second}},
                  {etcd::Operation{.kind = etcd::Operation::Kind::kDelete, .key = key}}, {});
  if (!txn.ok()) return txn.status();
  // Not succeeded: it changed after the read (a move); the new record is not ours to delete.
  return absl::OkStatus();
}

}  // namespace ila::agent
