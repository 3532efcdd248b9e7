// The kernel feature probe tells the truth: what it reports missing really fails in the data
// plane, with the feature's name, and what it reports present really works.
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <catch2/catch.hpp>
#include <string>

#include "ila/dataplane.h"
#include "ila/kernel_probe.h"
#include "testbed/host_fixture.h"
#include "support/host_test.h"
#include "support/skip.h"

using namespace ila;
using namespace ila::testing;
using namespace ila::testbed;
using H = HostFixture;

TEST_CASE("every feature has a stable name that parses back, and a use") {
  for (int i = 0; i < kKernelFeatureCount; ++i) {
    auto f = static_cast<KernelFeature>(i);
    CAPTURE(i);
    auto back = ParseKernelFeature(ToString(f));
    REQUIRE(back.ok());
    CHECK(*back == f);
    CHECK_FALSE(FeatureUse(f).empty());
  }
  auto bad = ParseKernelFeature("xdp");
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(std::string(bad.status().message()).find("one of: btf, bpffs, ") != std::string::npos);
}

TEST_CASE("the probe agrees with what the data plane can do on this kernel") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto probe = ProbeKernel();
  INFO(probe.status().ToString());
  REQUIRE(probe.ok());
  INFO(probe->ToText());
  // Create loaded in the fixture: every feature it requires must be reported present.
  auto host = MakeHostOrFail();
  for (const FeatureProbe& p : probe->features) {
    if (RequiredForCreate(p.feature)) CHECK(p.available);
  }
  // Native XDP and tc attach both worked on veth in fixtures; the probe must say so.
  CHECK(probe->Has(KernelFeature::kNativeXdp));
  CHECK(probe->Has(KernelFeature::kTcClsact));

  // Live frames: the probe's answer is what BPF_PROG_TEST_RUN really does with the data plane's
  // own program (a frame from c1 to an address outside every SIR prefix: passed to the kernel).
  Bytes frame =
      host->FromC1(Ipv6Address::FromHalves(0x20010db800000002ull, 5), kProtoUdp,
                   Udp(H::C1().address(), Ipv6Address::FromHalves(0x20010db800000002ull, 5), 1000,
                       2000, {1, 2, 3}));
  absl::Status live = host->RunLive(Role::kContainer, frame, host->c1h());
  INFO(live.ToString());
  CHECK(live.ok() == probe->Has(KernelFeature::kTestRunLiveFrames));
  const std::string& why = probe->Get(KernelFeature::kTestRunLiveFrames).detail;
  if (!live.ok() && why.find("EPERM") != std::string::npos) {
    CHECK(std::string(live.message()).find("Operation not permitted") != std::string::npos);
  }
}

TEST_CASE("attaching where a feature is missing names it") {
  ILA_SKIP_IF(HostTestSkipReason());
  auto host = MakeHostOrFail();
  // A bridge is Ethernet but has no native XDP: asked for natively, the error names the probe and
  // the device. (It lives in the fixture's namespace and goes with it.)
  absl::Status bridge = host->host_ns().Run("ip link add ilabr0 type bridge");
  ILA_SKIP_IF(bridge.ok() ? std::nullopt
                          : std::optional<std::string>("no bridge devices here: " +
                                                       std::string(bridge.message())));
  auto att = host->dp().AttachUplink({"ilabr0", AttachMode::kNative, {}});
  REQUIRE_FALSE(att.ok());
  INFO(att.status().ToString());
  CHECK(std::string(att.status().message()).find("ilabr0 has no native XDP (probe native_xdp") !=
        std::string::npos);
}

