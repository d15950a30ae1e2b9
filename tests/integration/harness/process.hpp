// Child processes for tests: v2ray, vmess-local, curl. A Process kills and reaps its child
// when it goes out of scope, so a failing assertion never leaves a server running.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/deadline.hpp"

namespace vmlocal::itest {

// Variables added to (or replacing those in) the test's own environment.
using EnvVars = std::vector<std::pair<std::string, std::string>>;

struct ExitStatus {
  int code = -1;   // exit code; -1 when killed by a signal
  int signal = 0;  // the terminating signal, or 0

  bool exited() const { return signal == 0; }
  bool success() const { return signal == 0 && code == 0; }
  std::string describe() const;  // "exit code 3", "killed by signal 9 (Killed)"
};

class Process {
 public:
  // Starts args[0] (a path, or a name looked up in PATH) with stdout and stderr appended to
  // `log_path` and stdin from /dev/null. Throws if the program cannot be executed.
  //
  // The child gets PR_SET_PDEATHSIG=SIGKILL so it dies with the test binary even on a crash.
  // The kernel ties that to the spawning *thread*: spawn from a thread that outlives the
  // child (the test's own thread does; a short-lived helper thread does not).
  Process(std::vector<std::string> args, std::filesystem::path log_path, EnvVars env = {});
  ~Process();  // SIGKILL and reap if still running
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) = delete;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }  // program basename, for messages
  const std::filesystem::path& log_path() const { return log_path_; }

  bool alive();  // false once the child has exited (it is then reaped)
  void signal(int sig);
  // The exit status once the child has exited; nullopt if it still runs at the deadline.
  std::optional<ExitStatus> wait_exit(Deadline deadline);
  // SIGTERM; SIGKILL if it is still running at the deadline. Returns how it ended.
  ExitStatus terminate(Deadline deadline);
  // The exit status, if the child has exited and was reaped.
  const std::optional<ExitStatus>& exit_status() const { return status_; }

  std::string log_text() const;
  // Polls the log until it contains `needle`; false at the deadline.
  bool wait_for_log(std::string_view needle, Deadline deadline) const;
  // "v2ray (pid 42, exit code 1)" followed by the log, for failure messages.
  std::string describe_with_log();

 private:
  std::string name_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

struct CommandResult {
  std::optional<ExitStatus> status;  // nullopt: still running at the deadline (then killed)
  std::string out;
  std::string err;

  bool success() const { return status && status->success(); }
  std::string describe() const;  // status plus both outputs, for failure messages
};

// Runs a command to completion, collecting stdout and stderr separately.
CommandResult run_command(const std::vector<std::string>& args, Deadline deadline,
                          const EnvVars& env = {});

// The absolute path of `name` found in PATH (or `name` itself if it has a '/'); nullopt if none.
std::optional<std::filesystem::path> find_program(std::string_view name);

}  // namespace vmlocal::itest
