// Flags and config file (options.h).
#include "options.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "log.h"

namespace ila::agent {

const char kAgentUsage[] =
    "usage: ila-agent run --host NAME --locator LOC,SIR_PREFIX[,CSUM_MODE[,REFORWARD]]...\n"
    "                     [--role host|router] [--uplink IF]... [--config FILE]\n"
    "                     [--endpoints HOST:PORT,...] [--cacert F] [--cert F] [--key F]\n"
    "                     [--user U] [--password P] [--dial-timeout MS] [--command-timeout MS]\n"
    "                     [--prefix /ila/] [--state-dir DIR] [--socket PATH] [--lease-ttl S]\n"
    "                     [--pin-root DIR] [--instance NAME] [--mapping-csum-mode MODE]\n"
    "                     [--max-mappings N] [--forwarding-cache] [--log-level LEVEL]\n"
    "                     [--metrics ADDRESS:PORT] [--block-bits N] [--release-grace S]\n"
    "       ila-agent status [--socket PATH]\n"
    "       ila-agent attach --interface IF --sir ADDR --mac MAC [--move] [--socket PATH]\n"
    "       ila-agent detach --sir ADDR [--socket PATH]\n"
    "       ila-agent allocate --prefix SIR_PREFIX [--socket PATH]\n"
    "       ila-agent release --sir ADDR [--socket PATH]\n";

namespace {

using nlohmann::json;

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(what); }

// Every option as name -> values (repeatable ones collect), from the config file then the flags.
using Values = std::map<std::string, std::vector<std::string>>;

const std::map<std::string, bool>& Known() {
  // name -> takes a value
  static const auto* known = new std::map<std::string, bool>{
      {"host", true},
      {"locator", true},
      {"role", true},
      {"uplink", true},
      {"config", true},
      {"endpoints", true},
      {"cacert", true},
      {"cert", true},
      {"key", true},
      {"user", true},
      {"password", true},
      {"dial-timeout", true},
      {"command-timeout", true},
      {"prefix", true},
      {"state-dir", true},
      {"socket", true},
      {"lease-ttl", true},
      {"pin-root", true},
      {"instance", true},
      {"mapping-csum-mode", true},
      {"max-mappings", true},
      {"forwarding-cache", false},
      {"log-level", true},
      {"metrics", true},
      {"block-bits", true},
      {"release-grace", true},
  };
  return *known;
}

absl::Status ReadConfigFile(const std::string& path, Values& values) {
  std::ifstream in(path);
  if (!in) return Bad(absl::StrCat("cannot read the config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Bad(absl::StrCat("config file ", path, " is not a JSON object"));
  }
  for (const auto& item : j.items()) {
    const std::string& name = item.key();
    const json& value = item.value();
    auto known = Known().find(name);
    if (known == Known().end() || name == "config") {
      return Bad(absl::StrCat("config file ", path, ": unknown setting \"", name, "\""));
    }
    auto& out = values[name];
    auto add = [&](const json& v) -> absl::Status {
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      } else if (v.is_number_integer()) {
        out.push_back(std::to_string(v.get<int64_t>()));
      } else if (v.is_boolean()) {
        if (v.get<bool>()) out.push_back("");
      } else {
        return Bad(absl::StrCat("config file ", path, R"(: ")", name,
                                R"(" has a value of the wrong type)"));
      }
      return absl::OkStatus();
    };
    if (value.is_array()) {
      for (const json& v : value) {
        if (absl::Status s = add(v); !s.ok()) return s;
      }
    } else if (absl::Status s = add(value); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Number(const Values& v, const std::string& name, int64_t fallback) {
  auto it = v.find(name);
  if (it == v.end()) return fallback;
  int64_t n = 0;
  if (!absl::SimpleAtoi(it->second.back(), &n) || n <= 0) {
    return Bad(absl::StrCat("--", name, " '", it->second.back(), "' is not a positive number"));
  }
  return n;
}

std::string Last(const Values& v, const std::string& name, const std::string& fallback) {
  auto it = v.find(name);
  return it == v.end() ? fallback : it->second.back();
}

}  // namespace

absl::StatusOr<LocatorEntry> ParseLocatorOption(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  if (parts.size() < 2 || parts.size() > 4) {
    return Bad(
        absl::StrCat("--locator '", text, "' is not LOCATOR,SIR_PREFIX[,CSUM_MODE[,REFORWARD]]"));
  }
  LocatorEntry e;
  auto locator = Locator::Parse(parts[0]);
  if (!locator.ok()) return Bad(absl::StrCat("--locator: ", locator.status().message()));
  e.locator = *locator;
  auto prefix = SirPrefix::Parse(parts[1]);
  if (!prefix.ok()) return Bad(absl::StrCat("--locator: ", prefix.status().message()));
  e.sir_prefix = *prefix;
  if (parts.size() >= 3) {
    auto mode = ParseChecksumMode(parts[2]);
    if (!mode.ok()) return Bad(absl::StrCat("--locator: ", mode.status().message()));
    e.csum_mode = *mode;
  }
  if (parts.size() == 4) {
    auto twin = Locator::Parse(parts[3]);
    if (!twin.ok()) return Bad(absl::StrCat("--locator: ", twin.status().message()));
    e.reforward = *twin;
  }
  return e;
}

absl::StatusOr<AgentConfig> ParseAgentOptions(const std::vector<std::string>& args) {
  Values flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string word = args[i];
    if (word.rfind("--", 0) != 0) return Bad(absl::StrCat("unexpected argument '", word, "'"));
    word = word.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = word.find('='); eq != std::string::npos) {
      value = word.substr(eq + 1);
      word = word.substr(0, eq);
      has_value = true;
    }
    auto known = Known().find(word);
    if (known == Known().end()) return Bad(absl::StrCat("unknown option --", word));
    if (known->second && !has_value) {
      if (i + 1 >= args.size()) return Bad(absl::StrCat("--", word, " needs a value"));
      value = args[++i];
    }
    flags[word].push_back(value);
  }
  Values values;
  if (auto it = flags.find("config"); it != flags.end()) {
    if (absl::Status s = ReadConfigFile(it->second.back(), values); !s.ok()) return s;
  }
  for (auto& [name, list] : flags) values[name] = list;  // flags win

  AgentConfig c;
  c.host = Last(values, "host", "");
  if (c.host.empty()) return Bad("--host NAME is required");
  const std::string role = Last(values, "role", "host");
  if (role == "router") {
    c.role = HostRole::kRouter;
  } else if (role != "host") {
    return Bad(absl::StrCat("--role '", role, "' is neither host nor router"));
  }
  for (const std::string& text : values["locator"]) {
    auto e = ParseLocatorOption(text);
    if (!e.ok()) return e.status();
    c.locators.push_back(*e);
  }
  if (c.locators.empty() && c.role == HostRole::kHost) {
    return Bad("a host needs at least one --locator LOCATOR,SIR_PREFIX");
  }
  c.uplinks = values["uplink"];
  if (auto it = values.find("endpoints"); it != values.end()) {
    c.etcd.endpoints.clear();
    for (const std::string& list : it->second) {
      for (absl::string_view e : absl::StrSplit(list, ',', absl::SkipEmpty())) {
        c.etcd.endpoints.emplace_back(e);
      }
    }
  }
  c.etcd.cacert = Last(values, "cacert", "");
  c.etcd.cert = Last(values, "cert", "");
  c.etcd.key = Last(values, "key", "");
  c.etcd.user = Last(values, "user", "");
  c.etcd.password = Last(values, "password", "");
  if (c.etcd.cert.empty() != c.etcd.key.empty()) return Bad("--cert and --key go together");
  auto dial = Number(values, "dial-timeout", 2000);
  if (!dial.ok()) return dial.status();
  c.etcd.dial_timeout = std::chrono::milliseconds(*dial);
  auto command = Number(values, "command-timeout", 5000);
  if (!command.ok()) return command.status();
  c.etcd.request_timeout = std::chrono::milliseconds(*command);
  c.key_prefix = Last(values, "prefix", c.key_prefix);
  c.state_dir = Last(values, "state-dir", c.state_dir);
  c.socket = Last(values, "socket", c.socket);
  auto ttl = Number(values, "lease-ttl", 10);
  if (!ttl.ok()) return ttl.status();
  c.lease_ttl = std::chrono::seconds(*ttl);
  c.pins.root = Last(values, "pin-root", c.pins.root);
  c.pins.instance = Last(values, "instance", "");
  auto mode = ParseChecksumMode(Last(values, "mapping-csum-mode", "no-action"));
  if (!mode.ok()) return Bad(absl::StrCat("--mapping-csum-mode: ", mode.status().message()));
  c.mapping_csum_mode = *mode;
  auto max = Number(values, "max-mappings", c.dataplane.max_mappings);
  if (!max.ok()) return max.status();
  c.dataplane.max_mappings = static_cast<uint32_t>(*max);
  c.dataplane.forwarding_cache = values.contains("forwarding-cache");
  c.metrics_address = Last(values, "metrics", c.metrics_address);
  auto bits = Number(values, "block-bits", c.allocation.block_bits);
  if (!bits.ok()) return bits.status();
  if (*bits > 32) return Bad("--block-bits must be 1 to 32 (16: blocks of a /112)");
  c.allocation.block_bits = static_cast<int>(*bits);
  auto grace = Number(values, "release-grace", c.allocation.release_grace.count());
  if (!grace.ok()) return grace.status();
  c.allocation.release_grace = std::chrono::seconds(*grace);
  const std::string level = Last(values, "log-level", "info");
  static const std::map<std::string, LogLevel> kLevels = {{"debug", LogLevel::kDebug},
                                                          {"info", LogLevel::kInfo},
                                                          {"warning", LogLevel::kWarning},
                                                          {"error", LogLevel::kError}};
  auto found = kLevels.find(level);
  if (found == kLevels.end()) {
    return Bad(absl::StrCat("--log-level '", level, "' is not debug, info, warning or error"));
  }
  c.log_level = found->second;
  return c;
}

}  // namespace ila::agent
