// A packet generator for the live benchmarks that needs neither BPF_PROG_TEST_RUN live frames nor
// pktgen (some kernels refuse the first with EPERM and are built without the second): frames are
// sent out of one end of a veth pair, so they really cross it and meet the program attached at the
// other end, as a container's or a fabric host's frames would.
//
//   AF_XDP    TX ring of an AF_XDP socket (zero-copy where the driver allows, else copy mode),
//             bound to queue 0 without an XDP program of its own; the fastest where it exists
//   AF_PACKET sendmmsg of a raw socket with PACKET_QDISC_BYPASS, 64 frames a call
//
// On a veth the receiver's NAPI normally runs in the sender CPU's softirq, so the generator and
// the path under test share one CPU. ThreadedNapi moves the receiving veth's NAPI to a kernel
// thread pinned to another CPU and reads that thread's CPU time, which gives the path's cost per
// packet at a fixed offered rate whatever the generator's speed.
#ifndef ILA_BENCH_TRAFFIC_GENERATOR_H_
#define ILA_BENCH_TRAFFIC_GENERATOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "testbed/netns.h"

namespace ila::bench {

class TrafficGenerator {
 public:
  virtual ~TrafficGenerator() = default;
  // "af_xdp_zero_copy", "af_xdp_copy" or "af_packet" (with " x N queues" for several senders).
  virtual std::string name() const = 0;
  // Sends `count` copies of `frame` (as fast as possible when `rate_pps` is 0, else paced to it)
  // and returns the seconds it took. Frames the kernel refused (a full queue) are sent again, so
  // all `count` leave.
  virtual absl::StatusOr<double> Send(std::span<const uint8_t> frame, uint64_t count,
                                      double rate_pps) = 0;
};

struct GeneratorOptions {
  // Senders, each a socket of its own on its own thread: AF_XDP binds sender i to queue i (the
  // interface needs that many TX queues; a veth made with `numtxqueues N`), AF_PACKET opens N
  // sockets. The frames of a Send are split evenly between them.
  int queues = 1;
  // CPUs the sender threads are pinned to, round robin (empty: the calling thread's CPUs). With
  // one queue the caller's thread sends itself.
  std::vector<int> cpus;
};

// The best generator this kernel offers on interface `ifname` of namespace `ns` (AF_XDP when the
// probe finds it and the sockets bind, else AF_PACKET); the error says why none works. The
// calling thread's namespace is unchanged.
absl::StatusOr<std::unique_ptr<TrafficGenerator>> MakeTrafficGenerator(
    const testbed::Netns& ns, const std::string& ifname, const GeneratorOptions& options = {});

// The NAPI of a veth end running as a kernel thread ("napi/<dev>-<id>") pinned to one CPU.
class ThreadedNapi {
 public:
  // Switches `ifname` in `ns` to threaded NAPI and pins its thread to `cpu`. The interface must
  // have an XDP program (a veth has NAPI only then, or with GRO on).
  static absl::StatusOr<ThreadedNapi> Start(const testbed::Netns& ns, const std::string& ifname,
                                            int cpu);
  // Nanoseconds the thread has run so far (/proc/<tid>/schedstat).
  absl::StatusOr<uint64_t> CpuNanoseconds() const;
  int tid() const { return tid_; }

 private:
  explicit ThreadedNapi(int tid) : tid_(tid) {}
  int tid_ = 0;
};

}  // namespace ila::bench

#endif  // ILA_BENCH_TRAFFIC_GENERATOR_H_
