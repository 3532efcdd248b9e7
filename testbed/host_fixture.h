// A real ILA host in network namespaces, for the packet tests and the benchmarks (Katran's
// BpfTester, grown up):
//
//   ns c1: c1 (02:00:00:00:c1:01)      <-veth->  c1h  (ns host)
//   ns c2: c2 (02:00:00:00:c2:01)      <-veth->  c2h  (ns host)
//   ns fabric: fab (02:00:00:00:fa:b0) <-veth->  up   (ns host)
// ns host runs a Dataplane: from_container on c1h and c2h, from_uplink on up.
//
// host: up fd00:ff::1/64, route L2::/64 and the SIR prefix via fd00:ff::2 (fab), a permanent
// neighbour entry for it, forwarding on. The test thread is inside the host namespace while the
// fixture lives. Frames run through the real programs with BPF_PROG_TEST_RUN; RunLive also lets
// redirects really happen, and Capture reads what arrives on an interface.
#ifndef ILA_TESTBED_HOST_FIXTURE_H_
#define ILA_TESTBED_HOST_FIXTURE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "ila/dataplane.h"
#include "ila/owned_fd.h"
#include "testbed/netns.h"
#include "testbed/packet.h"

namespace ila::testbed {

// The counter called `name`, known only at run time (a literal converts to CounterName by itself
// and is checked when compiled); an unknown name fails the test with the library's message.
inline CounterName CounterNamed(std::string_view name) {
  auto n = CounterName::Parse(name);
  if (!n.ok()) throw std::invalid_argument(std::string(n.status().message()));
  return *n;
}

struct XdpRun {
  // A program's return code when BPF_PROG_TEST_RUN ran it (XDP_*, or TC_ACT_* for RunTc, where
  // TC_ACT_UNSPEC is -1), else kNotRun, with the run's errno in `error`.
  static constexpr int kNotRun = -100000;
  int verdict = kNotRun;
  int error = 0;
  Bytes frame;  // the frame after the program
  Stats delta;  // counters changed by this run
};

std::string_view VerdictName(int verdict);

// Sum of the outcome counters (forwarded, passed, dropped) that moved: every run has exactly one.
uint64_t Outcomes(const Stats& delta);

// The TC_ACT_* code the tc flavour of a program returns where the XDP one returns `xdp_verdict`:
// XDP_PASS is TC_ACT_UNSPEC, so that the next filter on the hook runs, then the stack.
int TcVerdictFor(int xdp_verdict);

// Repeats `once` (a deterministic BPF_PROG_TEST_RUN of one frame) until its counter delta holds at
// most one outcome. The programs are also attached to the fixture's live interfaces, where the
// namespaces' kernels send neighbour discovery, router solicitations and MLD reports at times of
// their own; one of those landing between the two counter reads adds an outcome to the delta. (A
// program that counted two outcomes for one frame would do so every time and still be seen.) A
// failed run is final; TC_ACT_UNSPEC (-1) is a verdict like any other.
template <typename F>
XdpRun RunQuiet(F&& once) {
  XdpRun r;
  for (int attempt = 0; attempt < 20; ++attempt) {
    r = once();
    if (r.error != 0 || Outcomes(r.delta) <= 1) break;
  }
  return r;
}

// Frames captured on one interface (AF_PACKET, in the interface's namespace).
class Capture {
 public:
  static absl::StatusOr<std::unique_ptr<Capture>> Open(const Netns& ns, const std::string& ifname);
  // The next frame of EtherType IPv6 that arrives within `timeout`, or nullopt.
  std::optional<Bytes> NextIpv6(std::chrono::milliseconds timeout);

 private:
  explicit Capture(OwnedFd fd) : fd_(std::move(fd)) {}
  OwnedFd fd_;
};

class HostFixture {
 public:
  struct Options {
    DataplaneConfig config;
    ChecksumMode locator_mode = ChecksumMode::kAdjustTransport;
    AttachMode attach_mode = AttachMode::kNative;
    // Pin the instance in a private bpffs that the fixture mounts (and unmounts) itself.
    bool pinned = false;
    std::vector<int> uplink_steer_cpus;
  };
  // Builds everything; the error says what could not be set up.
  static absl::StatusOr<std::unique_ptr<HostFixture>> Create(const Options& options);
  static absl::StatusOr<std::unique_ptr<HostFixture>> Create() { return Create(Options{}); }
  ~HostFixture();

  // Addresses of the scenario.
  static SirPrefix Sir() { return SirPrefix(0x20010db800000001ull); }  // 2001:db8:0:1::/64
  static Locator L1() { return Locator(0x20010db8aaaa0001ull); }       // this host
  static Locator L2() { return Locator(0x20010db8bbbb0002ull); }       // a remote host
  static SirAddress C1() { return {Sir(), Identifier(0x1)}; }
  static SirAddress C2() { return {Sir(), Identifier(0x2)}; }
  static SirAddress Remote() { return {Sir(), Identifier(0x99)}; }
  static MacAddress C1Mac() { return MacAddress({0x02, 0, 0, 0, 0xc1, 0x01}); }
  static MacAddress C2Mac() { return MacAddress({0x02, 0, 0, 0, 0xc2, 0x01}); }
  static MacAddress FabricMac() { return MacAddress({0x02, 0, 0, 0, 0xfa, 0xb0}); }
  static Ipv6Address FabricAddress();  // fd00:ff::2

