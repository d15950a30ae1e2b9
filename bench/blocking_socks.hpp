// Blocking SOCKS5 for the sequential phases (first-byte samples, bulk transfers): no-auth
// CONNECT with as few system calls as the protocol allows, so the driver adds as little as
// possible to what it measures. Every call is bounded by SO_RCVTIMEO/SO_SNDTIMEO; failures are
// itest::SocketError, whose kind (timeout, EOF, reset, refused) the phases count.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "harness/endpoint.hpp"
#include "harness/socket.hpp"
#include "unique_fd.hpp"

namespace vmlocal::bench {

// A blocking IPv4 TCP socket with TCP_NODELAY and I/O timeouts, not yet connected.
UniqueFd new_blocking_socket(std::chrono::milliseconds io_timeout);
// Changes the I/O timeouts of a blocking socket.
void set_io_timeout(int fd, std::chrono::milliseconds io_timeout);

void connect_to(int fd, const itest::Endpoint& to);
void send_all(int fd, std::span<const std::uint8_t> data);
void recv_exact(int fd, std::span<std::uint8_t> out);
// Up to out.size() bytes; 0 means EOF.
std::size_t recv_some(int fd, std::span<std::uint8_t> out);

// The SOCKS5 exchange on a connected socket: greeting (no-auth), CONNECT to `target`, reply.
// Throws SocketError(kRefused) when the proxy refuses.
void socks5_connect(int fd, const itest::Endpoint& target);

// A new tunnel through `proxy` to `target`.
UniqueFd open_tunnel(const itest::Endpoint& proxy, const itest::Endpoint& target,
                     std::chrono::milliseconds io_timeout);

// "timeout", "closed", "reset", "refused", "error": for failure counts.
const char* kind_name(itest::SocketError::Kind kind);

}  // namespace vmlocal::bench
