// The topology's containers: plumbing one into a host, adding, moving (topology.h).
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

absl::Status Topology::PlumbContainer(const Container& c, const Host& h, const Netns& cns,
                                      const std::string& ifname) {
  const std::string sir = c.sir.ToString();
  if (absl::Status st = h.ns->IpBatch({
          "link add " + c.host_veth + " type veth peer name " + ifname + " netns " + cns.name(),
          "addr add fe80::1/64 dev " + c.host_veth + " nodad",
          "link set dev " + c.host_veth + " up",
          // The host kernel reaches the container too (for what XDP hands it).
          "route replace " + sir + "/128 dev " + c.host_veth,
      });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = cns.IpBatch({
          "link set dev " + ifname + " address " + c.mac.ToString(),
          "addr add " + sir + "/128 dev " + ifname + " nodad",
          "link set dev " + ifname + " up",
      });
      !st.ok()) {
    return st;
  }
  // Transmit checksum offload on the container side is turned off by AttachContainer itself.
  return absl::OkStatus();
}

absl::Status Topology::AttachContainerOnHost(Container& c, int host, bool move) {
  if (cluster_) {
    // What an orchestrator (or ila-cni) does: ask the host's agent, which attaches the veth and
    // claims the address in etcd (with --move: takes it over from the host that has it).
    std::vector<std::string> args = {"--interface",    c.host_veth, "--sir",
                                     c.sir.ToString(), "--mac",     c.mac.ToString()};
    if (move) args.push_back("--move");
    auto out = cluster_->AgentCommand(hosts_[static_cast<size_t>(host)].name, "attach", args);
    if (!out.ok()) return out.status();
    c.attachment = Attachment{};
    c.attachment.role = Role::kContainer;
    c.attachment.interface = c.host_veth;
    return absl::OkStatus();
  }
  return OnHost(host, [&](Dataplane& dp) -> absl::Status {
    auto att =
        dp.AttachContainer({.interface = c.host_veth,
                            .sir = c.sir,
                            .mac = c.mac,
                            .mode = options_.container_attach_mode.value_or(options_.attach_mode)});
    if (!att.ok()) return att.status();
    c.attachment = *att;
    return absl::OkStatus();
  });
}

absl::StatusOr<Topology::Container*> Topology::AddContainer(const std::string& name, int host,
                                                            Identifier id, SirPrefix prefix) {
  auto c = AddContainerNoWait(name, host, id, prefix);
  if (!c.ok()) return c.status();
  for (const Netns* ns : std::initializer_list<const Netns*>{
           (*c)->ns.get(), hosts_[static_cast<size_t>(host)].ns.get()}) {
    if (absl::Status st = ns->WaitForAddresses(); !st.ok()) return st;
  }
  return c;
}

absl::StatusOr<Topology::Container*> Topology::AddContainerNoWait(const std::string& name, int host,
                                                                  Identifier id, SirPrefix prefix) {
  if (host < 0 || host >= kHosts) return absl::InvalidArgumentError("no such host");
  if (container(name) != nullptr) return absl::AlreadyExistsError("container " + name + " exists");
  auto c = std::make_unique<Container>();
  c->name = name;
  c->host = host;
  c->sir = SirAddress{prefix, id};
  c->mac = MacAddress({0x02, 0x00, 0x00, 0x00, static_cast<uint8_t>(id.value() >> 8),
                       static_cast<uint8_t>(id.value())});
  c->host_veth = "veth-" + name;
  c->ifname = "eth0";
  Host& h = hosts_[static_cast<size_t>(host)];
  Log("container " + name + " (" + c->sir.ToString() + ") on " + h.name + ": namespace, veth " +
      h.name + ":" + c->host_veth + " <-> " + name + ":eth0, " +
      (cluster_
           ? "ila-agent attach (it claims the mapping -> " + LocatorFor(host, prefix).ToString() +
                 " in etcd)"
           : "AttachContainer, mapping -> " + LocatorFor(host, prefix).ToString() + " everywhere"));
  auto ns = NewNetns(name);
  if (!ns.ok()) return ns.status();
  c->ns = std::move(*ns);
  Container* raw = c.get();
  containers_.push_back(std::move(c));  // owned (and cleaned up) from here
  if (absl::Status st = PlumbContainer(*raw, h, *raw->ns, raw->ifname); !st.ok()) return st;
  if (absl::Status st =
          raw->ns->Ip({"-6", "route", "add", "default", "via", "fe80::1", "dev", raw->ifname});
      !st.ok()) {
    return st;
  }
  const auto attach_start = std::chrono::steady_clock::now();
  if (absl::Status st = AttachContainerOnHost(*raw, host); !st.ok()) return st;
  if (cluster_) {
    auto took = WaitForMapping(raw->sir, LocatorFor(host, prefix));
    if (!took.ok()) return took.status();
    raw->converged = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - attach_start);
    Log("  `ila-agent attach` -> claimed in etcd -> on every data plane: " +
        std::to_string(raw->converged.count()) + " ms");
    return raw;
  }
  if (absl::Status st = MapEverywhere(raw->sir, LocatorFor(host, prefix)); !st.ok()) return st;
  return raw;
}

