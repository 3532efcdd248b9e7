// MappingTable, LocatorTable, EndpointTable, SirPrefixTable: validation, then map writes.
#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "dataplane_state.h"
#include "ila/mapping.h"
#include "ila/translation.h"
#include "netlink.h"
#include "string_util.h"

namespace ila {

using internal::Av;
using internal::DataplaneState;
using internal::FromAbi;
using internal::ToAbi;

namespace {

bool IsAdjustTransport(ChecksumMode m) {
  return m == ChecksumMode::kAdjustTransport || m == ChecksumMode::kAdjustTransportLinuxCompat;
}

// One's-complement sum(to) - sum(from) over two addresses.
uint16_t AddressDelta(const Ipv6Address& from, const Ipv6Address& to) {
  return OnesComplementAdd(OnesComplementSum(to), static_cast<uint16_t>(~OnesComplementSum(from)));
}

absl::Status RequireSirPrefix(DataplaneState& s, SirPrefix prefix, std::string_view what)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  auto found = s.sir_prefixes.Lookup(key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Av(what), ": SIR prefix ", prefix.ToString(),
                     " is not registered; add it first (SirPrefixTable::Add)"));
  }
  return absl::OkStatus();
}

struct MappingEntry {
  abi::ila_mapping_key key;
  abi::ila_mapping_value value;
  abi::ila_addr ila_key;
  abi::ila_reverse_value reverse;
};

absl::StatusOr<MappingEntry> Encode(const Mapping& m) {
  auto ila = m.IlaDestination();
  if (!ila.ok()) return ila.status();
  Ipv6Address sir = m.sir.address();
  Ipv6Address dst = ila->address();
  MappingEntry e{};
  e.key.sir = ToAbi(sir);
  e.value.ila = ToAbi(dst);
  e.value.csum_mode = static_cast<uint8_t>(m.csum_mode);
  e.value.pad[0] = static_cast<uint8_t>(m.ident_type);
  uint16_t forward = AddressDelta(sir, dst);
  if (m.csum_mode == ChecksumMode::kAdjustTransport) {
    e.value.transport_delta_be = internal::ToWire16(forward);
  } else if (m.csum_mode == ChecksumMode::kAdjustTransportLinuxCompat) {
    e.value.transport_delta_be = internal::ToWire16(static_cast<uint16_t>(~forward));
  }
  e.ila_key = ToAbi(dst);
  e.reverse.sir = ToAbi(sir);
  e.reverse.address_delta_be = internal::ToWire16(AddressDelta(dst, sir));
  e.reverse.csum_mode = static_cast<uint8_t>(m.csum_mode);
  return e;
}

Mapping Decode(const abi::ila_mapping_key& k, const abi::ila_mapping_value& v) {
  Mapping m;
  m.sir = SirAddress::From(FromAbi(k.sir));
  m.locator = Locator(FromAbi(v.ila).high64());
  m.csum_mode = static_cast<ChecksumMode>(v.csum_mode);
  m.ident_type = static_cast<IdentifierType>(v.pad[0]);
  return m;
}

bool SameAddr(const abi::ila_addr& a, const abi::ila_addr& b) {
  return std::memcmp(a.bytes, b.bytes, sizeof(a.bytes)) == 0;
}

// Whether `sir` is still mapped to `ila`: a reverse entry can outlive its mapping when a forwarding
// cache evicts the mapping, and such a stale entry must not block anyone.
bool StillMapsTo(const DataplaneState& s, const abi::ila_addr& sir, const abi::ila_addr& ila) {
  auto m = s.mappings.Lookup(abi::ila_mapping_key{sir});
  return m.ok() && m->has_value() && SameAddr((*m)->ila, ila);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Mapping

absl::StatusOr<IlaAddress> Mapping::IlaDestination() const {
  if (absl::Status s = ValidateMapping(*this); !s.ok()) return s;
  return SirToIla(sir, locator, csum_mode);
}

absl::Status ValidateMapping(const Mapping& m) {
  auto where = [&] { return absl::StrCat("mapping ", m.sir.ToString(), " -> ", m.locator.ToString()); };
  if (m.locator.value() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": the locator is zero"));
  }
  switch (m.csum_mode) {
    case ChecksumMode::kAdjustTransport:
    case ChecksumMode::kNeutralMap:
    case ChecksumMode::kNeutralMapAuto:
    case ChecksumMode::kNoAction:
    case ChecksumMode::kAdjustTransportLinuxCompat:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": unknown checksum mode ", static_cast<int>(m.csum_mode)));
  }
  IdentifierType effective = m.ident_type;
  if (m.ident_type == IdentifierType::kUseFormat) effective = m.sir.identifier.format_type();
  if (effective != IdentifierType::kLuid) {
    std::string how = m.ident_type == IdentifierType::kUseFormat
                          ? absl::StrCat("use-format reads identifier type ",
                                         Av(ToString(effective)), " from the address")
                          : absl::StrCat("identifier type ", Av(ToString(effective)));
    return absl::InvalidArgumentError(absl::StrCat(
        where(), ": ", how,
        ", but only luid identifiers can be translated (as in Linux's ILA); use ident-type luid"));
  }
  if (absl::Status s = IsNeutralMappable(m.sir, m.csum_mode); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": ", s.message()));
  }
  return absl::OkStatus();
}

