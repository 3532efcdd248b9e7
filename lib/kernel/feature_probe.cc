// The kernel feature probe (include/ila/kernel_probe.h). Each feature is tried by doing the
// smallest real thing that needs it; the ones that need interfaces run on a helper thread that
// unshare()s a fresh network namespace, which the kernel frees (with its links, routes, programs
// and sockets) when the thread ends.
#include "ila/kernel_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/lwtunnel.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <linux/seg6.h>
#include <linux/seg6_iptunnel.h>
#include <linux/seg6_local.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "baseline.skel.h"
#include "kernel/netdev_features.h"
#include "kernel/rtnl_requests.h"
#include "log_capture.h"
#include "object.h"
#include "string_util.h"
#include "tc_attach.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace ila {
namespace {

using internal::Av;
using internal::OwnedFd;

struct FeatureInfo {
  KernelFeature feature;
  const char* name;
  const char* use;
  bool required;     // Dataplane::Create cannot load without it
  bool needs_netns;  // probed on the scratch namespace's interfaces
};

constexpr FeatureInfo kFeatures[kKernelFeatureCount] = {
    {KernelFeature::kBtf, "btf", "CO-RE and libxdp's dispatcher; without it libxdp attaches one "
     "program per interface", false, false},
    {KernelFeature::kBpffs, "bpffs", "pinning (restartable instances, ilactl): libila mounts it "
     "when missing", false, false},
    {KernelFeature::kDevmap, "devmap", "every redirect to a container veth or uplink", true, false},
    {KernelFeature::kCpumap, "cpumap", "uplink cpumap steering", true, false},
    {KernelFeature::kRingbuf, "ringbuf", "miss events", true, false},
    {KernelFeature::kMmapableArray, "mmapable_array", "the mapping, endpoint, locator and "
     "next-hop tables (written by the control plane through mmap)", true, false},
    {KernelFeature::kBpfLoop, "bpf_loop", "slot probes past the inline ones", true, false},
    {KernelFeature::kFibLookup, "fib_lookup", "forwarding translated packets (every remote path)",
     true, false},
    {KernelFeature::kCheckMtu, "check_mtu", "MTU checks before redirecting; without it packets "
     "over the egress MTU are left to the stack", false, false},
    {KernelFeature::kNativeXdp, "native_xdp", "attach mode native (routers; uplinks on NICs); "
     "without it XDP runs in generic mode and containers/uplinks at tc", false, true},
    {KernelFeature::kXdpFrags, "xdp_frags", "XDP on interfaces with an MTU above one page "
     "(jumbo frames); without it those stay at tc", false, false},
    {KernelFeature::kTcClsact, "tc_clsact", "attach mode tc (the default on veth)", false, true},
    {KernelFeature::kTcxLink, "tcx_link", "nothing yet (clsact filters are used); reported for "
     "planning", false, true},
    {KernelFeature::kTestRunLiveFrames, "test_run_live_frames", "tests and benchmarks that inject "
     "frames with BPF_PROG_TEST_RUN; they fall back to AF_XDP/AF_PACKET traffic", false, true},
    {KernelFeature::kAfXdpCopy, "af_xdp_copy", "the benchmark's traffic generator (else "
     "AF_PACKET)", false, true},
    {KernelFeature::kAfXdpZeroCopy, "af_xdp_zero_copy", "a faster benchmark generator on NICs "
     "that support it", false, true},
    {KernelFeature::kLibxdpMultiprog, "libxdp_multiprog", "sharing an interface's XDP hook with "
     "other programs; without it libila's program is attached alone", false, true},
    {KernelFeature::kVxlan, "vxlan", "benchmark peer (compare, tcp groups)", false, true},
    {KernelFeature::kSeg6, "seg6", "benchmark peer SRv6 encapsulation", false, true},
    {KernelFeature::kSeg6Local, "seg6local", "benchmark peer SRv6 decapsulation", false, true},
    {KernelFeature::kIp6tnl, "ip6tnl", "benchmark peer IPv6-in-IPv6", false, true},
    {KernelFeature::kGeneve, "geneve", "benchmark peer GENEVE", false, true},
    {KernelFeature::kPktgen, "pktgen", "the benchmark's generator where present", false, false},
};

const FeatureInfo& Info(KernelFeature f) { return kFeatures[static_cast<int>(f)]; }

std::string Errno(int err) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  return absl::StrCat(std::strerror(err), " (", name ? name : "?", ")");
}

