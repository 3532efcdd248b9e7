// Identifiers unique cluster-wide. A host claims a block of identifiers of a SIR prefix (a /112
// by default) with one etcd transaction, create-if-absent on the block's key, which is a prefix
// mapping (`/ila/v1/mappings/<prefix>/<base>/112`, owned by the host, to its locator): once the
// data plane has prefix mappings, a block costs one entry and a container that moved out of its
// block is a /128 exception. Inside its blocks the host allocates alone, skipping addresses that
// have a /128 record (a container that moved in from elsewhere), that it has handed out and not
// seen attached yet, or that were released less than a grace period ago.
//
// Blocks are chosen at random among the 2^(64-bits) of the prefix, so hosts claiming at once
// rarely collide, and a collision is one more transaction.
//
// Thread safety: none; the agent calls it under its mutex (with the inventory it changes).
#ifndef ILA_AGENT_ALLOCATOR_H_
#define ILA_AGENT_ALLOCATOR_H_

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "etcd/client.h"
#include "inventory.h"
#include "schema.h"

namespace ila::agent {

class Allocator {
 public:
  struct Options {
    int block_bits = 16;                     // 16: blocks of 65536 identifiers (a /112)
    std::chrono::seconds release_grace{60};  // a released address waits this long
    std::chrono::seconds pending{120};       // an allocation not attached by then is freed
  };
  Allocator(etcd::Client& client, Schema schema, std::string self, Options options);

  // A free address of `block_template.mapping.sir.prefix`, held as pending in `inventory` (the
  // caller saves it). `block_template` gives the locator and modes a new block is published
  // with. ResourceExhausted when no block can be claimed.
  [[nodiscard]] absl::StatusOr<SirAddress> Allocate(Inventory& inventory,
                                                    const MappingRecord& block_template);
  // The address was attached: no longer pending.
  static void Consume(Inventory& inventory, const SirAddress& sir);
  // The address is free again, after the grace period (only addresses of this host's blocks).
  void Release(Inventory& inventory, const SirAddress& sir) const;
  // The key of the block that holds `base`.
  std::string BlockKey(const SirAddress& base) const;

 private:
  absl::StatusOr<bool> Free(const Inventory& inventory, const SirAddress& sir, int64_t now);
  absl::Status ClaimBlock(Inventory& inventory, const MappingRecord& block_template);

  etcd::Client& client_;
  Schema schema_;
  std::string self_;
  Options options_;
  std::mt19937_64 random_;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_ALLOCATOR_H_
