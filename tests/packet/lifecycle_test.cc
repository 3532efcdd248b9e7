// Lifecycle of a pinned data plane: restart (Open) and upgrade under live traffic, miss events,
// cpumap steering, bad Open cases, and every combination of load-time options through the
// verifier.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "abi.h"
#include "ila/translation.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<HostFixture> MakeHost(const HostFixture::Options& opt) {
  return MakeHostOrFail(opt);
}

HostFixture::Options Pinned() {
  HostFixture::Options opt;
  opt.pinned = true;
  opt.locator_mode = ChecksumMode::kNeutralMapAuto;
  return opt;
}

// A steady UDP stream from c1 (sent with AF_PACKET inside c1's namespace) and its count where it
// arrives: at the fabric for a remote destination, in c2 for container C2. Each flow is told apart
// by its destination port.
class Flow {
 public:
  Flow(HostFixture& host, const SirAddress& dst, uint16_t dport) : host_(host), dport_(dport) {
    Ipv6Address d = dst.address();
    frame_ = host.FromC1(d, kProtoUdp,
                         Udp(HostFixture::C1().address(), d, 5000, dport, Bytes(32, 0x5a)));
  }
  void Start(int packets, std::chrono::microseconds gap, bool to_c2 = false) {
    auto capture = to_c2 ? Capture::Open(host_.c2_ns(), host_.c2_name())
                         : Capture::Open(host_.fabric_ns(), host_.fabric_name());
    REQUIRE(capture.ok());
    capture_ = std::move(*capture);
    receiver_ = std::thread([this] {
      while (true) {
        auto f = capture_->NextIpv6(1500ms);
        if (!f) break;
        size_t port = kEthLen + kIpv6Len + 2;
        if (f->size() > port + 1 && (((*f)[port] << 8) | (*f)[port + 1]) == dport_) ++received_;
      }
    });
    sender_ = std::thread([this, packets, gap] {
      auto in = NetnsEntered::Enter(host_.c1_ns());
      if (!in.ok()) return;
      int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
      sockaddr_ll addr{};
      addr.sll_family = AF_PACKET;
      addr.sll_ifindex = static_cast<int>(if_nametoindex(host_.c1_name().c_str()));
      for (int i = 0; i < packets; ++i) {
        if (sendto(fd, frame_.data(), frame_.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                   sizeof(addr)) == static_cast<ssize_t>(frame_.size())) {
          ++sent_;
        }
        std::this_thread::sleep_for(gap);
      }
      close(fd);
    });
  }
  void Join() {
    sender_.join();
    receiver_.join();
  }
  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }

 private:
  HostFixture& host_;
  uint16_t dport_;
  Bytes frame_;
  std::unique_ptr<Capture> capture_;
  std::thread sender_, receiver_;
  std::atomic<uint64_t> sent_{0}, received_{0};
};

// A program of `type` that only returns `verdict`: someone else's, put on an interface from outside
// the data plane.
OwnedFd ForeignProgram(bpf_prog_type type, int verdict) {
  bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = verdict
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = verdict;
  insns[1].code = BPF_JMP | BPF_EXIT;
  return OwnedFd(bpf_prog_load(type, "foreign", "GPL", insns, 2, nullptr));
}

// libila's tc filter on an interface (clsact ingress, handle 0x11a, priority 1).
constexpr uint32_t kTcHandle = 0x11a, kTcPriority = 1;

// The id of the program the kernel runs on `ifindex` where a data plane attached in `mode` puts
// its own: the driver-mode XDP program, or the program of libila's tc filter. 0: none.
uint32_t RunningProgram(int ifindex, AttachMode mode) {
  if (mode == AttachMode::kTc) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
  }
  uint32_t id = 0;
  return bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &id) == 0 ? id : 0;
}

// Puts `prog_fd` where RunningProgram looks, in place of whatever runs there.
int PutProgram(int ifindex, AttachMode mode, int prog_fd) {
  if (mode == AttachMode::kTc) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
                .handle = kTcHandle, .priority = kTcPriority);
    return bpf_tc_attach(&hook, &opts);
  }
  return bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, nullptr);
}

// The name the kernel knows program `id` by ("" when it is gone).
std::string ProgramName(uint32_t id) {
  OwnedFd fd(bpf_prog_get_fd_by_id(id));
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (!fd.valid() || bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return "";
  return info.name;
}

}  // namespace