MappingTable::MappingTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status MappingTable::Upsert(const Mapping& m) { return Write(std::span(&m, 1), false); }
absl::Status MappingTable::Add(const Mapping& m) { return Write(std::span(&m, 1), true); }
absl::Status MappingTable::UpsertBatch(std::span<const Mapping> batch) { return Write(batch, false); }

absl::Status MappingTable::Write(std::span<const Mapping> batch, bool only_new) {
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);

  // 1. Validate everything before writing anything.
  std::vector<MappingEntry> entries;
  entries.reserve(batch.size());
  absl::flat_hash_map<Ipv6Address, size_t> seen_sir;
  absl::flat_hash_map<Ipv6Address, size_t> seen_ila;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Mapping& m = batch[i];
    auto label = [&] { return batch.size() > 1 ? absl::StrCat("batch entry ", i, ": ") : std::string(); };
    auto e = Encode(m);
    if (!e.ok()) return absl::Status(e.status().code(), absl::StrCat(label(), e.status().message()));
    if (absl::Status st = RequireSirPrefix(s, m.sir.prefix, absl::StrCat("mapping ", m.sir.ToString()));
        !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(label(), st.message()));
    }
    auto [it, fresh] = seen_sir.emplace(m.sir.address(), i);
    if (!fresh) {
      return absl::InvalidArgumentError(absl::StrCat(label(), "SIR address ", m.sir.ToString(),
                                                     " appears twice in the batch (also entry ",
                                                     it->second, ")"));
    }
    Ipv6Address ila = FromAbi(e->ila_key);
    auto [jt, fresh_ila] = seen_ila.emplace(ila, i);
    if (!fresh_ila) {
      return absl::InvalidArgumentError(absl::StrCat(
          label(), "ILA address ", ila.ToString(), " would be the destination of both ",
          m.sir.ToString(), " and ", batch[jt->second].sir.ToString()));
    }
    auto owner = s.reverse.Lookup(e->ila_key);
    if (!owner.ok()) return owner.status();
    if (owner->has_value() && !SameAddr((*owner)->sir, e->key.sir) &&
        StillMapsTo(s, (*owner)->sir, e->ila_key)) {
      // The other SIR keeps that ILA address unless this same batch maps it elsewhere.
      Ipv6Address other = FromAbi((*owner)->sir);
      bool remapped = false;
      for (const Mapping& b : batch) {
        if (b.sir.address() != other) continue;
        auto be = Encode(b);
        remapped = be.ok() && !SameAddr(be->ila_key, e->ila_key);
      }
      if (!remapped) {
        return absl::AlreadyExistsError(absl::StrCat(
            label(), "ILA address ", ila.ToString(), " is already the destination of ",
            other.ToString(), "; two SIR addresses cannot share one ILA address"));
      }
    }
    entries.push_back(*e);
  }
  if (entries.empty()) return absl::OkStatus();

  // 2. Remember what is there now, so that a kernel failure part-way can be undone.
  std::vector<std::optional<abi::ila_mapping_value>> previous;
  previous.reserve(entries.size());
  for (const MappingEntry& e : entries) {
    auto old = s.mappings.Lookup(e.key);
    if (!old.ok()) return old.status();
    if (only_new && old->has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "SIR address ", FromAbi(e.key.sir).ToString(), " already has a mapping (to ",
          Locator(FromAbi((*old)->ila).high64()).ToString(), "); replace it with Upsert"));
    }
    previous.push_back(*old);
  }

  std::vector<abi::ila_mapping_key> keys;
  std::vector<abi::ila_mapping_value> values;
  std::vector<abi::ila_addr> rkeys;
  std::vector<abi::ila_reverse_value> rvalues;
  for (const MappingEntry& e : entries) {
    keys.push_back(e.key);
    values.push_back(e.value);
    rkeys.push_back(e.ila_key);
    rvalues.push_back(e.reverse);
  }

  // 3. Reverse entries first (an ICMP error can only quote a destination already written), then
  // the mappings; undo on failure.
  uint32_t applied = 0;
  absl::Status st = s.reverse.UpdateBatch(rkeys, rvalues, &applied);
  if (!st.ok()) {
    for (uint32_t i = 0; i < applied; ++i) (void)s.reverse.Delete(rkeys[i]);
    return st;
  }
  st = s.mappings.UpdateBatch(keys, values, &applied);
  if (!st.ok()) {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i < applied) {
        if (previous[i]) (void)s.mappings.Update(keys[i], *previous[i]);
        else (void)s.mappings.Delete(keys[i]);
      }
      bool was_own = previous[i] && SameAddr(previous[i]->ila, rkeys[i]);
      if (!was_own) (void)s.reverse.Delete(rkeys[i]);
    }
    return st;
  }
  // 4. Reverse entries of destinations no longer used.
  for (size_t i = 0; i < entries.size(); ++i) {
    if (previous[i] && !SameAddr(previous[i]->ila, rkeys[i])) {
      auto owner = s.reverse.Lookup(previous[i]->ila);
      if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, keys[i].sir)) {
        (void)s.reverse.Delete(previous[i]->ila);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status MappingTable::Remove(const SirAddress& sir) { return RemoveBatch(std::span(&sir, 1)); }

absl::Status MappingTable::RemoveBatch(std::span<const SirAddress> batch) {
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  std::vector<abi::ila_mapping_key> keys;
  std::vector<abi::ila_mapping_value> olds;
  absl::flat_hash_set<Ipv6Address> seen;
  for (const SirAddress& sir : batch) {
    if (!seen.insert(sir.address()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("SIR address ", sir.ToString(), " appears twice in the batch"));
    }
    abi::ila_mapping_key key{ToAbi(sir.address())};
    auto old = s.mappings.Lookup(key);
    if (!old.ok()) return old.status();
    if (!old->has_value()) {
      return absl::NotFoundError(absl::StrCat("no mapping for ", sir.ToString()));
    }
    keys.push_back(key);
    olds.push_back(**old);
  }
  if (keys.empty()) return absl::OkStatus();
  uint32_t applied = 0;
  absl::Status st = s.mappings.DeleteBatch(keys, &applied);
  if (!st.ok()) {
    for (uint32_t i = 0; i < applied; ++i) (void)s.mappings.Update(keys[i], olds[i]);
    return st;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto owner = s.reverse.Lookup(olds[i].ila);
    if (owner.ok() && owner->has_value() && SameAddr((*owner)->sir, keys[i].sir)) {
      (void)s.reverse.Delete(olds[i].ila);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Mapping> MappingTable::Get(const SirAddress& sir) const {
  abi::ila_mapping_key key{ToAbi(sir.address())};
  auto v = state_->mappings.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no mapping for ", sir.ToString()));
  return Decode(key, **v);
}

absl::StatusOr<std::vector<Mapping>> MappingTable::List() const {
  auto all = state_->mappings.Dump();
  if (!all.ok()) return all.status();
  std::vector<Mapping> out;
  out.reserve(all->size());
  for (const auto& [k, v] : *all) out.push_back(Decode(k, v));
  std::sort(out.begin(), out.end(),
            [](const Mapping& a, const Mapping& b) { return a.sir < b.sir; });
  return out;
}

absl::Status MappingTable::Flush() {
  auto all = List();
  if (!all.ok()) return all.status();
  std::vector<SirAddress> sirs;
  for (const Mapping& m : *all) sirs.push_back(m.sir);
  return RemoveBatch(sirs);
}

// ---------------------------------------------------------------------------------------------
// Locators

LocatorTable::LocatorTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status LocatorTable::Upsert(const LocatorEntry& e) { return Write(e, false); }
absl::Status LocatorTable::Add(const LocatorEntry& e) { return Write(e, true); }

absl::Status LocatorTable::Write(const LocatorEntry& e, bool only_new) {
  if (e.locator.value() == 0) {
    return absl::InvalidArgumentError("locator 0:0:0:0 cannot be a host's locator");
  }
  if (e.csum_mode == ChecksumMode::kNeutralMap || e.csum_mode == ChecksumMode::kNeutralMapAuto ||
      e.csum_mode == ChecksumMode::kNoAction || IsAdjustTransport(e.csum_mode)) {
  } else {
    return absl::InvalidArgumentError(absl::StrCat("locator ", e.locator.ToString(),
                                                   ": unknown checksum mode ",
                                                   static_cast<int>(e.csum_mode)));
  }
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  if (absl::Status st = RequireSirPrefix(s, e.sir_prefix, absl::StrCat("locator ", e.locator.ToString()));
      !st.ok()) {
    return st;
  }
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, e.locator.value());
  abi::ila_locator_value v{};
  internal::Put64(v.sir_prefix_be, e.sir_prefix.value());
  // ILA->SIR changes the address sum by (prefix - locator): adj-transport adds that to the
  // transport checksum; the neutral modes make the identifier absorb its inverse (and, for
  // neutral-map, the 0x1000 that clearing the C-bit removes).
  uint16_t back = OnesComplementDelta64(e.locator.value(), e.sir_prefix.value());
  uint16_t absorb = static_cast<uint16_t>(~back);
  v.csum_mode = static_cast<uint8_t>(e.csum_mode);
  if (e.csum_mode == ChecksumMode::kNeutralMap) {
    v.identifier_delta_be = internal::ToWire16(OnesComplementAdd(absorb, 0x1000));
  } else if (e.csum_mode == ChecksumMode::kNeutralMapAuto) {
    v.identifier_delta_be = internal::ToWire16(absorb);
  } else if (e.csum_mode == ChecksumMode::kAdjustTransport) {
    v.transport_delta_be = internal::ToWire16(back);
  } else if (e.csum_mode == ChecksumMode::kAdjustTransportLinuxCompat) {
    v.transport_delta_be = internal::ToWire16(static_cast<uint16_t>(~back));
  }
  absl::Status st = s.locators.Update(key, v, only_new ? BPF_NOEXIST : BPF_ANY);
  if (only_new && !st.ok()) {
    auto existing = s.locators.Lookup(key);
    if (existing.ok() && existing->has_value()) {
      return absl::AlreadyExistsError(absl::StrCat("locator ", e.locator.ToString(),
                                                   " is already registered; replace it with Upsert"));
    }
  }
  return st;
}

absl::Status LocatorTable::Remove(Locator locator) {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  absl::MutexLock lock(&state_->mu);
  absl::Status st = state_->locators.Delete(key);
  if (absl::IsNotFound(st)) {
    return absl::NotFoundError(absl::StrCat("locator ", locator.ToString(), " is not registered"));
  }
  return st;
}

namespace {
LocatorEntry DecodeLocator(const abi::ila_locator_key& k, const abi::ila_locator_value& v) {
  return {Locator(internal::Get64(k.locator_be)), SirPrefix(internal::Get64(v.sir_prefix_be)),
          static_cast<ChecksumMode>(v.csum_mode)};
}
}  // namespace

absl::StatusOr<LocatorEntry> LocatorTable::Get(Locator locator) const {
  abi::ila_locator_key key{};
  internal::Put64(key.locator_be, locator.value());
  auto v = state_->locators.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) {
    return absl::NotFoundError(absl::StrCat("locator ", locator.ToString(), " is not registered"));
  }
  return DecodeLocator(key, **v);
}

absl::StatusOr<std::vector<LocatorEntry>> LocatorTable::List() const {
  auto all = state_->locators.Dump();
  if (!all.ok()) return all.status();
  std::vector<LocatorEntry> out;
  for (const auto& [k, v] : *all) out.push_back(DecodeLocator(k, v));
  std::sort(out.begin(), out.end(),
            [](const LocatorEntry& a, const LocatorEntry& b) { return a.locator < b.locator; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Endpoints

EndpointTable::EndpointTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status EndpointTable::Upsert(const Endpoint& ep) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  if (ep.mac.IsZero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint ", ep.sir.ToString(), ": the container MAC is 00:00:00:00:00:00"));
  }
  auto name = internal::InterfaceName(ep.ifindex);
  if (!name.ok()) {
    return absl::NotFoundError(absl::StrCat("endpoint ", ep.sir.ToString(), ": ",
                                            name.status().message()));
  }
  auto host_mac = internal::InterfaceMac(ep.ifindex);
  if (!host_mac.ok()) return host_mac.status();

  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  if (absl::Status st = RequireSirPrefix(s, ep.sir.prefix, absl::StrCat("endpoint ", ep.sir.ToString()));
      !st.ok()) {
    return st;
  }
  abi::ila_endpoint_key key{ToAbi(ep.sir.address())};
  abi::ila_source_key skey{static_cast<uint32_t>(ep.ifindex)};
  // The interface may have served another SIR address before: that registration ends.
  auto old_source = s.sources.Lookup(skey);
  if (!old_source.ok()) return old_source.status();

  if (absl::Status st = s.AddRedirectTargetLocked(ep.ifindex); !st.ok()) return st;

  abi::ila_endpoint_value v{};
  v.ifindex = static_cast<uint32_t>(ep.ifindex);
  std::memcpy(v.mac, ep.mac.bytes().data(), 6);
  std::memcpy(v.host_mac, host_mac->data(), 6);
  if (absl::Status st = s.endpoints.Update(key, v); !st.ok()) return st;
  if (absl::Status st = s.sources.Update(skey, abi::ila_source_value{key.sir}); !st.ok()) {
    (void)s.endpoints.Delete(key);
    return st;
  }
  if (old_source->has_value() && !SameAddr((*old_source)->sir, key.sir)) {
    (void)s.endpoints.Delete(abi::ila_endpoint_key{(*old_source)->sir});
  }
  return absl::OkStatus();
}

absl::Status EndpointTable::Remove(const SirAddress& sir) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  abi::ila_endpoint_key key{ToAbi(sir.address())};
  auto v = s.endpoints.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no endpoint ", sir.ToString()));
  if (absl::Status st = s.endpoints.Delete(key); !st.ok()) return st;
  abi::ila_source_key skey{(*v)->ifindex};
  auto src = s.sources.Lookup(skey);
  if (src.ok() && src->has_value() && SameAddr((*src)->sir, key.sir)) (void)s.sources.Delete(skey);
  return s.DropRedirectTargetLocked(static_cast<int>((*v)->ifindex));
}

namespace {
Endpoint DecodeEndpoint(const abi::ila_endpoint_key& k, const abi::ila_endpoint_value& v) {
  std::array<uint8_t, 6> mac;
  std::memcpy(mac.data(), v.mac, 6);
  return {static_cast<int>(v.ifindex), SirAddress::From(FromAbi(k.sir)), MacAddress(mac)};
}
}  // namespace

absl::StatusOr<Endpoint> EndpointTable::Get(const SirAddress& sir) const {
  abi::ila_endpoint_key key{ToAbi(sir.address())};
  auto v = state_->endpoints.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no endpoint ", sir.ToString()));
  return DecodeEndpoint(key, **v);
}

absl::StatusOr<std::vector<Endpoint>> EndpointTable::List() const {
  auto all = state_->endpoints.Dump();
  if (!all.ok()) return all.status();
  std::vector<Endpoint> out;
  for (const auto& [k, v] : *all) out.push_back(DecodeEndpoint(k, v));
  std::sort(out.begin(), out.end(), [](const Endpoint& a, const Endpoint& b) { return a.sir < b.sir; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// SIR prefixes

SirPrefixTable::SirPrefixTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status SirPrefixTable::Add(SirPrefix prefix) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  absl::MutexLock lock(&state_->mu);
  return state_->sir_prefixes.Update(key, abi::ila_sir_prefix_value{});
}

absl::Status SirPrefixTable::Remove(SirPrefix prefix) {
  DataplaneState& s = *state_;
  absl::MutexLock lock(&s.mu);
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  auto mappings = s.mappings.Dump();
  if (!mappings.ok()) return mappings.status();
  for (const auto& [k, v] : *mappings) {
    if (FromAbi(k.sir).high64() == prefix.value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SIR prefix ", prefix.ToString(), " is still used by the mapping for ",
                       FromAbi(k.sir).ToString(), "; remove its mappings first"));
    }
  }
  auto endpoints = s.endpoints.Dump();
  if (!endpoints.ok()) return endpoints.status();
  for (const auto& [k, v] : *endpoints) {
    if (FromAbi(k.sir).high64() == prefix.value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SIR prefix ", prefix.ToString(), " is still used by endpoint ",
                       FromAbi(k.sir).ToString(), "; remove it first"));
    }
  }
  absl::Status st = s.sir_prefixes.Delete(key);
  if (absl::IsNotFound(st)) {
    return absl::NotFoundError(absl::StrCat("SIR prefix ", prefix.ToString(), " is not registered"));
  }
  return st;
}

absl::StatusOr<std::vector<SirPrefix>> SirPrefixTable::List() const {
  auto all = state_->sir_prefixes.Dump();
  if (!all.ok()) return all.status();
  std::vector<SirPrefix> out;
  for (const auto& [k, v] : *all) out.push_back(SirPrefix(internal::Get64(k.prefix_be)));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ila
