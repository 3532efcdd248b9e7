#include "worlds.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "ila/translation.h"
#include "testbed/packet.h"

namespace ila::bench {
namespace {

using testbed::HostFixture;

std::unique_ptr<World> current;

absl::Status Expect(HostFixture& host, const PathCase& c) {
  testbed::XdpRun r = host.Run(c.prog_fd, c.frame, c.ingress_ifindex, host.dp());
  if (r.verdict != c.verdict) {
    return absl::FailedPreconditionError(
        absl::StrCat(c.name, ": expected ", std::string(testbed::VerdictName(c.verdict)), ", got ",
                     r.error != 0 ? std::string(std::strerror(r.error))
                                  : std::string(testbed::VerdictName(r.verdict)),
                     "; counters: ", r.delta.ToText()));
  }
  auto counter = CounterName::Parse(c.counter.empty() ? "tx_remote" : c.counter);
  if (!counter.ok()) return counter.status();
  if (!c.counter.empty() && r.delta.Packets(*counter) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        c.name, ": expected counter ", c.counter, " to count it; counters: ", r.delta.ToText()));
  }
  return absl::OkStatus();
}

absl::Status AttachSink(const testbed::Netns& ns, const std::string& ifname, int prog_fd) {
  auto entered = testbed::NetnsEntered::Enter(ns);
  if (!entered.ok()) return entered.status();
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) return absl::NotFoundError("no interface " + ifname);
  // Replaces the pass-through program the data plane gave the veth peer (netlink attachment).
  int err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, nullptr);
  if (err != 0) {
    return absl::InternalError(
        absl::StrCat("attaching the sink to ", ifname, ": ", std::strerror(-err)));
  }
  return absl::OkStatus();
}

// The bare lookups (bench_slots_lookup, bench_plain_hash) find the hot destination and rewrite it
// to the address the data plane writes: a miss (XDP_PASS) would be measured as a cheaper lookup.
absl::Status CheckBareLookups(const ScaleWorld& w) {
  const Bytes frame = UdpFromC1(*w.host, w.hot.address());
  const std::string want =
      SirToIla(w.hot, HostFixture::L2(), ChecksumMode::kNeutralMapAuto)->address().ToString();
  for (auto [name, fd] :
       {std::pair{"slots", SlotsFd(w.skel)}, std::pair{"plain_hash", PlainHashFd(w.skel)}}) {
    Bytes out;
    auto r = RunOnce(fd, frame, w.host->c1h(), &out);
    if (!r.ok()) return r.status();
    const std::string got = testbed::FrameDst(out).ToString();
    if (r->retval != XDP_DROP || got != want) {
      return absl::InternalError(absl::StrCat("bench ", name, " lookup of ", w.hot.ToString(), ": ",
                                              std::string(testbed::VerdictName(r->retval)), " to ",
                                              got, ", not XDP_DROP to ", want));
    }
  }
  return absl::OkStatus();
}

}  // namespace

PathsWorld::~PathsWorld() = default;
ScaleWorld::~ScaleWorld() = default;
ControlWorld::~ControlWorld() {
  loaded.clear();
  entered.reset();
  ns.reset();
}

void DestroyWorlds() { current.reset(); }
World* CurrentWorld() { return current.get(); }
World* SetWorld(std::unique_ptr<World> w) {
  current.reset();
  current = std::move(w);
  return current.get();
}

Bytes PathsWorld::ContainerFrame(ChecksumMode mode) const {
  return UdpFromC1(*host, remote.at(mode).address());
}

Bytes PathsWorld::UplinkFrame(ChecksumMode mode) const {
  Ipv6Address dst = SirToIla(HostFixture::C1(), locator.at(mode), mode)->address();
  return UdpFromFabric(*host, HostFixture::Remote().address(), dst);
}

