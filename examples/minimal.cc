// The smallest libila program: load the data plane, describe one virtual network, map two
// containers to two hosts' locators, and read it all back with the counters.
//
//   sudo ./build/examples/ila_minimal
//
// It attaches nothing, so it changes no interface; examples/two_host_demo shows traffic.
#include <cstdio>
#include <cstdlib>

#include "ila/dataplane.h"
#include "ila/translation.h"

namespace {

template <typename T>
T OrDie(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(v.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(v);
}

void OrDie(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
    std::exit(1);
  }
}

}  // namespace

int main() {
  auto dp = OrDie(ila::Dataplane::Create({}), "loading the ILA data plane");

  ila::SirPrefix sir = OrDie(ila::SirPrefix::Parse("3333:0:0:1::/64"), "SIR prefix");
  OrDie(dp->sir_prefixes().Add(sir), "adding the SIR prefix");

  // The kernel documentation's example: SIR 3333:0:0:1:2000:0:1:87 lives behind locator
  // 2001:0:87:0, checksum-neutral, identifier type read from the address.
  ila::Mapping web{
      .sir = OrDie(ila::SirAddress::Parse("3333:0:0:1:2000:0:1:87"), "SIR address"),
      .locator = OrDie(ila::Locator::Parse("2001:0:87:0"), "locator"),
      .csum_mode = ila::ChecksumMode::kNeutralMap,
      .ident_type = ila::IdentifierType::kUseFormat,
  };
  ila::Mapping db{
      .sir = OrDie(ila::SirAddress::Parse("3333:0:0:1:2000:0:2:5"), "SIR address"),
      .locator = OrDie(ila::Locator::Parse("2001:0:99:0"), "locator"),
      .csum_mode = ila::ChecksumMode::kAdjustTransport,
      .ident_type = ila::IdentifierType::kLuid,
  };
  OrDie(dp->mappings().UpsertBatch(std::vector{web, db}), "installing mappings");

  // A bad mapping is refused whole, with the reason.
  ila::Mapping bad = web;
  bad.sir = OrDie(ila::SirAddress::Parse("3333:0:0:1:3000:0:1:87"), "SIR address");
  absl::Status refused = dp->mappings().Upsert(bad);
  std::printf("refused as expected: %s\n\n", std::string(refused.message()).c_str());

  std::printf("%-28s %-16s %-18s %-10s %s\n", "SIR", "locator", "csum-mode", "ident",
              "ILA destination");
  for (const ila::Mapping& m : OrDie(dp->mappings().List(), "listing mappings")) {
    ila::IlaAddress ila = OrDie(m.IlaDestination(), "translating");
    std::printf("%-28s %-16s %-18s %-10s %s\n", m.sir.ToString().c_str(),
                m.locator.ToString().c_str(), std::string(ila::ToString(m.csum_mode)).c_str(),
                std::string(ila::ToString(m.ident_type)).c_str(), ila.ToString().c_str());
  }
  ila::Stats stats = OrDie(dp->ReadStats(), "reading counters");
  std::printf("\ncounters (%zu kinds, nothing attached yet):\n%s", stats.counters.size(),
              stats.ToText().c_str());
  return 0;
}