TEST_CASE("a new control process adopts a running instance under traffic without losing a packet") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost(Pinned());
  SirAddress steady = HostFixture::Remote();
  SirAddress moving{HostFixture::Sir(), Identifier(0x77)};
  Locator l3(0x20010db8cccc0003ull);
  REQUIRE(host->host_ns()
              .Run("ip -6 route add 2001:db8:cccc:3::/64 via fd00:ff::2 dev " + host->up_name())
              .ok());
  REQUIRE(host->dp()
              .mappings()
              .Upsert({steady, HostFixture::L2(), ChecksumMode::kNeutralMapAuto})
              .ok());
  REQUIRE(host->dp()
              .mappings()
              .Upsert({moving, HostFixture::L2(), ChecksumMode::kNeutralMapAuto})
              .ok());
  auto before = host->dp().ReadStats();
  REQUIRE(before.ok());

  Flow flow(*host, steady, 4242);
  flow.Start(3000, 200us);
  Flow local(*host, HostFixture::C2(), 4244);  // container to container on this host
  local.Start(3000, 200us, /*to_c2=*/true);
  std::this_thread::sleep_for(200ms);
  // The controlling process exits: its Dataplane goes, the pinned instance keeps forwarding.
  host->DropDataplane();
  std::this_thread::sleep_for(100ms);
  auto adopted = Dataplane::Open(host->pin_location());
  INFO(adopted.status().ToString());
  REQUIRE(adopted.ok());
  host->SetDataplane(std::move(*adopted));
  // The new process sees what the old one made, and changes a mapping.
  CHECK(host->dp().attachments().size() == 3);
  CHECK(host->dp().mappings().Get(steady).ok());
  REQUIRE(host->dp().mappings().Upsert({moving, l3, ChecksumMode::kNeutralMapAuto}).ok());
  flow.Join();
  local.Join();

  // Counted at both ends: nothing lost on the flows whose mappings did not change.
  CHECK(flow.sent() == 3000);
  CHECK(flow.received() == flow.sent());
  CHECK(local.sent() == 3000);
  CHECK(local.received() == local.sent());
  // The change took effect: the moved destination now goes to its new locator.
  Ipv6Address d = moving.address();
  XdpRun r = host->Run(
      Role::kContainer,
      host->FromC1(d, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), d)), host->c1h());
  CHECK(r.verdict == XDP_REDIRECT);
  CHECK(FrameDst(r.frame) == SirToIla(moving, l3, ChecksumMode::kNeutralMapAuto)->address());
  // The counters carried on across the change of process.
  auto after = host->dp().ReadStats();
  REQUIRE(after.ok());
  CHECK(after->Since(*before).Packets("tx_remote") >= 3000);
}

TEST_CASE("Upgrade replaces the running programs under traffic: no loss, counters carry on") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost(Pinned());
  REQUIRE(host->dp()
              .mappings()
              .Upsert({HostFixture::Remote(), HostFixture::L2(), ChecksumMode::kNeutralMapAuto})
              .ok());
  std::map<InterfaceIndex, uint32_t> old_ids;
  for (const Attachment& a : host->dp().attachments()) old_ids[a.ifindex] = a.program_id;
  auto before = host->dp().ReadStats();

  Flow flow(*host, HostFixture::Remote(), 4343);
  flow.Start(3000, 200us);
  std::this_thread::sleep_for(250ms);
  absl::Status up = host->dp().Upgrade();
  INFO(up.ToString());
  REQUIRE(up.ok());
  flow.Join();

  CHECK(flow.sent() == 3000);
  CHECK(flow.received() == flow.sent());
  for (const Attachment& a : host->dp().attachments()) {
    CAPTURE(a.interface);
    CHECK(a.program_id != 0);
    CHECK(a.program_id != old_ids[a.ifindex]);
  }
  auto after = host->dp().ReadStats();
  CHECK(after->Since(*before).Packets("tx_remote") == 3000);
  // A process that opens the upgraded instance finds the new programs.
  host->DropDataplane();
  auto adopted = Dataplane::Open(host->pin_location());
  REQUIRE(adopted.ok());
  for (const Attachment& a : (*adopted)->attachments()) CHECK(a.program_id != old_ids[a.ifindex]);
  host->SetDataplane(std::move(*adopted));
}

