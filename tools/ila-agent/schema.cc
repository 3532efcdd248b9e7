// Key names and JSON values of the cluster schema (docs/cluster.md).
#include "schema.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ila::agent {
namespace {

using nlohmann::json;

std::string S(std::string_view v) { return std::string(v); }

absl::Status Bad(std::string_view key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("etcd key ", S(key), ": ", why));
}

// A JSON object with a version field "v" that this build can read (its own and the next one's:
// a newer agent adds fields only, which this one ignores).
absl::StatusOr<json> ParseObject(std::string_view key, std::string_view value) {
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Bad(key, absl::StrCat("the value is not a JSON object: '", S(value.substr(0, 80)), "'"));
  }
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) {
    return Bad(key, "the value has no integer version field \"v\"");
  }
  const int version = v->get<int>();
  if (version < 1 || version > kSchemaVersion + 1) {
    return Bad(key, absl::StrCat("value version ", version, " is not one this agent reads (1 to ",
                                 kSchemaVersion + 1, ")"));
  }
  return j;
}

absl::StatusOr<std::string> StringField(std::string_view key, const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Bad(key, absl::StrCat("field \"", name, "\" is missing or not a string"));
  }
  return it->get<std::string>();
}

// An optional string field: `fallback` when absent.
absl::StatusOr<std::string> OptionalStringField(std::string_view key, const json& j,
                                                const char* name, std::string fallback) {
  if (!j.contains(name)) return fallback;
  return StringField(key, j, name);
}

template <typename T, typename ParseFn>
absl::StatusOr<T> Field(std::string_view key, const json& j, const char* name, ParseFn parse) {
  auto text = StringField(key, j, name);
  if (!text.ok()) return text.status();
  auto value = parse(*text);
  if (!value.ok()) {
    return Bad(key, absl::StrCat("field \"", name, "\": ", value.status().message()));
  }
  return *value;
}

absl::StatusOr<SirPrefix> ParsePrefixComponent(std::string_view key, std::string_view text) {
  auto p = SirPrefix::Parse(text);
  if (!p.ok()) return Bad(key, std::string(p.status().message()));
  if (PrefixKeyText(*p) != text) {
    return Bad(key,
               absl::StrCat("'", S(text), "' is not canonical: write '", PrefixKeyText(*p), "'"));
  }
  return *p;
}

absl::StatusOr<LocatorEntry> ParseLocatorEntry(std::string_view key, const json& j) {
  if (!j.is_object()) return Bad(key, "a locator entry is not an object");
  LocatorEntry e;
  auto locator = Field<Locator>(key, j, "locator", Locator::Parse);
  if (!locator.ok()) return locator.status();
  e.locator = *locator;
  auto prefix = Field<SirPrefix>(key, j, "sir_prefix", SirPrefix::Parse);
  if (!prefix.ok()) return prefix.status();
  e.sir_prefix = *prefix;
  auto mode_text = OptionalStringField(key, j, "csum_mode", "no-action");
  if (!mode_text.ok()) return mode_text.status();
  auto mode = ParseChecksumMode(*mode_text);
  if (!mode.ok()) return Bad(key, std::string(mode.status().message()));
  e.csum_mode = *mode;
  if (j.contains("reforward")) {
    auto twin = Field<Locator>(key, j, "reforward", Locator::Parse);
    if (!twin.ok()) return twin.status();
    e.reforward = *twin;
  }
  return e;
}

absl::StatusOr<Record> ParseHost(std::string_view key, std::string_view name,
                                 std::string_view value) {
  auto j = ParseObject(key, value);
  if (!j.ok()) return j.status();
  HostRecord r{.name = S(name)};
  auto role = OptionalStringField(key, *j, "role", "host");
  if (!role.ok()) return role.status();
  if (*role == "router") {
    r.role = HostRole::kRouter;
  } else if (*role != "host") {
    return Bad(key, absl::StrCat("role '", *role, R"(' is neither "host" nor "router")"));
  }
  auto locators = j->find("locators");
  if (locators == j->end() || !locators->is_array()) {
    return Bad(key, "field \"locators\" is missing or not an array");
  }
  for (const json& l : *locators) {
    auto e = ParseLocatorEntry(key, l);
    if (!e.ok()) return e.status();
    r.locators.push_back(*e);
  }
  return r;
}

absl::StatusOr<Record> ParseDead(std::string_view key, std::string_view name,
                                 std::string_view value) {
  auto j = ParseObject(key, value);
  if (!j.ok()) return j.status();
  DeadHostRecord r{.name = S(name)};
  if (auto since = j->find("since"); since != j->end()) {
    if (!since->is_number_integer()) return Bad(key, "field \"since\" is not an integer");
    r.since = since->get<int64_t>();
  }
  for (auto [field, out] : {std::pair<const char*, bool*>{"done", &r.done},
                            std::pair<const char*, bool*>{"to_routers", &r.to_routers}}) {
    auto it = j->find(field);
    if (it == j->end()) continue;
    if (!it->is_boolean()) return Bad(key, absl::StrCat("field \"", field, "\" is not a boolean"));
    *out = it->get<bool>();
  }
  return r;
}

