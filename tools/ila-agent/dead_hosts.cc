// Election and the dead-host policy (dead_hosts.h).
#include "dead_hosts.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <variant>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace ila::agent {
namespace {

using nlohmann::json;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enum class Action { kKeep, kDelete, kToRouters };

struct Policy {
  Action action = Action::kKeep;
  int64_t grace_seconds = 60;
};

const char* Name(Action a) {
  switch (a) {
    case Action::kDelete: return "delete";
    case Action::kToRouters: return "routers";
    case Action::kKeep: break;
  }
  return "keep";
}

Policy ParsePolicy(const std::string& value) {
  Policy p;
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return p;
  const std::string action = j.value("dead_host", std::string("keep"));
  if (action == "delete") p.action = Action::kDelete;
  if (action == "routers") p.action = Action::kToRouters;
  if (j.contains("grace_seconds") && j["grace_seconds"].is_number_integer()) {
    p.grace_seconds = std::max<int64_t>(0, j["grace_seconds"].get<int64_t>());
  }
  return p;
}

// The last component of a key under `prefix`.
std::string Name(const std::string& key, const std::string& prefix) {
  return key.substr(prefix.size());
}

constexpr size_t kDeletesPerTxn = 64;  // etcd's default limit is 128 operations a transaction

}  // namespace

DeadHosts::DeadHosts(etcd::Client& client, Schema schema, std::string self,
                     std::function<int64_t()> lease, std::chrono::milliseconds interval)
    : client_(client),
      schema_(std::move(schema)),
      self_(std::move(self)),
      lease_(std::move(lease)),
      interval_(interval) {}

void DeadHosts::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

void DeadHosts::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, interval_, [&] { return stop_; })) return;
    }
    if (absl::Status s = Round(); !s.ok()) {
      Log(LogLevel::kWarning, "dead-host round failed", {{"error", std::string(s.message())}});
    }
  }
}

absl::Status DeadHosts::Campaign(int64_t lease) {
  if (campaigned_lease_ == lease) return absl::OkStatus();
  const std::string key = schema_.ElectionPrefix() + self_;
  absl::StatusOr<etcd::TxnResult> txn =
      client_.Txn({etcd::Compare{.key = key, .target = etcd::Compare::Target::kCreateRevision}},
                  {etcd::Operation{.key = key, .value = self_, .lease = lease}}, {});
  if (!txn.ok()) return txn.status();
  if (!txn->succeeded) {
    // Ours from before (a restart that kept its lease, or an older lease): attach it to this one
    // without giving up its place in the queue.
    absl::StatusOr<int64_t> put = client_.Put(key, self_, lease);
    if (!put.ok()) return put.status();
  }
  campaigned_lease_ = lease;
  return absl::OkStatus();
}

absl::StatusOr<bool> DeadHosts::IsLeader() {
  absl::StatusOr<etcd::RangeResult> candidates = client_.RangePrefix(schema_.ElectionPrefix());
  if (!candidates.ok()) return candidates.status();
  const etcd::KeyValue* first = nullptr;
  for (const etcd::KeyValue& kv : candidates->kvs) {
    if (first == nullptr || kv.create_revision < first->create_revision) first = &kv;
  }
  return first != nullptr && first->key == schema_.ElectionPrefix() + self_;
}

absl::Status DeadHosts::Round() {
  const int64_t lease = lease_();
  if (lease == 0) {
    leader_ = false;  // not alive itself: leads nothing
    campaigned_lease_ = 0;
    return absl::OkStatus();
  }
  if (absl::Status s = Campaign(lease); !s.ok()) return s;
  absl::StatusOr<bool> leader = IsLeader();
  if (!leader.ok()) return leader.status();
  if (*leader != leader_.load()) {
    Log(LogLevel::kInfo, *leader ? "elected: carrying out the dead-host policy" : "not leading");
  }
  leader_ = *leader;
  return *leader ? Enforce() : absl::OkStatus();
}

