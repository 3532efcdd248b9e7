// What the tables share (tables/*.cc): encoding a mapping into its map entries and back, and
// the checks every table makes against the SIR prefix table.
#ifndef ILA_LIB_TABLES_TABLE_UTIL_H_
#define ILA_LIB_TABLES_TABLE_UTIL_H_

#include <string>
#include <string_view>
#include <vector>

#include "abi.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"

namespace ila::internal {

bool IsAdjustTransport(ChecksumMode m);
// OK when `prefix` is registered. `what` names the caller's entry in the error; it is only called
// on failure.
absl::Status RequireSirPrefix(DataplaneState& s, SirPrefix prefix,
                              absl::FunctionRef<std::string()> what)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);
// Validates one mapping and writes its forward and reverse entries (every byte of each).
absl::Status Encode(const Mapping& m, abi::ila_mapping_key& key, abi::ila_mapping_value& value,
                    abi::ila_addr& ila_key, abi::ila_reverse_value& reverse);
Mapping Decode(const abi::ila_mapping_key& k, const abi::ila_mapping_value& v);
bool SameAddr(const abi::ila_addr& a, const abi::ila_addr& b);
// Checks a locator entry on its own (nonzero locator, a known checksum mode) and encodes it: how
// the programs restore the SIR address of an ILA address under this locator. `whose` names the
// table in errors ("a host's", "a cluster").
absl::Status EncodeLocator(const LocatorEntry& e, std::string_view whose, abi::ila_locator_key& key,
                           abi::ila_locator_value& value);
// The entry's re-forward locator (it has one), checked against the entry (another locator, with
// the same one's-complement sum) and encoded: its key, and `primary` (the entry's own value)
// flagged ILA_LOCATOR_F_REFORWARD.
absl::Status EncodeReforward(const LocatorEntry& e, const abi::ila_locator_value& primary,
                             abi::ila_locator_key& key, abi::ila_locator_value& value);
// A locator entry encoded with its re-forward locator's (the twin fields are zero without one).
struct EncodedLocator {
  abi::ila_locator_key key;
  abi::ila_locator_value value;
  abi::ila_locator_key twin_key;
  abi::ila_locator_value twin_value;
};
absl::StatusOr<EncodedLocator> EncodeWithTwin(const LocatorEntry& e, std::string_view whose);
LocatorEntry DecodeLocator(const abi::ila_locator_key& k, const abi::ila_locator_value& v);
// Every entry of a locator map (this host's record, or the cluster's table) but the re-forward
// locators, by locator, each with its re-forward locator from `reforward`.
absl::StatusOr<std::vector<LocatorEntry>> ListLocators(
    const TypedMap<abi::ila_locator_key, abi::ila_locator_value>& map,
    const TypedMap<abi::ila_locator_key, abi::ila_locator_key>& reforward);
// Where `locator` stands in a locator map: absent, a locator of its own, or the re-forward
// locator of another (named in errors).
enum class LocatorUse { kAbsent, kPrimary, kReforward };
absl::StatusOr<LocatorUse> UseOf(const TypedMap<abi::ila_locator_key, abi::ila_locator_value>& map,
                                 const abi::ila_locator_key& key);
abi::ila_locator_key LocatorKey(Locator locator);
// The programs' filter of locators (abi.h, ila_locator_filter): `adding` set in it before they are
// written, or, with none, rebuilt from this host's and the cluster's tables after a removal.
absl::Status AddToLocatorFilter(DataplaneState& s, std::initializer_list<Locator> adding);
absl::Status RebuildLocatorFilter(DataplaneState& s);
// The re-forward locator paired with `key` (ila_reforward_locators), if any.
absl::StatusOr<std::optional<Locator>> TwinOf(const DataplaneState& s,
                                              const abi::ila_locator_key& key);
// What an upsert of `e` into `table` (this host's record or the cluster's) changes about its
// re-forward locator: the one it had, and whether e.reforward is a new one. FailedPrecondition
// when e's locator is another's re-forward locator; AlreadyExists when a new one is in `table`
// already. `what` names e's kind and `where` the table in errors ("locator", "one of this host's
// locators"; "cluster locator", "in the cluster table").
struct TwinChange {
  std::optional<Locator> previous;
  bool added = false;
};
absl::StatusOr<TwinChange> PlanTwin(
    const DataplaneState& s, const TypedMap<abi::ila_locator_key, abi::ila_locator_value>& table,
    const LocatorEntry& e, std::string_view what, std::string_view where);
// Whether `sir` is still mapped to `ila`: a reverse entry can outlive its mapping when a
// forwarding cache evicts the mapping, and such a stale entry must not block anyone.
bool StillMapsTo(const DataplaneState& s, const abi::ila_addr& sir, const abi::ila_addr& ila);

}  // namespace ila::internal

#endif  // ILA_LIB_TABLES_TABLE_UTIL_H_
