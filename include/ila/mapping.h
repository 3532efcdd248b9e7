// Typed tables of a running data plane: identifier->locator mappings, local endpoints, this host's
// locators and the SIR prefixes it translates.
//
// Every call validates its whole input before writing anything, and a batch that fails writes
// nothing (a failure in the kernel part-way through is rolled back). Errors are absl::Status with
// the offending value and the reason; kernel errors carry errno text.
//
// Thread and process safety: every write of every table (and every attach and detach) holds one
// lock of the instance: a mutex for this process's threads and an open-file-description lock on
// the instance's ila_meta map for the other processes that have it open (a controller, ila-agent,
// ilactl), so a write is never interleaved with another's, in whichever process. A child of fork
// that uses its parent's handle locks through a file description of its own (fork from a thread
// while another thread is writing, and the child must not write). Readers (Get, List) may run
// concurrently with writers and with the data plane at any time.
#ifndef ILA_MAPPING_H_
#define ILA_MAPPING_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/types.h"

namespace ila {

namespace internal {
struct DataplaneState;
}

// One identifier->locator mapping: traffic to `sir` goes to `locator`. Kernel equivalent:
//   ip -6 route add <sir>/128 encap ila <locator> csum-mode <csum_mode> ident-type <ident_type>
struct Mapping {
  SirAddress sir;
  Locator locator;
  ChecksumMode csum_mode = ChecksumMode::kNoAction;  // Linux's default
  // luid: the identifier has no type field. use-format: read it from the identifier's top three
  // bits (which, as in Linux, must then say luid). Other types are refused, as Linux does.
  IdentifierType ident_type = IdentifierType::kLuid;

  // The destination the data plane writes for this mapping.
  [[nodiscard]] absl::StatusOr<IlaAddress> IlaDestination() const;
  friend bool operator==(const Mapping&, const Mapping&) = default;
};

// Checks a mapping on its own (not against table state): nonzero locator, supported identifier
// type, checksum-neutral constraints.
[[nodiscard]] absl::Status ValidateMapping(const Mapping& m);

class MappingTable {
 public:
  explicit MappingTable(std::shared_ptr<internal::DataplaneState> state);

  // Adds or replaces the mapping for m.sir. Refused: invalid mapping, SIR prefix not registered,
  // an ILA destination that another SIR address already maps to (ICMP errors could not be mapped
  // back), table full.
  [[nodiscard]] absl::Status Upsert(const Mapping& m);
  // All or nothing; duplicate SIR addresses within the batch are refused.
  [[nodiscard]] absl::Status UpsertBatch(std::span<const Mapping> batch);
  // Like Upsert, but AlreadyExists when sir already has a mapping (`ip route add` semantics).
  [[nodiscard]] absl::Status Add(const Mapping& m);
  // NotFound when there is no mapping for sir.
  [[nodiscard]] absl::Status Remove(const SirAddress& sir);
  [[nodiscard]] absl::Status RemoveBatch(std::span<const SirAddress> batch);
  [[nodiscard]] absl::StatusOr<Mapping> Get(const SirAddress& sir) const;
  [[nodiscard]] absl::StatusOr<std::vector<Mapping>> List() const;
  // Removes every mapping.
  [[nodiscard]] absl::Status Flush();

 private:
  absl::Status Write(std::span<const Mapping> batch, bool only_new);
  std::shared_ptr<internal::DataplaneState> state_;
  // How many entries the maps hold, as far as this table's own writes know (another process may
  // write pinned maps; a forwarding cache evicts): only decides whether a batch reads the whole
  // table or looks up each entry. Guarded by the state's writer mutex.
  size_t size_hint_ = 0;
};

// This host's locators and how arrivals on each are translated back (kernel equivalent:
// `ip ila add loc_match <locator> loc <sir_prefix> csum-mode <mode>`).
struct LocatorEntry {
  Locator locator;
  SirPrefix sir_prefix;
  ChecksumMode csum_mode = ChecksumMode::kNoAction;
  // The same host's re-forward locator for this one (routed to the same host; the same
  // one's-complement sum, so that every checksum delta holds for both). A host that re-forwards a
  // packet whose container moved sends it to the new host's re-forward locator, and what arrives
  // on one is delivered to a container there or dropped (drop_reforward_loop), never forwarded
  // again: hosts whose mappings disagree cannot bounce a packet. Without one, a re-forwarded
  // packet goes to the locator itself (and may be re-forwarded again).
  std::optional<Locator> reforward = std::nullopt;
  friend bool operator==(const LocatorEntry&, const LocatorEntry&) = default;
};

class LocatorTable {
 public:
  explicit LocatorTable(std::shared_ptr<internal::DataplaneState> state);
  [[nodiscard]] absl::Status Upsert(const LocatorEntry& entry);
  // Like Upsert, but AlreadyExists when the locator is registered (`ip ila add` semantics).
  [[nodiscard]] absl::Status Add(const LocatorEntry& entry);
  [[nodiscard]] absl::Status Remove(Locator locator);
  [[nodiscard]] absl::StatusOr<LocatorEntry> Get(Locator locator) const;
  [[nodiscard]] absl::StatusOr<std::vector<LocatorEntry>> List() const;

