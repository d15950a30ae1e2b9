// The floor under the first-echoed-byte figures: the driver itself speaks VMess straight to the
// server (request header and first chunk built before the clock starts), so a sample is the
// server, the origin and the kernel with no client process in the path. What a client adds is
// its figure minus this one.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "first_byte.hpp"
#include "harness/endpoint.hpp"

namespace vmlocal::bench {

FirstByteResult measure_direct_first_byte(const itest::Endpoint& server, const std::string& uuid,
                                          const std::string& security, const itest::Endpoint& echo,
                                          std::size_t samples, std::chrono::milliseconds timeout);

}  // namespace vmlocal::bench