FeatureProbe Yes(KernelFeature f, std::string note = "") { return {f, true, std::move(note)}; }
FeatureProbe No(KernelFeature f, std::string why) { return {f, false, std::move(why)}; }
FeatureProbe FromStatus(KernelFeature f, const absl::Status& st) {
  return st.ok() ? Yes(f) : No(f, std::string(st.message()));
}

// ----- programs and maps ------------------------------------------------------------------

OwnedFd LoadProgram(bpf_prog_type type, int verdict, uint32_t prog_flags, int* err) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0,
       .imm = verdict},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = prog_flags);
  int fd = bpf_prog_load(type, "ila_probe", "GPL", insns, 2, &opts);
  *err = fd < 0 ? errno : 0;
  return OwnedFd(fd);
}

FeatureProbe ProbeMap(KernelFeature f, bpf_map_type type, uint32_t key, uint32_t value,
                      uint32_t max, uint32_t flags = 0) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  OwnedFd fd(bpf_map_create(type, "ila_probe", key, value, max, &opts));
  if (fd.get() < 0) return No(f, absl::StrCat("bpf(BPF_MAP_CREATE): ", Errno(errno)));
  if (f == KernelFeature::kMmapableArray) {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return No(f, absl::StrCat("mmap of the array: ", Errno(errno)));
    munmap(p, 4096);
  }
  return Yes(f);
}

FeatureProbe ProbeHelper(KernelFeature f, bpf_func_id id, const char* name) {
  int r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, id, nullptr);
  if (r == 1) return Yes(f);
  if (r == 0) return No(f, absl::StrCat("the verifier rejects a call to ", name, " in XDP programs"));
  return No(f, absl::StrCat("libbpf_probe_bpf_helper(", name, "): ", Errno(r)));
}

FeatureProbe ProbeBtf() {
  struct stat st;
  if (stat("/sys/kernel/btf/vmlinux", &st) == 0) return Yes(KernelFeature::kBtf);
  return No(KernelFeature::kBtf, absl::StrCat("/sys/kernel/btf/vmlinux: ", Errno(errno)));
}

FeatureProbe ProbeBpffs() {
  struct statfs fs;
  if (statfs("/sys/fs/bpf", &fs) != 0) {
    return No(KernelFeature::kBpffs, absl::StrCat("/sys/fs/bpf: ", Errno(errno)));
  }
  if (static_cast<unsigned long>(fs.f_type) != BPF_FS_MAGIC) {
    return No(KernelFeature::kBpffs,
              "/sys/fs/bpf is not a bpffs (mount -t bpf bpf /sys/fs/bpf); libila mounts it when it "
              "pins as root");
  }
  return Yes(KernelFeature::kBpffs);
}

FeatureProbe ProbeXdpFrags() {
  int err = 0;
  OwnedFd fd = LoadProgram(BPF_PROG_TYPE_XDP, XDP_PASS, BPF_F_XDP_HAS_FRAGS, &err);
  if (fd.get() < 0) {
    return No(KernelFeature::kXdpFrags,
              absl::StrCat("loading an XDP program with BPF_F_XDP_HAS_FRAGS: ", Errno(err)));
  }
  return Yes(KernelFeature::kXdpFrags);
}

FeatureProbe ProbePktgen() {
  if (access("/proc/net/pktgen/pgctrl", W_OK) == 0) return Yes(KernelFeature::kPktgen);
  return No(KernelFeature::kPktgen,
            absl::StrCat("/proc/net/pktgen/pgctrl: ", Errno(errno),
                         " (CONFIG_NET_PKTGEN off, or module pktgen not loaded)"));
}