absl::StatusOr<Record> ParseMapping(std::string_view key, std::string_view rest,
                                    std::string_view value) {
  // rest: "<prefix>/<address>"
  const size_t cut = rest.find('/');
  std::vector<std::string_view> parts;
  if (cut != std::string_view::npos) parts = {rest.substr(0, cut), rest.substr(cut + 1)};
  if (parts.size() != 2) return Bad(key, "a mapping key is mappings/<SIR prefix>/<SIR address>");
  auto prefix = ParsePrefixComponent(key, parts[0]);
  if (!prefix.ok()) return prefix.status();
  if (parts[1].find('/') != std::string_view::npos) {
    // A prefix mapping (a block of identifiers): the data plane has /128 entries only for now,
    // so this build leaves it to the agents that can install it.
    return OtherRecord{};
  }
  auto address = Ipv6Address::Parse(parts[1]);
  if (!address.ok()) return Bad(key, std::string(address.status().message()));
  if (address->ToString() != parts[1]) {
    return Bad(key, absl::StrCat("'", S(parts[1]), "' is not canonical (RFC 5952): write '",
                                 address->ToString(), "'"));
  }
  const SirAddress sir = SirAddress::From(*address);
  if (sir.prefix != *prefix) {
    return Bad(key, absl::StrCat("the address is not in the SIR prefix ", PrefixKeyText(*prefix)));
  }
  auto j = ParseObject(key, value);
  if (!j.ok()) return j.status();
  MappingRecord r;
  r.mapping.sir = sir;
  auto host = StringField(key, *j, "host");
  if (!host.ok()) return host.status();
  if (absl::Status s = Schema::ValidateHostName(*host); !s.ok())
    return Bad(key, std::string(s.message()));
  r.host = *host;
  auto locator = Field<Locator>(key, *j, "locator", Locator::Parse);
  if (!locator.ok()) return locator.status();
  r.mapping.locator = *locator;
  auto mode_text = OptionalStringField(key, *j, "csum_mode", "no-action");
  if (!mode_text.ok()) return mode_text.status();
  auto mode = ParseChecksumMode(*mode_text);
  if (!mode.ok()) return Bad(key, std::string(mode.status().message()));
  r.mapping.csum_mode = *mode;
  auto type_text = OptionalStringField(key, *j, "ident_type", "luid");
  if (!type_text.ok()) return type_text.status();
  auto type = ParseIdentifierType(*type_text);
  if (!type.ok()) return Bad(key, std::string(type.status().message()));
  r.mapping.ident_type = *type;
  auto workload = OptionalStringField(key, *j, "workload", "");
  if (!workload.ok()) return workload.status();
  if (workload->size() > 253 || std::any_of(workload->begin(), workload->end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e;
      })) {
    return Bad(key, "field \"workload\" must be 0 to 253 printable characters without spaces");
  }
  r.workload = *workload;
  if (auto until = j->find("reserved_until"); until != j->end()) {
    if (!until->is_number_integer() || until->get<int64_t>() < 0) {
      return Bad(key, "field \"reserved_until\" is not a unix time in seconds");
    }
    r.reserved_until = until->get<int64_t>();
  }
  if (absl::Status s = ValidateMapping(r.mapping); !s.ok())
    return Bad(key, std::string(s.message()));
  return r;
}

absl::StatusOr<Record> ParseRule(std::string_view key, std::string_view rest,
                                 std::string_view value) {
  const size_t comma = rest.find(',');
  std::vector<std::string_view> parts;
  if (comma != std::string_view::npos) parts = {rest.substr(0, comma), rest.substr(comma + 1)};
  if (parts.size() != 2 || parts[1].find(',') != std::string_view::npos)
    return Bad(key, "a rule key is rules/<SIR prefix>,<SIR prefix>");
  auto a = ParsePrefixComponent(key, parts[0]);
  if (!a.ok()) return a.status();
  auto b = ParsePrefixComponent(key, parts[1]);
  if (!b.ok()) return b.status();
  if (!(*a < *b)) return Bad(key, "a rule names two different prefixes, the smaller first");
  if (auto j = ParseObject(key, value); !j.ok()) return j.status();
  return RuleRecord{PrefixRule{*a, *b}};
}

json LocatorJson(const LocatorEntry& e) {
  json l = {{"locator", e.locator.ToString()},
            {"sir_prefix", PrefixKeyText(e.sir_prefix)},
            {"csum_mode", S(ToString(e.csum_mode))}};
  if (e.reforward) l["reforward"] = e.reforward->ToString();
  return l;
}

}  // namespace

std::string_view ToString(HostRole role) { return role == HostRole::kRouter ? "router" : "host"; }

