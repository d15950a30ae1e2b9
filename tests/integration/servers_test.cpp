// Several servers against the real v2ray: failover before the SOCKS reply when the first dies,
// the live tunnels of the second untouched, the first taken back when it returns; a server
// name with a dead IPv6 address and a live IPv4 one (RFC 8305 dialling); the counters on
// SIGUSR1.
#include <doctest/doctest.h>
#include <signal.h>

#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "echo_tunnel.hpp"
#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

TEST_SUITE("servers") {
  TEST_CASE(
      "servers: the first dies mid-run: new tunnels go to the second with no failed "
      "reply, its live tunnels stay, and the first is taken back when it returns") {
    const auto deadline = Deadline::after(90s);
    TempDir dir;
    EchoServer echo;
    HttpServer probed;  // the health checks' URL: never the default one
    probed.add_page("/generate_204", "", "text/plain");
    V2rayServer first = V2rayServer::vmess(dir);
    V2rayServer second = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(first);
    profile.server_name = "first";
    profile.more_servers = {VmessLocalProfile::Server::for_server(second, "second")};
    profile.extra_toml = "[balancer]\nstrategy = \"first\"\n";
    profile.probe_url = probed.url("/generate_204");
    profile.probe_interval = "1";
    VmessLocal local(dir, profile);

    // The health checks run (on by default with two servers): each server gets its probe time.
    for (const std::string name : {"first", "second"}) {
      const std::regex probed_line("server \"" + name + "\": up; [^\n]*; probe [0-9]+ ms \\(");
      bool seen = false;
      while (!seen && !deadline.expired()) {
        local.process().signal(SIGUSR1);
        std::this_thread::sleep_for(200ms);
        const std::string log = local.log_text();
        seen = std::regex_search(log, probed_line);
      }
      INFO(local.log_text());
      CHECK(seen);
    }
    CHECK(probed.requested_paths().size() >= 2);

    // While both are up every tunnel goes to the first.
    for (int i = 0; i < 3; ++i)
      open_echo_tunnel(local, echo, deadline);
    CHECK(tunnels_total(local, "first", deadline) == 3u);
    CHECK(tunnels_total(local, "second", deadline) == 0u);

    // The first dies. Every new tunnel still gets a success reply (the second answers), and
    // stays open: these are the second's live tunnels.
    first.process().signal(SIGKILL);
    first.process().wait_exit(deadline);
    std::vector<Socket> on_second;
    for (int i = 0; i < 8; ++i)
      on_second.push_back(open_echo_tunnel(local, echo, deadline));
    CHECK(local.wait_for_log(R"(server "first" marked down after 2 failures in a row)", deadline));
    CHECK(local.wait_for_log(R"(servers: new tunnels now go to "second")", deadline));
    CHECK(tunnels_total(local, "second", deadline) == 8u);

    // It comes back: taken back by the back-off retry (or a probe) while tunnels keep coming,
    // none of them refused.
    Process restarted = restart_v2ray(dir, first);
    int opened = 0;
    while (local.log_text().find(R"(server "first" is up again)") == std::string::npos) {
      REQUIRE_MESSAGE(!deadline.expired(), local.log_text());
      open_echo_tunnel(local, echo, deadline);
      ++opened;
      std::this_thread::sleep_for(100ms);
    }
    CHECK(local.wait_for_log(R"(servers: new tunnels now go to "first")", deadline));
    const auto first_before = tunnels_total(local, "first", deadline);
    REQUIRE(first_before.has_value());
    for (int i = 0; i < 3; ++i)
      open_echo_tunnel(local, echo, deadline);
    CHECK(tunnels_total(local, "first", deadline) == *first_before + 3);
    MESSAGE(opened << " tunnels opened while the first was coming back");

    // The second's tunnels lived through all of it.
    for (Socket& tunnel : on_second)
      echo_check(tunnel, "still here", deadline);
    // Each change of choice was said once.
    const std::string log = local.log_text();
    CHECK(count_of(log, R"(servers: new tunnels now go to "second")") == 1);
    CHECK(count_of(log, R"(servers: new tunnels now go to "first")") == 1);
    CHECK(count_of(log, "(reply: ") == 0);  // no failed SOCKS reply at all
  }

  TEST_CASE("servers: a name with a dead IPv6 address and a live IPv4 one connects within 1 s") {
    const auto deadline = Deadline::after(30s);
    TempDir dir;
    EchoServer echo;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    // A listener on [::1] at the server's port whose backlog is full: SYNs go unanswered, as
    // for a black-holed address.
    Socket full = Socket::listen(Endpoint::loopback(Family::kV6, v2ray.port()), 0);
    std::vector<Socket> fillers;
    for (int i = 0; i < 4; ++i) {
      try {
        fillers.push_back(Socket::connect(full.local_endpoint(), Deadline::after(300ms)));
      } catch (const SocketError&) {
        break;  // the queue is full
      }
    }
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.server_address = "vmess-server.test";
    VmessLocalOptions options;
    options.hosts = "::1 vmess-server.test\n127.0.0.1 vmess-server.test\n";
    VmessLocal local(dir, profile, options);

    const auto start = std::chrono::steady_clock::now();
    Socks5Result r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    const auto took = std::chrono::steady_clock::now() - start;
    INFO(local.log_text());
    REQUIRE(r.ok());
    echo_check(r.socket, "ping", deadline);
    CHECK(took < 1s);
    // The race happened: [::1] was tried first and named when 127.0.0.1 won.
    CHECK(local.wait_for_log(
        "TCP: vmess-server.test: connected to 127.0.0.1:" + std::to_string(v2ray.port()) +
            " (no answer yet from [::1]:" + std::to_string(v2ray.port()) + ")",
        deadline));
  }

  TEST_CASE("servers: --stats-interval logs one line per server with its counters") {
    const auto deadline = Deadline::after(30s);
    TempDir dir;
    EchoServer echo;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.server_name = "only";
    profile.log_level = "warn";  // the counters are logged whatever the level
    VmessLocalOptions options;
    options.extra_args = {"--stats-interval", "1"};
    VmessLocal local(dir, profile, options);
    Socket held = open_echo_tunnel(local, echo, deadline);
    { Socket done = open_echo_tunnel(local, echo, deadline); }
    // Both tunnels moved 4 bytes each way; one is still open.
    const std::regex line(R"(server "only": up; tunnels 1 open, 2 total; bytes up 8, down 8; )"
                          R"(failures 0; probe none)");
    bool seen = false;
    while (!seen && !deadline.expired()) {
      const std::string log = local.log_text();
      seen = std::regex_search(log, line);
      if (!seen) std::this_thread::sleep_for(100ms);
    }
    INFO(local.log_text());
    CHECK(seen);
  }
}
