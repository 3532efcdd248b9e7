// A real etcd (Debian's etcd-server) for the tests, the benchmarks and the demo: one member or a
// cluster of several on loopback ports picked free, optionally with client-certificate TLS
// (certificates made with the openssl CLI) and optionally inside a network namespace. Members can
// be killed and restarted to exercise failover; etcdctl runs against the cluster. Everything
// lives in a temporary directory that the destructor removes after killing every member.
#ifndef ILA_TESTBED_ETCD_CLUSTER_H_
#define ILA_TESTBED_ETCD_CLUSTER_H_

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "testbed/process.h"

namespace ila::testbed {

struct EtcdClusterOptions {
  int members = 1;
  // Client-certificate TLS on the client URLs: a CA, a server certificate (for 127.0.0.1,
  // localhost and listen_address) and a client certificate (CN "root") are made with the openssl
  // CLI in the data directory; members require a client certificate signed by that CA. The
  // peers talk plain HTTP.
  bool tls = false;
  // Runs the members (and etcdctl) inside this network namespace (`ip netns exec`).
  std::string netns;
  // The address the members listen on, for clients and peers.
  std::string listen_address = "127.0.0.1";
  // More etcd flags for every member, e.g. "--auth-token-ttl=1".
  std::vector<std::string> extra_args;
};

class EtcdCluster {
 public:
  // Starts the members and waits (up to 15 s) until every one answers `etcdctl endpoint health`.
  // Errors name the member and carry the tail of its log.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(const EtcdClusterOptions& options);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // One per member, in member order: "127.0.0.1:port", or "https://127.0.0.1:port" with TLS.
  std::vector<std::string> client_endpoints() const;
  int members() const { return static_cast<int>(members_.size()); }

  // Sends `signal` to member i and waits for it to exit (SIGKILL: a crash).
  absl::Status StopMember(int i, int signal = SIGKILL);
  // Restarts a stopped member on its data directory and ports, and waits until it is healthy.
  absl::Status StartMember(int i);
  // The index of the member that leads the cluster, asked of the running members; waits up to
  // 5 s while an election is under way.
  absl::StatusOr<int> LeaderIndex();

  // Runs `etcdctl <args>` (API 3) against every running member's endpoint, with the TLS files
  // when tls. Returns its output; an error with the output on a non-zero exit.
  absl::StatusOr<std::string> Etcdctl(const std::vector<std::string>& args);
  // The same against member i only.
  absl::StatusOr<std::string> EtcdctlMember(int i, const std::vector<std::string>& args);

  // PEM files (empty without tls).
  std::string ca_file() const;
  std::string client_cert_file() const;
  std::string client_key_file() const;
  const std::string& data_dir() const { return dir_; }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::unique_ptr<BackgroundProcess> process;
  };
  EtcdCluster() = default;
  absl::Status MakeCertificates();
  absl::Status Launch(int i);
  // Waits until every running member reports healthy.
  absl::Status WaitHealthy(const std::vector<int>& which);
  std::string LogTail(int i) const;
  std::string Endpoint(int i) const;
  std::vector<std::string> Wrap(std::vector<std::string> argv) const;
  absl::StatusOr<std::string> RunEtcdctl(const std::vector<std::string>& endpoints,
                                         const std::vector<std::string>& args);

  EtcdClusterOptions options_;
  std::string dir_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace ila::testbed

#endif  // ILA_TESTBED_ETCD_CLUSTER_H_
