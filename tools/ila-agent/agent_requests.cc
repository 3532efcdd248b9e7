// The agent's local API requests (docs/cluster.md "The local API"): status, the container
// query, and Handle, which dispatches each request to the agent.
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent.h"  // the Agent methods defined here

namespace ila::agent {
namespace {

using nlohmann::json;

absl::StatusOr<std::string> StringArg(const json& request, const char* name) {
  auto it = request.find(name);
  if (it == request.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("the request has no string \"", name, "\""));
  }
  return it->get<std::string>();
}

}  // namespace

json Agent::Status() const {
  const SyncCounters& k = sync_->counters();
  json containers = json::array();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const LocalContainer& c : inventory_.containers()) {
      containers.push_back({{"interface", c.interface},
                            {"sir", c.sir.ToString()},
                            {"mac", c.mac.ToString()},
                            {"workload", c.workload},
                            {"attachment", c.attachment}});
    }
  }
  return {{"ok", true},
          {"host", config_.host},
          {"role", std::string(ToString(config_.role))},
          {"revision", k.revision.load()},
          {"etcd_revision", k.etcd_revision.load()},
          {"in_sync", k.in_sync.load()},
          {"resyncs", k.resyncs.load()},
          {"compactions", k.compactions.load()},
          {"reconnects", k.reconnects.load()},
          {"events", k.events.load()},
          {"writes", k.writes.load()},
          {"last_resync_writes", k.last_resync_writes.load()},
          {"failed_writes", k.failed_writes.load()},
          {"invalid_records", k.invalid_records.load()},
          {"errors", k.errors.load()},
          {"mappings", k.mappings.load()},
          {"lease", liveness_->lease()},
          {"leases_granted", liveness_->leases_granted()},
          {"data_plane", opened_ ? "adopted" : "created"},
          {"metrics_port", metrics_ ? metrics_->port() : 0},
          {"leader", dead_hosts_->leader()},
          {"forwarding_cache", dataplane_->config().forwarding_cache},
          {"misses_resolved", misses_resolved_.load()},
          {"misses_unknown", misses_unknown_.load()},
          {"dead_host_mappings_deleted", dead_hosts_->mappings_deleted()},
          {"containers", containers}};
}

json Agent::Container(const SirAddress& sir) {
  json answer = {{"ok", true}, {"sir", sir.ToString()}, {"attached", false}};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const LocalContainer* c = inventory_.Find(sir); c != nullptr) {
      answer["attached"] = true;
      answer["interface"] = c->interface;
      answer["mac"] = c->mac.ToString();
    }
  }
  answer["endpoint"] = dataplane_->endpoints().Get(sir).ok();
  // The mapping as etcd has it now, not as the watch has brought it so far: a CHECK right after
  // ADD must see the claim ADD made.
  answer["owner"] = "";
  absl::StatusOr<std::pair<MappingRecord, int64_t>> owner = ownership_->Owner(sir);
  if (owner.ok()) {
    answer["owner"] = owner->first.host;
    answer["locator"] = owner->first.mapping.locator.ToString();
  } else if (!absl::IsNotFound(owner.status())) {
    return LocalApiServer::Error(owner.status());
  }
  answer["in_sync"] = sync_->counters().in_sync.load();
  return answer;
}

json Agent::Handle(const json& request) {
  const std::string op = request["op"].get<std::string>();
  if (op == "ping") return {{"ok", true}};
  if (op == "status") return Status();
  if (op == "allocate") {
    absl::StatusOr<std::string> prefix_text = StringArg(request, "prefix");
    if (!prefix_text.ok()) return LocalApiServer::Error(prefix_text.status());
    absl::StatusOr<SirPrefix> prefix = SirPrefix::Parse(*prefix_text);
    if (!prefix.ok()) return LocalApiServer::Error(prefix.status());
    // The same workload started again (here or elsewhere) gets its address back: the attach
    // that follows takes it over (ownership.h).
    const std::string workload = request.value("workload", std::string());
    if (!workload.empty()) {
      if (std::optional<SirAddress> own = AddressOfWorkload(*prefix, workload)) {
        return {{"ok", true}, {"sir", own->ToString()}, {"reserved", true}};
      }
    }
    absl::StatusOr<SirAddress> sir = Allocate(*prefix);
    if (!sir.ok()) return LocalApiServer::Error(sir.status());
    return {{"ok", true}, {"sir", sir->ToString()}};
  }
  if (op == "release") {
    absl::StatusOr<std::string> sir_text = StringArg(request, "sir");
    if (!sir_text.ok()) return LocalApiServer::Error(sir_text.status());
    absl::StatusOr<SirAddress> sir = SirAddress::Parse(*sir_text);
    if (!sir.ok()) return LocalApiServer::Error(sir.status());
    absl::Status s = Release(*sir);
    return s.ok() ? json{{"ok", true}} : LocalApiServer::Error(s);
  }
  if (op == "container") {
    absl::StatusOr<std::string> sir_text = StringArg(request, "sir");
    if (!sir_text.ok()) return LocalApiServer::Error(sir_text.status());
    absl::StatusOr<SirAddress> sir = SirAddress::Parse(*sir_text);
    if (!sir.ok()) return LocalApiServer::Error(sir.status());
    return Container(*sir);
  }
  if (op == "attach" || op == "detach") {
    absl::StatusOr<std::string> sir_text = StringArg(request, "sir");
    if (!sir_text.ok()) return LocalApiServer::Error(sir_text.status());
    absl::StatusOr<SirAddress> sir = SirAddress::Parse(*sir_text);
    if (!sir.ok()) return LocalApiServer::Error(sir.status());
    if (op == "detach") {
      const json reserve = request.value("reserve_seconds", json(0));
      if (!reserve.is_number_integer() || reserve.get<int64_t>() < 0 ||
          reserve.get<int64_t>() > 86400) {
        return LocalApiServer::Error(
            absl::InvalidArgumentError("reserve_seconds must be an integer from 0 to 86400"));
      }
      absl::Status s = DetachContainer(*sir, std::chrono::seconds(reserve.get<int64_t>()));
      return s.ok() ? json{{"ok", true}} : LocalApiServer::Error(s);
    }
    absl::StatusOr<std::string> interface = StringArg(request, "interface");
    if (!interface.ok()) return LocalApiServer::Error(interface.status());
    absl::StatusOr<std::string> mac_text = StringArg(request, "mac");
    if (!mac_text.ok()) return LocalApiServer::Error(mac_text.status());
    absl::StatusOr<MacAddress> mac = MacAddress::Parse(*mac_text);
    if (!mac.ok()) return LocalApiServer::Error(mac.status());
    const bool move = request.value("move", false);
    const json workload = request.value("workload", json(""));
    const json attachment = request.value("attachment", json(""));
    if (!workload.is_string() || !attachment.is_string()) {
      return LocalApiServer::Error(
          absl::InvalidArgumentError("workload and attachment must be strings"));
    }
    absl::Status s = AttachContainer(
        {*interface, *sir, *mac, workload.get<std::string>(), attachment.get<std::string>()}, move);
    if (!s.ok()) return LocalApiServer::Error(s);
    return {{"ok", true}, {"revision", sync_->counters().revision.load()}};
  }
  return LocalApiServer::Error(absl::InvalidArgumentError(absl::StrCat("unknown op \"", op, "\"")));
}

}  // namespace ila::agent
