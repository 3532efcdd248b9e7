// EndpointTable: local containers (slot table endpoint cells, sources, redirect targets).
#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/string_util.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"
#include "ila/translation.h"
#include "kernel/netlink.h"
#include "tables/table_util.h"

namespace ila {

using internal::DataplaneState;
using internal::FromAbi;
using internal::RequireSirPrefix;
using internal::ToAbi;

// ---------------------------------------------------------------------------------------------
// Endpoints

EndpointTable::EndpointTable(std::shared_ptr<DataplaneState> state) : state_(std::move(state)) {}

absl::Status EndpointTable::Add(const Endpoint& ep) { return Write(ep, true); }
absl::Status EndpointTable::Upsert(const Endpoint& ep) { return Write(ep, false); }

absl::Status EndpointTable::Write(const Endpoint& ep, bool only_new) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  if (ep.mac.IsZero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint ", ep.sir.ToString(), ": the container MAC is 00:00:00:00:00:00"));
  }
  if (ep.mac.bytes()[0] & 1) {  // the I/G bit: broadcast and multicast
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint ", ep.sir.ToString(), ": the container MAC ", ep.mac.ToString(), " is a ",
        ep.mac.bytes() == std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} ? "broadcast"
                                                                                     : "multicast",
        " address; a container needs a unicast MAC"));
  }
  const int ifindex = ep.ifindex.value();
  auto name = internal::InterfaceName(ifindex);
  if (!name.ok()) {
    return absl::NotFoundError(
        absl::StrCat("endpoint ", ep.sir.ToString(), ": ", name.status().message()));
  }
  if (absl::Status st =
          internal::RequireEthernet(ifindex, absl::StrCat("endpoint ", ep.sir.ToString()));
      !st.ok()) {
    return st;
  }
  auto host_mac = internal::InterfaceMac(ifindex);
  if (!host_mac.ok()) return host_mac.status();

  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = RequireSirPrefix(
          s, ep.sir.prefix, [&] { return absl::StrCat("endpoint ", ep.sir.ToString()); });
      !st.ok()) {
    return st;
  }
  abi::ila_endpoint_key key{ToAbi(ep.sir.address())};
  if (only_new) {
    auto existing = s.endpoints.Lookup(key);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return absl::AlreadyExistsError(
          absl::StrCat("SIR address ", ep.sir.ToString(), " has an endpoint already (on ifindex ",
                       (*existing)->ifindex, "); replace it with Upsert"));
    }
  }
  // The address may have had its endpoint on another interface: it moves here.
  auto before = s.endpoints.Lookup(key);
  if (!before.ok()) return before.status();

  if (absl::Status st = s.AddRedirectTargetLocked(ifindex); !st.ok()) return st;

  abi::ila_endpoint_value v{};
  v.ifindex = static_cast<uint32_t>(ifindex);
  std::memcpy(v.mac, ep.mac.bytes().data(), 6);
  std::memcpy(v.host_mac, host_mac->data(), 6);
  // The tc programs can hand a packet straight to the container's side of a veth pair.
  // (bpf_redirect_peer only crosses into another namespace: a peer in this one is a plain
  // redirect.)
  if (auto link = internal::GetLink(ifindex);
      link.ok() && link->kind == "veth" && link->peer_ifindex != 0 && link->peer_netnsid) {
    v.flags |= ILA_ENDPOINT_F_PEER;
  }
  if (absl::Status st = s.SetEndpointLocked(key, v); !st.ok()) return st;
  // An interface serves several addresses; each is checked in its own slot by the programs.
  s.RefreshSourceLocked(ifindex);
  if (before->has_value() && (*before)->ifindex != v.ifindex) {
    s.RefreshSourceLocked(static_cast<int>((*before)->ifindex));
  }
  return absl::OkStatus();
}

absl::Status EndpointTable::Remove(const SirAddress& sir) {
  internal::InDataplaneNetns in_netns(*state_);
  if (!in_netns.status().ok()) return in_netns.status();
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  abi::ila_endpoint_key key{ToAbi(sir.address())};
  auto v = s.endpoints.Lookup(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::NotFoundError(absl::StrCat("no endpoint ", sir.ToString()));
  if (absl::Status st = s.slot_table->ClearEndpoint(abi::ila_mapping_key{key.sir}); !st.ok()) {
    return st;
  }
  if (absl::Status st = s.endpoints.Delete(key); !st.ok()) return st;
  s.RefreshSourceLocked(static_cast<int>((*v)->ifindex));
  return s.DropRedirectTargetLocked(static_cast<int>((*v)->ifindex));
}

namespace {
Endpoint DecodeEndpoint(const abi::ila_endpoint_key& k, const abi::ila_endpoint_value& v) {
  std::array<uint8_t, 6> mac;
  std::memcpy(mac.data(), v.mac, 6);
  return {InterfaceIndex(static_cast<int>(v.ifindex)), SirAddress::From(FromAbi(k.sir)),
          MacAddress(mac)};
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
  std::sort(out.begin(), out.end(),
            [](const Endpoint& a, const Endpoint& b) { return a.sir < b.sir; });
  return out;
}

}  // namespace ila
