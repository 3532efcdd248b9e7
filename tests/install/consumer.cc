// An out-of-tree program built against an installed libila (tests/install/run_consumers.cmake
// builds it twice: with find_package(ila) and with pkg-config). It translates the kernel
// documentation's example, which needs no privileges; with --load it also loads the data plane,
// so the link pulls in everything Dataplane needs (libbpf, libxdp, Abseil).
#include <cstdio>
#include <cstring>
#include <string>

#include "ila/dataplane.h"
#include "ila/translation.h"
#include "ila/types.h"

int main(int argc, char** argv) {
  auto prefix = ila::SirPrefix::Parse("3333:0:0:1::/64");
  auto sir = ila::SirAddress::Parse("3333:0:0:1:2000:0:1:87");
  auto locator = ila::Locator::Parse("2001:0:87:0");
  if (!prefix.ok() || !sir.ok() || !locator.ok()) {
    std::fprintf(stderr, "parse failed\n");
    return 1;
  }
  auto ila = ila::SirToIla(*sir, *locator, ila::ChecksumMode::kNeutralMap);
  if (!ila.ok()) {
    std::fprintf(stderr, "SirToIla: %s\n", std::string(ila.status().message()).c_str());
    return 1;
  }
  std::printf("%s in %s -> %s\n", sir->ToString().c_str(), prefix->ToString().c_str(),
              ila->ToString().c_str());
  if (ila->ToString() != "2001:0:87:0:3000:0:1:333") return 1;
  if (argc > 1 && std::strcmp(argv[1], "--load") == 0) {
    auto dp = ila::Dataplane::Create({});
    std::printf("Dataplane::Create: %s\n",
                dp.ok() ? "ok" : std::string(dp.status().message()).c_str());
    return dp.ok() ? 0 : 1;
  }
  return 0;
}
