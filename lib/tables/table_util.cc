#include "tables/table_util.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/string_util.h"
#include "ila/translation.h"

namespace ila::internal {

absl::Status EncodeLocator(const LocatorEntry& e, std::string_view whose, abi::ila_locator_key& key,
                           abi::ila_locator_value& v) {
  if (e.locator.value() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("locator 0:0:0:0 cannot be ", std::string(whose), " locator"));
  }
  if (e.csum_mode != ChecksumMode::kNeutralMap && e.csum_mode != ChecksumMode::kNeutralMapAuto &&
      e.csum_mode != ChecksumMode::kNoAction && !IsAdjustTransport(e.csum_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("locator ", e.locator.ToString(),
                                                   ": unknown checksum mode ",
                                                   static_cast<int>(e.csum_mode)));
  }
  key = {};
  v = {};
  Put64(key.locator_be, e.locator.value());
  Put64(v.sir_prefix_be, e.sir_prefix.value());
  // ILA->SIR changes the address sum by (prefix - locator): adj-transport adds that to the
  // transport checksum; the neutral modes make the identifier absorb its inverse (and, for
  // neutral-map, the 0x1000 that clearing the C-bit removes).
  uint16_t back = OnesComplementDelta64(e.locator.value(), e.sir_prefix.value());
  uint16_t absorb = static_cast<uint16_t>(~back);
  v.csum_mode = static_cast<uint8_t>(e.csum_mode);
  if (e.csum_mode == ChecksumMode::kNeutralMap) {
    v.identifier_delta_be = ToWire16(OnesComplementAdd(absorb, 0x1000));
  } else if (e.csum_mode == ChecksumMode::kNeutralMapAuto) {
    v.identifier_delta_be = ToWire16(absorb);
  } else if (e.csum_mode == ChecksumMode::kAdjustTransport) {
    v.transport_delta_be = ToWire16(back);
  } else if (e.csum_mode == ChecksumMode::kAdjustTransportLinuxCompat) {
    v.transport_delta_be = ToWire16(static_cast<uint16_t>(~back));
  }
  return absl::OkStatus();
}

absl::Status EncodeReforward(const LocatorEntry& e, const abi::ila_locator_value& primary,
                             abi::ila_locator_key& key, abi::ila_locator_value& value) {
  const Locator r = *e.reforward;
  const std::string what =
      absl::StrCat("re-forward locator ", r.ToString(), " of locator ", e.locator.ToString());
  if (r.value() == 0 || r == e.locator) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": must be another locator (nonzero, not the locator itself)"));
  }
  // Equal sums (0x0000 and 0xffff are both zero in one's complement): the mapping's checksum
  // deltas, computed for the locator, hold for its re-forward locator too.
  const uint16_t delta = OnesComplementDelta64(e.locator.value(), r.value());
  if (delta != 0 && delta != 0xffff) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": the one's-complement sums of the two differ by 0x", absl::Hex(delta),
        "; a re-forward locator must have the locator's sum (e.g. add to one 16-bit word what "
        "you take from another)"));
  }
  key = {};
  Put64(key.locator_be, r.value());
  value = primary;
  value.flags = ILA_LOCATOR_F_REFORWARD;
  return absl::OkStatus();
}

absl::StatusOr<EncodedLocator> EncodeWithTwin(const LocatorEntry& e, std::string_view whose) {
  EncodedLocator out{};
  if (absl::Status st = EncodeLocator(e, whose, out.key, out.value); !st.ok()) return st;
  if (e.reforward) {
    if (absl::Status st = EncodeReforward(e, out.value, out.twin_key, out.twin_value); !st.ok()) {
      return st;
    }
  }
  return out;
}

LocatorEntry DecodeLocator(const abi::ila_locator_key& k, const abi::ila_locator_value& v) {
  return {Locator(Get64(k.locator_be)), SirPrefix(Get64(v.sir_prefix_be)),
          static_cast<ChecksumMode>(v.csum_mode), std::nullopt};
}

absl::StatusOr<LocatorUse> UseOf(const TypedMap<abi::ila_locator_key, abi::ila_locator_value>& map,
                                 const abi::ila_locator_key& key) {
  auto v = map.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return LocatorUse::kAbsent;
  return ((*v)->flags & ILA_LOCATOR_F_REFORWARD) ? LocatorUse::kReforward : LocatorUse::kPrimary;
}

namespace {

void SetFilterBit(abi::ila_locator_filter& f, const abi::ila_locator_key& key) {
  uint64_t word;
  std::memcpy(&word, key.locator_be, 8);  // as the programs load it
  const uint32_t bit = abi::ila_locator_filter_bit(word);
  f.words[(bit >> 6) % ILA_LOCATOR_FILTER_WORDS] |= uint64_t{1} << (bit & 63);
}

}  // namespace

absl::Status AddToLocatorFilter(DataplaneState& s, std::initializer_list<Locator> adding) {
  auto f = s.locator_filter.Lookup(0);
  if (!f.ok()) return f.status();
  abi::ila_locator_filter filter = f->value_or(abi::ila_locator_filter{});
  for (Locator l : adding) SetFilterBit(filter, LocatorKey(l));
  return s.locator_filter.Update(0, filter);
}

absl::Status RebuildLocatorFilter(DataplaneState& s) {
  abi::ila_locator_filter filter{};
  for (const auto* table : {&s.locators, &s.cluster_locators}) {
    auto all = table->Dump();
    if (!all.ok()) return all.status();
    for (const auto& [k, v] : *all) SetFilterBit(filter, k);
  }
  return s.locator_filter.Update(0, filter);
}

