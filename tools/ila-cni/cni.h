// The CNI protocol as the spec (1.0.0, with 1.1.0's GC and STATUS) defines it for a plugin: what
// the runtime passes (CNI_* environment variables, the network configuration on stdin), what the
// plugin answers (a result, or an error object with the spec's code), and version negotiation.
// Independent of what the plugin does (commands.h); JSON through nlohmann-json.
//
// Thread safety: values only.
#ifndef ILA_CNI_CNI_H_
#define ILA_CNI_CNI_H_

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <variant>
#include <string>
#include <vector>

namespace ila::cni {

// The spec's error codes (SPEC.md "Error"); 100 and above are this plugin's own.
enum class ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodingFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  kPluginNotAvailable = 50,
  kLimitedConnectivity = 51,
  kAgentRefused = 100,  // the ila-agent refused the request (details: its code and message)
  kCheckFailed = 101,   // CHECK found the container's network other than ADD made it
};

struct Error {
  ErrorCode code = ErrorCode::kIoFailure;
  std::string msg;
  std::string details;
};

// The versions this plugin speaks: results of 1.0.0's shape (1.1.0 adds GC and STATUS).
inline const std::vector<std::string> kSupportedVersions = {"1.0.0", "1.1.0"};

enum class Command { kAdd, kDel, kCheck, kVersion, kGc, kStatus };

// One invocation, as read from the environment and stdin.
// (nlohmann::json's noexcept move checks an invariant that clang-tidy cannot prove not to throw.)
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Invocation {
  Command command = Command::kVersion;
  std::string container_id;                 // CNI_CONTAINERID
  std::string netns;                        // CNI_NETNS (may be empty for DEL)
  std::string ifname;                       // CNI_IFNAME
  std::map<std::string, std::string> args;  // CNI_ARGS, "K=V;K2=V2"
  std::vector<std::string> path;            // CNI_PATH, split on ':'
  nlohmann::json config;                    // the network configuration (stdin)
  std::string version;                      // config's cniVersion
};

using Getenv = std::function<std::optional<std::string>(const std::string& name)>;

// Reads and checks the invocation: the command known, the variables the command needs present
// and well-formed (code 4), stdin JSON (code 6), a cniVersion this plugin speaks (code 1), the
// type and name present (code 7). VERSION needs no configuration.
[[nodiscard]] std::variant<Invocation, Error> ReadInvocation(const Getenv& getenv,
                                                             const std::string& stdin_text);

// The error object the spec prints on stdout (with the configuration's version, or the newest).
nlohmann::json ErrorJson(const Error& e, const std::string& version);
// VERSION's answer.
nlohmann::json VersionJson();

}  // namespace ila::cni

#endif  // ILA_CNI_CNI_H_
