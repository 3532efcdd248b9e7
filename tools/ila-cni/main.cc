// ila-cni: the CNI plugin that puts containers on the ILA overlay (docs/cni.md). The runtime
// runs it with CNI_* in the environment and the network configuration on stdin; it prints a
// result or an error object on stdout.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "commands.h"

int main() {
  const std::string input(std::istreambuf_iterator<char>(std::cin), {});
  const ila::cni::Outcome outcome = ila::cni::Run(
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      input);
  std::fputs(outcome.output.c_str(), stdout);
  return outcome.exit_code;
}
