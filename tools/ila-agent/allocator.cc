// Identifier blocks and allocation inside them (allocator.h).
#include "allocator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace ila::agent {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int kBlockClaimAttempts = 16;
// Allocated identifiers use the low 60 bits only (see ClaimBlock).
constexpr int kAllocatedIdentifierBits = 60;

}  // namespace

Allocator::Allocator(etcd::Client& client, Schema schema, std::string self, Options options)
    : client_(client),
      schema_(std::move(schema)),
      self_(std::move(self)),
      options_(options),
      random_(std::random_device{}()) {}

std::string Allocator::BlockKey(const SirAddress& base) const {
  return absl::StrCat(schema_.MappingPrefix(base.prefix), base.ToString(), "/",
                      128 - options_.block_bits);
}

absl::StatusOr<bool> Allocator::Free(const Inventory& inventory, const SirAddress& sir,
                                     int64_t now) {
  if (inventory.Find(sir) != nullptr) return false;
  for (const HeldAddress& h : inventory.held()) {
    if (h.sir == sir && h.until > now) return false;
  }
  // A /128 record here is a container that moved in from another host (or one claimed by hand).
  absl::StatusOr<etcd::RangeResult> got = client_.Get(schema_.MappingKey(sir));
  if (!got.ok()) return got.status();
  return got->kvs.empty();
}

absl::Status Allocator::ClaimBlock(Inventory& inventory, const MappingRecord& block_template) {
  const SirPrefix prefix = block_template.mapping.sir.prefix;
  // Blocks are drawn from the identifiers whose top four bits are clear: the C-bit (a mapping in
  // neutral-map mode cannot carry an identifier that has it) and the type bits a use-format
  // mapping would read (000: an interface identifier).
  const uint64_t blocks = uint64_t{1} << (kAllocatedIdentifierBits - options_.block_bits);
  for (int attempt = 0; attempt < kBlockClaimAttempts; ++attempt) {
    // Block 0 is left out: identifiers that are small numbers are what people write by hand.
    const uint64_t index = 1 + random_() % (blocks - 1);
    const SirAddress base{prefix, Identifier(index << options_.block_bits)};
    const std::string key = BlockKey(base);
    MappingRecord record = block_template;
    record.mapping.sir = base;
    absl::StatusOr<etcd::TxnResult> txn =
        client_.Txn({etcd::Compare{.key = key, .target = etcd::Compare::Target::kCreateRevision}},
                    {etcd::Operation{.key = key, .value = Schema::Encode(record)}}, {});
    if (!txn.ok()) return txn.status();
    if (!txn->succeeded) continue;  // another host's block
    inventory.blocks().push_back({base, options_.block_bits});
    Log(LogLevel::kInfo, "identifier block claimed", {{"block", key}});
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat("no free identifier block of ",
                                                   PrefixKeyText(prefix), " after ",
                                                   kBlockClaimAttempts, " random tries"));
}

absl::StatusOr<SirAddress> Allocator::Allocate(Inventory& inventory,
                                               const MappingRecord& block_template) {
  const int64_t now = NowSeconds();
  std::erase_if(inventory.held(), [&](const HeldAddress& h) { return h.until <= now; });
  const SirPrefix prefix = block_template.mapping.sir.prefix;
  for (int round = 0; round < 2; ++round) {
    for (const OwnedBlock& block : inventory.blocks()) {
      if (block.base.prefix != prefix) continue;
      const uint64_t size = block.bits >= 64 ? ~uint64_t{0} : uint64_t{1} << block.bits;
      // The block's first identifier (all low bits zero) is the block's own name.
      for (uint64_t i = 1; i < size; ++i) {
        const SirAddress sir{prefix, Identifier(block.base.identifier.value() + i)};
        absl::StatusOr<bool> free = Free(inventory, sir, now);
        if (!free.ok()) return free.status();
        if (!*free) continue;
        inventory.held().push_back(
            {sir, now + static_cast<int64_t>(options_.pending.count()), /*pending=*/true});
        return sir;
      }
    }
    if (round == 0) {
      if (absl::Status s = ClaimBlock(inventory, block_template); !s.ok()) return s;
    }
  }
  return absl::ResourceExhaustedError("the new block has no free identifier");
}

void Allocator::Consume(Inventory& inventory, const SirAddress& sir) {
  std::erase_if(inventory.held(), [&](const HeldAddress& h) { return h.sir == sir && h.pending; });
}

void Allocator::Release(Inventory& inventory, const SirAddress& sir) const {
  const bool ours =
      std::any_of(inventory.blocks().begin(), inventory.blocks().end(), [&](const OwnedBlock& b) {
        const uint64_t mask = b.bits >= 64 ? 0 : ~((uint64_t{1} << b.bits) - 1);
        return b.base.prefix == sir.prefix &&
               (sir.identifier.value() & mask) == b.base.identifier.value();
      });
  std::erase_if(inventory.held(), [&](const HeldAddress& h) { return h.sir == sir; });
  if (!ours) return;
  inventory.held().push_back(
      {sir, NowSeconds() + static_cast<int64_t>(options_.release_grace.count()), false});
}

}  // namespace ila::agent
