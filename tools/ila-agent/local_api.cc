// Unix-socket JSON-lines server and client (local_api.h).
#include "local_api.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace ila::agent {
namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket path '", path, "' is empty or longer than ", sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Reads one line (without its newline), waiting up to timeout_ms for each chunk.
absl::StatusOr<std::string> ReadLine(int fd, int timeout_ms, size_t limit = 1 << 20) {
  std::string line;
  char buf[4096];
  while (true) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, timeout_ms);
    if (ready == 0) return absl::DeadlineExceededError("no answer in time");
    if (ready < 0) return absl::UnavailableError(std::strerror(errno));
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) return absl::UnavailableError(std::strerror(errno));
    if (n == 0) {
      if (line.empty()) return absl::UnavailableError("connection closed");
      return line;
    }
    line.append(buf, static_cast<size_t>(n));
    if (size_t nl = line.find('\n'); nl != std::string::npos) return line.substr(0, nl);
    if (line.size() > limit) return absl::InvalidArgumentError("request line too long");
  }
}

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

nlohmann::json LocalApiServer::Error(const absl::Status& status) {
  return {{"ok", false},
          {"code", absl::StatusCodeToString(status.code())},
          {"error", std::string(status.message())}};
}

LocalApiServer::~LocalApiServer() { Stop(); }

absl::Status LocalApiServer::Start() {
  absl::StatusOr<sockaddr_un> addr = Address(path_);
  if (!addr.ok()) return addr.status();
  // A socket file left by a killed agent is replaced; one that answers is another agent's.
  if (absl::StatusOr<nlohmann::json> probe = CallLocalApi(path_, {{"op", "ping"}}, 1000);
      probe.ok()) {
    return absl::AlreadyExistsError(absl::StrCat("another agent serves ", path_));
  }
  unlink(path_.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Errno("socket for", path_);
  // Created 0600 from the start (no window in which another user could connect).
  const mode_t old = umask(0177);
  const int rc = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  umask(old);
  if (rc != 0) return Errno("bind", path_);
  if (listen(listen_fd_, 64) != 0) return Errno("listen on", path_);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return Errno("eventfd for", path_);
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

void LocalApiServer::Stop() {
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    unlink(path_.c_str());
  }
  if (wake_fd_ >= 0) {
    close(wake_fd_);
    wake_fd_ = -1;
  }
}

void LocalApiServer::Serve() {
  while (true) {
    pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                     {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ServeConnection(fd);
    close(fd);
  }
}

void LocalApiServer::ServeConnection(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && cred.uid != geteuid())) {
    Log(LogLevel::kWarning, "local API: refused a peer",
        {{"pid", std::to_string(cred.pid)}, {"uid", std::to_string(cred.uid)}});
    WriteAll(fd, Error(absl::PermissionDeniedError(
                           absl::StrCat("uid ", cred.uid, " may not use the agent's local API")))
                         .dump() +
                     "\n");
    return;
  }
  // One request per connection line; a client may send several on one connection.
  while (true) {
    absl::StatusOr<std::string> line = ReadLine(fd, 5000);
    if (!line.ok()) return;
    nlohmann::json request = nlohmann::json::parse(*line, nullptr, false);
    nlohmann::json answer;
    if (request.is_discarded() || !request.is_object() || !request.contains("op") ||
        !request["op"].is_string()) {
      answer = Error(absl::InvalidArgumentError("a request is one JSON object with an \"op\""));
    } else {
      answer = handler_(request);
    }
    if (!WriteAll(fd,
                  answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n")) {
      return;
    }
  }
}

absl::StatusOr<nlohmann::json> CallLocalApi(const std::string& path, const nlohmann::json& request,
                                            int timeout_ms) {
  absl::StatusOr<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket for", path);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return Errno("no agent answers on", path);
  }
  // A refused peer is answered and disconnected at once, maybe before its request is written:
  // the answer is still there to read when the send finds the connection closed.
  const bool sent = WriteAll(fd, request.dump() + "\n");
  const absl::Status send_error = sent ? absl::OkStatus() : Errno("cannot send to", path);
  absl::StatusOr<std::string> line = ReadLine(fd, timeout_ms);
  if (!line.ok()) return sent ? line.status() : send_error;
  nlohmann::json answer = nlohmann::json::parse(*line, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return absl::DataLossError(absl::StrCat("the agent's answer is not JSON: ", *line));
  }
  return answer;
}

}  // namespace ila::agent
