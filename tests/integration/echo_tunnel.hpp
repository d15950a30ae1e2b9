// Echo tunnels through vmess-local for the suites that open many of them (servers, reload,
// mux_failover): one round trip checked with doctest, so a wrong echo or a failed SOCKS reply is
// a test failure where it happens.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "harness/harness.hpp"

namespace vmlocal::itest {

// One echo round trip on an open tunnel.
inline void echo_check(Socket& tunnel, const std::string& text, Deadline deadline) {
  tunnel.send_all(text, deadline);
  const Bytes got = tunnel.recv_exact(text.size(), deadline);
  CHECK(std::string(got.begin(), got.end()) == text);
}

// A tunnel to `echo` through the SOCKS5 port `proxy`, checked with one round trip; fails the
// test unless the SOCKS reply is success.
inline Socket open_echo_tunnel(const Endpoint& proxy, const EchoServer& echo, Deadline deadline) {
  Socks5Result r = Socks5Client(proxy).connect(Socks5Target::to(echo.endpoint()), deadline);
  REQUIRE_MESSAGE(r.ok(), "SOCKS reply " << static_cast<int>(r.reply));
  echo_check(r.socket, "ping", deadline);
  return std::move(r.socket);
}

// The same through `local`, with its log in the failure message.
inline Socket open_echo_tunnel(const VmessLocal& local, const EchoServer& echo, Deadline deadline) {
  Socks5Result r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
  INFO("SOCKS reply " << static_cast<int>(r.reply) << "\n" << local.log_text());
  REQUIRE(r.ok());
  echo_check(r.socket, "ping", deadline);
  return std::move(r.socket);
}

}  // namespace vmlocal::itest