FeatureProbe ProbeLocal(KernelFeature f) {
  switch (f) {
    case KernelFeature::kBtf: return ProbeBtf();
    case KernelFeature::kBpffs: return ProbeBpffs();
    case KernelFeature::kDevmap: return ProbeMap(f, BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 1);
    case KernelFeature::kCpumap: return ProbeMap(f, BPF_MAP_TYPE_CPUMAP, 4, 4, 1);
    case KernelFeature::kRingbuf: return ProbeMap(f, BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    case KernelFeature::kMmapableArray:
      return ProbeMap(f, BPF_MAP_TYPE_ARRAY, 4, 8, 512, BPF_F_MMAPABLE);
    case KernelFeature::kBpfLoop: return ProbeHelper(f, BPF_FUNC_loop, "bpf_loop");
    case KernelFeature::kFibLookup: return ProbeHelper(f, BPF_FUNC_fib_lookup, "bpf_fib_lookup");
    case KernelFeature::kCheckMtu: return ProbeHelper(f, BPF_FUNC_check_mtu, "bpf_check_mtu");
    case KernelFeature::kXdpFrags: return ProbeXdpFrags();
    case KernelFeature::kPktgen: return ProbePktgen();
    default: return No(f, "not a local probe");
  }
}

// ----- in the scratch namespace -----------------------------------------------------------

constexpr char kVethA[] = "ilaprobe0";
constexpr char kVethB[] = "ilaprobe1";

struct Scratch {
  int ifindex = 0;       // kVethA, up
  absl::Status veth;     // why there is no veth pair, when there is none
};

FeatureProbe ProbeNativeXdp(const Scratch& s) {
  const KernelFeature f = KernelFeature::kNativeXdp;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  int err = 0;
  OwnedFd prog = LoadProgram(BPF_PROG_TYPE_XDP, XDP_PASS, 0, &err);
  if (prog.get() < 0) return No(f, absl::StrCat("loading an XDP program: ", Errno(err)));
  int r = bpf_xdp_attach(s.ifindex, prog.get(), XDP_FLAGS_DRV_MODE, nullptr);
  if (r) return No(f, absl::StrCat("driver-mode XDP on a veth: ", Errno(r)));
  bpf_xdp_detach(s.ifindex, XDP_FLAGS_DRV_MODE, nullptr);
  return Yes(f, "probed on a veth");
}

FeatureProbe ProbeTcClsact(const Scratch& s) {
  const KernelFeature f = KernelFeature::kTcClsact;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  int err = 0;
  OwnedFd prog = LoadProgram(BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK, 0, &err);
  if (prog.get() < 0) return No(f, absl::StrCat("loading a sched_cls program: ", Errno(err)));
  return FromStatus(f, internal::AttachTcIngress(s.ifindex, prog.get()));
}

FeatureProbe ProbeTcx(const Scratch& s) {
  const KernelFeature f = KernelFeature::kTcxLink;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  int err = 0;
  OwnedFd prog = LoadProgram(BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK, 0, &err);
  if (prog.get() < 0) return No(f, absl::StrCat("loading a sched_cls program: ", Errno(err)));
  constexpr int kBpfTcxIngress = 46;  // enum bpf_attach_type, Linux 6.6 (newer than our headers)
  OwnedFd link(bpf_link_create(prog.get(), s.ifindex, static_cast<bpf_attach_type>(kBpfTcxIngress),
                               nullptr));
  if (link.get() < 0) return No(f, absl::StrCat("bpf(BPF_LINK_CREATE, tcx ingress): ", Errno(errno)));
  return Yes(f);
}

FeatureProbe ProbeLiveFrames(const Scratch& s) {
  const KernelFeature f = KernelFeature::kTestRunLiveFrames;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  int err = 0;
  OwnedFd prog = LoadProgram(BPF_PROG_TYPE_XDP, XDP_DROP, 0, &err);
  if (prog.get() < 0) return No(f, absl::StrCat("loading an XDP program: ", Errno(err)));
  unsigned char frame[64] = {};
  xdp_md ctx{};
  ctx.data_end = sizeof(frame);
  ctx.ingress_ifindex = static_cast<uint32_t>(s.ifindex);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1,
              .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
  if (bpf_prog_test_run_opts(prog.get(), &opts) != 0) {
    return No(f, absl::StrCat("bpf(BPF_PROG_TEST_RUN, BPF_F_TEST_XDP_LIVE_FRAMES): ", Errno(errno)));
  }
  return Yes(f);
}

// Binds an AF_XDP socket (UMEM, fill/completion and TX rings; nothing mapped) to queue 0 of
// `ifindex`.
absl::Status BindXsk(int ifindex, uint16_t bind_flags) {
  OwnedFd sock(socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return absl::InternalError(absl::StrCat("socket(AF_XDP): ", Errno(errno)));
  constexpr size_t kFrames = 16, kFrameSize = 4096;
  void* area = mmap(nullptr, kFrames * kFrameSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return absl::InternalError(absl::StrCat("mmap: ", Errno(errno)));
  struct Unmap {
    void* p;
    ~Unmap() { munmap(p, kFrames * kFrameSize); }
  } unmap{area};
  xdp_umem_reg reg{};
  reg.addr = reinterpret_cast<uint64_t>(area);
  reg.len = kFrames * kFrameSize;
  reg.chunk_size = kFrameSize;
  int ring = 16;
  if (setsockopt(sock.get(), SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) ||
      setsockopt(sock.get(), SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)) ||
      setsockopt(sock.get(), SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)) ||
      setsockopt(sock.get(), SOL_XDP, XDP_TX_RING, &ring, sizeof(ring))) {
    return absl::InternalError(absl::StrCat("setting up the AF_XDP socket: ", Errno(errno)));
  }
  sockaddr_xdp addr{};
  addr.sxdp_family = AF_XDP;
  addr.sxdp_ifindex = static_cast<uint32_t>(ifindex);
  addr.sxdp_queue_id = 0;
  addr.sxdp_flags = bind_flags;
  if (bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::Status(absl::ErrnoToStatusCode(errno), absl::StrCat("bind: ", Errno(errno)));
  }
  return absl::OkStatus();
}

FeatureProbe ProbeAfXdpCopy(const Scratch& s) {
  const KernelFeature f = KernelFeature::kAfXdpCopy;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  absl::Status st = BindXsk(s.ifindex, XDP_COPY);
  if (!st.ok()) return No(f, absl::StrCat("AF_XDP in copy mode on a veth: ", st.message()));
  return Yes(f, "probed on a veth");
}

FeatureProbe ProbeLibxdpMultiprog(const Scratch& s) {
  const KernelFeature f = KernelFeature::kLibxdpMultiprog;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  size_t size = 0;
  const void* bytes = baseline__elf_bytes(&size);
  bpf_object* obj = bpf_object__open_mem(bytes, size, nullptr);
  if (!obj) return No(f, absl::StrCat("opening a test object: ", Errno(errno)));
  internal::LogCapture log;
  DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = obj, .prog_name = "xdp_empty");
  xdp_program* prog = xdp_program__create(&opts);
  if (long err = libxdp_get_error(prog); err) {
    bpf_object__close(obj);
    return No(f, absl::StrCat("libxdp cannot use a test program: ", Errno(static_cast<int>(err))));
  }
  int err = xdp_program__attach(prog, s.ifindex, XDP_MODE_SKB, 0);
  FeatureProbe result;
  if (err) {
    result = No(f, absl::StrCat("libxdp attach: ", Errno(err), " ", log.Tail(1)));
  } else {
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(s.ifindex);
    bool legacy = libxdp_get_error(mp) || !mp || xdp_multiprog__is_legacy(mp);
    if (!libxdp_get_error(mp) && mp) xdp_multiprog__close(mp);
    if (legacy) {
      // libxdp says why in the line before "Falling back to loading single prog".
      std::vector<std::string> lines = absl::StrSplit(log.Tail(200), '\n');
      std::string why;
      for (size_t i = 1; i < lines.size(); ++i)
        if (lines[i].find("Falling back") != std::string::npos) why = lines[i - 1];
      result = No(f, absl::StrCat("libxdp attached the program alone",
                                  why.empty() ? "" : ": ", why));
    } else {
      result = Yes(f);
    }
    xdp_program__detach(prog, s.ifindex, XDP_MODE_SKB, 0);
  }
  xdp_program__close(prog);
  bpf_object__close(obj);
  return result;
}

