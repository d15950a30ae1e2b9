// UDP round trips through a client's SOCKS5 UDP ASSOCIATE (RFC 1928 §7): one association, then
// datagrams to a loopback UDP echo server run by this phase, one at a time (each waits for its
// echo or the timeout), so each sample is one datagram's round trip through the client, the
// VMess server and back. Lost datagrams are counted, never timed; a corrupted echo ends the run.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "harness/endpoint.hpp"

namespace vmlocal::bench {

struct UdpRoundTripResult {
  std::vector<double> micros;  // echoed datagrams, in order
  std::size_t sent = 0;
  std::size_t lost = 0;  // no echo within the timeout
  std::string error;     // set when the association could not be made (the phase is skipped)
  double percentile_us(double p) const;  // nearest rank; 0 without samples
};

UdpRoundTripResult measure_udp_round_trip(const itest::Endpoint& proxy, std::size_t samples,
                                          std::size_t payload_size,
                                          std::chrono::milliseconds timeout);

}  // namespace vmlocal::bench