absl::Status DeadHosts::Enforce() {
  const std::string data = schema_.DataPrefix();
  absl::StatusOr<etcd::RangeResult> policy_kv = client_.Get(data + "policy");
  if (!policy_kv.ok()) return policy_kv.status();
  const Policy policy = policy_kv->kvs.empty() ? Policy{} : ParsePolicy(policy_kv->kvs[0].value);
  absl::StatusOr<etcd::RangeResult> hosts = client_.RangePrefix(data + "hosts/");
  if (!hosts.ok()) return hosts.status();
  absl::StatusOr<etcd::RangeResult> alive = client_.RangePrefix(schema_.AlivePrefix());
  if (!alive.ok()) return alive.status();
  absl::StatusOr<etcd::RangeResult> dead = client_.RangePrefix(data + "dead/");
  if (!dead.ok()) return dead.status();

  std::set<std::string> living;
  for (const etcd::KeyValue& kv : alive->kvs) living.insert(Name(kv.key, schema_.AlivePrefix()));
  std::map<std::string, json> markers;
  for (const etcd::KeyValue& kv : dead->kvs) {
    json j = json::parse(kv.value, nullptr, false);
    markers[Name(kv.key, data + "dead/")] = j.is_object() ? j : json::object();
  }
  const int64_t now = NowSeconds();
  for (const etcd::KeyValue& kv : hosts->kvs) {
    const std::string host = Name(kv.key, data + "hosts/");
    if (living.contains(host)) continue;
    const std::string alive_key = schema_.AliveKey(host);
    const std::string marker_key = data + "dead/" + host;
    auto marker = markers.find(host);
    if (marker == markers.end()) {
      absl::StatusOr<etcd::TxnResult> txn = client_.Txn(
          {etcd::Compare{.key = alive_key, .target = etcd::Compare::Target::kCreateRevision},
           etcd::Compare{.key = marker_key, .target = etcd::Compare::Target::kCreateRevision}},
          {etcd::Operation{.key = marker_key,
                           .value = json{{"v", 1}, {"since", now}, {"done", false}}.dump()}},
          {});
      if (!txn.ok()) return txn.status();
      if (txn->succeeded) {
        Log(LogLevel::kWarning, "host is dead (its liveness key expired)",
            {{"dead_host", host},
             {"policy", Name(policy.action)},
             {"grace_seconds", std::to_string(policy.grace_seconds)}});
      }
      continue;
    }
    const int64_t since = marker->second.value("since", now);
    const bool to_routers = marker->second.value("to_routers", false);
    if (to_routers && policy.action != Action::kToRouters) {
      // The operator changed the policy: the hosts take the mappings back, and the new policy
      // runs from the same start of death.
      if (absl::Status s = MarkDead(host, {.name = host, .since = since}); !s.ok()) return s;
      continue;
    }
    if (policy.action == Action::kKeep || marker->second.value("done", false) ||
        now - since < policy.grace_seconds) {
      continue;
    }
    if (policy.action == Action::kToRouters) {
      if (absl::Status s =
              MarkDead(host, {.name = host, .since = since, .done = true, .to_routers = true});
          !s.ok()) {
        return s;
      }
      Log(LogLevel::kWarning, "dead host handed to the ILA routers (policy routers)",
          {{"dead_host", host}});
      continue;
    }
    if (absl::Status s = DeleteMappingsOf(host, marker_key, since); !s.ok()) return s;
  }
  // A host that is alive again is not dead any more (it re-published its containers).
  for (const auto& [host, marker] : markers) {
    if (!living.contains(host)) continue;
    const std::string marker_key = data + "dead/" + host;
    absl::StatusOr<etcd::TxnResult> txn = client_.Txn(
        {etcd::Compare{.key = schema_.AliveKey(host),
                       .target = etcd::Compare::Target::kCreateRevision,
                       .op = etcd::Compare::Op::kGreater}},
        {etcd::Operation{.kind = etcd::Operation::Kind::kDelete, .key = marker_key}}, {});
    if (!txn.ok()) return txn.status();
  }
  return absl::OkStatus();
}

absl::Status DeadHosts::MarkDead(const std::string& host, const DeadHostRecord& marker) {
  // Only while the host is still dead: one that came back keeps its mappings everywhere.
  absl::StatusOr<etcd::TxnResult> txn = client_.Txn(
      {etcd::Compare{.key = schema_.AliveKey(host),
                     .target = etcd::Compare::Target::kCreateRevision}},
      {etcd::Operation{.key = schema_.DeadKey(host), .value = Schema::Encode(marker)}}, {});
  return txn.ok() ? absl::OkStatus() : txn.status();
}

absl::Status DeadHosts::DeleteMappingsOf(const std::string& host, const std::string& marker_key,
                                         int64_t since) {
  const std::string alive_key = schema_.AliveKey(host);
  absl::StatusOr<etcd::RangeResult> mappings =
      client_.RangePrefix(schema_.DataPrefix() + "mappings/");
  if (!mappings.ok()) return mappings.status();
  std::vector<const etcd::KeyValue*> owned;
  for (const etcd::KeyValue& kv : mappings->kvs) {
    absl::StatusOr<Record> r = schema_.Parse(kv.key, kv.value);
    if (!r.ok()) continue;
    if (const auto* m = std::get_if<MappingRecord>(&*r); m != nullptr && m->host == host) {
      owned.push_back(&kv);
    }
  }
  uint64_t deleted = 0;
  for (size_t first = 0; first < owned.size(); first += kDeletesPerTxn) {
    const size_t end = std::min(owned.size(), first + kDeletesPerTxn);
    std::vector<etcd::Compare> compares = {
        {.key = alive_key, .target = etcd::Compare::Target::kCreateRevision}};
    std::vector<etcd::Operation> deletes;
    for (size_t i = first; i < end; ++i) {
      compares.push_back({.key = owned[i]->key, .number = owned[i]->mod_revision});
      deletes.push_back({.kind = etcd::Operation::Kind::kDelete, .key = owned[i]->key});
    }
    absl::StatusOr<etcd::TxnResult> txn = client_.Txn(compares, deletes, {});
    if (!txn.ok()) return txn.status();
    // Not succeeded: the host came back, or one of these changed; the next round reads again.
    if (!txn->succeeded) return absl::OkStatus();
    deleted += end - first;
  }
  absl::StatusOr<etcd::TxnResult> done = client_.Txn(
      {etcd::Compare{.key = alive_key, .target = etcd::Compare::Target::kCreateRevision}},
      {etcd::Operation{
          .key = marker_key,
          .value =
              json{{"v", 1}, {"since", since}, {"done", true}, {"deleted", deleted}, {"by", self_}}
                  .dump()}},
      {});
  if (!done.ok()) return done.status();
  deleted_ += deleted;
  Log(LogLevel::kWarning, "dead host's mappings deleted (policy delete)",
      {{"dead_host", host}, {"mappings", std::to_string(deleted)}});
  return absl::OkStatus();
}

}  // namespace ila::agent
