// What ilactl's table objects (prefix, locator, map, endpoint, route, ila) share: verbs, the
// keyword parsers of checksum mode and identifier type, and the printers of each table.
#ifndef ILA_TOOLS_ILACTL_TABLE_COMMON_H_
#define ILA_TOOLS_ILACTL_TABLE_COMMON_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ila/mapping.h"
#include "ilactl.h"

namespace ilactl {

using ila::ChecksumMode;
using ila::IdentifierType;
using ila::LocatorEntry;
using ila::Mapping;

enum Verb { kAdd, kDel, kShow, kFlush };

// Prefixes an error with the command it came from.
absl::Status WithCommand(const absl::Status& st, std::string_view command);

template <typename T>
absl::StatusOr<T> ParseWord(Args& args, std::string_view what,
                            absl::StatusOr<T> (*parse)(std::string_view)) {
  auto word = args.Need(what);
  if (!word.ok()) return word.status();
  auto v = parse(*word);
  if (!v.ok()) return args.Invalid(v.status());
  return *v;
}

// "<table> del KEY": one key, then the table's removal (the same shape for every table).
template <typename Key>
absl::Status DeleteOne(Context& ctx, Args& args, const char* command, const char* usage,
                       const char* what, absl::StatusOr<Key> (*parse)(std::string_view),
                       const std::function<absl::Status(ila::Dataplane&, const Key&)>& remove) {
  args.set_command(command, usage);
  auto key = ParseWord<Key>(args, what, parse);
  if (!key.ok()) return key.status();
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  return WithCommand(remove(**dp, *key), command);
}

// "<table> show [KEY]": the one entry asked for, or all of them.
template <typename Key, typename Entry>
absl::StatusOr<std::vector<Entry>> ShowOneOrAll(
    Context& ctx, Args& args, const char* command, const char* usage, const char* what,
    absl::StatusOr<Key> (*parse)(std::string_view),
    const std::function<absl::StatusOr<Entry>(ila::Dataplane&, const Key&)>& get,
    const std::function<absl::StatusOr<std::vector<Entry>>(ila::Dataplane&)>& list) {
  args.set_command(command, usage);
  std::optional<Key> one;
  if (!args.done()) {
    auto key = ParseWord<Key>(args, what, parse);
    if (!key.ok()) return key.status();
    one = *key;
  }
  if (absl::Status st = args.ExpectEnd(); !st.ok()) return st;
  auto dp = ctx.Open();
  if (!dp.ok()) return dp.status();
  if (!one) return list(**dp);
  auto e = get(**dp, *one);
  if (!e.ok()) return WithCommand(e.status(), command);
  return std::vector<Entry>{*e};
}

// The verb; no words at all means show, as `ip route` means `ip route show`.
absl::StatusOr<int> TakeVerb(Args& args, std::string_view object, bool with_flush);

absl::StatusOr<ChecksumMode> ParseCsum(Args& args);

absl::StatusOr<IdentifierType> ParseIdentType(Args& args);

std::string IlaText(const Mapping& m);

void PrintMappings(Context& ctx, const std::vector<Mapping>& list);

// `ip -6 route show`'s form of a mapping.
void PrintRoutes(Context& ctx, const std::vector<Mapping>& list);

// Locator entries, with `ip -j ila list`'s keys: locator_match is this host's locator, locator
// the SIR prefix that arrivals are translated back to.
void PrintLocators(Context& ctx, const std::vector<LocatorEntry>& list, bool ip_form);

void PrintEndpoints(Context& ctx, const std::vector<ila::Endpoint>& list);

void PrintPrefixes(Context& ctx, const std::vector<ila::SirPrefix>& list);

// Registers `prefix` when it is not yet (the kernel's grammar has no SIR prefix table); sets
// *added so that the caller can undo it if the rest fails.
absl::Status EnsurePrefix(ila::Dataplane& dp, ila::SirPrefix prefix, bool* added);

// Words of `ip route` and `ip ila` that libila has no equivalent for, with the reason.
std::optional<std::string> NoEquivalent(std::string_view word);

}  // namespace ilactl

#endif  // ILA_TOOLS_ILACTL_TABLE_COMMON_H_
