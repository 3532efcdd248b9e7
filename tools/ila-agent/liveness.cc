// Lease, liveness key and host record (liveness.h).
#include "liveness.h"

#include <fstream>

#include "absl/strings/numbers.h"
#include "log.h"

namespace ila::agent {
namespace {

int64_t ReadLeaseFile(const std::string& path) {
  if (path.empty()) return 0;
  std::ifstream in(path);
  std::string text;
  int64_t id = 0;
  if (!(in >> text) || !absl::SimpleAtoi(text, &id)) return 0;
  return id;
}

void WriteLeaseFile(const std::string& path, int64_t id) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    if (!out) {
      Log(LogLevel::kWarning, "cannot write the lease file", {{"path", path}});
      return;
    }
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

Liveness::Liveness(etcd::Client& client, Schema schema, HostRecord host, Options options)
    : client_(client),
      schema_(std::move(schema)),
      host_(std::move(host)),
      options_(std::move(options)) {}

void Liveness::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

bool Liveness::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stop_; });
}

// Reuses the kept lease while etcd still has it; otherwise grants a new one. Then puts the host
// record and the liveness key.
absl::Status Liveness::Establish(bool* fresh) {
  *fresh = false;
  int64_t id = lease_.load();
  if (id == 0) id = ReadLeaseFile(options_.lease_file);
  if (id != 0) {
    absl::StatusOr<int64_t> ttl = client_.LeaseTimeToLive(id);
    if (!ttl.ok() && !absl::IsNotFound(ttl.status())) return ttl.status();
    if (!ttl.ok() || *ttl <= 0) id = 0;
  }
  if (id == 0) {
    absl::StatusOr<int64_t> granted = client_.LeaseGrant(options_.ttl.count());
    if (!granted.ok()) return granted.status();
    id = *granted;
    *fresh = true;
    ++granted_;
    WriteLeaseFile(options_.lease_file, id);
  }
  if (absl::StatusOr<int64_t> rev = client_.Put(schema_.HostKey(host_.name), Schema::Encode(host_));
      !rev.ok()) {
    return rev.status();
  }
  if (absl::StatusOr<int64_t> rev = client_.Put(schema_.AliveKey(host_.name),
                                                Schema::Encode(AliveRecord{host_.name, id}), id);
      !rev.ok()) {
    return rev.status();
  }
  lease_ = id;
  return absl::OkStatus();
}

void Liveness::Run() {
  const auto renew = std::chrono::duration_cast<std::chrono::milliseconds>(options_.ttl) / 3;
  bool established = false;
  while (true) {
    if (!established) {
      bool fresh = false;
      if (absl::Status s = Establish(&fresh); !s.ok()) {
        Log(LogLevel::kWarning, "cannot establish liveness; retrying",
            {{"error", std::string(s.message())}});
        if (!Sleep(std::chrono::milliseconds(500))) return;
        continue;
      }
      established = true;
      Log(LogLevel::kInfo, fresh ? "liveness: new lease" : "liveness: kept lease",
          {{"lease", std::to_string(lease_.load())}});
      if (fresh && on_new_lease_) on_new_lease_();
    }
    if (!Sleep(renew)) return;
    absl::StatusOr<int64_t> ttl = client_.LeaseKeepAlive(lease_.load());
    if (ttl.ok() && *ttl > 0) continue;
    if (!ttl.ok() && !absl::IsNotFound(ttl.status())) {
      // etcd unreachable: keep trying with the same lease; it may still be alive there.
      Log(LogLevel::kWarning, "lease keep-alive failed",
          {{"error", std::string(ttl.status().message())}});
      if (!Sleep(std::chrono::milliseconds(500))) return;
      established = false;
      continue;
    }
    Log(LogLevel::kWarning, "lease expired: this host was reported dead",
        {{"lease", std::to_string(lease_.load())}});
    lease_ = 0;
    established = false;
  }
}

}  // namespace ila::agent
