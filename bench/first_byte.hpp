// Time to the first echoed byte: a new TCP connection to the client's SOCKS5 port, the SOCKS5
// handshake, CONNECT to the echo origin, one byte out and the same byte back. Samples are
// sequential, so each measures one tunnel's setup through an otherwise idle path.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "harness/endpoint.hpp"

namespace vmlocal::bench {

struct FirstByteResult {
  std::vector<double> micros;                   // successful samples, in the order taken
  std::map<std::string, std::size_t> failures;  // by kind ("timeout", "closed", ...)
  std::size_t failed() const;
  double percentile_us(double p) const;  // nearest rank over the successful samples
};

// `timeout` bounds each socket call of a sample; a sample that hits it is a failure, not a
// number (a v2ray server that takes a fresh connection for a replay never answers it).
FirstByteResult measure_first_byte(const itest::Endpoint& proxy, const itest::Endpoint& echo,
                                   std::size_t samples, std::chrono::milliseconds timeout);

}  // namespace vmlocal::bench
