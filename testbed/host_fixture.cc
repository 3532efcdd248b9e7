#include "testbed/host_fixture.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <cstring>

namespace ila::testbed {

std::string_view VerdictName(int verdict) {
  switch (verdict) {
    case XDP_ABORTED: return "XDP_ABORTED";
    case XDP_DROP: return "XDP_DROP";
    case XDP_PASS: return "XDP_PASS";
    case XDP_TX: return "XDP_TX";
    case XDP_REDIRECT: return "XDP_REDIRECT";
    case XdpRun::kNotRun: return "not run";
    default: return "unknown verdict";
  }
}

uint64_t Outcomes(const Stats& delta) {
  uint64_t n = 0;
  for (const Counter& c : delta.counters)
    if (c.kind != CounterKind::kObservation) n += c.packets;
  return n;
}

int TcVerdictFor(int xdp_verdict) {
  switch (xdp_verdict) {
    case XDP_REDIRECT: return TC_ACT_REDIRECT;
    case XDP_PASS: return TC_ACT_UNSPEC;
    case XDP_DROP: return TC_ACT_SHOT;
    default: return -1000;
  }
}

Ipv6Address HostFixture::FabricAddress() {
  return Ipv6Address::FromHalves(0xfd0000ff00000000ull, 2);
}

Bytes Segment(uint8_t proto, const Ipv6Address& src, const Ipv6Address& dst) {
  Bytes payload = {'h', 'e', 'l', 'l', 'o', '-', 'i', 'l', 'a'};
  switch (proto) {
    case kProtoTcp: return Tcp(src, dst, 40000, 80, 0x11223344, 0x18, payload);
    case kProtoUdp: return Udp(src, dst, 1000, 2000, payload);
    default: return IcmpEcho(src, dst, 0x4242, 1, payload);
  }
}

absl::StatusOr<std::unique_ptr<Capture>> Capture::Open(const Netns& ns, const std::string& ifname) {
  auto entered = NetnsEntered::Enter(ns);
  if (!entered.ok()) return entered.status();
  OwnedFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  if (!fd.valid()) {
    return absl::InternalError(std::string("AF_PACKET socket: ") + std::strerror(errno));
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  int rcvbuf = 16 << 20;  // bursts of test traffic must not overflow the capture
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  if (addr.sll_ifindex == 0 ||
      bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::InternalError("binding a capture to " + ifname + ": " + std::strerror(errno));
  }
  return std::unique_ptr<Capture>(new Capture(std::move(fd)));
}

std::optional<Bytes> Capture::NextIpv6(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    Bytes buf(9216);
    sockaddr_ll from{};
    socklen_t len = sizeof(from);
    ssize_t n =
        recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    buf.resize(static_cast<size_t>(n));
    if (buf.size() >= kEthLen && buf[12] == 0x86 && buf[13] == 0xdd) {
      // Skip the neighbour discovery and MLD chatter of freshly created links.
      if (buf[0] == 0x33 && buf[1] == 0x33) continue;  // IPv6 multicast (MLD reports, RS, NS)
      if (buf.size() > kEthLen + kIpv6Len && buf[kEthLen + 6] == kProtoIcmpv6 &&
          buf[kEthLen + kIpv6Len] >= 130 && buf[kEthLen + kIpv6Len] <= 143) {
        continue;
      }
      return buf;
    }
  }
}

std::vector<std::string> RemoveStaleTemporaries() {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/tmp", ec)) {
    const std::string name = entry.path().filename().string();
    for (const std::string prefix :
         {"ila-bpffs-", "ila-cluster-", "ila-etcd-", "ila-containerd-"}) {
      if (name.rfind(prefix, 0) != 0) continue;
      // "<prefix><pid>-XXXXXX": only directories of processes that are gone.
      const pid_t pid = static_cast<pid_t>(std::atoi(name.c_str() + prefix.size()));
      if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH) continue;
      // A bpffs mounted on it, or on a directory inside it.
      std::error_code walk;
      for (const auto& inner : std::filesystem::directory_iterator(entry.path(), walk)) {
        umount2(inner.path().c_str(), MNT_DETACH);
      }
      umount2(entry.path().c_str(), MNT_DETACH);
      std::filesystem::remove_all(entry.path(), walk);
      removed.push_back(entry.path().string());
    }
  }
  return removed;
}

absl::StatusOr<std::string> MountPrivateBpffs() {
  RemoveStaleTemporaries();
  std::string name = "/tmp/ila-bpffs-" + std::to_string(getpid()) + "-XXXXXX";
  char* tmpl = name.data();
  if (!mkdtemp(tmpl)) return absl::InternalError(std::string("mkdtemp: ") + std::strerror(errno));
  if (mount("bpf", tmpl, "bpf", 0, nullptr) != 0) {
    int e = errno;
    rmdir(tmpl);
    return absl::FailedPreconditionError(std::string("mounting a private bpffs: ") +
                                         std::strerror(e));
  }
  return std::string(tmpl);
}

