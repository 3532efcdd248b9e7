// ila-cni's commands (commands.h).
#include "commands.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "delegate.h"
#include "local_api.h"
#include "netconf.h"
#include "plumbing.h"

namespace ila::cni {
namespace {

using nlohmann::json;

constexpr int kAgentTimeoutMs = 30000;

Error Fail(ErrorCode code, std::string msg, std::string details = "") {
  return Error{code, std::move(msg), std::move(details)};
}

// The agent's answer to `request`, or the error a runtime should see: an agent that does not
// answer is "try again later", one that refuses is this plugin's code 100 with its reason.
std::variant<json, Error> Ask(const NetConf& conf, const json& request) {
  absl::StatusOr<json> answer = agent::CallLocalApi(conf.agent_socket, request, kAgentTimeoutMs);
  if (!answer.ok()) {
    return Fail(ErrorCode::kTryAgainLater,
                absl::StrCat("the ila-agent at ", conf.agent_socket, " does not answer"),
                std::string(answer.status().message()));
  }
  if (!answer->value("ok", false)) {
    return Fail(ErrorCode::kAgentRefused,
                absl::StrCat("the ila-agent refused ", request.value("op", std::string()), ": ",
                             answer->value("error", std::string("no reason given"))),
                answer->value("code", std::string()));
  }
  return *std::move(answer);
}

// The container side's MAC: locally administered, from the identifier (unique on its link).
MacAddress MacFor(const SirAddress& sir) {
  const uint64_t id = sir.identifier.value();
  return MacAddress({0x02, static_cast<uint8_t>(id >> 32), static_cast<uint8_t>(id >> 24),
                     static_cast<uint8_t>(id >> 16), static_cast<uint8_t>(id >> 8),
                     static_cast<uint8_t>(id)});
}

ErrorCode CodeOf(const absl::Status& s) {
  return absl::IsNotFound(s) ? ErrorCode::kUnknownContainer : ErrorCode::kIoFailure;
}

// The address prevResult gives this plugin's interface (its first IPv6 /128), if any.
std::optional<SirAddress> AddressIn(const json& prev, SirPrefix prefix) {
  if (!prev.is_object() || !prev.contains("ips") || !prev["ips"].is_array()) return std::nullopt;
  for (const json& ip : prev["ips"]) {
    const std::string text = ip.value("address", std::string());
    absl::StatusOr<SirAddress> sir = SirAddress::Parse(text.substr(0, text.find('/')));
    if (sir.ok() && sir->prefix == prefix) return *sir;
  }
  return std::nullopt;
}

// The pair prevResult lists for this container: the interface named CNI_IFNAME in a namespace, and
// the host-side interface listed before it. An earlier plugin's when ila-cni is chained after an
// IPv4 plugin (dual stack: ila-cni adopts that veth); at DEL and CHECK, whichever ADD used.
struct ListedPair {
  std::string host_veth;
  size_t container_index = 0;
};
std::optional<ListedPair> PairIn(const json& prev, const std::string& ifname) {
  if (!prev.is_object() || !prev.contains("interfaces") || !prev["interfaces"].is_array()) {
    return std::nullopt;
  }
  const json& ifs = prev["interfaces"];
  for (size_t i = 0; i < ifs.size(); ++i) {
    if (!ifs[i].is_object() || ifs[i].value("name", std::string()) != ifname ||
        ifs[i].value("sandbox", std::string()).empty()) {
      continue;
    }
    for (size_t j = i; j-- > 0;) {
      if (ifs[j].is_object() && ifs[j].value("sandbox", std::string()).empty()) {
        return ListedPair{ifs[j].value("name", std::string()), i};
      }
    }
  }
  return std::nullopt;
}

// The container this host's agent has attached on `interface`, from its status.
std::variant<std::optional<SirAddress>, Error> AttachedOn(const NetConf& conf,
                                                          const std::string& interface) {
  auto status = Ask(conf, {{"op", "status"}});
  if (auto* e = std::get_if<Error>(&status)) return *e;
  for (const json& c : std::get<json>(status).value("containers", json::array())) {
    if (c.value("interface", std::string()) != interface) continue;
    absl::StatusOr<SirAddress> sir = SirAddress::Parse(c.value("sir", std::string()));
    if (sir.ok()) return std::optional<SirAddress>(*sir);
  }
  return std::optional<SirAddress>();
}

std::variant<json, Error> Add(const Invocation& inv, const NetConf& conf) {
  SirAddress sir;
  bool allocated = false;
  bool from_ipam = false;
  if (conf.requested) {
    sir = *conf.requested;
  } else if (!conf.ipam_type.empty()) {
    // The operator's IPAM plugin picks the address; the agent's claim still makes it the only
    // owner cluster-wide.
    auto result = Delegate(conf.ipam_type, "ADD", inv.path, inv.config);
    if (auto* e = std::get_if<Error>(&result)) return *e;
    std::optional<SirAddress> got = AddressIn(std::get<json>(result), conf.sir_prefix);
    if (!got) {
      (void)Delegate(conf.ipam_type, "DEL", inv.path, inv.config);
      return Fail(ErrorCode::kInvalidNetworkConfig,
                  absl::StrCat("the IPAM plugin ", conf.ipam_type, " gave no address in ",
                               conf.sir_prefix.ToString()),
                  std::get<json>(result).dump());
    }
    sir = *got;
    from_ipam = true;
  } else {
    // The agent gives the workload back the address the cluster keeps for it (a restart here or
    // on another host), or a fresh one.
    auto a = Ask(
        conf,
        {{"op", "allocate"}, {"prefix", conf.sir_prefix.ToString()}, {"workload", conf.identity}});
    if (auto* e = std::get_if<Error>(&a)) return *e;
    absl::StatusOr<SirAddress> parsed = SirAddress::Parse(std::get<json>(a).value("sir", ""));
    if (!parsed.ok()) return Fail(ErrorCode::kAgentRefused, "the ila-agent allocated no address");
    sir = *parsed;
    allocated = !std::get<json>(a).value("reserved", false);
  }
  // Undoes the allocation when a later step fails (the agent holds it back for its grace).
  auto give_back = [&] {
    if (allocated) (void)Ask(conf, {{"op", "release"}, {"sir", sir.ToString()}});
    if (from_ipam) (void)Delegate(conf.ipam_type, "DEL", inv.path, inv.config);
  };
  // An earlier plugin of the list made CNI_IFNAME already (an IPv4 plugin, for a dual-stack pod):
  // this plugin adds its address, routes and attachment to that pair instead of making its own.
  const std::optional<ListedPair> earlier = PairIn(conf.prev_result, inv.ifname);
  const ContainerLink link{
      .host_veth = earlier ? earlier->host_veth : HostVethName(inv.container_id, inv.ifname),
      .container_if = inv.ifname,
      .netns_path = inv.netns,
      .sir = sir,
      .mac = MacFor(sir),
      .mtu = conf.mtu};
  absl::StatusOr<Plumbed> plumbed = earlier ? Adopt(link) : Plumb(link);
  if (!plumbed.ok()) {
    give_back();
    return Fail(CodeOf(plumbed.status()), std::string(plumbed.status().message()));
  }
  auto attached = Ask(conf, {{"op", "attach"},
                             {"interface", link.host_veth},
                             {"sir", sir.ToString()},
                             {"mac", plumbed->container_mac.ToString()},
                             {"workload", conf.identity},
                             {"attachment", AttachmentName(inv.container_id, inv.ifname)}});
  if (auto* e = std::get_if<Error>(&attached)) {
    (void)(earlier ? Unadopt(link) : Unplumb(link.host_veth));
    give_back();
    return *e;
  }
  // Chained: what the earlier plugins made, and this plugin's after it.
  json result = conf.prev_result.is_object() ? conf.prev_result : json::object();
  result["cniVersion"] = inv.version;
  json& interfaces = result["interfaces"];
  if (!interfaces.is_array()) interfaces = json::array();
  size_t container_index = earlier ? earlier->container_index : 0;
  if (!earlier) {
    interfaces.push_back({{"name", link.host_veth}, {"mac", plumbed->host_mac.ToString()}});
    interfaces.push_back(
        {{"name", inv.ifname}, {"mac", link.mac.ToString()}, {"sandbox", inv.netns}});
    container_index = interfaces.size() - 1;
  }
  json& ips = result["ips"];
  if (!ips.is_array()) ips = json::array();
  ips.push_back({{"address", sir.ToString() + "/128"},
                 {"gateway", "fe80::1"},
                 {"interface", container_index}});
  json& routes = result["routes"];
  if (!routes.is_array()) routes = json::array();
  routes.push_back({{"dst", "::/0"}, {"gw", "fe80::1"}});
  if (!result.contains("dns")) result["dns"] = json::object();
  return result;
}

std::optional<Error> Del(const Invocation& inv, const NetConf& conf) {
  const std::string veth = HostVethName(inv.container_id, inv.ifname);
  // An adopted pair (dual stack): the earlier plugin's veth, which its own DEL deletes.
  const std::optional<ListedPair> listed = PairIn(conf.prev_result, inv.ifname);
  const bool adopted = listed && listed->host_veth != veth;
  auto on = AttachedOn(conf, adopted ? listed->host_veth : veth);
  if (auto* e = std::get_if<Error>(&on)) return *e;
  const std::optional<SirAddress> attached = std::get<std::optional<SirAddress>>(on);
  if (adopted) {
    if (std::optional<SirAddress> sir =
            attached ? attached : AddressIn(conf.prev_result, conf.sir_prefix)) {
      const ContainerLink link{.host_veth = listed->host_veth,
                               .container_if = inv.ifname,
                               .netns_path = inv.netns,
                               .sir = *sir,
                               .mac = {},
                               .mtu = 0};
      if (absl::Status s = Unadopt(link); !s.ok()) {
        return Fail(ErrorCode::kIoFailure, std::string(s.message()));
      }
    }
  }
  if (const auto& sir = attached) {
    // Kept for the same workload a while: it may start again here or elsewhere (a move). Not
    // with an IPAM plugin, which frees the address now and may hand it to the next container.
    auto detached =
        Ask(conf, {{"op", "detach"},
                   {"sir", sir->ToString()},
                   {"reserve_seconds", conf.ipam_type.empty() ? conf.reservation_seconds : 0}});
    if (auto* e = std::get_if<Error>(&detached)) return *e;
  }
  if (absl::Status s = Unplumb(veth); !s.ok()) {
    return Fail(ErrorCode::kIoFailure, std::string(s.message()));
  }
  if (!conf.ipam_type.empty()) {
    auto released = Delegate(conf.ipam_type, "DEL", inv.path, inv.config);
    if (auto* e = std::get_if<Error>(&released)) return *e;
  }
  return std::nullopt;
}

std::optional<Error> Check(const Invocation& inv, const NetConf& conf) {
  if (!conf.prev_result.is_object()) {
    return Fail(ErrorCode::kInvalidNetworkConfig, "CHECK needs prevResult");
  }
  const std::optional<SirAddress> sir = AddressIn(conf.prev_result, conf.sir_prefix);
  if (!sir) {
    return Fail(ErrorCode::kInvalidNetworkConfig,
                absl::StrCat("prevResult has no address in ", conf.sir_prefix.ToString()));
  }
  const std::string own = HostVethName(inv.container_id, inv.ifname);
  const std::optional<ListedPair> listed = PairIn(conf.prev_result, inv.ifname);
  const bool adopted = listed && listed->host_veth != own;
  // An adopted pair keeps the earlier plugin's MAC (none to compare).
  const ContainerLink link{.host_veth = adopted ? listed->host_veth : own,
                           .container_if = inv.ifname,
                           .netns_path = inv.netns,
                           .sir = *sir,
                           .mac = adopted ? MacAddress() : MacFor(*sir),
                           .mtu = conf.mtu};
  absl::StatusOr<std::vector<std::string>> differences = Differences(link);
  if (!differences.ok()) {
    return Fail(CodeOf(differences.status()), std::string(differences.status().message()));
  }
  auto seen = Ask(conf, {{"op", "container"}, {"sir", sir->ToString()}});
  if (auto* e = std::get_if<Error>(&seen)) return *e;
  auto status = Ask(conf, {{"op", "status"}});
  if (auto* e = std::get_if<Error>(&status)) return *e;
  const json& c = std::get<json>(seen);
  const std::string host = std::get<json>(status).value("host", std::string());
  if (!c.value("attached", false) || c.value("interface", std::string()) != link.host_veth) {
    differences->push_back(
        absl::StrCat("the agent has no container ", sir->ToString(), " on ", link.host_veth));
  }
  if (!c.value("endpoint", false)) {
    differences->push_back(absl::StrCat("the data plane has no endpoint for ", sir->ToString()));
  }
  if (c.value("owner", std::string()) != host) {
    differences->push_back(absl::StrCat("the cluster maps ", sir->ToString(), " to host '",
                                        c.value("owner", std::string()), "', not to '", host, "'"));
  }
  if (differences->empty()) return std::nullopt;
  return Fail(
      ErrorCode::kCheckFailed,
      absl::StrCat("the container's network differs from what ADD made: ", (*differences)[0]),
      absl::StrJoin(*differences, "; "));
}

std::optional<Error> Gc(const NetConf& conf, const json& config) {
  // Every container this plugin attached carries "<container id>/<ifname>" in the agent's
  // inventory: the ones the runtime no longer lists go, whichever veth they are on.
  std::set<std::string> valid;
  const json attachments = config.value("cni.dev/valid-attachments", json::array());
  if (!attachments.is_array()) {
    return Fail(ErrorCode::kInvalidNetworkConfig, "cni.dev/valid-attachments is not an array");
  }
  for (const json& a : attachments) {
    if (!a.is_object() || !a.contains("containerID") || !a.contains("ifname")) {
      return Fail(ErrorCode::kInvalidNetworkConfig,
                  "each valid attachment needs containerID and ifname");
    }
    valid.insert(
        AttachmentName(a["containerID"].get<std::string>(), a["ifname"].get<std::string>()));
  }
  auto status = Ask(conf, {{"op", "status"}});
  if (auto* e = std::get_if<Error>(&status)) return *e;
  for (const json& c : std::get<json>(status).value("containers", json::array())) {
    const std::string veth = c.value("interface", std::string());
    const std::string attachment = c.value("attachment", std::string());
    absl::StatusOr<SirAddress> sir = SirAddress::Parse(c.value("sir", std::string()));
    // Only this network's containers, and only those this plugin attached.
    if (!sir.ok() || sir->prefix != conf.sir_prefix || attachment.empty() ||
        valid.contains(attachment)) {
      continue;
    }
    auto detached = Ask(conf, {{"op", "detach"}, {"sir", sir->ToString()}});
    if (auto* e = std::get_if<Error>(&detached)) return *e;
    // Its own veth goes; an adopted one is the earlier plugin's (its GC, or the agent's check
    // once it is gone).
    if (veth.rfind("ila", 0) == 0 && veth.size() == 15) {
      if (absl::Status s = Unplumb(veth); !s.ok()) {
        return Fail(ErrorCode::kIoFailure, std::string(s.message()));
      }
    }
  }
  return std::nullopt;
}

std::optional<Error> Status(const NetConf& conf) {
  absl::StatusOr<json> s = agent::CallLocalApi(conf.agent_socket, {{"op", "status"}}, 5000);
  if (!s.ok()) {
    return Fail(ErrorCode::kPluginNotAvailable,
                absl::StrCat("the ila-agent at ", conf.agent_socket, " does not answer"),
                std::string(s.status().message()));
  }
  if (!s->value("in_sync", false)) {
    return Fail(ErrorCode::kPluginNotAvailable,
                "the ila-agent is not in sync with etcd: it cannot publish new containers now");
  }
  return std::nullopt;
}

Outcome ErrorOutcome(const Error& e, const std::string& version) {
  return {1, ErrorJson(e, version).dump() + "\n"};
}

}  // namespace

std::string AttachmentName(const std::string& container_id, const std::string& ifname) {
  return container_id + "/" + ifname;
}

std::string HostVethName(const std::string& container_id, const std::string& ifname) {
  // FNV-1a (64 bits): stable across processes and machines, unlike absl::Hash.
  uint64_t h = 0xcbf29ce484222325ull;
  for (char ch : container_id + "/" + ifname) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ull;
  }
  return absl::StrCat("ila", absl::Hex(h >> 16, absl::kZeroPad12));
}