abi::ila_locator_key LocatorKey(Locator locator) {
  abi::ila_locator_key key{};
  Put64(key.locator_be, locator.value());
  return key;
}

absl::StatusOr<std::optional<Locator>> TwinOf(const DataplaneState& s,
                                              const abi::ila_locator_key& key) {
  auto twin = s.reforward_locators.Lookup(key);
  if (!twin.ok()) return twin.status();
  if (!twin->has_value()) return std::optional<Locator>();
  return std::optional<Locator>(Locator(Get64((*twin)->locator_be)));
}

absl::StatusOr<TwinChange> PlanTwin(
    const DataplaneState& s, const TypedMap<abi::ila_locator_key, abi::ila_locator_value>& table,
    const LocatorEntry& e, std::string_view what, std::string_view where) {
  const abi::ila_locator_key key = LocatorKey(e.locator);
  auto use = UseOf(table, key);
  if (!use.ok()) return use.status();
  if (*use == LocatorUse::kReforward) {
    return absl::FailedPreconditionError(absl::StrCat(std::string(what), " ", e.locator.ToString(),
                                                      " is the re-forward locator of another ",
                                                      std::string(what)));
  }
  TwinChange change;
  auto previous = TwinOf(s, key);
  if (!previous.ok()) return previous.status();
  change.previous = *previous;
  change.added = e.reforward && e.reforward != change.previous;
  if (change.added) {
    auto twin_use = UseOf(table, LocatorKey(*e.reforward));
    if (!twin_use.ok()) return twin_use.status();
    if (*twin_use != LocatorUse::kAbsent) {
      return absl::AlreadyExistsError(
          absl::StrCat("re-forward locator ", e.reforward->ToString(), " of ", std::string(what),
                       " ", e.locator.ToString(), " is already ", std::string(where)));
    }
  }
  return change;
}

absl::StatusOr<std::vector<LocatorEntry>> ListLocators(
    const TypedMap<abi::ila_locator_key, abi::ila_locator_value>& map,
    const TypedMap<abi::ila_locator_key, abi::ila_locator_key>& reforward) {
  auto all = map.Dump();
  if (!all.ok()) return all.status();
  std::vector<LocatorEntry> out;
  for (const auto& [k, v] : *all) {
    if (v.flags & ILA_LOCATOR_F_REFORWARD) continue;
    LocatorEntry e = DecodeLocator(k, v);
    auto twin = reforward.Lookup(k);
    if (!twin.ok()) return twin.status();
    if (twin->has_value()) e.reforward = Locator(Get64((*twin)->locator_be));
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(),
            [](const LocatorEntry& a, const LocatorEntry& b) { return a.locator < b.locator; });
  return out;
}

bool IsAdjustTransport(ChecksumMode m) {
  return m == ChecksumMode::kAdjustTransport || m == ChecksumMode::kAdjustTransportLinuxCompat;
}

absl::Status RequireSirPrefix(DataplaneState& s, SirPrefix prefix,
                              absl::FunctionRef<std::string()> what) {
  abi::ila_sir_prefix_key key{};
  internal::Put64(key.prefix_be, prefix.value());
  auto found = s.sir_prefixes.Lookup(key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Av(what()), ": SIR prefix ", prefix.ToString(),
                     " is not registered; add it first (SirPrefixTable::Add)"));
  }
  return absl::OkStatus();
}

absl::Status Encode(const Mapping& m, abi::ila_mapping_key& key, abi::ila_mapping_value& value,
                    abi::ila_addr& ila_key, abi::ila_reverse_value& reverse) {
  auto ila = m.IlaDestination();
  if (!ila.ok()) return ila.status();
  Ipv6Address sir = m.sir.address();
  Ipv6Address dst = ila->address();
  uint16_t sir_sum = OnesComplementSum(sir);
  uint16_t dst_sum = OnesComplementSum(dst);
  // One's-complement sum(to) - sum(from).
  uint16_t forward = OnesComplementAdd(dst_sum, static_cast<uint16_t>(~sir_sum));
  uint16_t back = OnesComplementAdd(sir_sum, static_cast<uint16_t>(~dst_sum));
  key.sir = ToAbi(sir);
  value = {};
  value.ila = ToAbi(dst);
  value.csum_mode = static_cast<uint8_t>(m.csum_mode);
  value.pad[0] = static_cast<uint8_t>(m.ident_type);
  if (m.csum_mode == ChecksumMode::kAdjustTransport) {
    value.transport_delta_be = internal::ToWire16(forward);
  } else if (m.csum_mode == ChecksumMode::kAdjustTransportLinuxCompat) {
    value.transport_delta_be = internal::ToWire16(static_cast<uint16_t>(~forward));
  }
  ila_key = value.ila;
  reverse = {};
  reverse.sir = key.sir;
  reverse.address_delta_be = internal::ToWire16(back);
  reverse.csum_mode = static_cast<uint8_t>(m.csum_mode);
  return absl::OkStatus();
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

bool StillMapsTo(const DataplaneState& s, const abi::ila_addr& sir, const abi::ila_addr& ila) {
  auto m = s.mappings.Lookup(abi::ila_mapping_key{sir});
  return m.ok() && m->has_value() && SameAddr((*m)->ila, ila);
}

}  // namespace ila::internal