void UnmountPrivateBpffs(const std::string& dir) {
  umount2(dir.c_str(), MNT_DETACH);
  rmdir(dir.c_str());
}

absl::Status Inject(const Netns& ns, const std::string& ifname, const Bytes& frame) {
  auto entered = NetnsEntered::Enter(ns);
  if (!entered.ok()) return entered.status();
  OwnedFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return absl::InternalError(std::string("AF_PACKET socket: ") + std::strerror(errno));
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  addr.sll_halen = 6;
  std::copy(frame.begin(), frame.begin() + 6, addr.sll_addr);
  ssize_t n = sendto(fd.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                     sizeof(addr));
  if (n != static_cast<ssize_t>(frame.size())) {
    return absl::InternalError("sending a frame on " + ifname + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HostFixture>> HostFixture::Create(const Options& options) {
  std::unique_ptr<HostFixture> f(new HostFixture());
  auto make_ns = [](const char* prefix) { return Netns::Create(prefix); };
  for (auto [slot, prefix] : {std::pair{&f->host_, "host"}, std::pair{&f->c1_, "c1"},
                              std::pair{&f->c2_, "c2"}, std::pair{&f->fabric_, "fab"}}) {
    auto ns = make_ns(prefix);
    if (!ns.ok()) return ns.status();
    slot->emplace(std::move(*ns));
  }
  f->c1_name_ = UniqueIfName("c1");
  f->c2_name_ = UniqueIfName("c2");
  f->fab_name_ = UniqueIfName("fab");
  f->up_name_ = UniqueIfName("up");
  std::string c1h = UniqueIfName("c1h"), c2h = UniqueIfName("c2h");
  auto c1 =
      VethPair::Create({&*f->host_, c1h, "", {}},
                       {&*f->c1_, f->c1_name_, C1Mac().ToString(), {C1().ToString() + "/64"}});
  if (!c1.ok()) return c1.status();
  f->c1_link_.emplace(std::move(*c1));
  auto c2 =
      VethPair::Create({&*f->host_, c2h, "", {}},
                       {&*f->c2_, f->c2_name_, C2Mac().ToString(), {C2().ToString() + "/64"}});
  if (!c2.ok()) return c2.status();
  f->c2_link_.emplace(std::move(*c2));
  auto up =
      VethPair::Create({&*f->host_, f->up_name_, "", {"fd00:ff::1/64"}},
                       {&*f->fabric_, f->fab_name_, FabricMac().ToString(), {"fd00:ff::2/64"}});
  if (!up.ok()) return up.status();
  f->up_link_.emplace(std::move(*up));

  std::string routes = "ip -6 route add " + Ipv6Address::FromHalves(L2().value(), 0).ToString() +
                       "/64 via fd00:ff::2 dev " + f->up_name_ + " && ip -6 route add " +
                       Sir().ToString() + " via fd00:ff::2 dev " + f->up_name_ +
                       " && ip -6 neigh replace fd00:ff::2 lladdr " + FabricMac().ToString() +
                       " nud permanent dev " + f->up_name_;
  if (absl::Status st = f->host_->Run(routes); !st.ok()) return st;
  if (absl::Status st = f->host_->EnableForwarding(); !st.ok()) return st;

  auto entered = NetnsEntered::Enter(*f->host_);
  if (!entered.ok()) return entered.status();
  f->entered_.emplace(std::move(*entered));
  f->c1h_ = InterfaceIndex(static_cast<int>(if_nametoindex(c1h.c_str())));
  f->c2h_ = InterfaceIndex(static_cast<int>(if_nametoindex(c2h.c_str())));
  f->up_ = InterfaceIndex(static_cast<int>(if_nametoindex(f->up_name_.c_str())));

  DataplaneConfig config = options.config;
  if (options.pinned) {
    auto dir = MountPrivateBpffs();
    if (!dir.ok()) return dir.status();
    f->bpffs_dir_ = *dir;
    config.pinning = f->pin_location();
  }
  auto dp = Dataplane::Create(config);
  if (!dp.ok()) return dp.status();
  f->dp_ = std::move(*dp);
  Dataplane& d = *f->dp_;
  if (absl::Status st = d.sir_prefixes().Add(Sir()); !st.ok()) return st;
  if (auto a = d.AttachContainer({c1h, C1(), C1Mac(), options.attach_mode}); !a.ok())
    return a.status();
  if (auto a = d.AttachContainer({c2h, C2(), C2Mac(), options.attach_mode}); !a.ok())
    return a.status();
  if (auto a = d.AttachUplink({f->up_name_, options.attach_mode, options.uplink_steer_cpus});
      !a.ok()) {
    return a.status();
  }
  if (absl::Status st = d.locators().Upsert({L1(), Sir(), options.locator_mode}); !st.ok())
    return st;

  for (auto [name, mac] : {std::pair{c1h, &f->c1h_mac_}, std::pair{c2h, &f->c2h_mac_},
                           std::pair{f->up_name_, &f->up_mac_}}) {
    auto text = f->host_->RunOutput("cat /sys/class/net/" + name + "/address");
    if (!text.ok()) return text.status();
    auto parsed = MacAddress::Parse(std::string(text->substr(0, 17)));
    if (!parsed.ok()) return parsed.status();
    *mac = *parsed;
  }
  return f;
}

HostFixture::~HostFixture() {
  if (!dp_ && !bpffs_dir_.empty()) {
    // A test dropped its Dataplane: adopt the pinned instance to take it down.
    auto adopted = Dataplane::Open(pin_location());
    if (adopted.ok()) dp_ = std::move(*adopted);
  }
  if (dp_) (void)(dp_->pin_directory() ? dp_->Destroy() : dp_->DetachAll());
  dp_.reset();
  if (!bpffs_dir_.empty()) UnmountPrivateBpffs(bpffs_dir_);
  entered_.reset();
}

XdpRun HostFixture::Run(Role role, const Bytes& frame, InterfaceIndex ingress_ifindex) {
  return Run(dp_->program_fd(role), frame, ingress_ifindex, *dp_);
}

namespace {

// One BPF_PROG_TEST_RUN of `frame` with context `ctx`, and the counters it moved.
XdpRun TestRun(int prog_fd, const Bytes& frame, void* ctx, size_t ctx_size,
               const Dataplane& counters) {
  XdpRun out;
  auto before = counters.ReadStats();
  Bytes data = frame;
  Bytes result(frame.size() + 512);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_out = result.data(),
              .data_size_in = static_cast<uint32_t>(data.size()),
              .data_size_out = static_cast<uint32_t>(result.size()), .ctx_in = ctx,
              .ctx_size_in = static_cast<uint32_t>(ctx_size));
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
    out.error = errno;
    return out;
  }
  out.verdict = static_cast<int>(opts.retval);
  result.resize(opts.data_size_out);
  out.frame = std::move(result);
  auto after = counters.ReadStats();
  if (before.ok() && after.ok()) out.delta = after->Since(*before);
  return out;
}

}  // namespace

XdpRun HostFixture::Run(int prog_fd, const Bytes& frame, InterfaceIndex ingress_ifindex,
                        const Dataplane& counters) {
  xdp_md ctx{};
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex.value());
  ctx.data_end = static_cast<uint32_t>(frame.size());
  return TestRun(prog_fd, frame, &ctx, sizeof(ctx), counters);
}

