#include "proc_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace vmlocal::bench {
namespace {

std::string proc_path(pid_t pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path + " (has the process exited?)");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A "Name:  1234 kB" line of /proc/PID/status, in KiB.
std::uint64_t status_kib(pid_t pid, std::string_view name) {
  std::istringstream lines(read_text(proc_path(pid, "status")));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(name) && line.size() > name.size() && line[name.size()] == ':')
      return std::stoull(line.substr(name.size() + 1));
  }
  throw std::runtime_error("no " + std::string(name) + " in /proc/" + std::to_string(pid) +
                           "/status");
}

}  // namespace

CpuTimes cpu_times(pid_t pid) {
  const std::string stat = read_text(proc_path(pid, "stat"));
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) throw std::runtime_error("malformed /proc/PID/stat");
  std::istringstream fields(stat.substr(close + 2));
  // Fields 3..13 come first; utime and stime are fields 14 and 15.
  std::string skip;
  for (int i = 3; i <= 13; ++i)
    fields >> skip;
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  if (!fields) throw std::runtime_error("malformed /proc/PID/stat");
  static const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {static_cast<double>(utime) / ticks_per_second,
          static_cast<double>(stime) / ticks_per_second};
}

std::uint64_t rss_kib(pid_t pid) {
  return status_kib(pid, "VmRSS");
}

std::uint64_t rss_anon_kib(pid_t pid) {
  return status_kib(pid, "RssAnon");
}

std::size_t fd_count(pid_t pid) {
  const std::string path = proc_path(pid, "fd");
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) throw std::runtime_error("cannot list " + path + ": " + std::strerror(errno));
  std::size_t n = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

std::uint64_t nofile_soft_limit(pid_t pid) {
  std::istringstream lines(read_text(proc_path(pid, "limits")));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("Max open files")) continue;
    std::istringstream values(line.substr(std::strlen("Max open files")));
    std::string soft;
    values >> soft;
    return soft == "unlimited" ? UINT64_MAX : std::stoull(soft);
  }
  throw std::runtime_error("no 'Max open files' in /proc/" + std::to_string(pid) + "/limits");
}

rlimit raise_nofile(rlim_t want) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw std::runtime_error("getrlimit failed");
  if (limit.rlim_max < want) {
    rlimit wider{want, want};
    if (setrlimit(RLIMIT_NOFILE, &wider) == 0) limit = wider;  // EPERM: keep the hard limit
  }
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    throw std::runtime_error(std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  }
  return limit;
}

bool wait_for_fds_at_most(pid_t pid, std::size_t at_most, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (fd_count(pid) <= at_most) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace vmlocal::bench
