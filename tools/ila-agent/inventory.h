// The agent's saved local inventory: the containers attached on this host through its local API
// (interface, SIR address, MAC), in <state dir>/inventory.json, written atomically (temporary
// file + rename) before each change is published. After a restart, a reconnect or a new lease the
// agent re-publishes these, and it reconciles them against the interfaces that really exist.
//
// Thread safety: none; the agent guards it with its mutex.
#ifndef ILA_AGENT_INVENTORY_H_
#define ILA_AGENT_INVENTORY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/types.h"

namespace ila::agent {

struct LocalContainer {
  std::string interface;
  SirAddress sir;
  MacAddress mac;
  friend bool operator==(const LocalContainer&, const LocalContainer&) = default;
};

class Inventory {
 public:
  // An empty inventory when the file does not exist; an error naming the file when it exists and
  // cannot be read.
  [[nodiscard]] static absl::StatusOr<Inventory> Load(std::string path);
  [[nodiscard]] absl::Status Save() const;

  const std::vector<LocalContainer>& containers() const { return containers_; }
  const LocalContainer* Find(const SirAddress& sir) const;
  const LocalContainer* FindInterface(const std::string& interface) const;
  void Upsert(const LocalContainer& c);
  void Remove(const SirAddress& sir);

 private:
  std::string path_;
  std::vector<LocalContainer> containers_;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_INVENTORY_H_