absl::StatusOr<PathsWorld*> GetPathsWorld() {
  if (auto* w = dynamic_cast<PathsWorld*>(current.get())) return w;
  current.reset();
  auto w = std::make_unique<PathsWorld>();
  HostFixture::Options opt;
  opt.locator_mode = ChecksumMode::kNeutralMapAuto;
  auto host = HostFixture::Create(opt);
  if (!host.ok()) return host.status();
  w->host = std::move(*host);
  HostFixture& h = *w->host;
  Dataplane& dp = h.dp();
  auto skel = LoadBenchSkel(1, 1);
  if (!skel.ok()) return skel.status();
  w->skel = std::move(*skel);
  auto base = LoadBaselineSkel();
  if (!base.ok()) return base.status();
  w->base = std::move(*base);

  int container = dp.program_fd(Role::kContainer);
  int uplink = dp.program_fd(Role::kUplink);
  uint64_t i = 0;
  for (ChecksumMode mode : kModes) {
    SirAddress r{HostFixture::Sir(), Identifier(0x100 + i)};
    Locator loc(0x20010db8aaaa0010ull + i);
    ++i;
    if (absl::Status st = dp.mappings().Upsert({r, HostFixture::L2(), mode}); !st.ok()) return st;
    if (absl::Status st = dp.locators().Upsert({loc, HostFixture::Sir(), mode}); !st.ok())
      return st;
    w->remote[mode] = r;
    w->locator[mode] = loc;
    std::string m = ChecksumModeName(mode);
    w->cases["from_container_remote/" + m] = {"from_container_remote/" + m,
                                              container,
                                              w->ContainerFrame(mode),
                                              h.c1h(),
                                              XDP_REDIRECT,
                                              "tx_remote"};
    w->cases["from_uplink/" + m] = {"from_uplink/" + m, uplink,       w->UplinkFrame(mode),
                                    h.uplink(),         XDP_REDIRECT, "rx_delivered"};
  }
  Bytes local = UdpFromC1(h, HostFixture::C2().address());
  w->cases["from_container_local"] = {"from_container_local", container, local, h.c1h(),
                                      XDP_REDIRECT,           "tx_local"};
  w->cases["miss"] = {"miss",  container, UdpFromC1(h, PathsWorld::Unmapped().address()),
                      h.c1h(), XDP_PASS,  "pass_miss"};
  w->cases["not_sir"] = {"not_sir", container, UdpFromC1(h, HostFixture::FabricAddress()),
                         h.c1h(),   XDP_PASS,  "pass_not_sir"};
  Ipv6Address host_up = Ipv6Address::FromHalves(0xfd0000ff00000000ull, 1);
  w->cases["uplink_not_local"] = {
      "uplink_not_local", uplink,   UdpFromFabric(h, HostFixture::FabricAddress(), host_up),
      h.uplink(),         XDP_PASS, "pass_not_local_locator"};
  // An IPv4 frame of the same size (its IPv4 content is never looked at).
  Bytes v4 = local;
  v4[12] = 0x08;
  v4[13] = 0x00;
  w->cases["not_ipv6"] = {"not_ipv6", container, v4, h.c1h(), XDP_PASS, "pass_not_ipv6"};
  // The baselines run on the same frame as the remote path.
  Bytes frame = w->cases["from_container_remote/neutral-map-auto"].frame;
  w->cases["empty"] = {"empty", BaselineEmptyFd(w->base), frame, h.c1h(), XDP_PASS, ""};
  w->cases["parse_only"] = {"parse_only", BaselineParseFd(w->base), frame, h.c1h(), XDP_PASS, ""};
  // Components of the remote path: the FIB lookup of a translated destination on its own.
  Ipv6Address translated = SirToIla(w->remote.at(ChecksumMode::kNeutralMapAuto), HostFixture::L2(),
                                    ChecksumMode::kNeutralMapAuto)
                               ->address();
  w->cases["component_fib_lookup"] = {
      "component_fib_lookup", FibOnlyFd(w->skel), UdpFromC1(h, translated), h.c1h(), XDP_DROP, ""};
  // ... and the redirect every forwarding program ends with: a devmap redirect and nothing else
  // (the live ceiling's program), so that the rest of a path's cost can be told from it.
  if (absl::Status st = SetRedirectTarget(w->skel, h.uplink()); !st.ok()) return st;
  w->cases["component_redirect"] = {
      "component_redirect", RedirectFd(w->skel), frame, h.c1h(), XDP_REDIRECT, ""};

  for (const auto& [name, c] : w->cases) {
    if (absl::Status st = Expect(h, c); !st.ok()) return st;
  }
  current = std::move(w);
  return static_cast<PathsWorld*>(current.get());
}

absl::Status PathsWorld::PrepareLive() {
  if (live_ready) return absl::OkStatus();
  HostFixture& h = *host;
  if (absl::Status st = AttachSink(h.fabric_ns(), h.fabric_name(), SinkFd(skel)); !st.ok()) {
    return st;
  }
  if (absl::Status st = AttachSink(h.c1_ns(), h.c1_name(), SinkFd(skel)); !st.ok()) return st;
  // Kernel forwarding towards c1 (the data plane delivers through the devmap, the kernel needs a
  // route and a neighbour).
  char c1h[IF_NAMESIZE] = {};
  if (!if_indextoname(static_cast<unsigned>(h.c1h().value()), c1h)) {
    return absl::InternalError("no name for the c1 host interface");
  }
  std::string c1 = HostFixture::C1().ToString();
  if (absl::Status st = h.host_ns().Run(
          absl::StrCat("ip -6 route replace ", c1, "/128 dev ", c1h, " && ip -6 neigh replace ", c1,
                       " lladdr ", HostFixture::C1Mac().ToString(), " nud permanent dev ", c1h));
      !st.ok()) {
    return st;
  }
  live_ready = true;
  return absl::OkStatus();
}

