#include "topology.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace ila::demo {
namespace {

// Topologies made by this process so far: part of their namespace names.
std::atomic<unsigned> g_topology_serial{0};
const SirPrefix kSir(0x20010db800000001ull);         // 2001:db8:0:1::/64
constexpr char kSirAggregate[] = "2001:db8:0::/48";  // every SIR prefix, routed to the ILA router

// A host's locators: its /48 (the locator for Sir() and one per tenant prefix after it).
std::string Net48(uint64_t high) {
  return Ipv6Address::FromHalves(high & ~uint64_t{0xffff}, 0).ToString() + "/48";
}

}  // namespace
// ----- The topology --------------------------------------------------------------------------

SirPrefix Topology::Sir() { return kSir; }

Locator Topology::LocatorFor(int i, SirPrefix prefix) const {
  const Locator base = hosts_[static_cast<size_t>(i)].locator;
  const auto& tenants = options_.tenant_prefixes;
  const auto it = std::find(tenants.begin(), tenants.end(), prefix);
  if (prefix == kSir || it == tenants.end()) return base;
  return Locator(base.value() + (static_cast<uint64_t>(it - tenants.begin() + 1) << 8));
}

void Topology::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

absl::StatusOr<std::unique_ptr<Netns>> Topology::NewNetns(const std::string& role) {
  auto ns = Netns::CreateNamed(NsName(role));
  if (!ns.ok()) return ns.status();
  return std::make_unique<Netns>(std::move(*ns));
}

absl::StatusOr<std::unique_ptr<Topology>> Topology::Create(const TopologyOptions& options) {
  std::unique_ptr<Topology> t(new Topology(options));
  for (const std::string& name : RemoveStaleNamespaces(options.tag)) {
    t->Log("removed " + name + ", left behind by a process that no longer exists");
  }
  t->prefix_ = absl::StrCat(options.tag, "-", getpid(), "-", g_topology_serial.fetch_add(1), "-");
  if (absl::Status st = t->Build(); !st.ok()) {
    (void)t->Teardown();  // nothing stays behind
    return st;
  }
  return t;
}

Topology::~Topology() {
  if (absl::Status st = Teardown(); !st.ok()) {
    std::fprintf(stderr, "warning: topology teardown: %s\n", std::string(st.message()).c_str());
  }
}

absl::StatusOr<std::unique_ptr<Dataplane>> Topology::MakeDataplane(const Netns& ns,
                                                                   const DataplaneConfig& config) {
  auto scope = NetnsEntered::Enter(ns);
  if (!scope.ok()) return scope.status();
  return Dataplane::Create(config);
}

