// EtcdCluster: etcd members as background processes on free ports, their TLS files made with the
// openssl CLI, health and leadership asked of etcdctl.
#include "testbed/etcd_cluster.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ila::testbed {
namespace {

using Clock = std::chrono::steady_clock;

// Whether `port` is free for TCP on every address (no listener, no bound socket); the socket is
// returned open in *fd so that the next pick does not hand out the same port.
bool TryPort(int port, int* fd) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(s);
    return false;
  }
  *fd = s;
  return true;
}

// `count` free ports. They are picked below the kernel's ephemeral range (32768 and up on
// Debian), so that a connection another process opens meanwhile cannot take one before etcd
// binds it.
absl::StatusOr<std::vector<int>> FreePorts(int count) {
  std::mt19937 rng(std::random_device{}());
  int port = 20000 + static_cast<int>(rng() % 12000);
  std::vector<int> ports, fds;
  for (int tries = 0; tries < 12000 && static_cast<int>(ports.size()) < count; ++tries) {
    port = port + 1 >= 32000 ? 20000 : port + 1;
    int fd = -1;
    if (TryPort(port, &fd)) {
      ports.push_back(port);
      fds.push_back(fd);
    }
  }
  for (int fd : fds) close(fd);
  if (static_cast<int>(ports.size()) < count) {
    return absl::ResourceExhaustedError("no free TCP ports in 20000..31999 for etcd");
  }
  return ports;
}

// Whether the process has exited (or is a zombie): /proc/<pid>/stat's state.
bool Exited(int pid) {
  if (pid < 0) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

}  // namespace

std::string EtcdCluster::ca_file() const { return options_.tls ? dir_ + "/ca.crt" : ""; }
std::string EtcdCluster::client_cert_file() const {
  return options_.tls ? dir_ + "/client.crt" : "";
}
std::string EtcdCluster::client_key_file() const {
  return options_.tls ? dir_ + "/client.key" : "";
}

std::string EtcdCluster::Endpoint(int i) const {
  return absl::StrCat(options_.tls ? "https://" : "", options_.listen_address, ":",
                      members_[static_cast<size_t>(i)].client_port);
}

std::vector<std::string> EtcdCluster::client_endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < members(); ++i) out.push_back(Endpoint(i));
  return out;
}