  Dataplane& dp() { return *dp_; }
  // The control process going away and another taking over: the Dataplane object is dropped
  // (a pinned instance keeps running) and a new one adopted with Dataplane::Open.
  void DropDataplane() { dp_.reset(); }
  void SetDataplane(std::unique_ptr<Dataplane> dp) { dp_ = std::move(dp); }
  // Where a pinned fixture's instance lives.
  PinLocation pin_location() const { return {bpffs_dir_, "test"}; }
  const std::string& bpffs_dir() const { return bpffs_dir_; }
  InterfaceIndex c1h() const { return c1h_; }
  InterfaceIndex c2h() const { return c2h_; }
  InterfaceIndex uplink() const { return up_; }
  MacAddress C1hMac() const { return c1h_mac_; }
  MacAddress C2hMac() const { return c2h_mac_; }
  MacAddress UplinkMac() const { return up_mac_; }
  const Netns& c1_ns() const { return *c1_; }
  const Netns& c2_ns() const { return *c2_; }
  const Netns& fabric_ns() const { return *fabric_; }
  const Netns& host_ns() const { return *host_; }
  const std::string& c1_name() const { return c1_name_; }
  const std::string& c2_name() const { return c2_name_; }
  const std::string& fabric_name() const { return fab_name_; }
  const std::string& up_name() const { return up_name_; }

  // Runs `frame` through the program of `role` as if it arrived on `ingress_ifindex`.
  XdpRun Run(Role role, const Bytes& frame, InterfaceIndex ingress_ifindex);
  XdpRun Run(int prog_fd, const Bytes& frame, InterfaceIndex ingress_ifindex,
             const Dataplane& counters);
  // Runs `frame` through a tc (sched_cls) program as if it arrived on `ingress_ifindex`; the
  // verdict is a TC_ACT_* code.
  XdpRun RunTc(int prog_fd, const Bytes& frame, InterfaceIndex ingress_ifindex);
  XdpRun RunTc(int prog_fd, const Bytes& frame, InterfaceIndex ingress_ifindex,
               const Dataplane& counters);
  // The same with BPF_F_TEST_XDP_LIVE_FRAMES: redirects and passes really happen.
  absl::Status RunLive(Role role, const Bytes& frame, InterfaceIndex ingress_ifindex);

  // Frames as the scenario's parties send them.
  Bytes FromC1(const Ipv6Address& dst, uint8_t proto, const Bytes& transport,
               uint8_t hop = 64) const;
  Bytes FromFabric(const Ipv6Address& src, const Ipv6Address& dst, uint8_t proto,
                   const Bytes& transport, uint8_t hop = 64) const;

 private:
  HostFixture() = default;
  std::optional<Netns> host_, c1_, c2_, fabric_;
  std::optional<VethPair> c1_link_, c2_link_, up_link_;
  std::optional<NetnsEntered> entered_;
  std::unique_ptr<Dataplane> dp_;
  std::string bpffs_dir_;  // private bpffs mount of a pinned fixture
  InterfaceIndex c1h_, c2h_, up_;
  MacAddress c1h_mac_, c2h_mac_, up_mac_;
  std::string c1_name_, c2_name_, fab_name_, up_name_;
};

// Sends `frame` out of interface `ifname` of namespace `ns` (AF_PACKET), as a real host would.
absl::Status Inject(const Netns& ns, const std::string& ifname, const Bytes& frame);

// A private bpffs mounted on a fresh temporary directory: a test's pins never touch the
// machine's /sys/fs/bpf and vanish with the unmount. Empty string and a reason on failure.
// Its name carries the process id, so that one left by a process killed outright is found and
// removed by the next (RemoveStaleTemporaries, which this calls first).
absl::StatusOr<std::string> MountPrivateBpffs();
// Private bpffs mounts and the temporary directories of the cluster's control plane and etcd
// (/tmp/ila-bpffs-<pid>-*, /tmp/ila-cluster-<pid>-*, /tmp/ila-etcd-<pid>-*) of processes that no
// longer exist: unmounted and removed. Returns what was removed.
std::vector<std::string> RemoveStaleTemporaries();
void UnmountPrivateBpffs(const std::string& dir);

// A transport segment of `proto` (TCP, UDP or ICMPv6 echo) with a valid checksum for src -> dst.
Bytes Segment(uint8_t proto, const Ipv6Address& src, const Ipv6Address& dst);

}  // namespace ila::testbed

#endif  // ILA_TESTBED_HOST_FIXTURE_H_