TEST_CASE("Upgrade is all interfaces or none: a swap refused on a later interface rolls back") {
  ILA_SKIP_IF(HostTestSkipReason());
  const AttachMode mode = GENERATE(AttachMode::kNative, AttachMode::kTc);
  CAPTURE(ToString(mode));
  HostFixture::Options opt = Pinned();
  opt.attach_mode = mode;
  const bool steered = mode != AttachMode::kTc;  // a cpumap entry to roll back too (XDP only)
  if (steered) opt.uplink_steer_cpus = {0};
  auto host = MakeHost(opt);
  OwnedFd cpus(bpf_obj_get((*host->dp().pin_directory() + "/maps/ila_cpus").c_str()));
  REQUIRE(cpus.valid());
  auto cpu_program = [&] {
    const uint32_t cpu = 0;
    bpf_cpumap_val v{};
    return bpf_map_lookup_elem(cpus.get(), &cpu, &v) == 0 ? v.bpf_prog.id : 0u;
  };
  const uint32_t old_cpu = cpu_program();
  CHECK((old_cpu != 0) == steered);

  // The programs running now, by ifindex; Upgrade swaps in ifindex order, so the highest is last.
  std::map<int, uint32_t> old_ids;
  std::string last_name;
  for (const Attachment& a : host->dp().attachments()) {
    REQUIRE(ToString(a.mode) == ToString(mode));
    REQUIRE(RunningProgram(a.ifindex.value(), mode) == a.program_id);
    old_ids[a.ifindex.value()] = a.program_id;
    if (a.ifindex.value() == old_ids.rbegin()->first) last_name = a.interface;
  }
  REQUIRE(old_ids.size() == 3);
  const int last = old_ids.rbegin()->first;
  CAPTURE(last_name);

  // Someone replaces our program on the last interface: the kernel refuses the upgrade's
  // replace-if-it-still-runs-ours there (XDP: EEXIST; tc: the filter runs another program), after
  // the cpumap entry and the other two interfaces were swapped.
  OwnedFd foreign = mode == AttachMode::kTc ? ForeignProgram(BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK)
                                            : ForeignProgram(BPF_PROG_TYPE_XDP, XDP_PASS);
  REQUIRE(foreign.valid());
  REQUIRE(PutProgram(last, mode, foreign.get()) == 0);
  const uint32_t foreign_id = RunningProgram(last, mode);
  REQUIRE(foreign_id != old_ids[last]);

  absl::Status up = host->dp().Upgrade();
  INFO(up.ToString());
  REQUIRE_FALSE(up.ok());
  CHECK_THAT(std::string(up.message()), Catch::Contains(" on " + last_name + ": ") &&
                                            Catch::Contains("rolled back") &&
                                            !Catch::Contains("rollback incomplete"));
  // Every interface runs what it ran before (the last one, the program put there), the cpumap
  // entry too, and the attachments and their records say so.
  for (const auto& [ifindex, id] : old_ids) {
    CAPTURE(ifindex);
    CHECK(RunningProgram(ifindex, mode) == (ifindex == last ? foreign_id : id));
  }
  CHECK(cpu_program() == old_cpu);
  for (const Attachment& a : host->dp().attachments())
    CHECK(a.program_id == old_ids[a.ifindex.value()]);
  host->DropDataplane();
  auto adopted = Dataplane::Open(host->pin_location());
  REQUIRE(adopted.ok());
  for (const Attachment& a : (*adopted)->attachments()) {
    CHECK(a.program_id == old_ids[a.ifindex.value()]);
  }
  host->SetDataplane(std::move(*adopted));

  // With our program back on the last interface, the upgrade goes through everywhere.
  OwnedFd ours(bpf_prog_get_fd_by_id(old_ids[last]));
  REQUIRE(ours.valid());
  REQUIRE(PutProgram(last, mode, ours.get()) == 0);
  absl::Status again = host->dp().Upgrade();
  INFO(again.ToString());
  REQUIRE(again.ok());
  for (const Attachment& a : host->dp().attachments()) {
    CAPTURE(a.interface);
    CHECK(a.program_id != old_ids[a.ifindex.value()]);
    CHECK(RunningProgram(a.ifindex.value(), mode) == a.program_id);
  }
  if (steered) CHECK(cpu_program() != old_cpu);
}