absl::Status Topology::Build() {
  hosts_.resize(kHosts);
  if (absl::Status st = MakeNamespaces(); !st.ok()) return st;
  if (absl::Status st = PlumbUnderlay(); !st.ok()) return st;
  std::vector<SirPrefix> prefixes = {kSir};
  prefixes.insert(prefixes.end(), options_.tenant_prefixes.begin(), options_.tenant_prefixes.end());
  prefixes.insert(prefixes.end(), options_.extra_sir_prefixes.begin(),
                  options_.extra_sir_prefixes.end());
  if (!options_.agent_path.empty()) {
    if (absl::Status st = StartCluster(prefixes); !st.ok()) return st;
  }
  if (absl::Status st = StartRouter(prefixes); !st.ok()) return st;
  for (int i = 0; i < kHosts; ++i) {
    if (absl::Status st = StartHost(i, prefixes); !st.ok()) return st;
  }
  if (options_.default_containers) {
    const std::pair<const char*, int> defaults[] = {{"c1a", 0}, {"c1b", 0}, {"c2a", 1}, {"c2b", 1}};
    for (const auto& [name, host] : defaults) {
      const uint64_t id = std::strtoull(name, nullptr, 16);  // "c1a" -> ::c1a
      auto c = AddContainerNoWait(name, host, Identifier(id), kSir);
      if (!c.ok()) return c.status();
    }
  }
  Log("waiting until every address is usable (the kernel's linkwatch can take a second)");
  for (const Netns* ns : AllNamespaces()) {
    if (absl::Status st = ns->WaitForAddresses(); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// The namespaces: the underlay routers r1 and r2, the ILA router, the hosts (with forwarding).
absl::Status Topology::MakeNamespaces() {
  Log("namespaces " + prefix_ + "{r1,r2,ilr,host1,host2}: the underlay, the ILA router, two hosts");
  auto r1 = NewNetns("r1");
  if (!r1.ok()) return r1.status();
  r1_ = std::move(*r1);
  auto r2 = NewNetns("r2");
  if (!r2.ok()) return r2.status();
  r2_ = std::move(*r2);
  auto ilr = NewNetns("ilr");
  if (!ilr.ok()) return ilr.status();
  router_.ns = std::move(*ilr);
  router_.address = *Ipv6Address::Parse("fd00:0:c1::2");
  for (int i = 0; i < kHosts; ++i) {
    Host& h = hosts_[static_cast<size_t>(i)];
    h.name = absl::StrCat("host", i + 1);
    auto ns = NewNetns(h.name);
    if (!ns.ok()) return ns.status();
    h.ns = std::move(*ns);
  }
  hosts_[0].locator = Locator(0x20010db8aaaa0001ull);
  hosts_[0].address = *Ipv6Address::Parse("fd00:0:a1::2");
  hosts_[0].gateway = *Ipv6Address::Parse("fd00:0:a1::1");
  hosts_[1].locator = Locator(0x20010db8bbbb0002ull);
  hosts_[1].address = *Ipv6Address::Parse("fd00:0:b2::2");
  hosts_[1].gateway = *Ipv6Address::Parse("fd00:0:b2::1");

  for (const Netns* ns :
       {r1_.get(), r2_.get(), router_.ns.get(), hosts_[0].ns.get(), hosts_[1].ns.get()}) {
    if (absl::Status st = ns->Sysctl("net/ipv6/conf/all/forwarding", "1"); !st.ok()) return st;
  }

  return absl::OkStatus();
}

// The underlay: links r1 <-> r2, hosts and router to r1/r2, addresses and routes (locators to
// their hosts, the SIR aggregate to the ILA router).
absl::Status Topology::PlumbUnderlay() {
  const std::string mtu = std::to_string(options_.underlay_mtu);
  // Underlay links, created from r1 / r2 with the peer placed straight into its namespace.
  const std::string& n_r2 = r2_->name();
  const std::string& n_h1 = hosts_[0].ns->name();
  const std::string& n_h2 = hosts_[1].ns->name();
  const std::string& n_ilr = router_.ns->name();
  Log("underlay links: r1 <-> r2 (MTU " + mtu + "), host1 <-> r1, host2 <-> r2, ilr <-> r1");
  if (absl::Status st = r1_->IpBatch({
          "link add to-r2 mtu " + mtu + " type veth peer name to-r1 mtu " + mtu + " netns " + n_r2,
          "link add to-h1 type veth peer name up netns " + n_h1,
          "link add to-ilr type veth peer name up netns " + n_ilr,
          "addr add fd00:0:12::1/64 dev to-r2 nodad",
          "addr add fd00:0:a1::1/64 dev to-h1 nodad",
          "addr add fd00:0:c1::1/64 dev to-ilr nodad",
          "link set to-r2 up",
          "link set to-h1 up",
          "link set to-ilr up",
      });
      !st.ok()) {
    return st;
  }
  // A packet from a container attached at tc keeps its partial checksum (CHECKSUM_PARTIAL) across
  // veths, where a physical link would carry it complete. The ILA router's native XDP program
  // translates it and redirects it as a new frame, and the partial state is lost: the receiver
  // drops a segment whose checksum was never finished. The link into the router finishes
  // checksums as a wire's sender would.
  if (absl::Status st = r1_->Run("ethtool -K to-ilr tx off >/dev/null"); !st.ok()) return st;
  if (absl::Status st = r2_->IpBatch({
          "link add to-h2 type veth peer name up netns " + n_h2,
          "addr add fd00:0:12::2/64 dev to-r1 nodad",
          "addr add fd00:0:b2::1/64 dev to-h2 nodad",
          "link set to-r1 up",
          "link set to-h2 up",
      });
      !st.ok()) {
    return st;
  }

  const std::string l1 = Net48(hosts_[0].locator.value());
  const std::string l2 = Net48(hosts_[1].locator.value());
  Log("routes: r1/r2 route " + l1 + " to host1, " + l2 + " to host2 and " + kSirAggregate +
      " (SIR prefixes) to the ILA router");
  if (absl::Status st = r1_->IpBatch({
          "route add " + l1 + " via fd00:0:a1::2",
          "route add " + l2 + " via fd00:0:12::2",
          "route add fd00:0:b2::/64 via fd00:0:12::2",
          std::string("route add ") + kSirAggregate + " via fd00:0:c1::2",
      });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = r2_->IpBatch({
          "route add " + l2 + " via fd00:0:b2::2",
          "route add " + l1 + " via fd00:0:12::1",
          "route add fd00:0:a1::/64 via fd00:0:12::1",
          "route add fd00:0:c1::/64 via fd00:0:12::1",
          std::string("route add ") + kSirAggregate + " via fd00:0:12::1",
      });
      !st.ok()) {
    return st;
  }
  for (Host& h : hosts_) {
    const std::string gw = h.gateway.ToString();
    if (absl::Status st = h.ns->IpBatch({
            "addr add " + h.address.ToString() + "/64 dev up nodad",
            "link set dev up up",
            std::string("route add ") + kSirAggregate + " via " + gw,
            "route add default via " + gw,
        });
        !st.ok()) {
      return st;
    }
  }
  if (absl::Status st = router_.ns->IpBatch({
          "addr add fd00:0:c1::2/64 dev up nodad",
          "link set dev up up",
          "route add default via fd00:0:c1::1",
      });
      !st.ok()) {
    return st;
  }

  return absl::OkStatus();
}

// The ILA router: the router role on its only interface, the full mapping table.
absl::Status Topology::StartRouter(const std::vector<SirPrefix>& prefixes) {
  if (cluster_) return StartRouterAgent();
  Log("ILA router: Dataplane::Create, sir_prefixes().Add, AttachRouter(\"up\")");
  auto rdp = MakeDataplane(*router_.ns, options_.router_config);
  if (!rdp.ok()) return rdp.status();
  router_.dp = std::move(*rdp);
  if (absl::Status st = OnRouter([&](Dataplane& dp) -> absl::Status {
        for (SirPrefix p : prefixes) {
          if (absl::Status s = dp.sir_prefixes().Add(p); !s.ok()) return s;
        }
        for (const PrefixRule& r : options_.prefix_rules) {
          if (absl::Status s = dp.prefix_rules().Add(r); !s.ok()) return s;
        }
        InterfaceAttach request{router_.interface, options_.attach_mode, {}};
        auto att = dp.AttachRouter(request);
        if (!att.ok()) return att.status();
        router_.attachment = *att;
        return absl::OkStatus();
      });
      !st.ok()) {
    return st;
  }

  return absl::OkStatus();
}

// Host i's locator for tenant `p`, and (options().cluster_locators) the other hosts' locators for
// it in the cluster table, as ila-agent keeps them.
absl::Status Topology::AddLocators(int i, SirPrefix p, Dataplane& d) {
  if (absl::Status s = d.locators().Upsert(
          {.locator = LocatorFor(i, p), .sir_prefix = p, .csum_mode = options_.csum_mode});
      !s.ok()) {
    return s;
  }
  for (int other = 0; other < kHosts && options_.cluster_locators; ++other) {
    if (other == i) continue;
    if (absl::Status s = d.cluster_locators().Upsert(
            {.locator = LocatorFor(other, p), .sir_prefix = p, .csum_mode = options_.csum_mode});
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Host `i`: its data plane, prefixes, locator and uplink.
absl::Status Topology::StartHost(int i, const std::vector<SirPrefix>& prefixes) {
  const std::string csum(ToString(options_.csum_mode));
  Host& h = hosts_[static_cast<size_t>(i)];
  if (cluster_) return StartHostAgent(i);
  Log(h.name + ": Dataplane::Create, sir_prefixes().Add, locators().Upsert(" +
      h.locator.ToString() + " -> " + kSir.ToString() + ", " + csum + "), AttachUplink(\"up\")");
  auto dp = MakeDataplane(*h.ns, options_.host_config);
  if (!dp.ok()) return dp.status();
  h.dp = std::move(*dp);
  if (absl::Status st =
          OnHost(i,
                 [&](Dataplane& d) -> absl::Status {
                   for (SirPrefix p : prefixes) {
                     if (absl::Status s = d.sir_prefixes().Add(p); !s.ok()) return s;
                   }
                   for (const PrefixRule& r : options_.prefix_rules) {
                     if (absl::Status s = d.prefix_rules().Add(r); !s.ok()) return s;
                   }
                   std::vector<SirPrefix> tenants = {kSir};
                   tenants.insert(tenants.end(), options_.tenant_prefixes.begin(),
                                  options_.tenant_prefixes.end());
                   for (SirPrefix p : tenants) {
                     if (absl::Status s = AddLocators(i, p, d); !s.ok()) return s;
                   }
                   InterfaceAttach request{
                       h.uplink, options_.uplink_attach_mode.value_or(options_.attach_mode), {}};
                   auto att = d.AttachUplink(request);
                   if (!att.ok()) return att.status();
                   h.uplink_attachment = *att;
                   return absl::OkStatus();
                 });
      !st.ok()) {
    return st;
  }
  return absl::OkStatus();
}

absl::Status Topology::OnHost(int i, const std::function<absl::Status(Dataplane&)>& fn) {
  if (i < 0 || i >= static_cast<int>(hosts_.size()))
    return absl::InvalidArgumentError("no such host");
  Host& h = hosts_[static_cast<size_t>(i)];
  if (!h.dp) return absl::FailedPreconditionError(h.name + " has no data plane");
  auto scope = NetnsEntered::Enter(*h.ns);
  if (!scope.ok()) return scope.status();
  return fn(*h.dp);
}

absl::Status Topology::OnRouter(const std::function<absl::Status(Dataplane&)>& fn) {
  if (!router_.dp) return absl::FailedPreconditionError("the ILA router has no data plane");
  auto scope = NetnsEntered::Enter(*router_.ns);
  if (!scope.ok()) return scope.status();
  return fn(*router_.dp);
}

absl::StatusOr<Stats> Topology::HostStats(int i) const {
  if (i < 0 || i >= static_cast<int>(hosts_.size()) || !hosts_[static_cast<size_t>(i)].dp) {
    return absl::InvalidArgumentError("no such host");
  }
  return hosts_[static_cast<size_t>(i)].dp->ReadStats();
}

absl::StatusOr<Stats> Topology::RouterStats() const {
  if (!router_.dp) return absl::FailedPreconditionError("the ILA router has no data plane");
  return router_.dp->ReadStats();
}

absl::Status Topology::MapEverywhere(const SirAddress& sir, Locator locator) {
  Mapping m{.sir = sir,
            .locator = locator,
            .csum_mode = options_.csum_mode,
            .ident_type = IdentifierType::kLuid};
  if (absl::Status st = OnRouter([&](Dataplane& dp) { return dp.mappings().Upsert(m); });
      !st.ok()) {
    return st;
  }
  for (int i = 0; i < kHosts; ++i) {
    if (absl::Status st = OnHost(i, [&](Dataplane& dp) { return dp.mappings().Upsert(m); });
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

Topology::Container* Topology::container(const std::string& name) {
  for (auto& c : containers_) {
    if (c->name == name) return c.get();
  }
  return nullptr;
}

std::vector<std::string> Topology::container_names() const {
  std::vector<std::string> out;
  for (const auto& c : containers_) out.push_back(c->name);
  return out;
}

std::vector<const Netns*> Topology::AllNamespaces() const {
  std::vector<const Netns*> out;
  for (const Netns* ns : {r1_.get(), r2_.get(), router_.ns.get()}) {
    if (ns) out.push_back(ns);
  }
  for (const Host& h : hosts_) {
    if (h.ns) out.push_back(h.ns.get());
  }
  for (const auto& c : containers_) {
    if (c->ns) out.push_back(c->ns.get());
  }
  return out;
}

std::vector<std::string> Topology::namespace_names() const {
  std::vector<std::string> out;
  for (const Netns* ns : AllNamespaces()) out.push_back(ns->name());
  return out;
}

absl::StatusOr<CommandResult> Topology::Ping(const std::string& from, const Ipv6Address& to,
                                             int count,
                                             const std::vector<std::string>& extra_args) {
  Container* c = container(from);
  if (c == nullptr) return absl::NotFoundError("no container " + from);
  std::vector<std::string> argv = {"ping", "-6",  "-n", "-c", std::to_string(count),
                                   "-i",   "0.2", "-W", "1"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.push_back(to.ToString());
  return c->ns->Exec(argv, Duration(5000 + 1200 * count));
}

absl::Status Topology::DestroyDataplane(const Netns* ns, std::unique_ptr<Dataplane>& dp) {
  if (!dp) return absl::OkStatus();
  if (ns == nullptr) {
    dp.reset();
    return absl::OkStatus();
  }
  // Detaching names interfaces by index: it must happen inside the namespace they live in.
  auto scope = NetnsEntered::Enter(*ns);
  if (!scope.ok()) return scope.status();
  absl::Status st = dp->DetachAll();
  dp.reset();
  return st;
}

absl::Status Topology::Teardown() {
  if (torn_down_) return absl::OkStatus();
  torn_down_ = true;
  absl::Status first;
  auto keep = [&first](absl::Status st) {
    if (first.ok() && !st.ok()) first = std::move(st);
  };
  // The agents first: they would re-attach what the data planes' teardown detaches.
  if (cluster_) {
    for (const Host& h : hosts_) cluster_->StopAgent(h.name, SIGTERM);
    cluster_->StopAgent("ilr", SIGTERM);
  }
  for (Host& h : hosts_) keep(DestroyDataplane(h.ns.get(), h.dp));
  keep(DestroyDataplane(router_.ns.get(), router_.dp));
  cluster_.reset();
  for (auto& c : containers_) {
    if (c->ns) keep(c->ns->Delete());
  }
  for (Host& h : hosts_) {
    if (h.ns) keep(h.ns->Delete());
  }
  for (Netns* ns : {router_.ns.get(), r1_.get(), r2_.get()}) {
    if (ns) keep(ns->Delete());
  }
  for (const std::string& left : NamespacesWithPrefix(prefix_)) {
    keep(absl::InternalError("namespace " + left + " is still there after teardown"));
  }
  return first;
}

}  // namespace ila::demo
