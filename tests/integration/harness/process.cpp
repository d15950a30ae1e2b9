#include "harness/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace vmlocal::itest {
namespace {

using namespace std::chrono_literals;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct Pipe {
  Fd read;
  Fd write;
};

Pipe make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

ExitStatus decode(int wstatus) {
  ExitStatus s;
  if (WIFEXITED(wstatus)) {
    s.code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    s.signal = WTERMSIG(wstatus);
  }
  return s;
}

// Everything the child needs, prepared before fork(): after fork() in a threaded program the
// child may only make async-signal-safe calls, so no allocation happens there.
struct SpawnPlan {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

SpawnPlan plan_spawn(const std::vector<std::string>& args, const EnvVars& extra) {
  if (args.empty()) throw std::invalid_argument("spawn: empty argument list");
  auto path = find_program(args[0]);
  if (!path) throw std::runtime_error("spawn: program not found: " + args[0]);
  SpawnPlan plan;
  plan.path = path->string();
  plan.args = args;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const auto& [key, value] : extra) {
      if (entry.size() > key.size() && entry.starts_with(key) && entry[key.size()] == '=')
        replaced = true;
    }
    if (!replaced) plan.env.emplace_back(entry);
  }
  for (const auto& [key, value] : extra)
    plan.env.push_back(key + "=" + value);
  for (auto& a : plan.args)
    plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : plan.env)
    plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  return plan;
}

// fork/exec rather than posix_spawn for PR_SET_PDEATHSIG. An exec failure is reported back
// through a close-on-exec pipe, so a typo in a path fails the test with the real errno.
pid_t spawn(SpawnPlan& plan, int stdout_fd, int stderr_fd) {
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.get() < 0) throw_errno("open /dev/null");
  Pipe report = make_pipe();
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    // The test binary ignores SIGPIPE; an ignored disposition survives exec and would hide a
    // child that forgot to handle it. Blocked signals survive exec too.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (dup2(dev_null.get(), 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) {
      int err = errno;
      [[maybe_unused]] auto n = ::write(report.write.get(), &err, sizeof err);
      _exit(127);
    }
    execve(plan.path.c_str(), plan.argv.data(), plan.envp.data());
    int err = errno;
    [[maybe_unused]] auto n = ::write(report.write.get(), &err, sizeof err);
    _exit(127);
  }

  report.write.reset();
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(report.read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    int ignored;
    waitpid(pid, &ignored, 0);
    throw std::runtime_error("exec " + plan.path + ": " + std::strerror(child_errno));
  }
  return pid;
}

// nullopt while the child runs; reaps it once it has exited.
std::optional<ExitStatus> try_reap(pid_t pid) {
  int wstatus = 0;
  pid_t r;
  do {
    r = waitpid(pid, &wstatus, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid) return decode(wstatus);
  if (r < 0) throw_errno("waitpid");
  return std::nullopt;
}

std::optional<ExitStatus> wait_pid(pid_t pid, Deadline deadline) {
  // Short sleeps rather than SIGCHLD: signal handlers and threads mix badly, and a few
  // milliseconds of latency do not matter here.
  for (auto pause = 1ms;; pause = std::min(pause * 2, 20ms)) {
    if (auto s = try_reap(pid)) return s;
    if (deadline.expired()) return std::nullopt;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(pause, deadline.remaining()));
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signal != 0) {
    return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
  return "exit code " + std::to_string(code);
}

Process::Process(std::vector<std::string> args, std::filesystem::path log_path, EnvVars env)
    : name_(std::filesystem::path(args.empty() ? "" : args[0]).filename().string()),
      log_path_(std::move(log_path)) {
  SpawnPlan plan = plan_spawn(args, env);
  Fd log(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) throw_errno("open " + log_path_.string());
  pid_ = spawn(plan, log.get(), log.get());
}

Process::Process(Process&& other) noexcept
    : name_(std::move(other.name_)),
      log_path_(std::move(other.log_path_)),
      pid_(std::exchange(other.pid_, -1)),
      status_(std::move(other.status_)) {}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int ignored;
    while (waitpid(pid_, &ignored, 0) < 0 && errno == EINTR) {
    }
  }
}

bool Process::alive() {
  if (pid_ <= 0 || status_) return false;
  status_ = try_reap(pid_);
  return !status_;
}

void Process::signal(int sig) {
  if (alive()) ::kill(pid_, sig);
}

std::optional<ExitStatus> Process::wait_exit(Deadline deadline) {
  if (pid_ <= 0) throw std::logic_error("wait_exit on a moved-from Process");
  if (!status_) status_ = wait_pid(pid_, deadline);
  return status_;
}

ExitStatus Process::terminate(Deadline deadline) {
  signal(SIGTERM);
  if (auto s = wait_exit(deadline)) return *s;
  ::kill(pid_, SIGKILL);
  if (auto s = wait_exit(Deadline::after(10s))) return *s;
  throw std::runtime_error(name_ + " (pid " + std::to_string(pid_) + ") survived SIGKILL");
}

std::string Process::log_text() const {
  return read_file(log_path_);
}

bool Process::wait_for_log(std::string_view needle, Deadline deadline) const {
  for (;;) {
    if (log_text().find(needle) != std::string::npos) return true;
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(20ms, deadline.remaining()));
  }
}

std::string Process::describe_with_log() {
  std::string state = alive() ? "running" : status_->describe();
  std::string text = log_text();
  return name_ + " (pid " + std::to_string(pid_) + ", " + state + "), log " + log_path_.string() +
         ":\n" + (text.empty() ? "(empty)\n" : text);
}

std::string CommandResult::describe() const {
  return (status ? status->describe() : std::string("killed at the deadline")) +
         "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
}

CommandResult run_command(const std::vector<std::string>& args, Deadline deadline,
                          const EnvVars& env) {
  SpawnPlan plan = plan_spawn(args, env);
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  pid_t pid = spawn(plan, out.write.get(), err.write.get());
  out.write.reset();
  err.write.reset();

  CommandResult result;
  std::array<pollfd, 2> fds{pollfd{out.read.get(), POLLIN, 0}, pollfd{err.read.get(), POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0 && !deadline.expired()) {
    int n = ::poll(fds.data(), fds.size(), deadline.poll_timeout_ms());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("poll");
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        fds[i].fd = -1;  // poll() ignores negative fds
        --open_fds;
      }
    }
  }
  result.status = wait_pid(pid, deadline);
  if (!result.status) {
    ::kill(pid, SIGKILL);
    wait_pid(pid, Deadline::after(10s));
  }
  return result;
}

std::optional<std::filesystem::path> find_program(std::string_view name) {
  if (name.find('/') != std::string_view::npos) {
    std::filesystem::path p(name);
    if (::access(p.c_str(), X_OK) == 0) return p;
    return std::nullopt;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (dir.empty()) dir = ".";
    std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate))
      return candidate;
  }
  return std::nullopt;
}

}  // namespace vmlocal::itest
