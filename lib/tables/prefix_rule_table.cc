// PrefixRuleTable: the pairs of SIR prefixes whose containers may reach each other. Each rule is
// two entries of ila_prefix_rules, (a, b) and (b, a), so that the programs answer it with one
// lookup by (source prefix, destination prefix); both are written or neither.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/dataplane_state.h"
#include "ila/mapping.h"
#include "tables/table_util.h"

namespace ila {

using internal::DataplaneState;

namespace {

abi::ila_prefix_rule_key KeyOf(SirPrefix from, SirPrefix to) {
  abi::ila_prefix_rule_key key{};
  internal::Put64(key.from_be, from.value());
  internal::Put64(key.to_be, to.value());
  return key;
}

std::string Text(const PrefixRule& rule) {
  return absl::StrCat(rule.a.ToString(), " <-> ", rule.b.ToString());
}

// Both prefixes registered and different. Called with the writers' lock held.
absl::Status Validate(const DataplaneState& s, const PrefixRule& rule) {
  if (rule.a == rule.b) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefix rule ", Text(rule), ": a SIR prefix always reaches itself; name two prefixes"));
  }
  for (SirPrefix p : {rule.a, rule.b}) {
    abi::ila_sir_prefix_key key{};
    internal::Put64(key.prefix_be, p.value());
    auto found = s.sir_prefixes.Lookup(key);
    if (!found.ok()) return found.status();
    if (!found->has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("prefix rule ", Text(rule), ": SIR prefix ",
                                                        p.ToString(), " is not registered"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

PrefixRuleTable::PrefixRuleTable(std::shared_ptr<DataplaneState> state)
    : state_(std::move(state)) {}

absl::Status PrefixRuleTable::Write(const PrefixRule& rule, bool only_new) {
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  if (absl::Status st = Validate(s, rule); !st.ok()) return st;
  const abi::ila_prefix_rule_key there = KeyOf(rule.a, rule.b);
  const abi::ila_prefix_rule_key back = KeyOf(rule.b, rule.a);
  auto found = s.prefix_rules.Lookup(there);
  if (!found.ok()) return found.status();
  if (found->has_value()) {
    if (only_new) {
      return absl::AlreadyExistsError(absl::StrCat("prefix rule ", Text(rule), " exists already"));
    }
    // Both directions, in case a writer died between the two.
    return s.prefix_rules.Update(back, abi::ila_prefix_rule_value{});
  }
  if (absl::Status st = s.prefix_rules.Update(there, abi::ila_prefix_rule_value{}); !st.ok()) {
    return st;
  }
  absl::Status st = s.prefix_rules.Update(back, abi::ila_prefix_rule_value{});
  if (!st.ok()) (void)s.prefix_rules.Delete(there);  // neither, as promised
  return st;
}

absl::Status PrefixRuleTable::Add(const PrefixRule& rule) { return Write(rule, true); }

absl::Status PrefixRuleTable::Upsert(const PrefixRule& rule) { return Write(rule, false); }

absl::Status PrefixRuleTable::Remove(const PrefixRule& rule) {
  DataplaneState& s = *state_;
  internal::StateWriterLock lock(s);
  if (!lock.status().ok()) return lock.status();
  absl::Status there = s.prefix_rules.Delete(KeyOf(rule.a, rule.b));
  absl::Status back = s.prefix_rules.Delete(KeyOf(rule.b, rule.a));
  if (absl::IsNotFound(there) && absl::IsNotFound(back)) {
    return absl::NotFoundError(absl::StrCat("prefix rule ", Text(rule), " does not exist"));
  }
  if (!there.ok() && !absl::IsNotFound(there)) return there;
  if (!back.ok() && !absl::IsNotFound(back)) return back;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PrefixRule>> PrefixRuleTable::List() const {
  auto all = state_->prefix_rules.Dump();
  if (!all.ok()) return all.status();
  std::vector<PrefixRule> out;
  for (const auto& [k, v] : *all) {
    const SirPrefix from(internal::Get64(k.from_be));
    const SirPrefix to(internal::Get64(k.to_be));
    if (from < to) out.push_back({from, to});
  }
  std::sort(out.begin(), out.end(), [](const PrefixRule& x, const PrefixRule& y) {
    return std::pair(x.a, x.b) < std::pair(y.a, y.b);
  });
  return out;
}

}  // namespace ila
