// The agent: data plane, etcd, threads, containers (agent.h); its local API requests are in
// agent_requests.cc.
#include "agent.h"

#include <net/if.h>
#include <sys/stat.h>

#include <filesystem>
#include <variant>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace ila::agent {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using nlohmann::json;

bool InterfaceExists(const std::string& name) { return if_nametoindex(name.c_str()) != 0; }
}  // namespace

Agent::Agent(AgentConfig config, Schema schema)
    : config_(std::move(config)), schema_(std::move(schema)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentConfig config) {
  if (absl::Status s = Schema::ValidateHostName(config.host); !s.ok()) return s;
  absl::StatusOr<Schema> schema = Schema::Create(config.key_prefix);
  if (!schema.ok()) return schema.status();
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the state directory ", config.state_dir, ": ", ec.message()));
  }
  chmod(config.state_dir.c_str(), 0700);
  SetLogHost(config.host);
  SetLogLevel(config.log_level);
  std::unique_ptr<Agent> agent(new Agent(std::move(config), *std::move(schema)));
  AgentConfig& c = agent->config_;

  absl::StatusOr<Inventory> inventory = Inventory::Load(c.state_dir + "/inventory.json");
  if (!inventory.ok()) return inventory.status();
  agent->inventory_ = *std::move(inventory);

  // The data plane first: a pinned one keeps forwarding whatever etcd does.
  absl::StatusOr<std::unique_ptr<Dataplane>> dp = Dataplane::Open(c.pins);
  if (dp.ok()) {
    agent->opened_ = true;
  } else if (absl::IsNotFound(dp.status())) {
    DataplaneConfig dc = c.dataplane;
    dc.pinning = c.pins;
    dp = Dataplane::Create(dc);
  }
  if (!dp.ok()) return dp.status();
  agent->dataplane_ = *std::move(dp);
  Log(LogLevel::kInfo, agent->opened_ ? "data plane adopted from pins" : "data plane created",
      {{"pins", agent->dataplane_->pin_directory().value_or("")}});

  absl::StatusOr<std::unique_ptr<etcd::Client>> client = etcd::Client::Connect(c.etcd);
  if (!client.ok()) return client.status();
  agent->client_ = *std::move(client);
  if (absl::Status s = agent->CheckSchemaVersion(); !s.ok()) return s;

  agent->reconciler_ = std::make_unique<Reconciler>(*agent->dataplane_, c.host);
  if (absl::Status s = agent->reconciler_->Load(); !s.ok()) return s;
  agent->ownership_ = std::make_unique<Ownership>(*agent->client_, agent->schema_, c.host);
  agent->allocator_ =
      std::make_unique<Allocator>(*agent->client_, agent->schema_, c.host, c.allocation);
  agent->sync_ =
      std::make_unique<SyncLoop>(*agent->client_, *agent->reconciler_, agent->schema_, c.sync);
  Agent* raw = agent.get();
  agent->sync_->set_observer([raw](const ClusterState& state) { raw->OnState(state); });
  HostRecord host{.name = c.host, .role = c.role, .locators = c.locators};
  agent->liveness_ = std::make_unique<Liveness>(
      *agent->client_, agent->schema_, host,
      Liveness::Options{.ttl = c.lease_ttl, .lease_file = c.state_dir + "/lease"});
  agent->liveness_->set_on_new_lease([raw] { raw->Republish(); });

  for (const std::string& name : c.uplinks) {
    bool attached = false;
    for (const Attachment& a : agent->dataplane_->attachments()) {
      attached = attached || a.interface == name;
    }
    if (attached) continue;
    absl::StatusOr<Attachment> a =
        c.role == HostRole::kRouter
            ? agent->dataplane_->AttachRouter(
                  {.interface = name, .mode = AttachMode::kAuto, .steer_cpus = {}})
            : agent->dataplane_->AttachUplink(
                  {.interface = name, .mode = AttachMode::kAuto, .steer_cpus = {}});
    if (!a.ok()) return a.status();
    Log(LogLevel::kInfo, "uplink attached",
        {{"interface", name}, {"mode", std::string(ToString(a->mode))}});
  }

  agent->sync_thread_ = std::thread([raw] {
    if (absl::Status s = raw->sync_->Run(); !s.ok()) {
      Log(LogLevel::kError, "sync loop ended", {{"error", std::string(s.message())}});
    }
  });
  agent->liveness_thread_ = std::thread([raw] { raw->liveness_->Run(); });
  agent->dead_hosts_ = std::make_unique<DeadHosts>(
      *agent->client_, agent->schema_, c.host, [raw] { return raw->liveness_->lease(); },
      std::max<std::chrono::milliseconds>(std::chrono::milliseconds(500), c.lease_ttl / 2));
  agent->dead_hosts_thread_ = std::thread([raw] { raw->dead_hosts_->Run(); });

  agent->api_ = std::make_unique<LocalApiServer>(
      c.socket, [raw](const json& request) { return raw->Handle(request); });
  // The local containers need their SIR prefixes registered: after the first resync (the data
  // plane keeps forwarding meanwhile), check them against the interfaces and publish them.
  if (!agent->sync_->WaitForRevision(1, c.etcd.request_timeout)) {
    Log(LogLevel::kWarning, "no resync yet; local containers are checked when it comes");
  }
  agent->ReconcileInventory();
  agent->Republish();
  agent->maintenance_thread_ = std::thread([raw] { raw->Maintain(); });
  if (agent->dataplane_->config().forwarding_cache) {
    absl::StatusOr<std::unique_ptr<MissEventReader>> reader = agent->dataplane_->OpenMissEvents();
    if (!reader.ok()) return reader.status();
    agent->miss_thread_ =
        std::thread([raw, r = *std::move(reader)]() mutable { raw->ResolveMisses(std::move(r)); });
  }
  if (!c.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
        MetricsServer::Start(c.metrics_address, agent->sync_->counters(), *agent->dataplane_,
                             [raw] { return raw->liveness_->lease(); });
    if (!metrics.ok()) return metrics.status();
    agent->metrics_ = *std::move(metrics);
  }
  if (absl::Status s = agent->api_->Start(); !s.ok()) return s;
  return agent;
}

