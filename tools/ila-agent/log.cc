// JSON-lines logging to stderr.
#include "log.h"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace ila::agent {
namespace {

std::mutex mu;
LogLevel min_level = LogLevel::kInfo;
std::string host_name;

const char* Name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLogLevel(LogLevel level) {
  std::lock_guard<std::mutex> lock(mu);
  min_level = level;
}

void SetLogHost(std::string host) {
  std::lock_guard<std::mutex> lock(mu);
  host_name = std::move(host);
}

void Log(LogLevel level, std::string_view message, const LogFields& fields) {
  std::lock_guard<std::mutex> lock(mu);
  if (level < min_level) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  nlohmann::json line = {
      {"ts", std::chrono::duration<double>(now).count()},
      {"level", Name(level)},
      {"msg", std::string(message)},
  };
  if (!host_name.empty()) line["host"] = host_name;
  for (const auto& [key, value] : fields) line[key] = value;
  std::fprintf(stderr, "%s\n",
               line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace ila::agent
