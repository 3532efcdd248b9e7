// Records by kind, kept current by puts and deletes.
#include "cluster_state.h"

#include <type_traits>
#include <variant>

namespace ila::agent {

absl::Status ClusterState::Put(const std::string& key, const std::string& value,
                               StateChange* change) {
  absl::StatusOr<Record> record = schema_.Parse(key, value);
  if (!record.ok()) {
    *change = Remove(key);
    invalid_[key] = std::string(record.status().message());
    return record.status();
  }
  invalid_.erase(key);
  *change = std::visit(
      [&](auto&& r) -> StateChange {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, MappingRecord>) {
          auto [it, inserted] = mappings_.try_emplace(r.mapping.sir, r);
          if (!inserted) {
            if (it->second == r) return StateChange::kNone;
            it->second = r;
          }
          return StateChange::kMapping;
        } else if constexpr (std::is_same_v<T, HostRecord>) {
          auto [it, inserted] = hosts_.try_emplace(r.name, r);
          if (!inserted) {
            if (it->second == r) return StateChange::kNone;
            it->second = r;
          }
          return StateChange::kTopology;
        } else if constexpr (std::is_same_v<T, PrefixRecord>) {
          return prefixes_.insert(r.prefix).second ? StateChange::kTopology : StateChange::kNone;
        } else if constexpr (std::is_same_v<T, RuleRecord>) {
          return rules_.insert_or_assign(key, r.rule).second ? StateChange::kTopology
                                                             : StateChange::kNone;
        } else if constexpr (std::is_same_v<T, DeadHostRecord>) {
          // Only the hand-over to the routers changes what a host installs.
          const bool before = HandedToRouters(r.name);
          dead_[r.name] = r;
          return before != r.to_routers ? StateChange::kTopology : StateChange::kNone;
        } else if constexpr (std::is_same_v<T, AliveRecord>) {
          alive_[r.name] = r;
          return StateChange::kAlive;
        } else {
          return StateChange::kNone;
        }
      },
      *record);
  return absl::OkStatus();
}

StateChange ClusterState::Delete(const std::string& key) {
  invalid_.erase(key);
  return Remove(key);
}

bool ClusterState::MappingAddressOf(const std::string& key, SirAddress* sir) const {
  const std::string mappings = schema_.DataPrefix() + "mappings/";
  if (key.compare(0, mappings.size(), mappings) != 0) return false;
  const size_t slash = key.find('/', mappings.size());
  if (slash == std::string::npos) return false;
  auto address = Ipv6Address::Parse(std::string_view(key).substr(slash + 1));
  if (!address.ok()) return false;
  *sir = SirAddress::From(*address);
  return true;
}

StateChange ClusterState::Remove(const std::string& key) {
  // The kind is in the key; a delete carries no value to parse.
  const std::string data = schema_.DataPrefix();
  if (key.compare(0, data.size(), data) != 0) return StateChange::kNone;
  const std::string rest = key.substr(data.size());
  auto starts = [&](const char* kind) { return rest.rfind(kind, 0) == 0; };
  if (starts("mappings/")) {
    SirAddress sir;
    if (!MappingAddressOf(key, &sir)) return StateChange::kNone;
    auto it = mappings_.find(sir);
    // Only the record under its canonical key is in the table.
    if (it == mappings_.end() || schema_.MappingKey(sir) != key) return StateChange::kNone;
    mappings_.erase(it);
    return StateChange::kMapping;
  }
  if (starts("hosts/")) {
    return hosts_.erase(rest.substr(6)) ? StateChange::kTopology : StateChange::kNone;
  }
  if (starts("alive/")) {
    return alive_.erase(rest.substr(6)) ? StateChange::kAlive : StateChange::kNone;
  }
  if (starts("dead/")) {
    const std::string host = rest.substr(5);
    const bool before = HandedToRouters(host);
    dead_.erase(host);
    return before ? StateChange::kTopology : StateChange::kNone;
  }
  if (starts("rules/")) return rules_.erase(key) ? StateChange::kTopology : StateChange::kNone;
  if (starts("prefixes/")) {
    auto p = SirPrefix::Parse(rest.substr(9));
    if (!p.ok() || schema_.PrefixKey(*p) != key) return StateChange::kNone;
    return prefixes_.erase(*p) ? StateChange::kTopology : StateChange::kNone;
  }
  return StateChange::kNone;
}

}  // namespace ila::agent