TEST_CASE("Upgrade behind libxdp's dispatcher swaps our program within it, the dispatcher stays") {
  ILA_SKIP_IF(HostTestSkipReason());
  ILA_SKIP_IF(FeatureMissingReason(KernelFeature::kLibxdpMultiprog));
  auto host = MakeHost(Pinned());
  std::set<int> behind;  // interfaces whose program is in a dispatcher
  std::string alone;
  for (const Attachment& a : host->dp().attachments()) {
    if (a.multiprog) behind.insert(a.ifindex.value());
    if (!a.multiprog) alone = a.interface + ": " + a.libxdp_note;
  }
  ILA_SKIP_IF(behind.empty() ? std::optional<std::string>(
                                   "libxdp attached the data plane's programs alone, " + alone)
                             : std::nullopt);
  std::map<int, uint32_t> old_ids;
  for (const Attachment& a : host->dp().attachments()) old_ids[a.ifindex.value()] = a.program_id;

  absl::Status up = host->dp().Upgrade();
  INFO(up.ToString());
  REQUIRE(up.ok());
  for (const Attachment& a : host->dp().attachments()) {
    if (!behind.contains(a.ifindex.value())) continue;
    CAPTURE(a.interface);
    CHECK(a.multiprog);
    CHECK(a.program_id != old_ids[a.ifindex.value()]);
    // The interface still runs a dispatcher (the other programs in it stay), not our program bare.
    const uint32_t running = RunningProgram(a.ifindex.value(), AttachMode::kNative);
    CHECK(running != a.program_id);
    CHECK(ProgramName(running) == "xdp_dispatcher");
  }
}

TEST_CASE("a burst of misses to one destination yields a bounded number of events that add up") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options opt;
  opt.config.miss_event_interval = 300ms;
  auto host = MakeHost(opt);
  auto reader = host->dp().OpenMissEvents();
  REQUIRE(reader.ok());

  SirAddress unmapped{HostFixture::Sir(), Identifier(0xdead)};
  Ipv6Address d = unmapped.address();
  Bytes frame = host->FromC1(d, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), d));
  // 100k packets through the real program, as fast as the kernel runs them.
  xdp_md ctx{};
  ctx.ingress_ifindex = static_cast<uint32_t>(host->c1h().value());
  ctx.data_end = static_cast<uint32_t>(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = 100000);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(bpf_prog_test_run_opts(host->dp().program_fd(Role::kContainer), &opts) == 0);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(opts.retval == XDP_PASS);

  uint64_t events = 0, suppressed = 0;
  auto collect = [&] {
    while (true) {
      auto n = (*reader)->Poll(50ms, [&](const MissEvent& e) {
        CHECK(e.destination == unmapped);
        CHECK(e.ifindex == host->c1h());
        ++events;
        suppressed += e.suppressed;
      });
      REQUIRE(n.ok());
      if (*n == 0) break;
    }
  };
  collect();
  // One event per 300 ms interval at most (plus the first).
  auto intervals = std::chrono::duration_cast<std::chrono::milliseconds>(took).count() / 300 + 1;
  CHECK(events >= 1);
  CHECK(events <= static_cast<uint64_t>(intervals) + 1);
  // After the interval, the next miss reports everything suppressed since: all 100k add up.
  std::this_thread::sleep_for(350ms);
  LIBBPF_OPTS(bpf_test_run_opts, one, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx));
  REQUIRE(bpf_prog_test_run_opts(host->dp().program_fd(Role::kContainer), &one) == 0);
  collect();
  CHECK(events + suppressed == 100001);
  auto stats = host->dp().ReadStats();
  CHECK(stats->Packets("miss_event") == events);
  CHECK(stats->Packets("pass_miss") == 100001);
}

TEST_CASE("many distinct unmapped destinations each get an event") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHost({});
  auto reader = host->dp().OpenMissEvents();
  REQUIRE(reader.ok());
  std::set<SirAddress> sent;
  for (uint64_t id = 0x1000; id < 0x1000 + 200; ++id) {
    SirAddress dst{HostFixture::Sir(), Identifier(id)};
    sent.insert(dst);
    Ipv6Address d = dst.address();
    XdpRun r =
        host->Run(Role::kContainer,
                  host->FromC1(d, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), d)),
                  host->c1h());
    REQUIRE(r.verdict == XDP_PASS);
  }
  std::set<SirAddress> seen;
  while (true) {
    auto n = (*reader)->Poll(100ms, [&](const MissEvent& e) {
      CHECK(e.suppressed == 0);
      seen.insert(e.destination);
    });
    REQUIRE(n.ok());
    if (*n == 0) break;
  }
  CHECK(seen == sent);
}

