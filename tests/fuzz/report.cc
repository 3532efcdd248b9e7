// The fuzzer's report: what a run covered, what it did not, and its numbers.
#include <sstream>

#include "fuzz/runner.h"

namespace ila::fuzz {
namespace {

constexpr ChecksumMode kModes[] = {ChecksumMode::kAdjustTransport, ChecksumMode::kNeutralMap,
                                   ChecksumMode::kNeutralMapAuto, ChecksumMode::kNoAction,
                                   ChecksumMode::kAdjustTransportLinuxCompat};
constexpr IdentifierType kTypes[] = {IdentifierType::kLuid, IdentifierType::kUseFormat};

template <typename K>
uint64_t Count(const std::map<K, uint64_t>& m, const K& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

template <typename M>
std::string List(const M& m) {
  std::ostringstream os;
  for (const auto& [k, n] : m) os << " " << k << " " << n << ",";
  std::string s = os.str();
  if (!s.empty()) s.pop_back();
  return s;
}

}  // namespace

std::vector<std::string> Report::Uncovered() const {
  std::vector<std::string> missing;
  for (const char* v : {"XDP_PASS", "XDP_DROP", "XDP_REDIRECT", "refused"})
    if (!Count(xdp_verdicts, std::string(v))) missing.push_back(std::string("XDP verdict ") + v);
  for (const char* v : {"TC_ACT_UNSPEC", "TC_ACT_SHOT", "TC_ACT_REDIRECT", "refused"})
    if (!Count(tc_verdicts, std::string(v))) missing.push_back(std::string("tc verdict ") + v);
  if (observation.empty()) missing.push_back("every counter (no program ran)");
  for (const auto& [name, is_observation] : observation)
    if (!StateDependent(name) && !Count(counters, name))
      missing.push_back((is_observation ? "observation " : "outcome ") + name);
  for (ChecksumMode m : kModes) {
    if (!Count(mapped, m)) missing.push_back("SIR->ILA in " + std::string(ToString(m)));
    if (!Count(restored, m)) missing.push_back("ILA->SIR in " + std::string(ToString(m)));
  }
  for (IdentifierType t : kTypes)
    if (!Count(ident_types, t)) missing.push_back("identifier type " + std::string(ToString(t)));
  return missing;
}

std::string Report::Summary() const {
  std::ostringstream os;
  os << "frames: " << frames << " (program runs: " << xdp_runs << " XDP, " << tc_runs << " tc)\n";
  os << "XDP verdicts:" << List(xdp_verdicts) << "\n";
  os << "tc verdicts:" << List(tc_verdicts) << "\n";
  os << "counters (XDP and tc runs):" << List(counters) << "\n";
  os << "SIR->ILA by mode:" << List(mapped) << "\nILA->SIR by mode:" << List(restored) << "\n";
  os << "identifier types:" << List(ident_types) << "\n";
  os << "mismatches: " << mismatches << "\n";
  os << "invalid checksums: " << checksums_invalid << " of " << checksums_checked << " checked\n";
  for (ModelVariant v : kMutants) {
    auto it = mutant_mismatches.find(v);
    os << "mutant model \"" << ToString(v)
       << "\": " << (it == mutant_mismatches.end() ? 0 : it->second) << " frames disagree\n";
  }
  const std::vector<std::string> missing = Uncovered();
  os << "not covered: " << (missing.empty() ? "nothing" : "");
  for (size_t i = 0; i < missing.size(); ++i) os << (i ? ", " : "") << missing[i];
  os << "\nnot compared, not required (state-dependent):";
  for (const auto& [names, why] : kStateDependent) os << "\n  " << names << ": " << why;
  os << "\ntime: " << run_seconds << " s running (" << setup_seconds << " s setting up), "
     << static_cast<uint64_t>(run_seconds > 0 ? static_cast<double>(frames) / run_seconds : 0)
     << " frames/s\n";
  return os.str();
}

}  // namespace ila::fuzz
