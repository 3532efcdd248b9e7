// Shared machinery of the benchmark suite: running XDP programs with BPF_PROG_RUN in the ways the
// suite measures, the bench BPF object (frame refresh, sink, bare redirect, reference hash), the
// kernel's memory accounting of maps, and the topologies (testbed/'s HostFixture).
#ifndef ILA_BENCH_BENCH_SUPPORT_H_
#define ILA_BENCH_BENCH_SUPPORT_H_

#include <sched.h>
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench_abi.h"
#include "ila/dataplane.h"
#include "ila/owned_fd.h"
#include "testbed/host_fixture.h"

struct bench_xdp;
struct baseline;

namespace ila::bench {

using testbed::Bytes;

// --quick: fewer iterations and smaller tables, for a smoke run.
bool Quick();
void SetQuick(bool quick);
// `full` normally, `quick` under --quick.
template <typename T>
T Pick(T full, T quick) {
  return Quick() ? quick : full;
}

// ------------------------------------------------------------------------------------------------
// Running programs

struct RunResult {
  int retval = -1;
  uint32_t duration_ns = 0;  // the kernel's: mean time of one repetition
};

// One repetition per call: the kernel copies `frame` in fresh, runs the program once and reports
// how long that run took (ktime around the run). `out` receives the frame after the program.
absl::StatusOr<RunResult> RunOnce(int prog_fd, std::span<const uint8_t> frame,
                                  InterfaceIndex ingress_ifindex, Bytes* out = nullptr);
// `repeat` repetitions in one call (non-live): the kernel re-runs the program on the SAME buffer,
// so only programs that restore the frame themselves (bench_refresh) see a fresh frame each time.
absl::StatusOr<RunResult> RunRepeat(int prog_fd, std::span<const uint8_t> frame,
                                    InterfaceIndex ingress_ifindex, uint32_t repeat);
// BPF_F_TEST_XDP_LIVE_FRAMES: `repeat` frames really redirected, passed or dropped. Returns the
// wall-clock seconds the call took.
absl::StatusOr<double> RunLive(int prog_fd, std::span<const uint8_t> frame,
                               InterfaceIndex ingress_ifindex, uint32_t repeat);

// ------------------------------------------------------------------------------------------------
// The bench BPF object

struct BenchSkelDeleter {
  void operator()(bench_xdp* s) const;
};
using BenchSkel = std::unique_ptr<bench_xdp, BenchSkelDeleter>;
// Loads bench/bench.bpf.c with room for `dests` refresh destinations and a reference hash of
// `plain_entries`. With `slot_table_fd` (SlotTableOf), bench_slots_lookup reads that table.
absl::StatusOr<BenchSkel> LoadBenchSkel(uint32_t dests, uint32_t plain_entries,
                                        int slot_table_fd = -1);

struct BaselineDeleter {
  void operator()(baseline* s) const;
};
using BaselineSkel = std::unique_ptr<baseline, BaselineDeleter>;
absl::StatusOr<BaselineSkel> LoadBaselineSkel();

int RefreshFd(const BenchSkel& s);
int EmptyFd(const BenchSkel& s);
int PassFd(const BenchSkel& s);
int RedirectFd(const BenchSkel& s);
int SinkFd(const BenchSkel& s);
int PlainHashFd(const BenchSkel& s);
int SlotsFd(const BenchSkel& s);
int FibOnlyFd(const BenchSkel& s);
int BaselineEmptyFd(const BaselineSkel& s);
int BaselineParseFd(const BaselineSkel& s);

// Makes bench_refresh restore `frame` (its first BENCH_HEADER_LEN bytes and its UDP/TCP/ICMPv6
// checksum) before every run, drawing the destination from bench_dests when `ndests` > 0, and
// then tail-call `next_prog_fd`.
absl::Status SetRefresh(const BenchSkel& s, std::span<const uint8_t> frame, int next_prog_fd,
                        uint32_t ndests = 0);
absl::Status SetDests(const BenchSkel& s, std::span<const Ipv6Address> dests);
absl::Status SetRedirectTarget(const BenchSkel& s, InterfaceIndex ifindex);
absl::Status LoadPlainHash(const BenchSkel& s, std::span<const Ipv6Address> keys,
                           std::span<const Ipv6Address> values);
// The slot table (abi.h, ila_slots) of the data plane whose program is `prog_fd`: a new
// descriptor of that map, found among the maps the program uses.
absl::StatusOr<OwnedFd> SlotTableOf(int prog_fd);
// What a filled slot table looks like: its size and how far its mappings sit from their home
// slots (the probes a lookup of each takes).
struct SlotTableShape {
  size_t slots = 0;           // a power of two, at least twice the mappings and endpoints
  size_t bytes = 0;           // of the slots (32 each)
  uint64_t mappings = 0;      // slots holding a mapping
  uint32_t max_probes = 0;    // the longest probe sequence of a mapping
  uint64_t total_probes = 0;  // over all mappings (mean = total / mappings)
};
absl::StatusOr<SlotTableShape> ShapeOfSlotTable(int slot_table_fd);
uint64_t SinkPackets(const BenchSkel& s);
// bench_sink's totals over all CPUs: packets, and packets of each bench_kind.
struct SinkCount {
  uint64_t packets = 0;
  uint64_t kind[BENCH_KINDS] = {};
};
SinkCount ReadSink(const BenchSkel& s);

// ------------------------------------------------------------------------------------------------
// Memory of maps, as the kernel accounts it (memlock in /proc/self/fdinfo/<fd>).

struct MapMemory {
  uint32_t id = 0;
  std::string name;
  uint32_t max_entries = 0;
  uint64_t memlock = 0;
};
// Every BPF map this process holds a descriptor of, once per map.
std::vector<MapMemory> ProcessMaps();

// ------------------------------------------------------------------------------------------------
// Frames and addresses

// A UDP frame (14 + 40 + 8 + 10 = 72 bytes, valid checksum) from the fixture's c1.
Bytes UdpFromC1(const testbed::HostFixture& host, const Ipv6Address& dst);
// The same arriving on the uplink from the fabric.
Bytes UdpFromFabric(const testbed::HostFixture& host, const Ipv6Address& src,
                    const Ipv6Address& dst);
// Writes `dst` into a frame's IPv6 destination.
void SetFrameDst(Bytes& frame, const Ipv6Address& dst);

// `n` distinct SIR addresses in `prefix` (identifiers that every checksum mode accepts).
std::vector<SirAddress> MakeSirs(SirPrefix prefix, size_t n, uint64_t first_identifier = 0x1000);
// `n` distinct identifiers drawn at random (48 bits, a fixed seed) under `prefix`: how container
// identifiers derived from names or IDs look, and what a hash of the key sees in practice.
std::vector<SirAddress> MakeRandomSirs(SirPrefix prefix, size_t n, uint64_t seed);

// ------------------------------------------------------------------------------------------------
// Benchmark helpers

// Reports a failed precondition and stops the benchmark.
void Fail(benchmark::State& state, const absl::Status& status);
// Google Benchmark has no "skipped": a benchmark this machine cannot run ends with an error
// message that starts with kNotMeasured, which report.py lists apart from errors.
inline constexpr char kNotMeasured[] = "not measured here: ";
void Skip(benchmark::State& state, const std::string& reason);
// The label of a benchmark that measured some of its methods: kNotMeasured and each left-out
// method with its reason.
std::string NotMeasuredLabel(const std::vector<std::string>& skipped);

// SIGINT/SIGTERM/SIGHUP set the test bed's stop flag (testbed/process.h): benchmarks stop at their
// next iteration (reporting "interrupted"), the rest are skipped and running commands are stopped,
// so the worlds are torn down normally (no namespaces left behind). SIGPIPE is ignored.
void InstallInterruptHandler();
// Call inside a benchmark loop: true (and the benchmark marked) when it must stop.
bool StopNow(benchmark::State& state);

// One line on stderr as each benchmark run ends ("ila_bench: done NAME FIGURE"): run.sh's
// progress display (Google Benchmark's own output comes in bursts when piped).
void Progress(const std::string& name, const std::string& figure);
// Sets CPU affinity of the calling thread to the last CPU (the live runs' softirq work follows).
void PinToLastCpu();

// While alive, the calling thread may run on every online CPU (the control plane's batch paths use
// a second thread when the caller's affinity allows one); the previous affinity comes back after.
class AllCpus {
 public:
  AllCpus();
  ~AllCpus();
  AllCpus(const AllCpus&) = delete;
  AllCpus& operator=(const AllCpus&) = delete;
  int count() const { return count_; }

 private:
  cpu_set_t saved_;
  int count_ = 1;
};
std::string ChecksumModeName(ChecksumMode mode);

}  // namespace ila::bench

#endif  // ILA_BENCH_BENCH_SUPPORT_H_