TEST_CASE("a container spraying unmapped destinations cannot crowd out another's miss events") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options options;
  options.config.miss_event_rate = 50;
  options.config.miss_event_burst = 64;
  auto host = MakeHost(options);
  auto reader = host->dp().OpenMissEvents();
  REQUIRE(reader.ok());
  auto before = host->dp().ReadStats();
  REQUIRE(before.ok());
  const auto start = std::chrono::steady_clock::now();
  auto send = [&](const SirAddress& from, MacAddress from_mac, MacAddress to_mac, InterfaceIndex on,
                  uint64_t id) {
    const Ipv6Address s = from.address(),
                      d = SirAddress{HostFixture::Sir(), Identifier(id)}.address();
    XdpRun r = host->Run(
        Role::kContainer,
        EthernetIpv6(to_mac, from_mac, Ipv6(s, d, kProtoUdp, Segment(kProtoUdp, s, d))), on);
    REQUIRE(r.verdict == XDP_PASS);
  };
  constexpr uint64_t kSprayed = 20000, kOthers = 10;
  for (uint64_t id = 0x100000; id < 0x100000 + kSprayed; ++id)
    send(HostFixture::C1(), HostFixture::C1Mac(), host->C1hMac(), host->c1h(), id);
  for (uint64_t id = 0x200000; id < 0x200000 + kOthers; ++id)
    send(HostFixture::C2(), HostFixture::C2Mac(), host->C2hMac(), host->c2h(), id);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  uint64_t from_c1 = 0;
  std::set<uint64_t> from_c2;
  while (true) {
    auto n = (*reader)->Poll(100ms, [&](const MissEvent& e) {
      if (e.ifindex == host->c1h()) ++from_c1;
      if (e.ifindex == host->c2h()) from_c2.insert(e.destination.identifier.value());
    });
    REQUIRE(n.ok());
    if (*n == 0) break;
  }
  INFO("c1 raised " << from_c1 << " events in " << seconds << " s");
  // The burst, what the rate refilled meanwhile, and a little for CPUs racing on the budget.
  CHECK(from_c1 >= 64);
  CHECK(from_c1 <= 64 + static_cast<uint64_t>(50 * seconds) + 8);
  CHECK(from_c2.size() == kOthers);  // the other container's events all arrived
  auto after = host->dp().ReadStats();
  REQUIRE(after.ok());
  const Stats delta = after->Since(*before);
  CHECK(delta.Packets("miss_event_limited") == kSprayed - from_c1);
  CHECK(delta.Packets("miss_event_lost") == 0);
  CHECK(delta.Packets("pass_miss") == kSprayed + kOthers);
}

TEST_CASE("cpumap steering keeps a flow on one CPU, spreads flows, and translates as direct mode") {
  ILA_SKIP_IF(HostTestSkipReason());
  if (libbpf_num_possible_cpus() < 2) {
    std::cout << "ILA_SKIP: cpumap steering needs at least two CPUs" << std::endl;
    return;
  }
  HostFixture::Options opt;
  opt.locator_mode = ChecksumMode::kNeutralMap;
  opt.uplink_steer_cpus = {0, 1};
  auto host = MakeHost(opt);
  bool steered = false;
  for (const Attachment& a : host->dp().attachments()) {
    if (a.role == Role::kUplink) steered = a.steer_cpus == std::vector<int>{0, 1};
  }
  CHECK(steered);
  auto capture = Capture::Open(host->c1_ns(), host->c1_name());
  REQUIRE(capture.ok());

  auto send_flow = [&](uint16_t sport, int packets) {
    Ipv6Address src = HostFixture::Remote().address();
    Ipv6Address c1 = HostFixture::C1().address();
    Bytes original = Ipv6(src, c1, kProtoUdp, Udp(src, c1, sport, 53, Bytes(16, 1)));
    Bytes wire = original;
    REQUIRE(
        RewriteDestination(
            wire,
            SirToIla(HostFixture::C1(), HostFixture::L1(), ChecksumMode::kNeutralMap)->address(),
            ChecksumMode::kNeutralMap)
            .ok());
    Bytes want = original;
    want[7] -= 1;
    for (int i = 0; i < packets; ++i) {
      REQUIRE(Inject(host->fabric_ns(), host->fabric_name(),
                     EthernetIpv6(host->UplinkMac(), HostFixture::FabricMac(), wire))
                  .ok());
      auto got = (*capture)->NextIpv6(2000ms);
      REQUIRE(got.has_value());
      // Identical to what direct (unsteered) mode delivers.
      CHECK(Hex(*got) == Hex(EthernetIpv6(HostFixture::C1Mac(), host->C1hMac(), want)));
    }
  };
  auto per_cpu = [&] {
    auto v = host->dp().ReadCounterPerCpu("rx_delivered");
    REQUIRE(v.ok());
    return *v;
  };

  // One flow: all its packets on one CPU.
  std::vector<uint64_t> base = per_cpu();
  send_flow(1000, 20);
  std::vector<uint64_t> one = per_cpu();
  int cpus_used = 0;
  int flow_cpu = -1;
  for (size_t c = 0; c < one.size(); ++c) {
    if (one[c] != base[c]) {
      ++cpus_used;
      flow_cpu = static_cast<int>(c);
      CHECK(one[c] - base[c] == 20);
    }
  }
  CHECK(cpus_used == 1);
  CHECK((flow_cpu == 0 || flow_cpu == 1));
  // Another flow that hashes to the other CPU: the work is spread over both.
  bool spread = false;
  for (uint16_t sport = 1001; sport < 1100 && !spread; ++sport) {
    std::vector<uint64_t> b = per_cpu();
    send_flow(sport, 1);
    std::vector<uint64_t> a = per_cpu();
    for (size_t c = 0; c < a.size(); ++c) {
      if (a[c] != b[c] && static_cast<int>(c) != flow_cpu) spread = true;
    }
  }
  CHECK(spread);
  CHECK(host->dp().ReadStats()->Packets("steered") >= 21);
}

