// The agent's saved local inventory: the containers attached on this host through its local API
// (interface, SIR address, MAC), the identifier blocks it claimed and the addresses it holds back, in <state dir>/inventory.json, written atomically (temporary
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
  std::string workload = {};  // published with its mapping (schema.h MappingRecord)
  // The orchestrator's name for this attachment (ila-cni: "<container id>/<ifname>"), for its
  // garbage collection; local only.
  std::string attachment = {};
  friend bool operator==(const LocalContainer&, const LocalContainer&) = default;
};

// A block of identifiers this host claimed in etcd (a prefix mapping): it allocates inside it
// alone. base: the block's first address; bits: how many low identifier bits vary (16: a /112).
struct OwnedBlock {
  SirAddress base;
  int bits = 16;
  friend bool operator==(const OwnedBlock&, const OwnedBlock&) = default;
};

// An address that may not be handed out now: allocated and not yet attached (`pending`), or
// released and waiting out the grace period before reuse. Until `until` (unix seconds).
struct HeldAddress {
  SirAddress sir;
  int64_t until = 0;
  bool pending = false;
  friend bool operator==(const HeldAddress&, const HeldAddress&) = default;
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

  std::vector<OwnedBlock>& blocks() { return blocks_; }
  std::vector<HeldAddress>& held() { return held_; }
  const std::vector<HeldAddress>& held() const { return held_; }

 private:
  std::string path_;
  std::vector<LocalContainer> containers_;
  std::vector<OwnedBlock> blocks_;
  std::vector<HeldAddress> held_;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_INVENTORY_H_