FeatureProbe ProbeLinkKind(KernelFeature f, const char* kind, const internal::LinkData& data) {
  absl::Status st = internal::CreateLink(kind, absl::StrCat("ilaprobe-", kind).substr(0, 15), data);
  return FromStatus(f, st);
}

constexpr uint8_t kProbeDst[16] = {0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

FeatureProbe ProbeSeg6(const Scratch& s) {
  const KernelFeature f = KernelFeature::kSeg6;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  return FromStatus(f, internal::AddEncapRoute(kProbeDst, s.ifindex, LWTUNNEL_ENCAP_SEG6,
                                               [](nlmsghdr* nlh) {
    // Encapsulation with a one-segment SRH: mode, then the header (8 bytes) and one segment.
    alignas(4) uint8_t buf[4 + 8 + 16] = {};
    auto* tun = reinterpret_cast<seg6_iptunnel_encap*>(buf);
    tun->mode = SEG6_IPTUN_MODE_ENCAP;
    ipv6_sr_hdr* srh = tun->srh;
    srh->hdrlen = 2;  // (8 + 16) / 8 - 1
    srh->type = 4;  // IPV6_SRCRT_TYPE_4, the segment routing header
    srh->segments_left = 0;
    srh->first_segment = 0;
    uint8_t seg[16] = {0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(buf + 4 + 8, seg, 16);
    mnl_attr_put(nlh, SEG6_IPTUNNEL_SRH, sizeof(buf), buf);
  }));
}

FeatureProbe ProbeSeg6Local(const Scratch& s) {
  const KernelFeature f = KernelFeature::kSeg6Local;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  uint8_t dst[16];
  std::memcpy(dst, kProbeDst, 16);
  dst[15] = 3;
  return FromStatus(f, internal::AddEncapRoute(dst, s.ifindex, LWTUNNEL_ENCAP_SEG6_LOCAL,
                                               [](nlmsghdr* nlh) {
    mnl_attr_put_u32(nlh, SEG6_LOCAL_ACTION, SEG6_LOCAL_ACTION_END);
  }));
}

FeatureProbe ProbeInScratch(KernelFeature f, const Scratch& s) {
  switch (f) {
    case KernelFeature::kNativeXdp: return ProbeNativeXdp(s);
    case KernelFeature::kTcClsact: return ProbeTcClsact(s);
    case KernelFeature::kTcxLink: return ProbeTcx(s);
    case KernelFeature::kTestRunLiveFrames: return ProbeLiveFrames(s);
    case KernelFeature::kAfXdpCopy: return ProbeAfXdpCopy(s);
    case KernelFeature::kAfXdpZeroCopy:
      return No(f, "veth has no AF_XDP zero-copy; probe a NIC (ilactl probe dev NAME)");
    case KernelFeature::kLibxdpMultiprog: return ProbeLibxdpMultiprog(s);
    case KernelFeature::kVxlan:
      return ProbeLinkKind(f, "vxlan", [](nlmsghdr* nlh) {
        mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, 42);
        mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(4789));
      });
    case KernelFeature::kIp6tnl: return ProbeLinkKind(f, "ip6tnl", {});
    case KernelFeature::kGeneve:
      return ProbeLinkKind(f, "geneve", [](nlmsghdr* nlh) {
        mnl_attr_put(nlh, IFLA_GENEVE_COLLECT_METADATA, 0, nullptr);
      });
    case KernelFeature::kSeg6: return ProbeSeg6(s);
    case KernelFeature::kSeg6Local: return ProbeSeg6Local(s);
    default: return No(f, "not a namespace probe");
  }
}

