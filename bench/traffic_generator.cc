#include "traffic_generator.h"

#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ila/kernel_probe.h"
#include "ila/owned_fd.h"

namespace ila::bench {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status Errno(const std::string& what, int err = errno) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat(what, ": ", std::strerror(err)));
}

// Paces a sender: Wait(sent) returns when `sent` frames are due at `rate` (0: at once).
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(Clock::now()) {}
  void Wait(uint64_t sent) const {
    if (rate_ <= 0) return;
    auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(sent) / rate_));
    // Sleep rather than spin: the sink's NAPI thread shares this CPU and must run meanwhile.
    std::this_thread::sleep_until(due);
  }
  double Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  double rate_;
  Clock::time_point start_;
};

// The sockets are created in the interface's namespace (a socket stays in the namespace it was
// made in), on a helper thread so the caller's thread never moves.
template <typename F>
absl::Status InNetns(const testbed::Netns& ns, F&& fn) {
  absl::Status st;
  std::thread t([&] {
    auto entered = testbed::NetnsEntered::Enter(ns);
    st = entered.ok() ? fn() : entered.status();
  });
  t.join();
  return st;
}

// ----- AF_XDP -----------------------------------------------------------------------------

class AfXdpGenerator : public TrafficGenerator {
 public:
  static constexpr uint32_t kFrames = 4096, kFrameSize = 4096, kBatch = 64;
  // Paced, frames leave in small groups: a veth's receive ring holds 256, and a slow path (kernel
  // forwarding) must not see bursts that overflow it at a rate it keeps up with on average.
  static constexpr uint32_t kPacedBatch = 128;

  ~AfXdpGenerator() override {
    if (xsk_) xsk_socket__delete(xsk_);
    if (umem_) xsk_umem__delete(umem_);
    if (area_) munmap(area_, size_t{kFrames} * kFrameSize);
  }
  std::string name() const override { return zero_copy_ ? "af_xdp_zero_copy" : "af_xdp_copy"; }

  static absl::StatusOr<std::unique_ptr<AfXdpGenerator>> Create(const std::string& ifname,
                                                                uint32_t queue) {
    std::unique_ptr<AfXdpGenerator> g(new AfXdpGenerator());
    g->area_ = mmap(nullptr, size_t{kFrames} * kFrameSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (g->area_ == MAP_FAILED) {
      g->area_ = nullptr;
      return Errno("mmap of the UMEM");
    }
    xsk_umem_config ucfg{};
    ucfg.fill_size = kFrames;
    ucfg.comp_size = kFrames;
    ucfg.frame_size = kFrameSize;
    // libxdp leaves the rings' cached indices as it found them: start from zeroed structs.
    std::memset(&g->fill_, 0, sizeof(g->fill_));
    std::memset(&g->comp_, 0, sizeof(g->comp_));
    std::memset(&g->tx_, 0, sizeof(g->tx_));
    int err = xsk_umem__create(&g->umem_, g->area_, size_t{kFrames} * kFrameSize, &g->fill_,
                               &g->comp_, &ucfg);
    if (err) return Errno("xsk_umem__create", -err);
    std::string failures;
    for (uint16_t mode : {uint16_t{XDP_ZEROCOPY}, uint16_t{XDP_COPY}}) {
      xsk_socket_config scfg{};
      scfg.tx_size = kFrames;
      scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // transmit only
      scfg.bind_flags = mode;
      // A socket bound right after another one on the queue closed can see EBUSY for a moment.
      for (int attempt = 0; attempt < 20; ++attempt) {
        err =
            xsk_socket__create(&g->xsk_, ifname.c_str(), queue, g->umem_, nullptr, &g->tx_, &scfg);
        if (err != -EBUSY) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (err == 0) {
        g->zero_copy_ = mode == XDP_ZEROCOPY;
        break;
      }
      absl::StrAppend(&failures,
                      mode == XDP_ZEROCOPY ? "zero-copy: " : "; copy: ", std::strerror(-err));
    }
    if (err) {
      return absl::UnavailableError(
          absl::StrCat("AF_XDP on ", ifname, " queue ", queue, ": ", failures));
    }
    // Linux 6.17+: more frames per sendto in copy mode than the default 32 (older kernels refuse
    // the option, which only costs speed).
    constexpr int kXdpMaxTxSkbBudget = 9;
    int budget = 512;
    (void)setsockopt(xsk_socket__fd(g->xsk_), SOL_XDP, kXdpMaxTxSkbBudget, &budget, sizeof(budget));
    return g;
  }

  absl::StatusOr<double> Send(std::span<const uint8_t> frame, uint64_t count,
                              double rate_pps) override {
    if (frame.size() > kFrameSize)
      return absl::InvalidArgumentError("frame larger than a UMEM frame");
    auto* base = static_cast<uint8_t*>(area_);
    for (uint32_t i = 0; i < kFrames; ++i) {
      std::memcpy(base + size_t{i} * kFrameSize, frame.data(), frame.size());
    }
    const int fd = xsk_socket__fd(xsk_);
    uint64_t submitted = 0, completed = 0;
    uint32_t next = 0;
    Pacer pacer(rate_pps);
    while (completed < count) {
      uint64_t outstanding = submitted - completed;
      uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(
          {rate_pps > 0 ? kPacedBatch : kBatch, count - submitted, kFrames - outstanding}));
      if (want > 0) {
        pacer.Wait(submitted);
        uint32_t idx = 0;
        uint32_t n = xsk_ring_prod__reserve(&tx_, want, &idx);
        for (uint32_t i = 0; i < n; ++i) {
          xdp_desc* d = xsk_ring_prod__tx_desc(&tx_, idx + i);
          d->addr = uint64_t{next} * kFrameSize;
          d->len = static_cast<uint32_t>(frame.size());
          d->options = 0;
          next = (next + 1) % kFrames;
        }
        xsk_ring_prod__submit(&tx_, n);
        submitted += n;
      }
      // Copy mode transmits on sendto; errors here are a busy queue (retried by the next call).
      if (sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN &&
          errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN) {
        return Errno("AF_XDP sendto");
      }
      uint32_t cidx = 0;
      uint32_t done = xsk_ring_cons__peek(&comp_, kFrames, &cidx);
      xsk_ring_cons__release(&comp_, done);
      completed += done;
    }
    return pacer.Seconds();
  }

 private:
  AfXdpGenerator() = default;
  void* area_ = nullptr;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  xsk_ring_prod fill_{}, tx_{};
  xsk_ring_cons comp_{};
  bool zero_copy_ = false;
};

// ----- AF_PACKET --------------------------------------------------------------------------

class AfPacketGenerator : public TrafficGenerator {
 public:
  std::string name() const override { return "af_packet"; }