TEST_CASE("Open refuses what it cannot adopt, and changes nothing") {
  ILA_SKIP_IF(BpfUnavailableReason());
  auto dir = MountPrivateBpffs();
  REQUIRE(dir.ok());
  struct Unmount {
    std::string d;
    ~Unmount() { UnmountPrivateBpffs(d); }
  } unmount{*dir};

  SECTION("pin directories are private, and Destroy removes only what the instance pinned") {
    DataplaneConfig config;
    config.pinning = PinLocation{*dir + "/ila", "private"};
    auto dp = Dataplane::Create(config);
    REQUIRE(dp.ok());
    const std::string pins = *config.pinning->Directory();
    for (const std::string& d : {*dir + "/ila", pins, pins + "/maps", pins + "/progs"}) {
      CAPTURE(d);
      struct stat st {};
      REQUIRE(stat(d.c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0700);
    }
    // Something that is not the instance's, in its directory and beside it.
    REQUIRE(mkdir((pins + "/kept").c_str(), 0700) == 0);
    REQUIRE(mkdir((*dir + "/ila/neighbour").c_str(), 0700) == 0);
    absl::Status destroyed = (*dp)->Destroy();
    CHECK(absl::IsFailedPrecondition(destroyed));
    CHECK_THAT(std::string(destroyed.message()), Catch::Contains(pins + "/kept"));
    CHECK(std::filesystem::is_directory(pins + "/kept"));
    CHECK(std::filesystem::is_directory(*dir + "/ila/neighbour"));
    CHECK_FALSE(std::filesystem::exists(pins + "/maps"));
    CHECK_FALSE(std::filesystem::exists(pins + "/progs"));
    std::filesystem::remove_all(*dir + "/ila");
  }
  SECTION("nothing pinned") {
    auto dp = Dataplane::Open({*dir, "nothing"});
    CHECK(absl::IsNotFound(dp.status()));
    CHECK_THAT(std::string(dp.status().message()), Catch::Contains("no ILA instance is pinned"));
  }
  SECTION("bpffs not mounted") {
    auto dp = Dataplane::Open({"/tmp/ila-not-bpffs", "x"});
    CHECK(absl::IsFailedPrecondition(dp.status()));
    CHECK_THAT(std::string(dp.status().message()), Catch::Contains("mount -t bpf bpf"));
    DataplaneConfig config;
    config.pinning = PinLocation{"/tmp/ila-not-bpffs", "x"};
    auto created = Dataplane::Create(config);
    CHECK_THAT(std::string(created.status().message()), Catch::Contains("no bpffs is mounted"));
  }
  SECTION("half-removed instance") {
    DataplaneConfig config;
    config.pinning = PinLocation{*dir, "half"};
    auto dp = Dataplane::Create(config);
    REQUIRE(dp.ok());
    std::string pins = *config.pinning->Directory();
    REQUIRE(std::filesystem::remove(pins + "/maps/ila_reverse"));
    auto before = std::distance(std::filesystem::recursive_directory_iterator(pins), {});
    auto adopted = Dataplane::Open(*config.pinning);
    CHECK(absl::IsFailedPrecondition(adopted.status()));
    CHECK_THAT(std::string(adopted.status().message()), Catch::Contains("maps/ila_reverse"));
    CHECK(std::distance(std::filesystem::recursive_directory_iterator(pins), {}) == before);
    CHECK((*dp)->Destroy().ok());
    CHECK(!std::filesystem::exists(pins));
  }
  SECTION("an instance pinned by another map layout") {
    DataplaneConfig config;
    config.pinning = PinLocation{*dir, "old"};
    auto dp = Dataplane::Create(config);
    REQUIRE(dp.ok());
    std::string pins = *config.pinning->Directory();
    // What an older build with a narrower mapping value would have left.
    REQUIRE(std::filesystem::remove(pins + "/maps/ila_mappings"));
    int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ila_mappings", 16, 20, 1024, nullptr);
    REQUIRE(fd >= 0);
    REQUIRE(bpf_obj_pin(fd, (pins + "/maps/ila_mappings").c_str()) == 0);
    close(fd);
    auto adopted = Dataplane::Open(*config.pinning);
    CHECK(absl::IsFailedPrecondition(adopted.status()));
    CHECK_THAT(std::string(adopted.status().message()),
               Catch::Contains("ila_mappings has value size 20 where this build expects 24"));
    CHECK((*dp)->Destroy().ok());
  }
  SECTION("an instance pinned by the previous ABI version") {
    DataplaneConfig config;
    config.pinning = PinLocation{*dir, "previous"};
    auto dp = Dataplane::Create(config);
    REQUIRE(dp.ok());
    std::string pins = *config.pinning->Directory();
    // The version an instance of the previous layout recorded (docs/abi.md).
    int meta = bpf_obj_get((pins + "/maps/ila_meta").c_str());
    REQUIRE(meta >= 0);
    uint32_t zero = 0;
    ila::abi::ila_meta m{};
    REQUIRE(bpf_map_lookup_elem(meta, &zero, &m) == 0);
    m.abi_version = ILA_ABI_VERSION - 1;
    REQUIRE(bpf_map_update_elem(meta, &zero, &m, BPF_ANY) == 0);
    close(meta);
    auto adopted = Dataplane::Open(*config.pinning);
    CHECK(absl::IsFailedPrecondition(adopted.status()));
    std::string why(adopted.status().message());
    CHECK_THAT(why,
               Catch::Contains("map layout version " + std::to_string(ILA_ABI_VERSION - 1) +
                               ", this build reads version " + std::to_string(ILA_ABI_VERSION)));
    CHECK_THAT(why, Catch::Contains("docs/abi.md"));
    CHECK((*dp)->Destroy().ok());
  }
  SECTION("Create refuses to overwrite a pinned instance") {
    DataplaneConfig config;
    config.pinning = PinLocation{*dir, "twice"};
    auto first = Dataplane::Create(config);
    REQUIRE(first.ok());
    auto second = Dataplane::Create(config);
    CHECK(absl::IsAlreadyExists(second.status()));
    CHECK((*first)->Destroy().ok());
  }
}

TEST_CASE("every combination of load-time options passes the verifier") {
  ILA_SKIP_IF(BpfUnavailableReason());
  int loaded = 0;
  for (MissPolicy miss : {MissPolicy::kPassToRouter, MissPolicy::kDrop}) {
    for (MovedPolicy moved : {MovedPolicy::kForward, MovedPolicy::kDrop}) {
      for (auto interval : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(1000000000)}) {
        for (uint32_t size : {1u, 65536u}) {
          for (bool cache : {false, true}) {
            DataplaneConfig config;
            config.forwarding_cache = cache;
            config.miss_policy = miss;
            config.moved_policy = moved;
            config.miss_event_interval = interval;
            config.max_mappings = size;
            auto dp = Dataplane::Create(config);
            INFO(dp.status().ToString());
            CHECK(dp.ok());
            loaded += dp.ok();
          }
        }
      }
    }
  }
  CHECK(loaded == 32);
}

