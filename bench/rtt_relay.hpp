// A relay that puts a round-trip time between the clients and the server, in user space (the
// kernel's netem is not available on these machines). Every chunk read from either side is
// written to the other half the RTT later, in order; the first client bytes of a connection
// are held until 1.5 RTT after the accept, which models the TCP handshake the loopback connect
// skipped (SYN, SYN-ACK: the client may send after one RTT, and its bytes arrive half an RTT
// later). A client that sends nothing first (a warm connection) pays that during its idle time.
// EOF travels the same way (FIN after the data before it); a reset or error closes both sides.
// One thread (SCHED_FIFO where allowed), one epoll loop and a timerfd for the due chunks.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "harness/endpoint.hpp"
#include "unique_fd.hpp"

namespace vmlocal::bench {

class RttRelay {
 public:
  // Listens on a kernel-chosen 127.0.0.1 port and relays each connection to `upstream`.
  RttRelay(const itest::Endpoint& upstream, std::chrono::microseconds rtt);
  ~RttRelay();  // stops the thread, closes every connection
  RttRelay(const RttRelay&) = delete;
  RttRelay& operator=(const RttRelay&) = delete;

  const itest::Endpoint& endpoint() const { return endpoint_; }

 private:
  void run();

  itest::Endpoint upstream_;
  std::chrono::microseconds rtt_;
  UniqueFd listener_;
  UniqueFd stop_;  // eventfd
  itest::Endpoint endpoint_;
  std::thread thread_;
};

}  // namespace vmlocal::bench
