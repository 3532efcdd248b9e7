// ilactl's pieces: global options, the instance it works on, and one handler per object.
//
// Every handler parses and checks all of its words before it opens the instance or changes
// anything, so bad input applies nothing. Handlers append their output to `out`; main prints it
// only when the handler succeeded (stdout stays empty on error) and prints the error as one line
// on stderr.
#ifndef ILA_TOOLS_ILACTL_H_
#define ILA_TOOLS_ILACTL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "args.h"
#include "ila/dataplane.h"
#include "json_writer.h"

namespace ilactl {

struct Options {
  std::string root = "/sys/fs/bpf/ila";
  std::string instance;  // empty: the library's default (per network namespace)
  bool json = false;
  bool pretty = false;
  bool details = false;
  bool stats = false;
};

struct Context {
  Options options;
  std::string out;

  JsonWriter Json() const { return JsonWriter(options.pretty); }
  ila::PinLocation where() const { return {options.root, options.instance}; }
  // Adopts the running instance (ila::Dataplane::Open); the error says how to create one.
  absl::StatusOr<std::unique_ptr<ila::Dataplane>> Open() const;
};

// Objects.
absl::Status CmdCreate(Context& ctx, Args& args);
absl::Status CmdDestroy(Context& ctx, Args& args);
absl::Status CmdStatus(Context& ctx, Args& args);
absl::Status CmdStats(Context& ctx, Args& args);
absl::Status CmdUpgrade(Context& ctx, Args& args);
// Runs until SIGINT/SIGTERM, keeping the instance's next-hop cache; prints each change of state.
absl::Status CmdKeep(Context& ctx, Args& args);
absl::Status CmdAttach(Context& ctx, Args& args);
absl::Status CmdDetach(Context& ctx, Args& args);
absl::Status CmdPrefix(Context& ctx, Args& args);
absl::Status CmdLocator(Context& ctx, Args& args);
absl::Status CmdCluster(Context& ctx, Args& args);
absl::Status CmdMap(Context& ctx, Args& args);
absl::Status CmdEndpoint(Context& ctx, Args& args);
// The kernel's grammar: `ip -6 route ... encap ila ...` and `ip ila ...`.
absl::Status CmdRoute(Context& ctx, Args& args);
absl::Status CmdIla(Context& ctx, Args& args);
// The kernel feature probe (ila/kernel_probe.h); needs no instance.
absl::Status CmdProbe(Context& ctx, Args& args);

// Usage text of the whole tool.
std::string Usage();

// Shared helpers (table_common.cc).
// The interface index of `name` in this network namespace, or an error naming it.
absl::StatusOr<ila::InterfaceIndex> IndexOfInterface(const Args& args, const std::string& name);
// The interface name of `ifindex`, or "" when it has none here.
std::string InterfaceName(ila::InterfaceIndex ifindex);
// Refuses (naming `what` and the hint to add it) unless `prefix` is registered.
absl::Status RequirePrefix(ila::Dataplane& dp, ila::SirPrefix prefix, std::string_view what,
                           std::string_view command);
// Text of a duration such as "1s", "250ms", "0".
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace ilactl

#endif  // ILA_TOOLS_ILACTL_H_