std::string PrefixKeyText(SirPrefix prefix) {
  return absl::StrCat(absl::Hex(prefix.group(0)), ":", absl::Hex(prefix.group(1)), ":",
                      absl::Hex(prefix.group(2)), ":", absl::Hex(prefix.group(3)));
}

absl::StatusOr<Schema> Schema::Create(std::string root) {
  if (root.size() < 2 || root.front() != '/' || root.back() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("key prefix '", root, "' must start and end with '/', e.g. /ila/"));
  }
  return Schema(std::move(root));
}

absl::Status Schema::ValidateHostName(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("host name '", S(name), "' must have 1 to 63 characters"));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("host name '", S(name), "' may hold only letters, digits, '.', '_', '-'"));
    }
  }
  return absl::OkStatus();
}

std::string Schema::PrefixKey(SirPrefix prefix) const {
  return DataPrefix() + "prefixes/" + PrefixKeyText(prefix);
}
std::string Schema::RuleKey(const PrefixRule& rule) const {
  const SirPrefix lo = rule.a < rule.b ? rule.a : rule.b;
  const SirPrefix hi = rule.a < rule.b ? rule.b : rule.a;
  return DataPrefix() + "rules/" + PrefixKeyText(lo) + "," + PrefixKeyText(hi);
}
std::string Schema::HostKey(std::string_view host) const {
  return DataPrefix() + "hosts/" + S(host);
}
std::string Schema::AliveKey(std::string_view host) const { return AlivePrefix() + S(host); }
std::string Schema::DeadKey(std::string_view host) const { return DeadPrefix() + S(host); }
std::string Schema::MappingPrefix(SirPrefix prefix) const {
  return DataPrefix() + "mappings/" + PrefixKeyText(prefix) + "/";
}
std::string Schema::MappingKey(const SirAddress& sir) const {
  return MappingPrefix(sir.prefix) + sir.ToString();
}

absl::StatusOr<Record> Schema::Parse(std::string_view key, std::string_view value) const {
  const std::string data = DataPrefix();
  if (key.substr(0, data.size()) != data) return Bad(key, absl::StrCat("is not under ", data));
  std::string_view rest = key.substr(data.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return OtherRecord{};
  const std::string_view kind = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  if (kind == "mappings") return ParseMapping(key, rest, value);
  if (kind == "prefixes") {
    auto p = ParsePrefixComponent(key, rest);
    if (!p.ok()) return p.status();
    if (auto j = ParseObject(key, value); !j.ok()) return j.status();
    return PrefixRecord{*p};
  }
  if (kind == "rules") return ParseRule(key, rest, value);
  if (kind == "hosts" || kind == "alive" || kind == "dead") {
    if (absl::Status s = ValidateHostName(rest); !s.ok()) return Bad(key, std::string(s.message()));
    if (kind == "hosts") return ParseHost(key, rest, value);
    if (kind == "dead") return ParseDead(key, rest, value);
    auto j = ParseObject(key, value);
    if (!j.ok()) return j.status();
    AliveRecord r{.name = S(rest)};
    if (auto lease = j->find("lease"); lease != j->end() && lease->is_number_integer()) {
      r.lease = lease->get<int64_t>();
    }
    return r;
  }
  return OtherRecord{};
}

std::string Schema::Encode(const HostRecord& r) {
  json locators = json::array();
  for (const LocatorEntry& e : r.locators) locators.push_back(LocatorJson(e));
  return json{{"v", kSchemaVersion}, {"role", S(ToString(r.role))}, {"locators", locators}}.dump();
}
std::string Schema::Encode(const AliveRecord& r) {
  return json{{"v", kSchemaVersion}, {"lease", r.lease}}.dump();
}
std::string Schema::Encode(const MappingRecord& r) {
  json j{{"v", kSchemaVersion},
         {"host", r.host},
         {"locator", r.mapping.locator.ToString()},
         {"csum_mode", S(ToString(r.mapping.csum_mode))},
         {"ident_type", S(ToString(r.mapping.ident_type))}};
  if (!r.workload.empty()) j["workload"] = r.workload;
  if (r.reserved_until != 0) j["reserved_until"] = r.reserved_until;
  return j.dump();
}
std::string Schema::Encode(const DeadHostRecord& r) {
  return json{
      {"v", kSchemaVersion}, {"since", r.since}, {"done", r.done}, {"to_routers", r.to_routers}}
      .dump();
}
std::string Schema::Encode(const PrefixRecord&) { return json{{"v", kSchemaVersion}}.dump(); }
std::string Schema::Encode(const RuleRecord&) { return json{{"v", kSchemaVersion}}.dump(); }
std::string Schema::Encode(const SchemaRecord& r) { return json{{"version", r.version}}.dump(); }

absl::StatusOr<SchemaRecord> Schema::ParseVersion(std::string_view value) {
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version") ||
      !j["version"].is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the schema version record is not {\"version\":N}: '", S(value.substr(0, 80)), "'"));
  }
  return SchemaRecord{j["version"].get<int>()};
}

}  // namespace ila::agent
