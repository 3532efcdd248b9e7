// What ilactl's instance objects (create, destroy, status, stats, upgrade, attach, detach, keep)
// share: policy and counter names, durations, attachment and stats printers.
#ifndef ILA_TOOLS_ILACTL_INSTANCE_COMMON_H_
#define ILA_TOOLS_ILACTL_INSTANCE_COMMON_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ilactl.h"

namespace ilactl {

std::string_view PolicyName(ila::MissPolicy p);

std::string_view PolicyName(ila::MovedPolicy p);

std::string_view KindName(ila::CounterKind k);

// "DURATION := N[ns|us|ms|s]", a bare number being milliseconds.
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Library notes may span lines (libxdp's log); text output keeps one line per item.
std::string OneLine(std::string s);

std::vector<ila::Attachment> SortedAttachments(const ila::Dataplane& dp);

std::string DevName(const ila::Attachment& a);

void AttachmentJson(JsonWriter& j, const ila::Attachment& a);

std::string AttachmentLine(const ila::Attachment& a);

void StatsJson(JsonWriter& j, const ila::Stats& s);

std::string StatsText(const ila::Stats& s, bool details);

absl::Status PrintStatus(Context& ctx, ila::Dataplane& dp);

}  // namespace ilactl

#endif  // ILA_TOOLS_ILACTL_INSTANCE_COMMON_H_