absl::Status Topology::MoveContainer(const std::string& name, int to_host, MoveMode mode) {
  Container* c = container(name);
  if (c == nullptr) return absl::NotFoundError("no container " + name);
  if (to_host < 0 || to_host >= kHosts || to_host == c->host) {
    return absl::InvalidArgumentError("cannot move " + name + " to host index " +
                                      std::to_string(to_host));
  }
  const int from_host = c->host;
  Host& from = hosts_[static_cast<size_t>(from_host)];
  Host& to = hosts_[static_cast<size_t>(to_host)];

  std::unique_ptr<Netns> new_ns;
  std::string new_if = "eth0";
  if (mode == MoveMode::kNewNamespace) {
    Log("new namespace for " + name + " on " + to.name +
        " (the old one goes once the old host has let go of it)");
    auto ns = NewNetns(name + "-on-" + to.name);
    if (!ns.ok()) return ns.status();
    new_ns = std::move(*ns);
  } else {
    new_if = c->ifname == "eth0" ? "eth1" : "eth0";
  }
  const Netns& target_ns = new_ns ? *new_ns : *c->ns;
  Log("veth " + to.name + ":" + c->host_veth + " <-> " + target_ns.name() + ":" + new_if +
      " with the same SIR address and MAC");
  if (absl::Status st = PlumbContainer(*c, to, target_ns, new_if); !st.ok()) return st;
  if (new_ns) {
    if (absl::Status st =
            new_ns->Ip({"-6", "route", "add", "default", "via", "fe80::1", "dev", new_if});
        !st.ok()) {
      return st;
    }
  }
  for (const Netns* ns : std::initializer_list<const Netns*>{&target_ns, to.ns.get()}) {
    if (absl::Status st = ns->WaitForAddresses(); !st.ok()) return st;
  }
  Log(to.name + (cluster_ ? ": ila-agent attach --move " : ": AttachContainer(") + c->host_veth +
      (cluster_ ? "" : ")"));
  const auto attach_start = std::chrono::steady_clock::now();
  Attachment old_attachment = c->attachment;
  if (absl::Status st = AttachContainerOnHost(*c, to_host, /*move=*/true); !st.ok()) {
    c->attachment = old_attachment;
    (void)to.ns->Ip({"link", "del", c->host_veth});
    return st;
  }
  const Locator to_locator = LocatorFor(to_host, c->sir.prefix);
  if (cluster_) {
    // The move is one transaction in etcd; every agent applies it, and the old host's agent sees
    // that its container belongs elsewhere now and detaches its endpoint itself.
    auto took = WaitForMapping(c->sir, to_locator);
    if (!took.ok()) return took.status();
    c->converged = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - attach_start);
    Log("mapping " + c->sir.ToString() + " -> " + to_locator.ToString() +
        " on every host and the ILA router " + std::to_string(c->converged.count()) +
        " ms after `ila-agent attach --move` began");
  } else {
    Log("mapping " + c->sir.ToString() + " -> " + to_locator.ToString() +
        " on every host and the ILA router");
    if (absl::Status st = MapEverywhere(c->sir, to_locator); !st.ok()) return st;
  }
  if (!new_ns) {
    Log(name + ": default route via the new veth " + new_if);
    if (absl::Status st =
            c->ns->Ip({"-6", "route", "replace", "default", "via", "fe80::1", "dev", new_if});
        !st.ok()) {
      return st;
    }
  }
  absl::Status detached;
  if (cluster_) {
    Log(from.name + ": its agent detaches the stale endpoint; then the old veth goes");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (from.dp->endpoints().Get(c->sir).ok()) {
      if (std::chrono::steady_clock::now() > deadline) {
        detached = absl::DeadlineExceededError(from.name + "'s agent kept the moved endpoint");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  } else {
    Log(from.name + ": Detach(" + c->host_veth + ") and delete the old veth");
    detached = OnHost(from_host, [&](Dataplane& dp) { return dp.Detach(c->host_veth); });
  }
  absl::Status deleted = from.ns->Ip({"link", "del", c->host_veth});
  c->host = to_host;
  c->ifname = new_if;
  if (new_ns) {
    std::swap(c->ns, new_ns);
    if (absl::Status st = new_ns->Delete(); !st.ok() && deleted.ok()) deleted = st;
  }
  if (!detached.ok()) return detached;
  return deleted;
}

}  // namespace ila::demo