absl::Status Agent::CheckSchemaVersion() {
  const std::string key = schema_.VersionKey();
  absl::StatusOr<etcd::RangeResult> got = client_->Get(key);
  if (!got.ok()) return got.status();
  if (got->kvs.empty()) {
    // The first agent of a cluster writes it (if two race, one write wins; both say 1).
    absl::StatusOr<etcd::TxnResult> txn =
        client_->Txn({etcd::Compare{.key = key, .target = etcd::Compare::Target::kCreateRevision}},
                     {etcd::Operation{.key = key, .value = Schema::Encode(SchemaRecord{})}}, {});
    return txn.status();
  }
  absl::StatusOr<SchemaRecord> version = Schema::ParseVersion(got->kvs[0].value);
  if (!version.ok()) return version.status();
  if (version->version > kSchemaVersion + 1 || version->version < kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the cluster's schema is version ", version->version, " (", key, "); this agent reads ",
        kSchemaVersion, " and ", kSchemaVersion + 1, ": upgrade the agents one version at a time"));
  }
  return absl::OkStatus();
}

Agent::~Agent() { Stop(); }

void Agent::Stop(bool revoke_lease) {
  if (stopped_) return;
  stopped_ = true;
  if (api_) api_->Stop();
  metrics_.reset();
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_requested_ = true;
  }
  stop_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  if (miss_thread_.joinable()) miss_thread_.join();
  if (sync_) sync_->Stop();
  if (liveness_) liveness_->Stop();
  if (dead_hosts_) dead_hosts_->Stop();
  if (dead_hosts_thread_.joinable()) dead_hosts_thread_.join();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (liveness_thread_.joinable()) liveness_thread_.join();
  if (revoke_lease && liveness_ && liveness_->lease() != 0) {
    if (absl::Status s = client_->LeaseRevoke(liveness_->lease()); !s.ok()) {
      Log(LogLevel::kWarning, "lease revoke failed", {{"error", std::string(s.message())}});
    }
  }
}

MappingRecord Agent::RecordFor(const SirAddress& sir, const std::string& workload) const {
  MappingRecord r{.host = config_.host, .workload = workload};
  r.mapping.sir = sir;
  r.mapping.csum_mode = config_.mapping_csum_mode;
  for (const LocatorEntry& e : config_.locators) {
    if (e.sir_prefix == sir.prefix) r.mapping.locator = e.locator;
  }
  return r;
}