// Runs the namespace probes of `wanted` on a thread in a fresh namespace with an up veth pair.
absl::Status ProbeInScratchNetns(const std::vector<KernelFeature>& wanted,
                                 std::vector<FeatureProbe>* out) {
  absl::Status status;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = absl::PermissionDeniedError(
          absl::StrCat("cannot make a scratch network namespace (unshare(CLONE_NEWNET)): ",
                       Errno(errno), "; the probe needs root"));
      return;
    }
    Scratch s;
    (void)internal::SetLinkUp(1);  // lo
    s.veth = internal::CreateVethPair(kVethA, kVethB);
    if (s.veth.ok()) {
      s.ifindex = static_cast<int>(if_nametoindex(kVethA));
      int peer = static_cast<int>(if_nametoindex(kVethB));
      absl::Status up = internal::SetLinkUp(s.ifindex);
      if (up.ok()) up = internal::SetLinkUp(peer);
      if (!up.ok()) s.veth = up;
    }
    if (!s.veth.ok()) {
      s.veth = absl::Status(s.veth.code(), absl::StrCat("no veth pair to probe on: ",
                                                        s.veth.message()));
    }
    for (KernelFeature f : wanted) out->push_back(ProbeInScratch(f, s));
  });
  t.join();
  return status;
}