// Hides /sys/fs/bpf under a tmpfs in a mount namespace of the calling process's own. With
// `as_init`, the process is also PID 1 of a new PID namespace with its own /proc (a machine or
// container of its own: a mount made there lasts); without, it is like `ip netns exec`.
static std::string HideBpffs(bool as_init) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "making / private";
  if (as_init && mount("proc", "/proc", "proc", 0, nullptr) != 0) {
    return std::string("mounting /proc: ") + strerror(errno);
  }
  if (mount("tmpfs", "/sys/fs/bpf", "tmpfs", 0, nullptr) != 0) {
    return std::string("hiding /sys/fs/bpf: ") + strerror(errno);
  }
  auto before = ProbeKernelFeature(KernelFeature::kBpffs);
  if (!before.ok() || before->available) return "the probe did not see bpffs missing";
  return "";
}

static absl::StatusOr<std::unique_ptr<Dataplane>> CreatePinnedAtDefault() {
  DataplaneConfig config;
  config.nexthop_cache = false;
  config.pinning = PinLocation{"/sys/fs/bpf/ila", "bpffs-test"};
  return Dataplane::Create(config);
}

// As PID 1 of its namespaces: Create mounts bpffs at /sys/fs/bpf and pins there.
static std::string MountsAsInit() {
  if (std::string err = HideBpffs(true); !err.empty()) return err;
  auto dp = CreatePinnedAtDefault();
  if (!dp.ok()) return "Create: " + std::string(dp.status().message());
  auto after = ProbeKernelFeature(KernelFeature::kBpffs);
  if (!after.ok() || !after->available) return "no bpffs at /sys/fs/bpf after Create";
  struct stat st {};
  if (stat("/sys/fs/bpf/ila/bpffs-test/maps/ila_meta", &st) != 0) return "nothing pinned";
  if (absl::Status d = (*dp)->Destroy(); !d.ok()) return "Destroy: " + std::string(d.message());
  return "";
}

// In a mount namespace of its own (as under `ip netns exec`): refused in one line, nothing
// mounted.
static std::string RefusesInTransientNamespace() {
  if (std::string err = HideBpffs(false); !err.empty()) return err;
  auto dp = CreatePinnedAtDefault();
  if (dp.ok()) return "Create pinned in a mount namespace that vanishes with the process";
  std::string msg(dp.status().message());
  if (msg.find("mount namespace of its own") == std::string::npos) return "unclear error: " + msg;
  auto after = ProbeKernelFeature(KernelFeature::kBpffs);
  if (!after.ok() || after->available) return "a bpffs was mounted anyway";
  return "";
}

// Runs `fn` in a child (in new mount, and with `new_pid_ns` PID, namespaces) and returns what it
// reported ("" for success).
template <typename F>
static std::string InChild(bool new_pid_ns, F fn) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "pipe";
  pid_t pid = fork();
  if (pid < 0) return "fork";
  if (pid == 0) {
    close(pipefd[0]);
    std::string err;
    if (unshare(CLONE_NEWNS | (new_pid_ns ? CLONE_NEWPID : 0)) != 0) {
      err = std::string("unshare: ") + strerror(errno);
    } else if (new_pid_ns) {
      pid_t init = fork();  // PID 1 of the new PID namespace
      if (init == 0) {
        err = fn();
        if (!err.empty()) (void)!write(pipefd[1], err.data(), err.size());
        _exit(err.empty() ? 0 : 1);
      }
      int status = 0;
      if (init < 0 || waitpid(init, &status, 0) != init) err = "fork in the PID namespace";
      _exit(err.empty() && WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    } else {
      err = fn();
    }
    if (!err.empty()) (void)!write(pipefd[1], err.data(), err.size());
    _exit(err.empty() ? 0 : 1);
  }
  close(pipefd[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) err.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return "waitpid";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return err.empty() ? "child failed" : err;
  return err;
}

TEST_CASE(
    "Create mounts bpffs at /sys/fs/bpf where it would last, and refuses where it would not") {
  ILA_SKIP_IF(BpfUnavailableReason());
  CHECK(InChild(true, MountsAsInit) == "");
  CHECK(InChild(false, RefusesInTransientNamespace) == "");
}