Outcome Run(const Getenv& getenv, const std::string& stdin_text) {
  std::variant<Invocation, Error> read = ReadInvocation(getenv, stdin_text);
  if (auto* e = std::get_if<Error>(&read)) return ErrorOutcome(*e, "");
  const Invocation& inv = std::get<Invocation>(read);
  if (inv.command == Command::kVersion) return {0, VersionJson().dump() + "\n"};
  std::variant<NetConf, Error> conf = ReadNetConf(inv);
  if (auto* e = std::get_if<Error>(&conf)) return ErrorOutcome(*e, inv.version);
  const NetConf& c = std::get<NetConf>(conf);
  std::optional<Error> error;
  switch (inv.command) {
    case Command::kAdd: {
      std::variant<json, Error> result = Add(inv, c);
      if (auto* e = std::get_if<Error>(&result)) return ErrorOutcome(*e, inv.version);
      return {0, std::get<json>(result).dump() + "\n"};
    }
    case Command::kDel: error = Del(inv, c); break;
    case Command::kCheck: error = Check(inv, c); break;
    case Command::kGc: error = Gc(c, inv.config); break;
    case Command::kStatus: error = Status(c); break;
    case Command::kVersion: break;
  }
  if (error) return ErrorOutcome(*error, inv.version);
  return {0, ""};
}

}  // namespace ila::cni
