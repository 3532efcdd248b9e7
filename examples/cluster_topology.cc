// The topology's control plane when it runs as a cluster (options().agent_path): etcd and one
// ila-agent per node (cluster_control.h) instead of the library calls of topology.cc.
#include <thread>

#include "absl/strings/str_cat.h"
#include "topology.h"

namespace ila::demo {

absl::Status Topology::StartRouterAgent() {
  Log("ILA router: ila-agent --role router --uplink up (the full table, from etcd)");
  if (absl::Status st = cluster_->StartAgent("ilr", *router_.ns,
                                             {"--role", "router", "--uplink", router_.interface});
      !st.ok()) {
    return st;
  }
  auto dp = Dataplane::Open(cluster_->Pins("ilr"), {.keep_nexthop_cache = false});
  if (!dp.ok()) return dp.status();
  router_.dp = std::move(*dp);
  return absl::OkStatus();
}

absl::Status Topology::StartHostAgent(int i) {
  const std::string csum(ToString(options_.csum_mode));
  Host& h = hosts_[static_cast<size_t>(i)];
  std::vector<std::string> args = {"--uplink", h.uplink, "--mapping-csum-mode", csum};
  std::vector<SirPrefix> tenants = {Sir()};
  tenants.insert(tenants.end(), options_.tenant_prefixes.begin(), options_.tenant_prefixes.end());
  for (SirPrefix p : tenants) {
    args.insert(args.end(), {"--locator", absl::StrCat(LocatorFor(i, p).ToString(), ",",
                                                       SirPrefixKey(p), ",", csum)});
  }
  Log(h.name + ": ila-agent --host " + h.name + " --locator " + LocatorFor(i, Sir()).ToString() +
      " --uplink up (its locator is published in etcd; the others' come from there)");
  if (absl::Status st = cluster_->StartAgent(h.name, *h.ns, args); !st.ok()) return st;
  auto dp = Dataplane::Open(cluster_->Pins(h.name), {.keep_nexthop_cache = false});
  if (!dp.ok()) return dp.status();
  h.dp = std::move(*dp);
  for (const Attachment& a : h.dp->attachments()) {
    if (a.interface == h.uplink) h.uplink_attachment = a;
  }
  return absl::OkStatus();
}

// etcd, and what an operator writes into it once: the SIR prefixes and the rules between them.
absl::Status Topology::StartCluster(const std::vector<SirPrefix>& prefixes) {
  auto cluster = ClusterControl::Start(prefix_, options_.agent_path, options_.log);
  if (!cluster.ok()) return cluster.status();
  cluster_ = std::move(*cluster);
  Log("etcdctl put /ila/v1/prefixes/... and /ila/v1/rules/...: the SIR prefixes and their rules");
  for (SirPrefix p : prefixes) {
    if (auto r = cluster_->Etcdctl({"put", "/ila/v1/prefixes/" + SirPrefixKey(p), R"({"v":1})"});
        !r.ok()) {
      return r.status();
    }
  }
  for (const PrefixRule& r : options_.prefix_rules) {
    const SirPrefix lo = r.a < r.b ? r.a : r.b;
    const SirPrefix hi = r.a < r.b ? r.b : r.a;
    if (auto put = cluster_->Etcdctl(
            {"put", "/ila/v1/rules/" + SirPrefixKey(lo) + "," + SirPrefixKey(hi), R"({"v":1})"});
        !put.ok()) {
      return put.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::chrono::milliseconds> Topology::WaitForMapping(
    const SirAddress& sir, Locator locator, int except_host, std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  auto has = [&](Dataplane* dp) {
    if (dp == nullptr) return false;
    auto m = dp->mappings().Get(sir);
    return m.ok() && m->locator == locator;
  };
  while (true) {
    bool all = has(router_.dp.get());
    for (int i = 0; i < kHosts && all; ++i) {
      if (i != except_host) all = has(hosts_[static_cast<size_t>(i)].dp.get());
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (all) return took;
    if (took > timeout || StopRequested()) {
      return absl::DeadlineExceededError(
          absl::StrCat("the mapping ", sir.ToString(), " -> ", locator.ToString(),
                       " did not reach every data plane within ", timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace ila::demo
