// The agent tests' cluster on one machine (agent_bed.h).
#include "cluster/agent_bed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "local_api.h"
#include "testbed/host_fixture.h"
#include "testbed/kernel.h"

namespace ila::cluster_test {

using nlohmann::json;

std::optional<std::string> SkipReason() {
  if (auto r = testbed::BpfUnavailableReason()) return r;
  if (auto r = testbed::NetnsUnavailableReason()) return r;
  if (access("/usr/bin/etcd", X_OK) != 0) return "etcd is not installed (Debian's etcd-server)";
  return std::nullopt;
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<std::unique_ptr<AgentBed>> AgentBed::Create(const Options& options) {
  std::unique_ptr<AgentBed> bed(new AgentBed());
  bed->options_ = options;
  auto bpffs = testbed::MountPrivateBpffs();
  if (!bpffs.ok()) return bpffs.status();
  bed->bpffs_ = *bpffs;
  char tmpl[] = "/tmp/ila-agents-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  bed->dir_ = tmpl;

  auto etcd_ns = testbed::Netns::Create("etcd");
  if (!etcd_ns.ok()) return etcd_ns.status();
  bed->etcd_ns_.emplace(*std::move(etcd_ns));
  // etcd listens on an address of its namespace's loopback, which every host reaches over its
  // own veth.
  if (absl::Status s = bed->etcd_ns_->Ip({"addr", "add", "10.77.0.1/32", "dev", "lo"}); !s.ok()) {
    return s;
  }
  for (int i = 0; i < options.hosts; ++i) {
    auto ns = testbed::Netns::Create(Name(i));
    if (!ns.ok()) return ns.status();
    auto host = std::make_unique<Host>(*std::move(ns));
    const std::string net = absl::StrCat("10.77.", i + 1, ".");
    auto link = testbed::VethPair::Create({.netns = &host->ns,
                                           .name = testbed::UniqueIfName("et"),
                                           .mac = "",
                                           .addresses = {net + "2/24"}},
                                          {.netns = &*bed->etcd_ns_,
                                           .name = testbed::UniqueIfName("eh"),
                                           .mac = "",
                                           .addresses = {net + "1/24"}});
    if (!link.ok()) return link.status();
    host->link.emplace(*std::move(link));
    if (absl::Status s = host->ns.Ip({"route", "add", "10.77.0.1/32", "via", net + "1"}); !s.ok()) {
      return s;
    }
    host->state_dir = absl::StrCat(bed->dir_, "/", Name(i));
    host->socket = absl::StrCat(bed->dir_, "/", Name(i), ".sock");
    bed->hosts_.push_back(std::move(host));
  }
  auto etcd = testbed::EtcdCluster::Start({.members = options.etcd_members,
                                           .tls = options.tls,
                                           .netns = bed->etcd_ns_->name(),
                                           .listen_address = "10.77.0.1",
                                           .extra_args = {}});
  if (!etcd.ok()) return etcd.status();
  bed->etcd_ = *std::move(etcd);
  return bed;
}

AgentBed::~AgentBed() {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    StopAgent(static_cast<int>(i), SIGTERM);
    // The pinned instance outlives its agent by design: destroy it here.
    if (auto dp = Open(static_cast<int>(i)); dp.ok()) (void)(*dp)->Destroy();
  }
  hosts_.clear();
  etcd_.reset();
  etcd_ns_.reset();
  if (!bpffs_.empty()) testbed::UnmountPrivateBpffs(bpffs_);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::StatusOr<std::string> AgentBed::Etcdctl(const std::vector<std::string>& args) {
  if (etcdctl_user_.empty()) return etcd_->Etcdctl(args);
  return EtcdctlAs(etcdctl_user_, args);
}

absl::StatusOr<std::string> AgentBed::EtcdctlAs(const std::string& user_password,
                                                const std::vector<std::string>& args) {
  std::vector<std::string> with = args;
  with.push_back("--user=" + user_password);
  return etcd_->Etcdctl(with);
}

absl::StatusOr<testbed::CommandResult> AgentBed::ExecInEtcdNamespace(
    const std::vector<std::string>& argv) {
  return etcd_ns_->Exec(argv);
}

absl::Status AgentBed::PutPrefix() {
  return Etcdctl({"put", "/ila/v1/prefixes/3333:0:0:1", R"({"v":1})"}).status();
}

absl::Status AgentBed::StartAgent(int i, const std::vector<std::string>& extra_args) {
  Host& h = *hosts_[i];
  if (h.agent) StopAgent(i, SIGTERM);
  std::vector<std::string> argv = {"ip",
                                   "netns",
                                   "exec",
                                   h.ns.name(),
                                   ILA_AGENT_PATH,
                                   "run",
                                   "--host",
                                   Name(i),
                                   "--locator",
                                   absl::StrCat(LocatorOf(i).ToString(), ",3333:0:0:1,neutral-map"),
                                   "--mapping-csum-mode",
                                   "neutral-map",
                                   "--endpoints",
                                   absl::StrJoin(etcd_->client_endpoints(), ","),
                                   "--pin-root",
                                   bpffs_,
                                   "--instance",
                                   Name(i),
                                   "--state-dir",
                                   h.state_dir,
                                   "--socket",
                                   h.socket,
                                   "--lease-ttl",
                                   std::to_string(options_.lease_ttl_seconds),
                                   "--metrics",
                                   "127.0.0.1:0"};
  if (options_.tls) {
    argv.insert(argv.end(), {"--cacert", etcd_->ca_file(), "--cert", etcd_->client_cert_file(),
                             "--key", etcd_->client_key_file()});
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto agent = testbed::BackgroundProcess::Start(argv);
  if (!agent.ok()) return agent.status();
  h.agent = *std::move(agent);
  const bool ready = WaitUntil([&] {
    auto status = Status(i);
    return status.ok() && status->value("ok", false) && status->value("revision", 0) > 0;
  });
  if (!ready) {
    return absl::DeadlineExceededError(
        absl::StrCat("agent ", Name(i), " did not get ready:\n", AgentLog(i)));
  }
  return absl::OkStatus();
}

void AgentBed::StopAgent(int i, int signal) {
  Host& h = *hosts_[i];
  if (!h.agent) return;
  h.agent->Signal(signal);
  h.last_log = h.agent->Finish(testbed::Duration(10000)).output;
  h.agent.reset();
}

std::string AgentBed::AgentLog(int i) {
  Host& h = *hosts_[i];
  return h.agent ? h.agent->Output() : h.last_log;
}

absl::StatusOr<json> AgentBed::Call(int i, const json& request) {
  return agent::CallLocalApi(hosts_[i]->socket, request, 10000);
}

absl::StatusOr<std::unique_ptr<Dataplane>> AgentBed::Open(int i) {
  return Dataplane::Open({bpffs_, Name(i)}, {.keep_nexthop_cache = false});
}

absl::StatusOr<std::string> AgentBed::HttpGet(int i, int port, const std::string& path) {
  auto entered = testbed::NetnsEntered::Enter(hosts_[i]->ns);
  if (!entered.ok()) return entered.status();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("no HTTP answer on port ", port, ": ", response));
  }
  if (response.find(" 200 ") == std::string::npos) {
    return absl::UnavailableError(response.substr(0, body));
  }
  return response.substr(body + 4);
}

absl::Status AgentBed::Cut(int i, bool cut) {
  Host& h = *hosts_[i];
  if (absl::Status s = h.ns.Ip({"link", "set", "dev", h.link->a_name(), cut ? "down" : "up"});
      !s.ok() || cut) {
    return s;
  }
  // The link going down took the route to etcd with it.
  return h.ns.Ip({"route", "replace", "10.77.0.1/32", "via", absl::StrCat("10.77.", i + 1, ".1")});
}

}  // namespace ila::cluster_test
