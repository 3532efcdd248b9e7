// ila-cni's network configuration (netconf.h).
#include "netconf.h"

#include "absl/strings/str_cat.h"

namespace ila::cni {
namespace {

using nlohmann::json;

Error Invalid(std::string msg) {
  return Error{ErrorCode::kInvalidNetworkConfig, std::move(msg), ""};
}

// "addr" or "addr/128", in the network's SIR prefix.
std::variant<SirAddress, Error> RequestedAddress(const std::string& text, const char* from,
                                                 SirPrefix prefix) {
  std::string address = text;
  if (const size_t slash = text.find('/'); slash != std::string::npos) {
    if (text.substr(slash + 1) != "128") {
      return Invalid(absl::StrCat(from, ": '", text, "' is not one address (/128)"));
    }
    address = text.substr(0, slash);
  }
  absl::StatusOr<SirAddress> sir = SirAddress::Parse(address);
  if (!sir.ok()) return Invalid(absl::StrCat(from, ": ", sir.status().message()));
  if (sir->prefix != prefix) {
    return Invalid(absl::StrCat(from, ": ", sir->ToString(), " is not in the network's SIR prefix ",
                                prefix.ToString()));
  }
  return *sir;
}

// The first address of a JSON array of strings at `j[key]` (absent: none).
std::variant<std::optional<std::string>, Error> FirstOf(const json& j, const char* key,
                                                        const char* from) {
  if (!j.is_object()) return std::optional<std::string>();
  const auto it = j.find(key);
  if (it == j.end()) return std::optional<std::string>();
  if (!it->is_array() || it->empty() || !(*it)[0].is_string()) {
    return Invalid(absl::StrCat(from, " is not an array of addresses"));
  }
  if (it->size() > 1) return Invalid(absl::StrCat(from, ": one address per container"));
  return std::optional<std::string>((*it)[0].get<std::string>());
}

}  // namespace

std::variant<NetConf, Error> ReadNetConf(const Invocation& inv) {
  const json& c = inv.config;
  NetConf conf;
  conf.name = c["name"].get<std::string>();
  const auto prefix = c.find("sirPrefix");
  if (prefix == c.end() || !prefix->is_string()) {
    return Invalid(R"("sirPrefix" (the network's SIR prefix, e.g. "2001:db8:0:1") is missing)");
  }
  absl::StatusOr<SirPrefix> parsed = SirPrefix::Parse(prefix->get<std::string>());
  if (!parsed.ok()) return Invalid(absl::StrCat("\"sirPrefix\": ", parsed.status().message()));
  conf.sir_prefix = *parsed;
  if (const auto socket = c.find("agentSocket"); socket != c.end()) {
    if (!socket->is_string() || socket->get<std::string>().empty() ||
        socket->get<std::string>()[0] != '/') {
      return Invalid("\"agentSocket\" must be an absolute path");
    }
    conf.agent_socket = socket->get<std::string>();
  }
  if (const auto mtu = c.find("mtu"); mtu != c.end()) {
    if (!mtu->is_number_integer() || mtu->get<int64_t>() < 1280 || mtu->get<int64_t>() > 65535) {
      return Invalid("\"mtu\" must be an integer from 1280 (IPv6's minimum) to 65535");
    }
    conf.mtu = mtu->get<int>();
  }
  if (const auto ttl = c.find("reservationSeconds"); ttl != c.end()) {
    if (!ttl->is_number_integer() || ttl->get<int64_t>() < 0 || ttl->get<int64_t>() > 86400) {
      return Invalid("\"reservationSeconds\" must be an integer from 0 to 86400");
    }
    conf.reservation_seconds = ttl->get<int>();
  }
  if (const auto ipam = c.find("ipam"); ipam != c.end()) {
    if (!ipam->is_object() || !ipam->contains("type") || !(*ipam)["type"].is_string() ||
        (*ipam)["type"].get<std::string>().empty()) {
      return Invalid(R"("ipam" must be an object with the IPAM plugin's "type")");
    }
    conf.ipam_type = (*ipam)["type"].get<std::string>();
  }
  if (const auto prev = c.find("prevResult"); prev != c.end()) {
    if (!prev->is_object()) return Invalid("\"prevResult\" is not an object");
    conf.prev_result = *prev;
  }

  // The address asked for, if any: runtimeConfig.ips, args.cni.ips, CNI_ARGS IP.
  std::optional<std::string> requested;
  const char* from = "";
  const json runtime = c.value("runtimeConfig", json::object());
  const json args =
      c.contains("args") && c["args"].is_object() ? c["args"].value("cni", json()) : json();
  for (auto [j, key, name] :
       {std::tuple<const json&, const char*, const char*>{runtime, "ips", "runtimeConfig.ips"},
        {args, "ips", "args.cni.ips"}}) {
    auto first = FirstOf(j, key, name);
    if (auto* e = std::get_if<Error>(&first)) return *e;
    if (auto& v = std::get<std::optional<std::string>>(first); v && !requested) {
      requested = v;
      from = name;
    }
  }
  if (!requested) {
    if (auto ip = inv.args.find("IP"); ip != inv.args.end()) {
      requested = ip->second;
      from = "CNI_ARGS IP";
    }
  }
  if (requested) {
    auto sir = RequestedAddress(*requested, from, conf.sir_prefix);
    if (auto* e = std::get_if<Error>(&sir)) return *e;
    conf.requested = std::get<SirAddress>(sir);
  }
  const auto ns = inv.args.find("K8S_POD_NAMESPACE");
  const auto pod = inv.args.find("K8S_POD_NAME");
  conf.identity = ns != inv.args.end() && pod != inv.args.end()
                      ? absl::StrCat(ns->second, "/", pod->second)
                      : inv.container_id;
  return conf;
}

}  // namespace ila::cni
