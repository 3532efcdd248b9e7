// Delegating to another CNI plugin (an IPAM plugin named in the configuration's `ipam`), as the
// spec's "delegated plugins" section describes: the plugin found in CNI_PATH, run with this
// invocation's environment (CNI_COMMAND set to the command asked for) and the same network
// configuration on stdin; its result or its error object comes back.
//
// Thread safety: each call forks its own child.
#ifndef ILA_CNI_DELEGATE_H_
#define ILA_CNI_DELEGATE_H_

#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "cni.h"

namespace ila::cni {

// Runs plugin `type` for `command` ("ADD", "DEL", ...). ADD's answer is its result; DEL's is
// null. A plugin that is not in `path` is "invalid network config" (7); a plugin that fails
// returns its own error object (code, msg, details).
[[nodiscard]] std::variant<nlohmann::json, Error> Delegate(const std::string& type,
                                                           const std::string& command,
                                                           const std::vector<std::string>& path,
                                                           const nlohmann::json& config);

}  // namespace ila::cni

#endif  // ILA_CNI_DELEGATE_H_
