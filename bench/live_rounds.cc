#include "live_rounds.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

namespace ila::bench {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

absl::Status RunRounds(benchmark::State& state, PathsWorld& pw, InterfaceIndex ingress,
                       std::vector<Contender>& cs, uint32_t burst, int rounds) {
  // Warm up every path: neighbour, route and page pool caches.
  for (Contender& c : cs) {
    if (absl::Status st = SetRefresh(pw.skel, c.frame, c.next_fd); !st.ok()) return st;
    if (auto r = RunLive(RefreshFd(pw.skel), c.frame, ingress, 1u << 14); !r.ok()) {
      return absl::Status(r.status().code(), absl::StrCat(c.name, ": ", r.status().message()));
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (int round = 0; round < rounds; ++round) {
    if (StopNow(state)) return absl::CancelledError("interrupted");
    for (size_t k = 0; k < cs.size(); ++k) {
      Contender& c = cs[(k + static_cast<size_t>(round)) % cs.size()];
      if (absl::Status st = SetRefresh(pw.skel, c.frame, c.next_fd); !st.ok()) return st;
      SinkCount before = ReadSink(pw.skel);
      auto r = RunLive(RefreshFd(pw.skel), c.frame, ingress, burst);
      if (!r.ok() && StopNow(state)) return absl::CancelledError("interrupted");  // EINTR
      if (!r.ok()) {
        return absl::Status(r.status().code(), absl::StrCat(c.name, ": ", r.status().message()));
      }
      // Whatever the softirq (or a cpumap's kthread) still had queued lands within a moment; the
      // time counted stays the generator's.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      SinkCount after = ReadSink(pw.skel);
      double got = static_cast<double>(after.packets - before.packets);
      c.pps.push_back(got / *r);
      c.delivered += got;
      int kind = c.expect_kind;
      c.of_expected_kind += static_cast<double>(after.kind[kind] - before.kind[kind]);
      c.offered += burst;
      c.seconds += *r;
    }
  }
  return absl::OkStatus();
}

absl::Status ReportContenders(benchmark::State& state, const std::vector<Contender>& cs,
                              std::string* line) {
  for (const Contender& c : cs) {
    double pps = Median(c.pps);
    double kind = c.of_expected_kind / std::max(c.delivered, 1.0);
    state.counters["pps/" + c.name] = pps;
    state.counters["delivered_fraction/" + c.name] = c.delivered / std::max(c.offered, 1.0);
    state.counters["expected_kind/" + c.name] = kind;
    state.counters["ns_per_packet/" + c.name] = pps > 0 ? 1e9 / pps : 0;
    absl::StrAppend(line, " ", c.name, "=", static_cast<uint64_t>(pps));
    if (c.delivered < c.offered * c.min_delivered) {
      return absl::InternalError(absl::StrCat(c.name, ": only ", c.delivered, " of ", c.offered,
                                              " frames reached the sink"));
    }
    if (kind < 0.99) {
      static constexpr const char* kKinds[] = {"other", "plain UDP", "VXLAN (UDP 4789)",
                                               "IPv6 + SRH", "IPv6-in-IPv6"};
      return absl::InternalError(absl::StrCat(c.name, ": only ", c.of_expected_kind, " of the ",
                                              c.delivered, " frames that reached the sink were ",
                                              kKinds[c.expect_kind]));
    }
  }
  return absl::OkStatus();
}

double ReportRatio(benchmark::State& state, const std::string& key, const Contender& a,
                   const Contender& b) {
  std::vector<double> r;
  for (size_t i = 0; i < a.pps.size() && i < b.pps.size(); ++i) {
    if (b.pps[i] > 0) r.push_back(a.pps[i] / b.pps[i]);
  }
  if (r.empty()) return 0;
  auto [lo, hi] = std::minmax_element(r.begin(), r.end());
  double median = Median(r);
  state.counters[key] = median;
  state.counters[key + "_min"] = *lo;
  state.counters[key + "_max"] = *hi;
  return median;
}

}  // namespace ila::bench