 private:
  absl::Status Write(const LocatorEntry& entry, bool only_new);
  std::shared_ptr<internal::DataplaneState> state_;
};

// The other hosts' locators, each with its SIR prefix and checksum mode: the cluster's locator
// table (ila-agent fills it). With it the data plane translates the quoted destination of an
// ICMPv6 error back to SIR even for a packet this host has no mapping for (the ILA router
// translated it): a Packet Too Big from the underlay reaches the sender's socket, and path MTU
// discovery keeps working. And a container that writes another host's ILA address itself is
// refused (drop_ila_destination), as for this host's own locators.
class ClusterLocatorTable {
 public:
  explicit ClusterLocatorTable(std::shared_ptr<internal::DataplaneState> state);
  // Refused: a zero locator, an unknown checksum mode, an unregistered SIR prefix, a locator of
  // this host (LocatorTable), a full table (DataplaneConfig::max_cluster_locators).
  [[nodiscard]] absl::Status Upsert(const LocatorEntry& entry);
  // NotFound when the locator is not in the table.
  [[nodiscard]] absl::Status Remove(Locator locator);
  [[nodiscard]] absl::StatusOr<std::vector<LocatorEntry>> List() const;

 private:
  std::shared_ptr<internal::DataplaneState> state_;
};

// A container on this host: the host-side interface of its veth pair, its SIR address (the only
// source it may use, and the destination delivered to it) and its MAC.
struct Endpoint {
  InterfaceIndex ifindex;
  SirAddress sir;
  MacAddress mac;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

class EndpointTable {
 public:
  explicit EndpointTable(std::shared_ptr<internal::DataplaneState> state);
  // Registers (or updates) a container; the interface must exist and the SIR prefix be registered.
  // The interface becomes a redirect target. Does not attach a program (Dataplane does that).
  [[nodiscard]] absl::Status Upsert(const Endpoint& ep);
  // The same, but AlreadyExists (nothing changed) when the SIR address has an endpoint already.
  [[nodiscard]] absl::Status Add(const Endpoint& ep);
  [[nodiscard]] absl::Status Remove(const SirAddress& sir);
  [[nodiscard]] absl::StatusOr<Endpoint> Get(const SirAddress& sir) const;
  [[nodiscard]] absl::StatusOr<std::vector<Endpoint>> List() const;

 private:
  absl::Status Write(const Endpoint& ep, bool only_new);
  std::shared_ptr<internal::DataplaneState> state_;
};

// The SIR prefixes this data plane translates; destinations outside them are ordinary traffic.
class SirPrefixTable {
 public:
  explicit SirPrefixTable(std::shared_ptr<internal::DataplaneState> state);
  // AlreadyExists (nothing changed) when the prefix is registered already.
  [[nodiscard]] absl::Status Add(SirPrefix prefix);
  // Registers the prefix unless it is registered already.
  [[nodiscard]] absl::Status Upsert(SirPrefix prefix);
  // Refused while mappings, endpoints, cluster locators or prefix rules name the prefix.
  [[nodiscard]] absl::Status Remove(SirPrefix prefix);
  [[nodiscard]] absl::StatusOr<std::vector<SirPrefix>> List() const;

 private:
  std::shared_ptr<internal::DataplaneState> state_;
};

// Two SIR prefixes whose containers may reach each other, both ways (the data plane keeps no
// connection state: replies must pass). Without a rule, a container's traffic stays within its own
// SIR prefix: a packet to another registered prefix, or to one of this host's locators, is dropped
// on its way out (drop_cross_prefix, drop_ila_destination), and an arrival from another
// registered prefix on its way in (drop_cross_prefix_arrival). See docs/security.md.
struct PrefixRule {
  SirPrefix a;
  SirPrefix b;
  // The same rule whichever way round it was written.
  friend bool operator==(const PrefixRule& x, const PrefixRule& y) {
    return (x.a == y.a && x.b == y.b) || (x.a == y.b && x.b == y.a);
  }
};

// The rules between SIR prefixes. Every host of a cluster needs the same rules: each end checks.
class PrefixRuleTable {
 public:
  explicit PrefixRuleTable(std::shared_ptr<internal::DataplaneState> state);
  // Links the two prefixes. Refused: the same prefix twice (a prefix always reaches itself), a
  // prefix that is not registered, a full table (DataplaneConfig::max_prefix_rules).
  // AlreadyExists (nothing changed) when the two are linked already.
  [[nodiscard]] absl::Status Add(const PrefixRule& rule);
  // The same, but linked already is no error.
  [[nodiscard]] absl::Status Upsert(const PrefixRule& rule);
  // NotFound when the two are not linked.
  [[nodiscard]] absl::Status Remove(const PrefixRule& rule);
  // Every rule once, with a < b, in order.
  [[nodiscard]] absl::StatusOr<std::vector<PrefixRule>> List() const;

 private:
  absl::Status Write(const PrefixRule& rule, bool only_new);
  std::shared_ptr<internal::DataplaneState> state_;
};

}  // namespace ila

#endif  // ILA_MAPPING_H_
