// Delegated plugins (delegate.h).
#include "delegate.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace ila::cni {
namespace {

using nlohmann::json;

Error Fail(ErrorCode code, std::string msg, std::string details = "") {
  return Error{code, std::move(msg), std::move(details)};
}

// Writes `input` to the child's stdin and reads its stdout until it closes, without deadlocking
// on a child that writes before it has read everything.
std::string Exchange(int in, int out, const std::string& input) {
  std::string output;
  size_t written = 0;
  bool in_open = true;
  if (input.empty()) {
    close(in);
    in_open = false;
  }
  while (true) {
    pollfd fds[2] = {{.fd = out, .events = POLLIN, .revents = 0},
                     {.fd = in_open ? in : -1, .events = POLLOUT, .revents = 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_open && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = write(in, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) {
        close(in);
        in_open = false;
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buf[4096];
      const ssize_t n = read(out, buf, sizeof(buf));
      if (n <= 0) break;
      output.append(buf, static_cast<size_t>(n));
    }
  }
  if (in_open) close(in);
  close(out);
  return output;
}

}  // namespace

std::variant<json, Error> Delegate(const std::string& type, const std::string& command,
                                   const std::vector<std::string>& path, const json& config) {
  if (type.empty() || type.find('/') != std::string::npos) {
    return Fail(ErrorCode::kInvalidNetworkConfig,
                absl::StrCat("the delegated plugin type \"", type, "\" is not a plugin name"));
  }
  std::string binary;
  for (const std::string& dir : path) {
    const std::string candidate = dir + "/" + type;
    if (access(candidate.c_str(), X_OK) == 0) {
      binary = candidate;
      break;
    }
  }
  if (binary.empty()) {
    return Fail(ErrorCode::kInvalidNetworkConfig,
                absl::StrCat("the delegated plugin \"", type, "\" is not in CNI_PATH"));
  }
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return Fail(ErrorCode::kIoFailure, "pipe");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return Fail(ErrorCode::kIoFailure, "pipe");
  }
  const pid_t pid = fork();
  if (pid < 0) return Fail(ErrorCode::kIoFailure, absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    setenv("CNI_COMMAND", command.c_str(), 1);
    execl(binary.c_str(), binary.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  const std::string output = Exchange(to_child[1], from_child[0], config.dump());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  json answer = output.empty() ? json() : json::parse(output, nullptr, false);
  if (!ok) {
    if (answer.is_object() && answer.contains("code")) {
      return Fail(static_cast<ErrorCode>(answer.value("code", 999)),
                  absl::StrCat(type, ": ", answer.value("msg", std::string())),
                  answer.value("details", std::string()));
    }
    return Fail(ErrorCode::kIoFailure, absl::StrCat(type, " ", command, " failed"), output);
  }
  if (command != "ADD") return json();
  if (!answer.is_object()) {
    return Fail(ErrorCode::kDecodingFailure, absl::StrCat(type, "'s result is not a JSON object"),
                output);
  }
  return answer;
}

}  // namespace ila::cni