  static absl::StatusOr<std::unique_ptr<AfPacketGenerator>> Create(const std::string& ifname) {
    std::unique_ptr<AfPacketGenerator> g(new AfPacketGenerator());
    g->fd_ = OwnedFd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (!g->fd_.valid()) return Errno("AF_PACKET socket");
    int one = 1;
    (void)setsockopt(g->fd_.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    int sndbuf = 16 << 20;
    (void)setsockopt(g->fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (addr.sll_ifindex == 0 ||
        bind(g->fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return Errno("binding AF_PACKET to " + ifname);
    }
    return g;
  }

  absl::StatusOr<double> Send(std::span<const uint8_t> frame, uint64_t count,
                              double rate_pps) override {
    const unsigned kBatch = rate_pps > 0 ? 128 : 64;  // paced: half a veth ring (AfXdpGenerator)
    iovec iov{const_cast<uint8_t*>(frame.data()), frame.size()};
    std::vector<mmsghdr> msgs(kBatch);
    for (mmsghdr& m : msgs) {
      m = {};
      m.msg_hdr.msg_iov = &iov;
      m.msg_hdr.msg_iovlen = 1;
    }
    uint64_t sent = 0;
    Pacer pacer(rate_pps);
    while (sent < count) {
      pacer.Wait(sent);
      unsigned n = static_cast<unsigned>(std::min<uint64_t>(kBatch, count - sent));
      int r = sendmmsg(fd_.get(), msgs.data(), n, 0);
      if (r < 0) {
        if (errno == ENOBUFS || errno == EAGAIN) continue;
        return Errno("sendmmsg");
      }
      sent += static_cast<uint64_t>(r);
    }
    return pacer.Seconds();
  }

 private:
  AfPacketGenerator() = default;
  OwnedFd fd_;
};

// Several senders of one kind, each on a thread of its own (GeneratorOptions::queues).
class ParallelGenerator : public TrafficGenerator {
 public:
  ParallelGenerator(std::vector<std::unique_ptr<TrafficGenerator>> senders, std::vector<int> cpus)
      : senders_(std::move(senders)), cpus_(std::move(cpus)) {}
  std::string name() const override {
    return absl::StrCat(senders_[0]->name(), " x ", senders_.size(), " queues");
  }
  absl::StatusOr<double> Send(std::span<const uint8_t> frame, uint64_t count,
                              double rate_pps) override {
    const size_t n = senders_.size();
    std::vector<absl::StatusOr<double>> results(n, absl::UnknownError("not run"));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) {
      uint64_t share = count / n + (i < count % n ? 1 : 0);
      threads.emplace_back([&, i, share] {
        if (!cpus_.empty()) {
          cpu_set_t set;
          CPU_ZERO(&set);
          CPU_SET(cpus_[i % cpus_.size()], &set);
          sched_setaffinity(0, sizeof(set), &set);
        }
        results[i] = senders_[i]->Send(frame, share, rate_pps / static_cast<double>(n));
      });
    }
    for (std::thread& t : threads) t.join();
    double seconds = 0;
    for (const auto& r : results) {
      if (!r.ok()) return r.status();
      seconds = std::max(seconds, *r);
    }
    return seconds;
  }

 private:
  std::vector<std::unique_ptr<TrafficGenerator>> senders_;
  std::vector<int> cpus_;
};

// `options.queues` senders of one kind, `make(queue)` each (in the calling thread's namespace).
template <typename Make>
absl::StatusOr<std::unique_ptr<TrafficGenerator>> MakeSenders(const GeneratorOptions& options,
                                                              Make make) {
  std::vector<std::unique_ptr<TrafficGenerator>> senders;
  for (int q = 0; q < options.queues; ++q) {
    auto s = make(static_cast<uint32_t>(q));
    if (!s.ok()) return s.status();
    senders.push_back(std::move(*s));
  }
  if (senders.size() == 1) return std::move(senders[0]);
  return std::unique_ptr<TrafficGenerator>(new ParallelGenerator(std::move(senders), options.cpus));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrafficGenerator>> MakeTrafficGenerator(
    const testbed::Netns& ns, const std::string& ifname, const GeneratorOptions& options) {
  if (options.queues < 1) return absl::InvalidArgumentError("a generator needs at least one queue");
  std::unique_ptr<TrafficGenerator> g;
  std::string af_xdp_failure = "the probe found no AF_XDP";
  auto probe = ProbeKernelFeature(KernelFeature::kAfXdpCopy);
  absl::Status st;
  if (probe.ok() && probe->available) {
    st = InNetns(ns, [&]() -> absl::Status {
      auto x = MakeSenders(options,
                           [&](uint32_t q) -> absl::StatusOr<std::unique_ptr<TrafficGenerator>> {
                             auto one = AfXdpGenerator::Create(ifname, q);
                             if (!one.ok()) return one.status();
                             return std::unique_ptr<TrafficGenerator>(std::move(*one));
                           });
      if (!x.ok()) return x.status();
      g = std::move(*x);
      return absl::OkStatus();
    });
    if (!st.ok()) af_xdp_failure = std::string(st.message());
  } else if (probe.ok()) {
    af_xdp_failure = probe->detail;
  }
  if (!g) {
    st = InNetns(ns, [&]() -> absl::Status {
      auto p =
          MakeSenders(options, [&](uint32_t) -> absl::StatusOr<std::unique_ptr<TrafficGenerator>> {
            auto one = AfPacketGenerator::Create(ifname);
            if (!one.ok()) return one.status();
            return std::unique_ptr<TrafficGenerator>(std::move(*one));
          });
      if (!p.ok()) return p.status();
      g = std::move(*p);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      return absl::Status(
          st.code(), absl::StrCat("no traffic generator on ", ifname, ": AF_XDP (", af_xdp_failure,
                                  "), AF_PACKET (", st.message(), ")"));
    }
  }
  return g;
}

absl::StatusOr<ThreadedNapi> ThreadedNapi::Start(const testbed::Netns& ns,
                                                 const std::string& ifname, int cpu) {
  // sysfs shows a namespace's devices only to `ip netns exec` (which mounts the namespace's /sys).
  if (absl::Status st = ns.Run("echo 1 > /sys/class/net/" + ifname + "/threaded"); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("threaded NAPI on ", ifname, ": ", st.message()));
  }
  // The thread is "napi/<dev>-<napi id>", cut to the 15 characters of a task name.
  const std::string want = ("napi/" + ifname + "-").substr(0, 15);
  int tid = 0;
  for (int attempt = 0; attempt < 50 && tid == 0; ++attempt) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string pid = entry.path().filename();
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream comm(entry.path() / "comm");
      std::string name;
      if (std::getline(comm, name) && name.rfind(want, 0) == 0) {
        tid = std::stoi(pid);
        break;
      }
    }
    if (tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (tid == 0) {
    return absl::NotFoundError(absl::StrCat("no NAPI thread of ", ifname,
                                            " (it has NAPI only with an XDP program or GRO on)"));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(tid, sizeof(set), &set) != 0) {
    return Errno(absl::StrCat("pinning ", want, " to CPU ", cpu));
  }
  return ThreadedNapi(tid);
}

absl::StatusOr<uint64_t> ThreadedNapi::CpuNanoseconds() const {
  std::ifstream in("/proc/" + std::to_string(tid_) + "/schedstat");
  uint64_t ns = 0;
  if (!(in >> ns)) return absl::NotFoundError(absl::StrCat("NAPI thread ", tid_, " is gone"));
  return ns;
}

}  // namespace ila::bench
