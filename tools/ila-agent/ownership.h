// Who owns a SIR address: the mapping record in etcd, changed only by transactions that check
// what the writer saw, so that an address has exactly one owner whatever runs at once.
//   Claim    create-if-absent (create_revision == 0); the owner itself may rewrite its record
//            (mod_revision == the one it read).
//   Move     the new host takes the address over with mod_revision == the revision it read: of
//            two hosts moving one address at once, one wins, and the loser is told who won.
//   Release  the owner deletes its record, again conditioned on the revision it read, so that
//            a release that comes after a move never removes the new owner's mapping.
//   Reserve  the owner marks its record reserved for the record's workload until a time: nobody
//            else can claim it meanwhile, and the same workload takes it over from any host.
//
// Thread safety: as etcd::Client (any thread).
#ifndef ILA_AGENT_OWNERSHIP_H_
#define ILA_AGENT_OWNERSHIP_H_

#include <string>

#include "absl/status/status.h"
#include "etcd/client.h"
#include "schema.h"

namespace ila::agent {

class Ownership {
 public:
  Ownership(etcd::Client& client, Schema schema, std::string self)
      : client_(client), schema_(std::move(schema)), self_(std::move(self)) {}

  // Publishes `record` (whose host must be this one). `move`: take the address over from
  // another host. Without it, another host's record is taken over only when it names the same
  // non-empty workload as `record` (that workload started again here: a move too) or when its
  // reservation has run out. Errors: ALREADY_EXISTS naming the owner (another host has it, no
  // move asked), ABORTED (someone else changed it between the read and the write: read again and
  // decide), etcd errors as they came.
  [[nodiscard]] absl::Status Claim(const MappingRecord& record, bool move);
  // Keeps this host's record of `sir` for its workload until `until` (unix seconds) instead of
  // deleting it; OK and nothing written when it is absent or another host's.
  [[nodiscard]] absl::Status Reserve(const SirAddress& sir, int64_t until);
  // Deletes the address's record if this host owns it; OK when it is absent or owned by another
  // host (the container moved: the new owner's record stays). `only_lapsed`: only a record whose
  // reservation has run out (one taken up again meanwhile stays).
  [[nodiscard]] absl::Status Release(const SirAddress& sir, bool only_lapsed = false);
  // The current owner's record and its revision; NOT_FOUND when nobody owns it.
  [[nodiscard]] absl::StatusOr<std::pair<MappingRecord, int64_t>> Owner(const SirAddress& sir);

 private:
  etcd::Client& client_;
  Schema schema_;
  std::string self_;
};

}  // namespace ila::agent

#endif  // ILA_AGENT_OWNERSHIP_H_