FeatureProbe ProbeOnInterface(KernelFeature f, const std::string& name) {
  int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (ifindex == 0) return No(f, absl::StrCat("no interface ", name, ": ", Errno(errno)));
  auto features = internal::NetdevXdpFeatures(ifindex);
  if (!features.ok()) {
    return No(f, absl::StrCat("cannot tell without attaching to ", name, ": ",
                              features.status().message()));
  }
  bool has = f == KernelFeature::kNativeXdp
                 ? (*features & internal::kNetdevXdpActBasic) != 0
                 : (*features & internal::kNetdevXdpActXskZerocopy) != 0;
  std::string what = f == KernelFeature::kNativeXdp ? "driver XDP" : "AF_XDP zero-copy";
  if (!has) return No(f, absl::StrCat(name, "'s driver does not offer ", what, " (xdp-features)"));
  return Yes(f, absl::StrCat("on ", name, " (xdp-features)"));
}

}  // namespace

std::string_view ToString(KernelFeature feature) { return Info(feature).name; }

absl::StatusOr<KernelFeature> ParseKernelFeature(std::string_view name) {
  std::vector<std::string> names;
  for (const FeatureInfo& i : kFeatures) {
    if (name == i.name) return i.feature;
    names.push_back(i.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown kernel feature \"", Av(name),
                                                 "\"; one of: ", absl::StrJoin(names, ", ")));
}

std::string_view FeatureUse(KernelFeature feature) { return Info(feature).use; }
bool RequiredForCreate(KernelFeature feature) { return Info(feature).required; }

bool KernelProbe::Has(KernelFeature feature) const { return Get(feature).available; }

const FeatureProbe& KernelProbe::Get(KernelFeature feature) const {
  for (const FeatureProbe& p : features)
    if (p.feature == feature) return p;
  static const FeatureProbe unknown{feature, false, "not probed"};
  return unknown;
}

std::string KernelProbe::ToText() const {
  std::string out = absl::StrCat("kernel ", kernel_release,
                                 interface ? absl::StrCat(" (interface ", *interface, ")") : "",
                                 "\n");
  for (const FeatureProbe& p : features) {
    std::string name(ToString(p.feature));
    name.resize(std::max<size_t>(name.size(), 21), ' ');
    absl::StrAppend(&out, name, p.available ? " yes" : " no ",
                    p.detail.empty() ? "" : "  ", p.detail, "\n");
  }
  return out;
}

absl::StatusOr<FeatureProbe> ProbeKernelFeature(KernelFeature feature,
                                                const ProbeOptions& options) {
  if (options.interface && (feature == KernelFeature::kNativeXdp ||
                            feature == KernelFeature::kAfXdpZeroCopy)) {
    return ProbeOnInterface(feature, *options.interface);
  }
  if (!Info(feature).needs_netns) return ProbeLocal(feature);
  std::vector<FeatureProbe> out;
  if (absl::Status st = ProbeInScratchNetns({feature}, &out); !st.ok()) return st;
  return out.at(0);
}

absl::StatusOr<KernelProbe> ProbeKernel(const ProbeOptions& options) {
  KernelProbe probe;
  utsname u{};
  if (uname(&u) == 0) probe.kernel_release = u.release;
  probe.interface = options.interface;
  std::vector<KernelFeature> in_netns;
  for (const FeatureInfo& i : kFeatures)
    if (i.needs_netns) in_netns.push_back(i.feature);
  std::vector<FeatureProbe> scratch;
  if (absl::Status st = ProbeInScratchNetns(in_netns, &scratch); !st.ok()) return st;
  for (const FeatureInfo& i : kFeatures) {
    if (options.interface && (i.feature == KernelFeature::kNativeXdp ||
                              i.feature == KernelFeature::kAfXdpZeroCopy)) {
      probe.features.push_back(ProbeOnInterface(i.feature, *options.interface));
    } else if (i.needs_netns) {
      probe.features.push_back(*std::find_if(scratch.begin(), scratch.end(),
                                             [&](const FeatureProbe& p) { return p.feature == i.feature; }));
    } else {
      probe.features.push_back(ProbeLocal(i.feature));
    }
  }
  return probe;
}

}  // namespace ila