absl::Status Agent::AttachContainer(const LocalContainer& c, bool move) {
  std::lock_guard<std::mutex> lock(mu_);
  const MappingRecord record = RecordFor(c.sir, c.workload);
  if (record.mapping.locator.value() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host ", config_.host, " has no locator for the SIR prefix of ", c.sir.ToString()));
  }
  if (const LocalContainer* other = inventory_.FindInterface(c.interface);
      other != nullptr && other->sir != c.sir) {
    return absl::AlreadyExistsError(
        absl::StrCat("interface ", c.interface, " carries ", other->sir.ToString(), " already"));
  }
  // Saved first: an agent killed in the middle finds it at restart and finishes or undoes it.
  const Inventory before = inventory_;
  inventory_.Upsert(c);
  if (absl::Status s = inventory_.Save(); !s.ok()) {
    inventory_ = before;
    return s;
  }
  absl::StatusOr<Attachment> attached =
      dataplane_->AttachContainer({.interface = c.interface, .sir = c.sir, .mac = c.mac});
  absl::Status status = attached.status();
  if (status.ok()) status = ownership_->Claim(record, move);
  if (!status.ok()) {
    // Nothing half-applied: the endpoint goes again unless it was here before.
    if (attached.ok() && before.Find(c.sir) == nullptr) (void)dataplane_->Detach(c.interface);
    inventory_ = before;
    (void)inventory_.Save();
    return status;
  }
  Allocator::Consume(inventory_, c.sir);
  if (absl::Status s = inventory_.Save(); !s.ok()) {
    Log(LogLevel::kWarning, "cannot save the inventory", {{"error", std::string(s.message())}});
  }
  Log(LogLevel::kInfo, "container attached",
      {{"interface", c.interface}, {"sir", c.sir.ToString()}, {"move", move ? "yes" : "no"}});
  return absl::OkStatus();
}

absl::Status Agent::DetachLocked(const SirAddress& sir, bool release, int64_t reserve_until) {
  const LocalContainer* c = inventory_.Find(sir);
  if (c == nullptr) return absl::OkStatus();  // idempotent: a second detach
  const std::string interface = c->interface;
  if (release) {
    absl::Status s =
        reserve_until > 0 ? ownership_->Reserve(sir, reserve_until) : ownership_->Release(sir);
    if (!s.ok()) return s;
  }
  if (InterfaceExists(interface)) {
    if (absl::Status s = dataplane_->Detach(interface); !s.ok() && !absl::IsNotFound(s)) return s;
  } else if (absl::Status s = dataplane_->endpoints().Remove(sir);
             !s.ok() && !absl::IsNotFound(s)) {
    return s;
  }
  inventory_.Remove(sir);
  allocator_->Release(inventory_, sir);
  return inventory_.Save();
}

absl::StatusOr<SirAddress> Agent::Allocate(SirPrefix prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  MappingRecord block = RecordFor(SirAddress{prefix, Identifier(0)});
  if (block.mapping.locator.value() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host ", config_.host, " has no locator for the SIR prefix ", PrefixKeyText(prefix)));
  }
  absl::StatusOr<SirAddress> sir = allocator_->Allocate(inventory_, block);
  if (!sir.ok()) return sir.status();
  if (absl::Status s = inventory_.Save(); !s.ok()) return s;
  return *sir;
}

absl::Status Agent::Release(const SirAddress& sir) {
  std::lock_guard<std::mutex> lock(mu_);
  if (inventory_.Find(sir) != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(sir.ToString(), " is attached: detach it instead"));
  }
  allocator_->Release(inventory_, sir);
  return inventory_.Save();
}

absl::Status Agent::DetachContainer(const SirAddress& sir, std::chrono::seconds reserve) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t until = reserve.count() > 0 ? NowSeconds() + reserve.count() : 0;
  absl::Status s = DetachLocked(sir, /*release=*/true, until);
  if (s.ok()) {
    Log(LogLevel::kInfo, "container detached",
        {{"sir", sir.ToString()}, {"reserved_seconds", std::to_string(reserve.count())}});
  }
  return s;
}

