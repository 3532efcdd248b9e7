#include "testbed/process.h"
#include "testbed/process_internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace ila::testbed {

bool internal::PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop.store(true); }

std::string Errno(int err) { return std::strerror(err); }

std::string Joined(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

// Spawns argv in its own process group (a Ctrl-C on the terminal reaches only us; we stop the
// children ourselves), stdout+stderr into `out_fd`, stdin from `in_fd` (or /dev/null when -1).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int in_fd, int out_fd) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run `", Joined(argv), "`: ", Errno(err)));
  }
  return pid;
}

int ExitCode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Terminates the process group of `pid` and reaps it: SIGTERM, then SIGKILL after `grace`.
int TerminateAndReap(pid_t pid, Duration grace) {
  kill(-pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  int wstatus = 0;
  while (true) {
    pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) return ExitCode(wstatus);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() > deadline) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
      return ExitCode(wstatus);
    }
    usleep(10000);
  }
}

}  // namespace

// ----- Stopping ------------------------------------------------------------------------------

void RequestStop() { g_stop.store(true); }
bool StopRequested() { return g_stop.load(); }

void InstallStopSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR and look at the flag
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
}

absl::Status CheckNotStopped() {
  if (StopRequested()) return absl::CancelledError("stopped by a signal");
  return absl::OkStatus();
}

// ----- Child processes -----------------------------------------------------------------------

absl::StatusOr<CommandResult> internal::RunCommandImpl(const std::vector<std::string>& argv,
                                                       Duration timeout, const std::string& input,
                                                       bool honour_stop) {
  auto stopped = [honour_stop] { return honour_stop && StopRequested(); };
  if (stopped()) return absl::CancelledError("stopped by a signal");
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2: " + Errno(errno));
  int in[2] = {-1, -1};
  if (!input.empty() && pipe2(in, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError("pipe2: " + Errno(errno));
  }
  auto pid = Spawn(argv, in[0], out[1]);
  close(out[1]);
  if (in[0] >= 0) close(in[0]);
  if (!pid.ok()) {
    close(out[0]);
    if (in[1] >= 0) close(in[1]);
    return pid.status();
  }
  if (in[1] >= 0) {
    // Inputs are small (ip batches): they fit the pipe buffer.
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(in[1], input.data() + off, input.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(in[1]);
  }

  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  std::string why_killed;
  bool eof = false;
  while (!eof) {
    if (stopped()) {
      why_killed = "stopped by a signal";
      break;
    }
    if (Clock::now() > deadline) {
      why_killed = absl::StrCat("did not finish within ", timeout.count(), " ms");
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      eof = true;
    }
  }
  close(out[0]);
  if (!why_killed.empty()) {
    TerminateAndReap(*pid, Duration(1000));
    absl::StatusCode code =
        stopped() ? absl::StatusCode::kCancelled : absl::StatusCode::kDeadlineExceeded;
    return absl::Status(
        code, absl::StrCat("`", Joined(argv), "` ", why_killed, "; output:\n", result.output));
  }
  // The output is closed; the child is exiting (or has detached its output, which ours do not).
  int wstatus = 0;
  while (true) {
    pid_t r = waitpid(*pid, &wstatus, WNOHANG);
    if (r == *pid) break;
    if (r < 0 && errno != EINTR) return absl::InternalError("waitpid: " + Errno(errno));
    if (stopped() || Clock::now() > deadline) {
      TerminateAndReap(*pid, Duration(1000));
      return absl::DeadlineExceededError(absl::StrCat("`", Joined(argv), "` did not exit"));
    }
    usleep(2000);
  }
  result.exit_code = ExitCode(wstatus);
  return result;
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, Duration timeout,
                                         const std::string& input) {
  return internal::RunCommandImpl(argv, timeout, input, /*honour_stop=*/true);
}

absl::StatusOr<std::string> RunChecked(const std::vector<std::string>& argv, Duration timeout,
                                       const std::string& input) {
  auto r = RunCommand(argv, timeout, input);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string out = r->output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return absl::InternalError(
        absl::StrCat("`", Joined(argv), "` failed (exit status ", r->exit_code, "): ", out));
  }
  return std::move(r->output);
}

struct BackgroundProcess::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::string output;
  bool eof = false;
  std::thread reader;
};

absl::StatusOr<std::unique_ptr<BackgroundProcess>> BackgroundProcess::Start(
    const std::vector<std::string>& argv) {
  if (absl::Status st = CheckNotStopped(); !st.ok()) return st;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2: " + Errno(errno));
  auto pid = Spawn(argv, -1, out[1]);
  close(out[1]);
  if (!pid.ok()) {
    close(out[0]);
    return pid.status();
  }
  std::unique_ptr<BackgroundProcess> p(new BackgroundProcess());
  p->pid_ = *pid;
  p->shared_ = std::make_shared<Shared>();
  p->shared_->reader = std::thread([s = p->shared_.get(), fd = out[0]] {
    char buf[4096];
    while (true) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(s->mu);
      if (n <= 0) {
        s->eof = true;
        s->cv.notify_all();
        break;
      }
      s->output.append(buf, static_cast<size_t>(n));
      s->cv.notify_all();
    }
    close(fd);
  });
  return p;
}

bool BackgroundProcess::WaitForOutput(const std::string& text, Duration timeout) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  auto deadline = Clock::now() + timeout;
  while (shared_->output.find(text) == std::string::npos) {
    if (shared_->eof || StopRequested() || Clock::now() > deadline) return false;
    shared_->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  return true;
}

void BackgroundProcess::Reap(bool terminate, Duration timeout) {
  if (pid_ < 0) return;
  auto deadline = Clock::now() + timeout;
  int wstatus = 0;
  while (!terminate) {
    pid_t r = waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      exit_code_ = ExitCode(wstatus);
      pid_ = -1;
      break;
    }
    if ((r < 0 && errno != EINTR) || StopRequested() || Clock::now() > deadline) break;
    usleep(10000);
  }
  if (pid_ >= 0) {
    exit_code_ = TerminateAndReap(pid_, Duration(1000));
    pid_ = -1;
  }
  if (shared_->reader.joinable()) shared_->reader.join();
}

CommandResult BackgroundProcess::Finish(Duration timeout) {
  Reap(false, timeout);
  std::lock_guard<std::mutex> lock(shared_->mu);
  return CommandResult{exit_code_, shared_->output};
}

std::string BackgroundProcess::Output() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->output;
}

void BackgroundProcess::Signal(int sig) {
  if (pid_ >= 0) kill(pid_, sig);
}

BackgroundProcess::~BackgroundProcess() {
  if (shared_) Reap(true, Duration(0));
}

}  // namespace ila::testbed
