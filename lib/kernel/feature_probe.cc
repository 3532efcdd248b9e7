// The kernel feature probe (include/ila/kernel_probe.h): the feature table, the public API and the
// probes that need no interface. Each feature is tried by doing the smallest real thing that needs
// it; those that need interfaces are in netns_probes.cc.
#include "ila/kernel_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernel/probe_util.h"
#include "core/string_util.h"

namespace ila::internal {

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  const char* name = strerrorname_np(err);
  return absl::StrCat(std::strerror(err), " (", name ? name : "?", ")");
}

OwnedFd LoadProgram(bpf_prog_type type, int verdict, uint32_t prog_flags, int* err) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K,
       .dst_reg = BPF_REG_0,
       .src_reg = 0,
       .off = 0,
       .imm = verdict},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = prog_flags);
  int fd = bpf_prog_load(type, "ila_probe", "GPL", insns, 2, &opts);
  *err = fd < 0 ? errno : 0;
  return OwnedFd(fd);
}

}  // namespace ila::internal

namespace ila {
namespace {

using internal::Av;
using internal::ErrnoText;
using internal::LoadProgram;
using internal::No;
using internal::ProbeInScratchNetns;
using internal::ProbeOnInterface;
using internal::Yes;

struct FeatureInfo {
  KernelFeature feature;
  const char* name;
  const char* use;
  bool required;     // Dataplane::Create cannot load without it
  bool needs_netns;  // probed on the scratch namespace's interfaces
};

constexpr FeatureInfo kFeatures[kKernelFeatureCount] = {
    {KernelFeature::kBtf, "btf",
     "CO-RE and libxdp's dispatcher; without it libxdp attaches one "
     "program per interface",
     false, false},
    {KernelFeature::kBpffs, "bpffs",
     "pinning (restartable instances, ilactl): libila mounts it "
     "when missing",
     false, false},
    {KernelFeature::kDevmap, "devmap", "every redirect to a container veth or uplink", true, false},
    {KernelFeature::kCpumap, "cpumap", "uplink cpumap steering", true, false},
    {KernelFeature::kRingbuf, "ringbuf", "miss events", true, false},
    {KernelFeature::kMmapableArray, "mmapable_array",
     "the mapping, endpoint, locator and "
     "next-hop tables (written by the control plane through mmap)",
     true, false},
    {KernelFeature::kBpfLoop, "bpf_loop", "slot probes past the inline ones", true, false},
    {KernelFeature::kFibLookup, "fib_lookup", "forwarding translated packets (every remote path)",
     true, false},
    {KernelFeature::kCheckMtu, "check_mtu",
     "MTU checks before redirecting; without it packets "
     "over the egress MTU are left to the stack",
     false, false},
    {KernelFeature::kNativeXdp, "native_xdp",
     "attach mode native (routers; uplinks on NICs); "
     "without it XDP runs in generic mode and containers/uplinks at tc",
     false, true},
    {KernelFeature::kXdpFrags, "xdp_frags",
     "XDP on interfaces with an MTU above one page "
     "(jumbo frames); without it those stay at tc",
     false, false},
    {KernelFeature::kTcClsact, "tc_clsact", "attach mode tc (the default on veth)", false, true},
    {KernelFeature::kTcxLink, "tcx_link",
     "nothing yet (clsact filters are used); reported for "
     "planning",
     false, true},
    {KernelFeature::kTestRunLiveFrames, "test_run_live_frames",
     "tests and benchmarks that inject "
     "frames with BPF_PROG_TEST_RUN; they fall back to AF_XDP/AF_PACKET traffic",
     false, true},
    {KernelFeature::kAfXdpCopy, "af_xdp_copy",
     "the benchmark's traffic generator (else "
     "AF_PACKET)",
     false, true},
    {KernelFeature::kAfXdpZeroCopy, "af_xdp_zero_copy",
     "a faster benchmark generator on NICs "
     "that support it",
     false, true},
    {KernelFeature::kLibxdpMultiprog, "libxdp_multiprog",
     "sharing an interface's XDP hook with "
     "other programs; without it libila's program is attached alone",
     false, true},
    {KernelFeature::kVxlan, "vxlan", "benchmark peer (compare, tcp groups)", false, true},
    {KernelFeature::kSeg6, "seg6", "benchmark peer SRv6 encapsulation", false, true},
    {KernelFeature::kSeg6Local, "seg6local", "benchmark peer SRv6 decapsulation", false, true},
    {KernelFeature::kIp6tnl, "ip6tnl", "benchmark peer IPv6-in-IPv6", false, true},
    {KernelFeature::kGeneve, "geneve", "benchmark peer GENEVE", false, true},
    {KernelFeature::kPktgen, "pktgen", "the benchmark's generator where present", false, false},
};

const FeatureInfo& Info(KernelFeature f) { return kFeatures[static_cast<int>(f)]; }

FeatureProbe ProbeMap(KernelFeature f, bpf_map_type type, uint32_t key, uint32_t value,
                      uint32_t max, uint32_t flags = 0) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  OwnedFd fd(bpf_map_create(type, "ila_probe", key, value, max, &opts));
  if (fd.get() < 0) return No(f, absl::StrCat("bpf(BPF_MAP_CREATE): ", ErrnoText(errno)));
  if (f == KernelFeature::kMmapableArray) {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return No(f, absl::StrCat("mmap of the array: ", ErrnoText(errno)));
    munmap(p, 4096);
  }
  return Yes(f);
}

FeatureProbe ProbeHelper(KernelFeature f, bpf_func_id id, const char* name) {
  int r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, id, nullptr);
  if (r == 1) return Yes(f);
  if (r == 0)
    return No(f, absl::StrCat("the verifier rejects a call to ", name, " in XDP programs"));
  return No(f, absl::StrCat("libbpf_probe_bpf_helper(", name, "): ", ErrnoText(r)));
}

