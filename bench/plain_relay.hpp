// The CPU yardstick: a plain relay of the bench's own, measured in the same run as the clients.
// It speaks just enough SOCKS5 (no-auth, CONNECT to an IPv4 address) for the bulk phases to use
// it like a client, then copies each direction with read(2)/write(2) through a 64 KiB buffer,
// one thread per direction: no crypto, no framing, nothing a relay could leave out. Its
// CPU-s/GiB is what moving the bytes through a user-space process costs on this machine, and
// vmess-local's target is to cost no more (issue 13; `socat -b 65536` spent 1.1 CPU-s/GiB here).
// A process of its own (forked before the driver starts a thread), so /proc/PID/stat counts
// its CPU alone.
#pragma once

#include <sys/types.h>

#include "harness/endpoint.hpp"
#include "unique_fd.hpp"

namespace vmlocal::bench {

class PlainRelay {
 public:
  PlainRelay();   // listens on a kernel-chosen 127.0.0.1 port and forks
  ~PlainRelay();  // SIGKILL and reap
  PlainRelay(const PlainRelay&) = delete;
  PlainRelay& operator=(const PlainRelay&) = delete;

  const itest::Endpoint& socks() const { return endpoint_; }
  pid_t pid() const { return pid_; }

 private:
  itest::Endpoint endpoint_;
  UniqueFd parent_end_;  // the child exits when this closes
  pid_t pid_ = -1;
};

}  // namespace vmlocal::bench
