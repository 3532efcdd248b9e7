// The probes that need interfaces (include/ila/kernel_probe.h), run on a helper thread that
// unshare()s a fresh network namespace with a veth pair; the kernel frees the namespace (links,
// routes, programs, sockets) when the thread ends.
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/lwtunnel.h>
#include <linux/pkt_cls.h>
#include <linux/seg6.h>
#include <linux/seg6_iptunnel.h>
#include <linux/seg6_local.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "baseline.skel.h"
#include "kernel/netdev_features.h"
#include "kernel/probe_util.h"
#include "kernel/rtnl_requests.h"
#include "kernel/log_capture.h"
#include "kernel/tc_attach.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace ila::internal {
namespace {

// ----- in the scratch namespace -----------------------------------------------------------

constexpr char kVethA[] = "ilaprobe0";
constexpr char kVethB[] = "ilaprobe1";

struct Scratch {
  int ifindex = 0;    // kVethA, up
  absl::Status veth;  // why there is no veth pair, when there is none
};

// A program of `type` returning `verdict`, for a probe on the scratch veth; or why there is none
// (no veth, or the load failed).
absl::StatusOr<OwnedFd> ScratchProgram(const Scratch& s, bpf_prog_type type, int verdict) {
  if (!s.veth.ok()) return s.veth;
  int err = 0;
  OwnedFd prog = LoadProgram(type, verdict, 0, &err);
  if (prog.get() < 0) {
    return absl::InternalError(absl::StrCat(
        type == BPF_PROG_TYPE_XDP ? "loading an XDP program: " : "loading a sched_cls program: ",
        ErrnoText(err)));
  }
  return prog;
}

FeatureProbe ProbeNativeXdp(const Scratch& s) {
  const KernelFeature f = KernelFeature::kNativeXdp;
  auto prog = ScratchProgram(s, BPF_PROG_TYPE_XDP, XDP_PASS);
  if (!prog.ok()) return No(f, std::string(prog.status().message()));
  int r = bpf_xdp_attach(s.ifindex, prog->get(), XDP_FLAGS_DRV_MODE, nullptr);
  if (r) return No(f, absl::StrCat("driver-mode XDP on a veth: ", ErrnoText(r)));
  bpf_xdp_detach(s.ifindex, XDP_FLAGS_DRV_MODE, nullptr);
  return Yes(f, "probed on a veth");
}

FeatureProbe ProbeTcClsact(const Scratch& s) {
  const KernelFeature f = KernelFeature::kTcClsact;
  auto prog = ScratchProgram(s, BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK);
  if (!prog.ok()) return No(f, std::string(prog.status().message()));
  return FromStatus(f, AttachTcIngress(s.ifindex, prog->get()));
}

FeatureProbe ProbeTcx(const Scratch& s) {
  const KernelFeature f = KernelFeature::kTcxLink;
  auto prog = ScratchProgram(s, BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK);
  if (!prog.ok()) return No(f, std::string(prog.status().message()));
  constexpr int kBpfTcxIngress = 46;  // enum bpf_attach_type, Linux 6.6 (newer than our headers)
  OwnedFd link(bpf_link_create(prog->get(), s.ifindex, static_cast<bpf_attach_type>(kBpfTcxIngress),
                               nullptr));
  if (link.get() < 0)
    return No(f, absl::StrCat("bpf(BPF_LINK_CREATE, tcx ingress): ", ErrnoText(errno)));
  return Yes(f);
}

FeatureProbe ProbeLiveFrames(const Scratch& s) {
  const KernelFeature f = KernelFeature::kTestRunLiveFrames;
  auto prog = ScratchProgram(s, BPF_PROG_TYPE_XDP, XDP_DROP);
  if (!prog.ok()) return No(f, std::string(prog.status().message()));
  unsigned char frame[64] = {};
  xdp_md ctx{};
  ctx.data_end = sizeof(frame);
  ctx.ingress_ifindex = static_cast<uint32_t>(s.ifindex);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1,
              .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
  if (bpf_prog_test_run_opts(prog->get(), &opts) != 0) {
    return No(
        f, absl::StrCat("bpf(BPF_PROG_TEST_RUN, BPF_F_TEST_XDP_LIVE_FRAMES): ", ErrnoText(errno)));
  }
  return Yes(f);
}

// Binds an AF_XDP socket (UMEM, fill/completion and TX rings; nothing mapped) to queue 0 of
// `ifindex`.
absl::Status BindXsk(int ifindex, uint16_t bind_flags) {
  OwnedFd sock(socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (sock.get() < 0)
    return absl::InternalError(absl::StrCat("socket(AF_XDP): ", ErrnoText(errno)));
  constexpr size_t kFrames = 16, kFrameSize = 4096;
  void* area = mmap(nullptr, kFrames * kFrameSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return absl::InternalError(absl::StrCat("mmap: ", ErrnoText(errno)));
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
    return absl::InternalError(absl::StrCat("setting up the AF_XDP socket: ", ErrnoText(errno)));
  }
  sockaddr_xdp addr{};
  addr.sxdp_family = AF_XDP;
  addr.sxdp_ifindex = static_cast<uint32_t>(ifindex);
  addr.sxdp_queue_id = 0;
  addr.sxdp_flags = bind_flags;
  if (bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::Status(absl::ErrnoToStatusCode(errno), absl::StrCat("bind: ", ErrnoText(errno)));
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
  if (!obj) return No(f, absl::StrCat("opening a test object: ", ErrnoText(errno)));
  LogCapture log;
  DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = obj, .prog_name = "xdp_empty");
  xdp_program* prog = xdp_program__create(&opts);
  if (long err = libxdp_get_error(prog); err) {
    bpf_object__close(obj);
    return No(f,
              absl::StrCat("libxdp cannot use a test program: ", ErrnoText(static_cast<int>(err))));
  }
  int err = xdp_program__attach(prog, s.ifindex, XDP_MODE_SKB, 0);
  FeatureProbe result;
  if (err) {
    result = No(f, absl::StrCat("libxdp attach: ", ErrnoText(err), " ", log.Tail(1)));
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
      result =
          No(f, absl::StrCat("libxdp attached the program alone", why.empty() ? "" : ": ", why));
    } else {
      result = Yes(f);
    }
    xdp_program__detach(prog, s.ifindex, XDP_MODE_SKB, 0);
  }
  xdp_program__close(prog);
  bpf_object__close(obj);
  return result;
}

FeatureProbe ProbeLinkKind(KernelFeature f, const char* kind, const LinkData& data) {
  absl::Status st = CreateLink(kind, absl::StrCat("ilaprobe-", kind).substr(0, 15), data);
  return FromStatus(f, st);
}

constexpr uint8_t kProbeDst[16] = {0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

FeatureProbe ProbeSeg6(const Scratch& s) {
  const KernelFeature f = KernelFeature::kSeg6;
  if (!s.veth.ok()) return No(f, std::string(s.veth.message()));
  return FromStatus(f, AddEncapRoute(kProbeDst, s.ifindex, LWTUNNEL_ENCAP_SEG6, [](nlmsghdr* nlh) {
                      // Encapsulation with a one-segment SRH: mode, then the header (8 bytes) and one segment.
                      alignas(4) uint8_t buf[4 + 8 + 16] = {};
                      auto* tun = reinterpret_cast<seg6_iptunnel_encap*>(buf);
                      tun->mode = SEG6_IPTUN_MODE_ENCAP;
                      ipv6_sr_hdr* srh = tun->srh;
                      srh->hdrlen = 2;  // (8 + 16) / 8 - 1
                      srh->type = 4;    // IPV6_SRCRT_TYPE_4, the segment routing header
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
  return FromStatus(f, AddEncapRoute(dst, s.ifindex, LWTUNNEL_ENCAP_SEG6_LOCAL, [](nlmsghdr* nlh) {
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

}  // namespace

absl::Status ProbeInScratchNetns(const std::vector<KernelFeature>& wanted,
                                 std::vector<FeatureProbe>* out) {
  absl::Status status;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = absl::PermissionDeniedError(absl::StrCat(
          "cannot make a scratch network namespace (unshare(CLONE_NEWNET)): ", ErrnoText(errno),
          "; the probe needs root"));
      return;
    }
    Scratch s;
    (void)SetLinkUp(1);  // lo
    s.veth = CreateVethPair(kVethA, kVethB);
    if (s.veth.ok()) {
      s.ifindex = static_cast<int>(if_nametoindex(kVethA));
      int peer = static_cast<int>(if_nametoindex(kVethB));
      absl::Status up = SetLinkUp(s.ifindex);
      if (up.ok()) up = SetLinkUp(peer);
      if (!up.ok()) s.veth = up;
    }
    if (!s.veth.ok()) {
      s.veth =
          absl::Status(s.veth.code(), absl::StrCat("no veth pair to probe on: ", s.veth.message()));
    }
    for (KernelFeature f : wanted) out->push_back(ProbeInScratch(f, s));
  });
  t.join();
  return status;
}

FeatureProbe ProbeOnInterface(KernelFeature f, const std::string& name) {
  int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (ifindex == 0) return No(f, absl::StrCat("no interface ", name, ": ", ErrnoText(errno)));
  auto features = NetdevXdpFeatures(ifindex);
  if (!features.ok()) {
    return No(f, absl::StrCat("cannot tell without attaching to ", name, ": ",
                              features.status().message()));
  }
  bool has = f == KernelFeature::kNativeXdp ? (*features & kNetdevXdpActBasic) != 0
                                            : (*features & kNetdevXdpActXskZerocopy) != 0;
  std::string what = f == KernelFeature::kNativeXdp ? "driver XDP" : "AF_XDP zero-copy";
  if (!has) return No(f, absl::StrCat(name, "'s driver does not offer ", what, " (xdp-features)"));
  return Yes(f, absl::StrCat("on ", name, " (xdp-features)"));
}

}  // namespace ila::internal