// The cache evicts mappings, never the reverse entry of a mapping it still holds: an ICMP error
// about any cached destination is translated back for the sender. Traffic keeps one mapping fresh
// in the cache's LRU while its reverse entry is never read (an LRU reverse map evicted it).
TEST_CASE("a forwarding cache translates ICMP errors about every mapping it holds") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options opt;
  opt.config.forwarding_cache = true;
  opt.config.max_mappings = 64;
  auto host = MakeHost(opt);
  auto sir = [](uint64_t id) { return SirAddress{HostFixture::Sir(), Identifier(id)}; };
  auto from_c1 = [&](const Ipv6Address& d) {
    return host->FromC1(d, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), d));
  };
  const SirAddress busy = sir(0x100);
  for (uint64_t id = 0x100; id < 0x100 + 1000; ++id) {
    absl::Status st =
        host->dp().mappings().Upsert({sir(id), HostFixture::L2(), ChecksumMode::kNoAction});
    INFO(st.ToString());
    REQUIRE(st.ok());
    XdpRun r = host->Run(Role::kContainer, from_c1(busy.address()), host->c1h());
    REQUIRE(r.verdict == XDP_REDIRECT);
  }
  auto cached = host->dp().mappings().List();
  REQUIRE(cached.ok());
  CHECK(cached->size() <= 64);
  CHECK(
      std::any_of(cached->begin(), cached->end(), [&](const Mapping& m) { return m.sir == busy; }));
  auto c1_ila = SirToIla(HostFixture::C1(), HostFixture::L1(), opt.locator_mode);
  REQUIRE(c1_ila.ok());
  const Ipv6Address fab = HostFixture::FabricAddress();
  for (const Mapping& m : *cached) {
    CAPTURE(m.sir);
    Bytes sent = Ipv6(HostFixture::C1().address(), m.sir.address(), kProtoUdp,
                      Segment(kProtoUdp, HostFixture::C1().address(), m.sir.address()));
    Bytes on_wire = sent;
    REQUIRE(RewriteDestination(on_wire, m.IlaDestination()->address(), m.csum_mode).ok());
    Bytes ptb = Ipv6(fab, HostFixture::C1().address(), kProtoIcmpv6,
                     IcmpError(fab, HostFixture::C1().address(), 2, 0, 1280, on_wire));
    REQUIRE(RewriteDestination(ptb, c1_ila->address(), opt.locator_mode).ok());
    XdpRun r =
        host->Run(Role::kUplink, EthernetIpv6(host->UplinkMac(), HostFixture::FabricMac(), ptb),
                  host->uplink());
    CHECK(r.verdict == XDP_REDIRECT);
    CHECK(r.delta.Packets("icmp_inner_translated") == 1);
  }
}