FeatureProbe ProbeBtf() {
  struct stat st;
  if (stat("/sys/kernel/btf/vmlinux", &st) == 0) return Yes(KernelFeature::kBtf);
  return No(KernelFeature::kBtf, absl::StrCat("/sys/kernel/btf/vmlinux: ", ErrnoText(errno)));
}

FeatureProbe ProbeBpffs() {
  struct statfs fs;
  if (statfs("/sys/fs/bpf", &fs) != 0) {
    return No(KernelFeature::kBpffs, absl::StrCat("/sys/fs/bpf: ", ErrnoText(errno)));
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
              absl::StrCat("loading an XDP program with BPF_F_XDP_HAS_FRAGS: ", ErrnoText(err)));
  }
  return Yes(KernelFeature::kXdpFrags);
}

FeatureProbe ProbePktgen() {
  if (access("/proc/net/pktgen/pgctrl", W_OK) == 0) return Yes(KernelFeature::kPktgen);
  return No(KernelFeature::kPktgen,
            absl::StrCat("/proc/net/pktgen/pgctrl: ", ErrnoText(errno),
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
  std::string out =
      absl::StrCat("kernel ", kernel_release,
                   interface ? absl::StrCat(" (interface ", *interface, ")") : "", "\n");
  for (const FeatureProbe& p : features) {
    std::string name(ToString(p.feature));
    name.resize(std::max<size_t>(name.size(), 21), ' ');
    absl::StrAppend(&out, name, p.available ? " yes" : " no ", p.detail.empty() ? "" : "  ",
                    p.detail, "\n");
  }
  return out;
}

absl::StatusOr<FeatureProbe> ProbeKernelFeature(KernelFeature feature,
                                                const ProbeOptions& options) {
  if (options.interface &&
      (feature == KernelFeature::kNativeXdp || feature == KernelFeature::kAfXdpZeroCopy)) {
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
    if (options.interface &&
        (i.feature == KernelFeature::kNativeXdp || i.feature == KernelFeature::kAfXdpZeroCopy)) {
      probe.features.push_back(ProbeOnInterface(i.feature, *options.interface));
    } else if (i.needs_netns) {
      probe.features.push_back(
          *std::find_if(scratch.begin(), scratch.end(),
                        [&](const FeatureProbe& p) { return p.feature == i.feature; }));
    } else {
      probe.features.push_back(ProbeLocal(i.feature));
    }
  }
  return probe;
}

}  // namespace ila