std::optional<SirAddress> Agent::AddressOfWorkload(SirPrefix prefix, const std::string& workload) {
  std::optional<SirAddress> found;
  sync_->WithState([&](const ClusterState& state) {
    for (const auto& [sir, record] : state.mappings()) {
      if (sir.prefix == prefix && record.workload == workload) found = sir;
    }
  });
  return found;
}

void Agent::ReleaseLapsedReservations() {
  std::vector<SirAddress> lapsed;
  const int64_t now = NowSeconds();
  sync_->WithState([&](const ClusterState& state) {
    for (const auto& [sir, record] : state.mappings()) {
      if (record.host == config_.host && record.reserved_until != 0 &&
          record.reserved_until <= now) {
        lapsed.push_back(sir);
      }
    }
  });
  for (const SirAddress& sir : lapsed) {
    absl::Status s = ownership_->Release(sir, /*only_lapsed=*/true);
    Log(s.ok() ? LogLevel::kInfo : LogLevel::kWarning, "reservation ran out: address released",
        {{"sir", sir.ToString()}, {"error", std::string(s.message())}});
  }
}

void Agent::OnState(const ClusterState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SirAddress> moved;
  for (const LocalContainer& c : inventory_.containers()) {
    auto it = state.mappings().find(c.sir);
    if (it != state.mappings().end() && it->second.host != config_.host) moved.push_back(c.sir);
  }
  for (const SirAddress& sir : moved) {
    Log(LogLevel::kInfo, "container moved to another host: stale endpoint detached",
        {{"sir", sir.ToString()}, {"owner", state.mappings().find(sir)->second.host}});
    if (absl::Status s = DetachLocked(sir, /*release=*/false); !s.ok()) {
      Log(LogLevel::kWarning, "detaching a moved container failed",
          {{"sir", sir.ToString()}, {"error", std::string(s.message())}});
    }
  }
}

void Agent::Republish() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const LocalContainer& c : std::vector<LocalContainer>(inventory_.containers())) {
    absl::Status s = ownership_->Claim(RecordFor(c.sir, c.workload), /*move=*/false);
    if (s.ok()) continue;
    Log(LogLevel::kWarning, "re-publishing a container failed",
        {{"sir", c.sir.ToString()}, {"error", std::string(s.message())}});
    // Another host owns it now: it moved while this host was away.
    if (absl::IsAlreadyExists(s)) (void)DetachLocked(c.sir, /*release=*/false);
  }
}

void Agent::ReconcileInventory() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const LocalContainer& c : std::vector<LocalContainer>(inventory_.containers())) {
    if (!InterfaceExists(c.interface)) {
      Log(LogLevel::kInfo, "container interface is gone: detached and released",
          {{"interface", c.interface}, {"sir", c.sir.ToString()}});
      (void)DetachLocked(c.sir, /*release=*/true);
      continue;
    }
    absl::StatusOr<Endpoint> ep = dataplane_->endpoints().Get(c.sir);
    if (ep.ok()) continue;
    absl::StatusOr<Attachment> a =
        dataplane_->AttachContainer({.interface = c.interface, .sir = c.sir, .mac = c.mac});
    Log(a.ok() ? LogLevel::kInfo : LogLevel::kWarning, "container attached again",
        {{"interface", c.interface},
         {"sir", c.sir.ToString()},
         {"status", a.ok() ? "ok" : std::string(a.status().message())}});
  }
}

void Agent::Maintain() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      if (stop_cv_.wait_for(lock, config_.inventory_check, [&] { return stop_requested_; })) return;
    }
    ReconcileInventory();
    ReleaseLapsedReservations();
  }
}

void Agent::ResolveMisses(std::unique_ptr<MissEventReader> reader) {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      if (stop_requested_) return;
    }
    absl::StatusOr<size_t> n =
        reader->Poll(std::chrono::milliseconds(200), [&](const MissEvent& e) {
          absl::Status installed = absl::NotFoundError("no state yet");
          sync_->WithState([&](const ClusterState& state) {
            installed = reconciler_->InstallOnMiss(state, e.destination);
          });
          if (installed.ok()) {
            ++misses_resolved_;
          } else {
            // Not in the cluster (or not installable): the miss stays with the ILA router.
            ++misses_unknown_;
          }
        });
    if (!n.ok()) {
      Log(LogLevel::kWarning, "reading miss events failed",
          {{"error", std::string(n.status().message())}});
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

}  // namespace ila::agent