TEST_CASE("a forwarding cache stays bounded, evicts the least recent, and refills through misses") {
  ILA_SKIP_IF(HostTestSkipReason());
  HostFixture::Options opt;
  opt.config.forwarding_cache = true;
  opt.config.max_mappings = 64;
  opt.config.miss_event_interval = std::chrono::nanoseconds(0);
  auto host = MakeHost(opt);
  for (uint64_t id = 0x100; id < 0x100 + 300; ++id) {
    SirAddress sir{HostFixture::Sir(), Identifier(id)};
    absl::Status st =
        host->dp().mappings().Upsert({sir, HostFixture::L2(), ChecksumMode::kNeutralMapAuto});
    INFO(st.ToString());
    REQUIRE(st.ok());
  }
  auto all = host->dp().mappings().List();
  REQUIRE(all.ok());
  CHECK(all->size() <= 64);
  CHECK(all->size() >= 32);
  SirAddress newest{HostFixture::Sir(), Identifier(0x100 + 299)};
  CHECK(host->dp().mappings().Get(newest).ok());
  // The oldest was evicted: it misses, goes toward the router, and tells the control plane.
  SirAddress oldest{HostFixture::Sir(), Identifier(0x100)};
  CHECK(absl::IsNotFound(host->dp().mappings().Get(oldest).status()));
  auto reader = host->dp().OpenMissEvents();
  REQUIRE(reader.ok());
  Ipv6Address d = oldest.address();
  XdpRun r = host->Run(
      Role::kContainer,
      host->FromC1(d, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), d)), host->c1h());
  CHECK(r.verdict == XDP_PASS);
  CHECK(r.delta.Packets("pass_miss") == 1);
  std::vector<SirAddress> events;
  REQUIRE(
      (*reader)->Poll(200ms, [&](const MissEvent& e) { events.push_back(e.destination); }).ok());
  REQUIRE(events.size() == 1);
  CHECK(events[0] == oldest);
  // Installing it again (what the control plane does on the event) makes it hit.
  REQUIRE(host->dp()
              .mappings()
              .Upsert({oldest, HostFixture::L2(), ChecksumMode::kNeutralMapAuto})
              .ok());
  r = host->Run(Role::kContainer,
                host->FromC1(d, kProtoUdp, Segment(kProtoUdp, HostFixture::C1().address(), d)),
                host->c1h());
  CHECK(r.verdict == XDP_REDIRECT);
}
