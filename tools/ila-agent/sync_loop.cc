// The sync loop: resync, watch, catch up (sync_loop.h).
#include "sync_loop.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace ila::agent {

SyncLoop::SyncLoop(etcd::Client& client, StateApplier& applier, Schema schema, Options options)
    : client_(client), applier_(applier), schema_(std::move(schema)), options_(options) {}

bool SyncLoop::WithState(const std::function<void(const ClusterState&)>& fn) const {
  std::shared_lock<std::shared_mutex> shared(state_mu_);
  if (!state_) return false;
  fn(*state_);
  return true;
}

void SyncLoop::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (watch_ != nullptr) watch_->Cancel();
  cv_.notify_all();
}

bool SyncLoop::WaitForRevision(int64_t revision, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return counters_.revision.load() >= revision; });
}

void SyncLoop::Applied(int64_t revision) {
  state_->set_revision(revision);
  {
    std::lock_guard<std::mutex> lock(mu_);
    counters_.revision = revision;
    counters_.mappings = applier_.mapping_count();
    counters_.invalid_records = state_->invalid().size();
  }
  cv_.notify_all();
}

void SyncLoop::Backoff(std::chrono::milliseconds& delay) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, delay, [&] { return stop_.load(); });
  delay = std::min(delay * 2, options_.backoff_max);
}

absl::Status SyncLoop::Resync() {
  absl::StatusOr<etcd::RangeResult> range = client_.RangePrefix(schema_.DataPrefix());
  if (!range.ok()) return range.status();
  auto state = std::make_unique<ClusterState>(schema_);
  for (const etcd::KeyValue& kv : range->kvs) {
    StateChange change;
    if (absl::Status s = state->Put(kv.key, kv.value, &change); !s.ok()) {
      Log(LogLevel::kWarning, "invalid record", {{"error", std::string(s.message())}});
    }
  }
  std::unique_lock<std::shared_mutex> exclusive(state_mu_);
  state_ = std::move(state);
  const WriteCounts counts = applier_.Reconcile(*state_);
  exclusive.unlock();
  ++counters_.resyncs;
  counters_.last_resync_writes = counts.changes();
  counters_.writes += counts.changes();
  counters_.failed_writes += counts.failed;
  counters_.etcd_revision = std::max(counters_.etcd_revision.load(), range->revision);
  Log(LogLevel::kInfo, "resync",
      {{"revision", std::to_string(range->revision)},
       {"keys", std::to_string(range->kvs.size())},
       {"written", std::to_string(counts.written)},
       {"removed", std::to_string(counts.removed)},
       {"skipped", std::to_string(counts.skipped)},
       {"failed", std::to_string(counts.failed)}});
  if (counts.failed > 0) {
    Log(LogLevel::kWarning, "data plane refused entries", {{"last", applier_.last_error()}});
  }
  Applied(range->revision);
  if (observer_) observer_(*state_);
  return absl::OkStatus();
}

absl::Status SyncLoop::WatchFrom(int64_t revision, bool* established) {
  absl::StatusOr<std::unique_ptr<etcd::Watch>> watch =
      client_.WatchPrefix(schema_.DataPrefix(), revision);
  if (!watch.ok()) return watch.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return absl::OkStatus();
    watch_ = watch->get();
  }
  struct Unregister {
    SyncLoop* loop;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(loop->mu_);
      loop->watch_ = nullptr;
    }
  } unregister{this};
  counters_.in_sync = true;
  *established = true;
  Log(LogLevel::kInfo, "watching", {{"from_revision", std::to_string(revision)}});
  // Asks at once how far etcd is, so that in_sync and the lag are right from the start.
  (*watch)->RequestProgress();
  std::vector<SirAddress> changed;
  while (!stop_) {
    absl::StatusOr<etcd::Watch::Batch> batch = (*watch)->Read();
    if (!batch.ok()) {
      counters_.in_sync = false;
      return batch.status();
    }
    counters_.etcd_revision = std::max(counters_.etcd_revision.load(), batch->revision);
    std::unique_lock<std::shared_mutex> exclusive(state_mu_);
    // What is applied is the last event's revision, not the batch's header revision: etcd sends a
    // catch-up batch cut at 1000 revisions with the store's current revision in its header, and
    // 3.4 answers a progress request with the current revision before the events queued ahead of
    // it (etcd-io/etcd#15220). A watch resumed after the header revision would skip events.
    int64_t last_event = 0;
    changed.clear();
    bool topology = false;
    for (const etcd::Event& e : batch->events) {
      StateChange change = StateChange::kNone;
      if (e.type == etcd::Event::Type::kPut) {
        if (absl::Status s = state_->Put(e.kv.key, e.kv.value, &change); !s.ok()) {
          Log(LogLevel::kWarning, "invalid record", {{"error", std::string(s.message())}});
        }
      } else {
        change = state_->Delete(e.kv.key);
      }
      last_event = std::max(last_event, e.kv.mod_revision);
      if (change == StateChange::kTopology) topology = true;
      SirAddress sir;
      if (change == StateChange::kMapping && state_->MappingAddressOf(e.kv.key, &sir)) {
        changed.push_back(sir);
      }
    }
    counters_.events += batch->events.size();
    WriteCounts counts =
        topology ? applier_.Reconcile(*state_) : applier_.ReconcileMappings(*state_, changed);
    exclusive.unlock();
    counters_.writes += counts.changes();
    counters_.failed_writes += counts.failed;
    if (counts.failed > 0) {
      Log(LogLevel::kWarning, "data plane refused entries", {{"last", applier_.last_error()}});
    }
    if (last_event > state_->revision()) Applied(last_event);
    if (observer_ && (topology || !changed.empty())) observer_(*state_);
  }
  return absl::OkStatus();
}

absl::Status SyncLoop::Run() {
  std::chrono::milliseconds delay = options_.backoff_min;
  bool need_resync = true;
  bool first = true;
  while (!stop_) {
    if (need_resync) {
      if (absl::Status s = Resync(); !s.ok()) {
        ++counters_.errors;
        Log(LogLevel::kWarning, "resync failed; the data plane keeps its state",
            {{"error", std::string(s.message())}, {"retry_ms", std::to_string(delay.count())}});
        Backoff(delay);
        continue;
      }
      need_resync = false;
    } else if (!first) {
      ++counters_.reconnects;
    }
    first = false;
    bool established = false;
    absl::Status s = WatchFrom(state_->revision() + 1, &established);
    if (established) delay = options_.backoff_min;
    if (stop_) break;
    ++counters_.errors;
    if (absl::IsOutOfRange(s)) {
      // The history since the last applied revision is compacted: only a full read can tell
      // what changed.
      ++counters_.compactions;
      Log(LogLevel::kInfo, "watch compacted; diff-resync",
          {{"from_revision", std::to_string(state_->revision() + 1)}});
      need_resync = true;
      delay = options_.backoff_min;
      continue;
    }
    Log(LogLevel::kWarning, "watch broken; the data plane keeps its state",
        {{"error", std::string(s.message())}, {"retry_ms", std::to_string(delay.count())}});
    Backoff(delay);
  }
  return absl::OkStatus();
}

}  // namespace ila::agent
