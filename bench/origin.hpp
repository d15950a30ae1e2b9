// The loopback origins behind the tunnels, in a forked child process running one epoll loop:
//
//   echo    sends every byte back (the tunnel phases: a held connection costs one descriptor
//           and a few dozen bytes here, not a thread)
//   source  reads BE64 n, sends n pattern bytes, shuts its write side, closes on EOF
//   sink    reads BE64 n, answers kSinkReady, reads n bytes checking them against the pattern,
//           answers BE64 bytes received || 1 if they matched, closes on EOF
//
// A process of its own because of descriptors: the hard RLIMIT_NOFILE may be as low as 20,000
// (it is in CI), and the driver already holds one descriptor per tunnel.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "harness/endpoint.hpp"
#include "pattern.hpp"
#include "unique_fd.hpp"

namespace vmlocal::bench {

class Origin {
 public:
  static constexpr std::uint8_t kSinkReady = 'R';
  static constexpr std::size_t kSinkReportSize = 9;

  // Listens on three kernel-chosen loopback ports and forks the origin. Call it before the
  // driver starts any thread: fork() copies only the calling thread.
  explicit Origin(const Pattern& pattern);
  ~Origin();  // SIGKILL and reap
  Origin(const Origin&) = delete;
  Origin& operator=(const Origin&) = delete;

  const itest::Endpoint& echo() const { return echo_; }
  const itest::Endpoint& source() const { return source_; }
  const itest::Endpoint& sink() const { return sink_; }
  pid_t pid() const { return pid_; }

 private:
  itest::Endpoint echo_;
  itest::Endpoint source_;
  itest::Endpoint sink_;
  UniqueFd parent_end_;  // the child exits when this closes, however the driver ends
  pid_t pid_ = -1;
};

}  // namespace vmlocal::bench