XdpRun HostFixture::RunTc(int prog_fd, const Bytes& frame, InterfaceIndex ingress_ifindex) {
  return RunTc(prog_fd, frame, ingress_ifindex, *dp_);
}

XdpRun HostFixture::RunTc(int prog_fd, const Bytes& frame, InterfaceIndex ingress_ifindex,
                          const Dataplane& counters) {
  __sk_buff ctx{};
  ctx.ifindex = static_cast<uint32_t>(ingress_ifindex.value());  // the skb's device
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex.value());
  return TestRun(prog_fd, frame, &ctx, sizeof(ctx), counters);
}

absl::Status HostFixture::RunLive(Role role, const Bytes& frame, InterfaceIndex ingress_ifindex) {
  Bytes data = frame;
  xdp_md ctx{};
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex.value());
  ctx.data_end = static_cast<uint32_t>(data.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(),
              .data_size_in = static_cast<uint32_t>(data.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx));
  opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
  opts.repeat = 1;
  if (bpf_prog_test_run_opts(dp_->program_fd(role), &opts) != 0) {
    return absl::InternalError(std::string("BPF_PROG_TEST_RUN (live frames): ") +
                               std::strerror(errno));
  }
  return absl::OkStatus();
}

Bytes HostFixture::FromC1(const Ipv6Address& dst, uint8_t proto, const Bytes& transport,
                          uint8_t hop) const {
  return EthernetIpv6(c1h_mac_, C1Mac(), Ipv6(C1().address(), dst, proto, transport, hop));
}

Bytes HostFixture::FromFabric(const Ipv6Address& src, const Ipv6Address& dst, uint8_t proto,
                              const Bytes& transport, uint8_t hop) const {
  return EthernetIpv6(up_mac_, FabricMac(), Ipv6(src, dst, proto, transport, hop));
}

}  // namespace ila::testbed
