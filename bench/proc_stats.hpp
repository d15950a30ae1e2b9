// What the benchmark reads about a client process from /proc: its CPU time, resident memory,
// open descriptors and descriptor limit. Only the client's own numbers are recorded; the
// v2ray server, the origins and this driver share the machine but are not charged to it.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace vmlocal::bench {

// utime and stime of every thread, live or exited (/proc/PID/stat), in seconds. The kernel
// counts in clock ticks (10 ms), which is why bulk transfers move at least 1 GiB.
struct CpuTimes {
  double user = 0;
  double system = 0;
  double total() const { return user + system; }
  CpuTimes operator-(const CpuTimes& o) const { return {user - o.user, system - o.system}; }
};
CpuTimes cpu_times(pid_t pid);
// VmRSS from /proc/PID/status, in KiB.
std::uint64_t rss_kib(pid_t pid);
// RssAnon: the private anonymous part of VmRSS, without the shared library pages that VmRSS
// also counts (for a dynamically linked program that is most of its idle RSS).
std::uint64_t rss_anon_kib(pid_t pid);
// Entries in /proc/PID/fd.
std::size_t fd_count(pid_t pid);
// The soft "Max open files" limit the process runs with (/proc/PID/limits).
std::uint64_t nofile_soft_limit(pid_t pid);

// Raises this process's RLIMIT_NOFILE so children inherit it: the hard limit to `want` where
// the kernel allows (CAP_SYS_RESOURCE), the soft limit to the hard limit. Returns the result.
rlimit raise_nofile(rlim_t want);

// Polls until `pid` has at most `at_most` descriptors open; false at the timeout.
bool wait_for_fds_at_most(pid_t pid, std::size_t at_most, std::chrono::milliseconds timeout);

}  // namespace vmlocal::bench
