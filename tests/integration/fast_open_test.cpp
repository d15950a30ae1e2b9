// TCP Fast Open to the server. TFO needs the server side switched on in the kernel
// (net.ipv4.tcp_fastopen & 2), which is a per-network-namespace setting: meson runs this suite
// inside a namespace of its own (unshare --net, loopback up, tcp_fastopen = 3), so the test
// changes nothing on the machine.
#include <doctest/doctest.h>

#include <fstream>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

TEST_SUITE("fast_open") {
  TEST_CASE(
      "tcp_fast_open = true: the request rides on the SYN once the server's cookie is known") {
    int sysctl = 0;
    std::ifstream("/proc/sys/net/ipv4/tcp_fastopen") >> sysctl;
    REQUIRE_MESSAGE((sysctl & 3) == 3,
                    "run through meson (integration-fast_open sets tcp_fastopen = 3 in a fresh "
                    "network namespace); got tcp_fastopen = "
                        << sysctl);

    TempDir dir;
    VmessInboundOptions inbound;
    inbound.stream_settings = {{"sockopt", {{"tcpFastOpen", true}}}};
    V2rayServer v2ray = V2rayServer::vmess(dir, inbound);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.tcp_fast_open = true;
    profile.log_level = "debug";
    VmessLocal local(dir, profile);
    EchoServer echo;
    auto deadline = Deadline::after(30s);

    // The first connection fetches the cookie; later ones send the header with the SYN.
    for (int i = 0; i < 3; ++i) {
      Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
      auto r =
          echo_transfer(s, 1 << 20, 70 + static_cast<uint64_t>(i), deadline, EchoEnd::kAfterEcho);
      CHECK(r.received_sha256 == r.sent_sha256);
    }
    CHECK(local.wait_for_log("TCP Fast Open: the request went out with the SYN", deadline));

    // Without the option nothing changes: plain handshakes, same results.
    auto plain_profile = VmessLocalProfile::for_server(v2ray);
    plain_profile.log_level = "debug";
    TempDir plain_dir;  // its own log file
    VmessLocal plain(plain_dir, plain_profile);
    Socket s = plain.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, 1 << 20, 80, deadline, EchoEnd::kAfterEcho);
    CHECK(r.received_sha256 == r.sent_sha256);
    CHECK(plain.log_text().find("TCP Fast Open") == std::string::npos);
  }
}
