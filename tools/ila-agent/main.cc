// ila-agent: `run` keeps this host's data plane equal to the cluster state in etcd (agent.h);
// `status`, `attach`, `detach` talk to a running agent through its local API.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "agent.h"
#include "local_api.h"
#include "log.h"
#include "options.h"

namespace {

using ila::agent::CallLocalApi;
using nlohmann::json;

int Usage() {
  std::fputs(ila::agent::kAgentUsage, stderr);
  return 1;
}

// `ila-agent status|attach|detach [--socket PATH] [--name value]... [--move]`
int Client(const std::string& op, const std::vector<std::string>& args) {
  std::string socket = "/run/ila-agent.sock";
  json request = {{"op", op}};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--move") {
      request["move"] = true;
      continue;
    }
    if (word.rfind("--", 0) != 0 || i + 1 >= args.size()) return Usage();
    if (word == "--socket") {
      socket = args[++i];
    } else {
      request[word.substr(2)] = args[++i];
    }
  }
  absl::StatusOr<json> answer = CallLocalApi(socket, request);
  if (!answer.ok()) {
    std::fprintf(stderr, "ila-agent %s: %s\n", op.c_str(),
                 std::string(answer.status().message()).c_str());
    return 2;
  }
  std::cout << answer->dump(2) << "\n";
  return answer->value("ok", false) ? 0 : 2;
}

int Run(const std::vector<std::string>& args) {
  absl::StatusOr<ila::agent::AgentConfig> config = ila::agent::ParseAgentOptions(args);
  if (!config.ok()) {
    std::fprintf(stderr, "ila-agent: %s\n%s", std::string(config.status().message()).c_str(),
                 ila::agent::kAgentUsage);
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // Blocked in every thread; this one waits for them below.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<std::unique_ptr<ila::agent::Agent>> agent =
      ila::agent::Agent::Start(*std::move(config));
  if (!agent.ok()) {
    ila::agent::Log(ila::agent::LogLevel::kError, "cannot start",
                    {{"error", std::string(agent.status().message())}});
    return 2;
  }
  ila::agent::Log(ila::agent::LogLevel::kInfo, "running");
  int sig = 0;
  sigwait(&signals, &sig);
  ila::agent::Log(ila::agent::LogLevel::kInfo, "stopping", {{"signal", std::to_string(sig)}});
  (*agent)->Stop();
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage();
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "run") return Run(args);
  if (command == "status" || command == "attach" || command == "detach" || command == "allocate" ||
      command == "release") {
    return Client(command, args);
  }
  return Usage();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ila-agent: %s\n", e.what());
    return 2;
  }
}
