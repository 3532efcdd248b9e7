// Structured logs: one JSON object a line on stderr ({"ts":...,"level":...,"msg":...,...}), so
// that journald and log shippers keep the fields apart.
//
// Thread safety: Log() may be called from any thread; lines are never interleaved.
#ifndef ILA_AGENT_LOG_H_
#define ILA_AGENT_LOG_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ila::agent {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogFields = std::vector<std::pair<std::string, std::string>>;

void Log(LogLevel level, std::string_view message, const LogFields& fields = {});
// Lines below this level are not written (default kInfo).
void SetLogLevel(LogLevel level);
// Every line also carries {"host": name} once this is set.
void SetLogHost(std::string host);

}  // namespace ila::agent

#endif  // ILA_AGENT_LOG_H_