absl::StatusOr<int> PathsWorld::SteeredUplinkFd(const std::vector<int>& cpus) {
  if (steered.valid()) return steered.get();
  Dataplane& dp = host->dp();
  if (absl::Status st = dp.Detach(host->uplink()); !st.ok()) return st;
  auto att = dp.AttachUplink(
      {.interface = host->uplink(), .mode = AttachMode::kNative, .steer_cpus = cpus});
  if (!att.ok()) {
    return absl::Status(
        att.status().code(),
        absl::StrCat("attaching the uplink with cpumap steering: ", att.status().message()));
  }
  if (att->steer_cpus != cpus) {
    return absl::InternalError("the uplink was attached without the steering asked for");
  }
  steered = OwnedFd(bpf_prog_get_fd_by_id(att->program_id));
  if (!steered.valid()) {
    return absl::InternalError(absl::StrCat("no fd for the steering program (id ", att->program_id,
                                            "): ", std::strerror(errno)));
  }
  return steered.get();
}

absl::StatusOr<ScaleWorld*> GetScaleWorld(size_t size) {
  if (auto* w = dynamic_cast<ScaleWorld*>(current.get()); w && w->size == size) return w;
  current.reset();
  std::cerr << "ila_bench: building a host with " << size << " mappings" << std::endl;
  auto w = std::make_unique<ScaleWorld>();
  w->size = size;
  HostFixture::Options opt;
  opt.locator_mode = ChecksumMode::kNeutralMapAuto;
  opt.config.max_mappings = static_cast<uint32_t>(size);
  auto host = HostFixture::Create(opt);
  if (!host.ok()) return host.status();
  w->host = std::move(*host);

  w->sirs = MakeRandomSirs(HostFixture::Sir(), size, 7);
  std::vector<Mapping> mappings;
  mappings.reserve(size);
  std::vector<Ipv6Address> keys, values;
  keys.reserve(size);
  values.reserve(size);
  for (const SirAddress& s : w->sirs) {
    mappings.push_back({s, HostFixture::L2(), ChecksumMode::kNeutralMapAuto});
    keys.push_back(s.address());
    values.push_back(SirToIla(s, HostFixture::L2(), ChecksumMode::kNeutralMapAuto)->address());
  }
  auto start = std::chrono::steady_clock::now();
  if (absl::Status st = w->host->dp().mappings().UpsertBatch(mappings); !st.ok()) return st;
  w->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  size_t draws = Pick<size_t>(1u << 20, 1u << 16);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<size_t> pick(0, size - 1);
  w->uniform.reserve(draws);
  for (size_t i = 0; i < draws; ++i) w->uniform.push_back(w->sirs[pick(rng)].address());
  w->hot = w->sirs[size / 2];

  // The bare slot lookup reads the data plane's own table, just filled.
  auto table = SlotTableOf(w->host->dp().program_fd(Role::kContainer));
  if (!table.ok()) return table.status();
  auto shape = ShapeOfSlotTable(table->get());
  if (!shape.ok()) return shape.status();
  w->slots = *shape;
  auto skel =
      LoadBenchSkel(static_cast<uint32_t>(draws), static_cast<uint32_t>(size), table->get());
  if (!skel.ok()) return skel.status();
  w->skel = std::move(*skel);
  if (absl::Status st = LoadPlainHash(w->skel, keys, values); !st.ok()) return st;
  if (absl::Status st = CheckBareLookups(*w); !st.ok()) return st;
  if (absl::Status st = SetDests(w->skel, w->uniform); !st.ok()) return st;
  current = std::move(w);
  return static_cast<ScaleWorld*>(current.get());
}

absl::StatusOr<ControlWorld*> GetControlWorld() {
  if (auto* w = dynamic_cast<ControlWorld*>(current.get())) return w;
  current.reset();
  auto w = std::make_unique<ControlWorld>();
  auto ns = testbed::Netns::Create("bctl");
  if (!ns.ok()) return ns.status();
  w->ns.emplace(std::move(*ns));
  auto entered = testbed::NetnsEntered::Enter(*w->ns);
  if (!entered.ok()) return entered.status();
  w->entered.emplace(std::move(*entered));
  current = std::move(w);
  return static_cast<ControlWorld*>(current.get());
}

}  // namespace ila::bench