std::vector<std::string> EtcdCluster::Wrap(std::vector<std::string> argv) const {
  if (options_.netns.empty()) return argv;
  std::vector<std::string> wrapped = {"ip", "netns", "exec", options_.netns};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

std::string EtcdCluster::LogTail(int i) const {
  std::ifstream in(absl::StrCat(dir_, "/", members_[static_cast<size_t>(i)].name, ".log"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  size_t from = lines.size() > 8 ? lines.size() - 8 : 0;
  std::vector<std::string> tail(lines.begin() + static_cast<std::ptrdiff_t>(from), lines.end());
  return absl::StrCat("--- ", members_[static_cast<size_t>(i)].name, ".log (last lines) ---\n",
                      absl::StrJoin(tail, "\n"));
}

absl::Status EtcdCluster::MakeCertificates() {
  const std::string ec = "ec";
  const std::string curve = "ec_paramgen_curve:prime256v1";
  auto run = [](const std::vector<std::string>& argv) -> absl::Status {
    auto r = RunChecked(argv, Duration(20000));
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          "making etcd's TLS files: " + std::string(r.status().message()));
    }
    return absl::OkStatus();
  };
  auto write = [this](const std::string& name, const std::string& text) -> absl::Status {
    std::ofstream out(dir_ + "/" + name);
    out << text;
    if (!out.flush()) return absl::InternalError("cannot write " + dir_ + "/" + name);
    return absl::OkStatus();
  };
  std::string san = "IP:127.0.0.1,DNS:localhost";
  if (options_.listen_address != "127.0.0.1") {
    absl::StrAppend(&san, ",IP:", options_.listen_address);
  }
  if (absl::Status st = write("server.ext", absl::StrCat("subjectAltName=", san,
                                                         "\nextendedKeyUsage=serverAuth\n"
                                                         "keyUsage=critical,digitalSignature\n"
                                                         "basicConstraints=CA:FALSE\n"));
      !st.ok()) {
    return st;
  }
  if (absl::Status st = write("client.ext",
                              "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
                              "basicConstraints=CA:FALSE\n");
      !st.ok()) {
    return st;
  }
  if (absl::Status st = run({"openssl", "req", "-x509", "-newkey", ec, "-pkeyopt", curve, "-nodes",
                             "-keyout", dir_ + "/ca.key", "-out", dir_ + "/ca.crt", "-days", "2",
                             "-subj", "/CN=ila-test-ca"});
      !st.ok()) {
    return st;
  }
  for (const char* who : {"server", "client"}) {
    std::string base = absl::StrCat(dir_, "/", who);
    // The client certificate's CN is the etcd user it authenticates as (when auth is enabled).
    std::string cn = std::string(who) == "client" ? "/CN=root" : "/CN=etcd";
    if (absl::Status st = run({"openssl", "req", "-newkey", ec, "-pkeyopt", curve, "-nodes",
                               "-keyout", base + ".key", "-out", base + ".csr", "-subj", cn});
        !st.ok()) {
      return st;
    }
    if (absl::Status st = run({"openssl", "x509", "-req", "-in", base + ".csr", "-CA",
                               dir_ + "/ca.crt", "-CAkey", dir_ + "/ca.key", "-CAcreateserial",
                               "-days", "2", "-out", base + ".crt", "-extfile", base + ".ext"});
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Launch(int i) {
  Member& m = members_[static_cast<size_t>(i)];
  const std::string peer = absl::StrCat("http://", options_.listen_address, ":", m.peer_port);
  const std::string client = absl::StrCat(options_.tls ? "https://" : "http://",
                                          options_.listen_address, ":", m.client_port);
  std::vector<std::string> argv = {
      "etcd",
      "--name=" + m.name,
      absl::StrCat("--data-dir=", dir_, "/", m.name, ".etcd"),
      "--listen-client-urls=" + client,
      "--advertise-client-urls=" + client,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=" + initial_cluster_,
      "--initial-cluster-token=ila-test",
      "--initial-cluster-state=new",
      // Quick elections: a killed leader is replaced within about a second.
      "--heartbeat-interval=100",
      "--election-timeout=1000",
      // History stays until a test compacts it.
      "--auto-compaction-retention=0",
      "--logger=zap",
      absl::StrCat("--log-outputs=", dir_, "/", m.name, ".log"),
  };
  if (options_.tls) {
    argv.push_back("--cert-file=" + dir_ + "/server.crt");
    argv.push_back("--key-file=" + dir_ + "/server.key");
    argv.push_back("--trusted-ca-file=" + dir_ + "/ca.crt");
    argv.push_back("--client-cert-auth");
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  auto process = BackgroundProcess::Start(Wrap(argv));
  if (!process.ok()) return process.status();
  m.process = *std::move(process);
  return absl::OkStatus();
}

absl::StatusOr<std::string> EtcdCluster::RunEtcdctl(const std::vector<std::string>& endpoints,
                                                    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "ETCDCTL_API=3", "etcdctl",
                                   "--endpoints=" + absl::StrJoin(endpoints, ",")};
  if (options_.tls) {
    argv.push_back("--cacert=" + ca_file());
    argv.push_back("--cert=" + client_cert_file());
    argv.push_back("--key=" + client_key_file());
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(Wrap(argv), Duration(30000));
}

absl::StatusOr<std::string> EtcdCluster::Etcdctl(const std::vector<std::string>& args) {
  std::vector<std::string> endpoints;
  for (int i = 0; i < members(); ++i) {
    if (members_[static_cast<size_t>(i)].process) endpoints.push_back(Endpoint(i));
  }
  if (endpoints.empty()) return absl::FailedPreconditionError("no etcd member is running");
  return RunEtcdctl(endpoints, args);
}

absl::StatusOr<std::string> EtcdCluster::EtcdctlMember(int i,
                                                       const std::vector<std::string>& args) {
  if (i < 0 || i >= members()) {
    return absl::InvalidArgumentError(absl::StrCat("no etcd member ", i));
  }
  return RunEtcdctl({Endpoint(i)}, args);
}

absl::Status EtcdCluster::WaitHealthy(const std::vector<int>& which) {
  std::vector<std::string> endpoints;
  for (int i : which) endpoints.push_back(Endpoint(i));
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  std::string last;
  while (true) {
    for (int i : which) {
      Member& m = members_[static_cast<size_t>(i)];
      if (m.process && Exited(m.process->pid())) {
        CommandResult r = m.process->Finish(Duration(1000));
        m.process.reset();
        return absl::FailedPreconditionError(absl::StrCat(
            "etcd member ", m.name, " exited (", r.exit_code, "): ", r.output, "\n", LogTail(i)));
      }
    }
    auto health =
        RunEtcdctl(endpoints, {"--dial-timeout=1s", "--command-timeout=2s", "endpoint", "health"});
    if (health.ok()) return absl::OkStatus();
    last = std::string(health.status().message());
    if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
    if (Clock::now() > deadline) {
      std::string logs;
      for (int i : which) absl::StrAppend(&logs, "\n", LogTail(i));
      return absl::DeadlineExceededError(absl::StrCat("etcd members ",
                                                      absl::StrJoin(endpoints, ", "),
                                                      " not healthy within 15 s: ", last, logs));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(const EtcdClusterOptions& options) {
  if (options.members < 1) return absl::InvalidArgumentError("an etcd cluster needs a member");
  std::unique_ptr<EtcdCluster> c(new EtcdCluster());
  c->options_ = options;
  // Named with the process id: one left by a process killed outright is removed by the next
  // (testbed::RemoveStaleTemporaries).
  std::string tmpl = absl::StrCat("/tmp/ila-etcd-", getpid(), "-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", strerror(errno)));
  }
  c->dir_ = tmpl;
  if (options.tls) {
    if (absl::Status st = c->MakeCertificates(); !st.ok()) return st;
  }
  auto ports = FreePorts(2 * options.members);
  if (!ports.ok()) return ports.status();
  std::vector<std::string> peers;
  for (int i = 0; i < options.members; ++i) {
    Member m;
    m.name = absl::StrCat("member", i);
    m.client_port = (*ports)[2 * static_cast<size_t>(i)];
    m.peer_port = (*ports)[2 * static_cast<size_t>(i) + 1];
    peers.push_back(absl::StrCat(m.name, "=http://", options.listen_address, ":", m.peer_port));
    c->members_.push_back(std::move(m));
  }
  c->initial_cluster_ = absl::StrJoin(peers, ",");
  std::vector<int> all;
  for (int i = 0; i < options.members; ++i) {
    if (absl::Status st = c->Launch(i); !st.ok()) return st;
    all.push_back(i);
  }
  if (absl::Status st = c->WaitHealthy(all); !st.ok()) return st;
  return c;
}

absl::Status EtcdCluster::StopMember(int i, int signal) {
  if (i < 0 || i >= members())
    return absl::InvalidArgumentError(absl::StrCat("no etcd member ", i));
  Member& m = members_[static_cast<size_t>(i)];
  if (!m.process) {
    return absl::FailedPreconditionError(absl::StrCat("etcd ", m.name, " is not running"));
  }
  m.process->Signal(signal);
  m.process->Finish(Duration(10000));
  m.process.reset();
  return absl::OkStatus();
}

absl::Status EtcdCluster::StartMember(int i) {
  if (i < 0 || i >= members())
    return absl::InvalidArgumentError(absl::StrCat("no etcd member ", i));
  if (members_[static_cast<size_t>(i)].process) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd ", members_[static_cast<size_t>(i)].name, " is running already"));
  }
  if (absl::Status st = Launch(i); !st.ok()) return st;
  return WaitHealthy({i});
}

absl::StatusOr<int> EtcdCluster::LeaderIndex() {
  static const std::regex kMember(R"re("member_id":(\d+))re");
  static const std::regex kLeader(R"re("leader":(\d+))re");
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::string last = "no member is running";
  while (true) {
    std::vector<std::pair<std::string, int>> ids;  // member id -> index
    std::string leader;
    for (int i = 0; i < members(); ++i) {
      if (!members_[static_cast<size_t>(i)].process) continue;
      auto out = EtcdctlMember(
          i, {"--dial-timeout=1s", "--command-timeout=2s", "endpoint", "status", "-w", "json"});
      if (!out.ok()) {
        last = std::string(out.status().message());
        continue;
      }
      std::smatch id, lead;
      if (std::regex_search(*out, id, kMember)) ids.emplace_back(id[1], i);
      if (std::regex_search(*out, lead, kLeader) && lead[1] != "0") leader = lead[1];
    }
    for (const auto& [id, index] : ids) {
      if (!leader.empty() && id == leader) return index;
    }
    if (!leader.empty()) last = "the leader " + leader + " is not a running member";
    if (Clock::now() > deadline) {
      return absl::UnavailableError("no etcd leader among the running members within 5 s: " + last);
    }
    if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

EtcdCluster::~EtcdCluster() {
  for (Member& m : members_) {
    if (m.process) {
      m.process->Signal(SIGKILL);
      m.process.reset();  // reaps it
    }
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

}  // namespace ila::testbed
