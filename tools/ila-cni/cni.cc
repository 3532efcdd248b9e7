// The CNI protocol (cni.h).
#include "cni.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ila::cni {
namespace {

using nlohmann::json;

Error Fail(ErrorCode code, std::string msg, std::string details = "") {
  return Error{code, std::move(msg), std::move(details)};
}

std::optional<Command> ParseCommand(const std::string& s) {
  if (s == "ADD") return Command::kAdd;
  if (s == "DEL") return Command::kDel;
  if (s == "CHECK") return Command::kCheck;
  if (s == "VERSION") return Command::kVersion;
  if (s == "GC") return Command::kGc;
  if (s == "STATUS") return Command::kStatus;
  return std::nullopt;
}

}  // namespace

std::variant<Invocation, Error> ReadInvocation(const Getenv& getenv,
                                               const std::string& stdin_text) {
  Invocation inv;
  const std::optional<std::string> command = getenv("CNI_COMMAND");
  if (!command || command->empty()) {
    return Fail(ErrorCode::kInvalidEnvironment, "CNI_COMMAND is not set");
  }
  const std::optional<Command> parsed = ParseCommand(*command);
  if (!parsed) {
    return Fail(ErrorCode::kInvalidEnvironment,
                absl::StrCat("CNI_COMMAND '", *command,
                             "' is not one of ADD, DEL, CHECK, VERSION, GC, STATUS"));
  }
  inv.command = *parsed;
  if (inv.command == Command::kVersion) return inv;

  inv.container_id = getenv("CNI_CONTAINERID").value_or("");
  inv.netns = getenv("CNI_NETNS").value_or("");
  inv.ifname = getenv("CNI_IFNAME").value_or("");
  const bool per_container = inv.command == Command::kAdd || inv.command == Command::kDel ||
                             inv.command == Command::kCheck;
  if (per_container) {
    std::vector<std::string> missing;
    if (inv.container_id.empty()) missing.push_back("CNI_CONTAINERID");
    if (inv.ifname.empty()) missing.push_back("CNI_IFNAME");
    // DEL may come after the namespace is gone (the spec lets the runtime leave it empty).
    if (inv.netns.empty() && inv.command != Command::kDel) missing.push_back("CNI_NETNS");
    if (!missing.empty()) {
      return Fail(ErrorCode::kInvalidEnvironment,
                  absl::StrCat(absl::StrJoin(missing, ", "), " not set for ", *command));
    }
    // The spec: alphanumerics, '_', '.', '-'; this plugin names the host's veth after it.
    if (!std::all_of(inv.container_id.begin(), inv.container_id.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
        })) {
      return Fail(ErrorCode::kInvalidEnvironment,
                  "CNI_CONTAINERID may hold only letters, digits, '_', '.' and '-'");
    }
    if (inv.ifname.size() > 15 || inv.ifname == "." || inv.ifname == ".." ||
        inv.ifname.find_first_of("/: \t\n") != std::string::npos) {
      return Fail(ErrorCode::kInvalidEnvironment,
                  absl::StrCat("CNI_IFNAME '", inv.ifname, "' is not a valid interface name"));
    }
  }
  for (absl::string_view kv :
       absl::StrSplit(getenv("CNI_ARGS").value_or(""), ';', absl::SkipWhitespace())) {
    const size_t eq = kv.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return Fail(ErrorCode::kInvalidEnvironment,
                  absl::StrCat("CNI_ARGS entry '", std::string(kv), "' is not KEY=VALUE"));
    }
    inv.args[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (absl::string_view dir :
       absl::StrSplit(getenv("CNI_PATH").value_or(""), ':', absl::SkipEmpty())) {
    inv.path.emplace_back(dir);
  }

  inv.config = json::parse(stdin_text, nullptr, /*allow_exceptions=*/false);
  if (inv.config.is_discarded() || !inv.config.is_object()) {
    return Fail(ErrorCode::kDecodingFailure,
                "the network configuration on stdin is not a JSON object");
  }
  const auto version = inv.config.find("cniVersion");
  if (version == inv.config.end() || !version->is_string()) {
    return Fail(ErrorCode::kInvalidNetworkConfig, "the network configuration has no cniVersion");
  }
  inv.version = version->get<std::string>();
  if (std::find(kSupportedVersions.begin(), kSupportedVersions.end(), inv.version) ==
      kSupportedVersions.end()) {
    return Fail(ErrorCode::kIncompatibleVersion,
                absl::StrCat("cniVersion ", inv.version, " is not supported"),
                absl::StrCat("ila-cni speaks ", absl::StrJoin(kSupportedVersions, ", ")));
  }
  if ((inv.command == Command::kGc || inv.command == Command::kStatus) && inv.version == "1.0.0") {
    return Fail(ErrorCode::kIncompatibleVersion,
                absl::StrCat(*command, " needs cniVersion 1.1.0 or later"));
  }
  for (const char* field : {"name", "type"}) {
    const auto it = inv.config.find(field);
    if (it == inv.config.end() || !it->is_string() || it->get<std::string>().empty()) {
      return Fail(ErrorCode::kInvalidNetworkConfig,
                  absl::StrCat("the network configuration has no \"", field, "\""));
    }
  }
  return inv;
}

json ErrorJson(const Error& e, const std::string& version) {
  json j = {{"cniVersion", version.empty() ? kSupportedVersions.back() : version},
            {"code", static_cast<int>(e.code)},
            {"msg", e.msg}};
  if (!e.details.empty()) j["details"] = e.details;
  return j;
}

json VersionJson() {
  return {{"cniVersion", kSupportedVersions.back()}, {"supportedVersions", kSupportedVersions}};
}

}  // namespace ila::cni
