// The agent's local API: a unix stream socket (mode 0600) on which each request is one JSON
// object on one line and each answer one JSON object on one line (docs/cluster.md "Local API").
// Only peers whose credentials (SO_PEERCRED) are root's or the agent's own user are served; the
// others get {"ok":false,"code":"PERMISSION_DENIED"} and are disconnected.
//
// Thread safety: Start() once; requests are handled one at a time on the server's thread; Stop()
// from any thread.
#ifndef ILA_AGENT_LOCAL_API_H_
#define ILA_AGENT_LOCAL_API_H_

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ila::agent {

class LocalApiServer {
 public:
  // Returns the answer to one request.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  LocalApiServer(std::string path, Handler handler)
      : path_(std::move(path)), handler_(std::move(handler)) {}
  ~LocalApiServer();
  LocalApiServer(const LocalApiServer&) = delete;
  LocalApiServer& operator=(const LocalApiServer&) = delete;

  // Binds the socket (replacing a stale one no process listens on; refusing one in use) and
  // starts serving.
  [[nodiscard]] absl::Status Start();
  void Stop();

  // {"ok":false,"code":"...","error":"..."} from a status.
  static nlohmann::json Error(const absl::Status& status);

 private:
  void Serve();
  void ServeConnection(int fd);
  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Stop() wakes the server's poll
  std::thread thread_;
};

// A client of the local API (ila-agent status, ila-cni, tests): sends one request and reads the
// answer. UNAVAILABLE when no agent listens.
[[nodiscard]] absl::StatusOr<nlohmann::json> CallLocalApi(const std::string& path,
                                                          const nlohmann::json& request,
                                                          int timeout_ms = 30000);

}  // namespace ila::agent

#endif  // ILA_AGENT_LOCAL_API_H_
