// The forwarder end to end: real clients -> vmess-local (the built binary) -> the real v2ray
// 4.34 VMess server on loopback -> loopback origins. Every byte is checked by SHA-256.
//
// v2ray facts these cases rely on (pinned in harness_test.cpp):
//  * After one direction ends, v2ray closes the tunnel 1-2 s later.
//  * v2ray never passes a half-close on to the target, hence SinkServer's announced length.
#include <doctest/doctest.h>
#include <signal.h>

#include <functional>
#include <thread>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 64 * kMiB;

// v2ray's VMess inbound plus vmess-local pointed at it, in one object per test.
struct Tunnel {
  TempDir dir;
  V2rayServer v2ray;
  VmessLocal local;

  explicit Tunnel(const std::function<void(VmessLocalProfile&)>& adjust = {},
                  const VmessInboundOptions& inbound = {})
      : v2ray(V2rayServer::vmess(dir, inbound)), local(dir, profile_for(v2ray, adjust)) {}

  static VmessLocalProfile profile_for(const V2rayServer& v2ray,
                                       const std::function<void(VmessLocalProfile&)>& adjust) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    if (adjust) adjust(p);
    return p;
  }
};

std::string hex(const Digest& d) {
  return to_hex(d);
}

}  // namespace

TEST_SUITE("forwarder") {
  TEST_CASE("64 MiB each way with matching SHA-256 to IPv4, IPv6 and domain targets") {
    Tunnel t;
    SourceServer source4;
    SinkServer sink4;
    SourceServer source6(Family::kV6);
    SinkServer sink6(Family::kV6);
    const struct {
      std::string name;
      Socks5Target source;
      Socks5Target sink;
    } targets[] = {
        {"IPv4 127.0.0.1", Socks5Target::to(source4.endpoint()),
         Socks5Target::to(sink4.endpoint())},
        {"IPv6 ::1", Socks5Target::to(source6.endpoint()), Socks5Target::to(sink6.endpoint())},
        {"domain localhost", Socks5Target::domain("localhost", source4.port()),
         Socks5Target::domain("localhost", sink4.port())},
    };
    std::uint64_t seed = 10;
    for (const auto& target : targets) {
      CAPTURE(target.name);
      auto deadline = Deadline::after(60s);

      const BothWays both =
          transfer_both_ways(t.local, target.source, target.sink, kBulk, seed, deadline);
      seed += 2;
      MESSAGE(both.down.summary("download via " + target.name));
      MESSAGE(both.up.summary("upload via " + target.name));
      CHECK(both.problems == "");
    }
    CHECK(source4.accepted() == 2);  // IPv4 and domain
    CHECK(source6.accepted() == 1);
  }

  TEST_CASE("64 MiB echoed both ways at once") {
    Tunnel t;
    EchoServer echo;
    auto deadline = Deadline::after(60s);
    Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, kBulk, 7, deadline);
    MESSAGE(r.summary("echo"));
    CHECK(r.received == kBulk);
    CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
  }

  TEST_CASE("curl --socks5-hostname fetches a page") {
    Tunnel t;
    HttpServer http;
    auto r = run_command({"curl", "-sS", "--max-time", "10", "--socks5-hostname",
                          t.local.socks_endpoint().to_string(),
                          "http://localhost:" + std::to_string(http.port()) + "/"},
                         Deadline::after(15s));
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << t.local.log_text());
    CHECK(r.out == HttpServer::kDefaultBody);
    CHECK(http.requested_paths().size() == 1);
  }

  TEST_CASE("half-close: the app shuts down its write side and still gets the whole response") {
    Tunnel t;
    SourceServer source;
    auto deadline = Deadline::after(30s);
    Socket s = t.local.open(Socks5Target::to(source.endpoint()), deadline);
    s.send_all(SourceServer::request(3 * kMiB, 42), deadline);
    s.shutdown_write();  // END goes upstream; the downlink must carry on
    auto closed = s.recv_until_closed(deadline);
    CHECK_FALSE(closed.reset);  // a clean FIN after the last byte, not a reset
    REQUIRE(closed.data.size() == 3 * kMiB);
    CHECK(hex(sha256(closed.data)) == hex(stream_sha256(42, 3 * kMiB)));
    // The tunnel's summary line says how it ended and counts both directions.
    CHECK(t.local.wait_for_log("up 16 B, down 3145728 B", deadline));
  }

  TEST_CASE("pipelined SOCKS5 greeting, request and first payload in one write") {
    Tunnel t;
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    Socks5Client::Options pipelined;
    pipelined.pipelined = true;
    Socket s = Socks5Client(t.local.socks_endpoint(), pipelined)
                   .open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    s.send_all("ping", deadline);
    CHECK(s.recv_exact(4, deadline) == Bytes{'p', 'i', 'n', 'g'});
  }

  TEST_CASE("server-first protocols: the header goes out even when the app is silent") {
    // A target that speaks first (SMTP, SSH) only hears from v2ray once the request header
    // arrived; vmess-local sends it alone after 100 ms of app silence.
    Tunnel t;
    SourceServer source;  // silent until asked, so use an HTTP-less banner instead:
    HttpServer http;
    auto deadline = Deadline::after(20s);
    Socket s = t.local.open(Socks5Target::to(http.endpoint()), deadline);
    std::this_thread::sleep_for(300ms);  // longer than the 100 ms flush
    s.send_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", deadline);
    auto reply = s.recv_text_until_eof(deadline);
    CHECK(reply.find(HttpServer::kDefaultBody) != std::string::npos);
  }

  TEST_CASE("wrong UUID: the tunnel closes without data and the process lives on") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    auto bad = VmessLocalProfile::for_server(v2ray);
    bad.uuid = random_uuid();
    bad.log_level = "debug";
    VmessLocal local(dir, bad);
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    REQUIRE(r.ok());  // the reply comes once the TCP connection to the server is up
    // Enough bytes for v2ray's drain (at most 3382) so it closes instead of waiting 60 s.
    r.socket.send_all(std::string(8192, 'x'), deadline);
    auto closed = r.socket.recv_until_closed(deadline);
    CHECK(closed.data.empty());
    CHECK(echo.accepted() == 0);
    CHECK(local.wait_for_log("server closed the connection before responding", deadline));
    CHECK(local.process().alive());
    // The same process still serves: a second tunnel is handled (and fails the same way).
    auto again = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    CHECK(again.ok());
    CHECK(local.process().alive());
  }

  TEST_CASE("upstream failures map to SOCKS5 reply codes") {
    auto deadline = Deadline::after(30s);
    EchoServer echo;
    SUBCASE("server port closed: 0x05 connection refused") {
      TempDir dir;
      auto p = VmessLocalProfile{};
      p.server_port = free_port();  // nothing listens there
      p.uuid = random_uuid();
      VmessLocal local(dir, p);
      auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.stage == Socks5Result::Stage::kReplied);
      CHECK(r.reply == 0x05);
      CHECK(local.wait_for_log("connection refused", deadline));
      CHECK(local.process().alive());
    }
    SUBCASE("server name does not resolve: 0x04 host unreachable, and the log names DNS") {
      TempDir dir;
      auto p = VmessLocalProfile{};
      p.server_address = "vmess-server.invalid";
      p.server_port = 443;
      p.uuid = random_uuid();
      VmessLocalOptions options;
      options.hosts = "127.0.0.1 localhost\n";  // the test's own resolver: nothing leaves
      VmessLocal local(dir, p, options);
      auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.reply == 0x04);
      CHECK(local.wait_for_log("DNS: cannot resolve vmess-server.invalid", deadline));
    }
    SUBCASE("server name resolves through the test's hosts file: the tunnel works") {
      TempDir dir;
      V2rayServer v2ray = V2rayServer::vmess(dir);
      auto p = VmessLocalProfile::for_server(v2ray);
      p.server_address = "vmess-server.test";
      VmessLocalOptions options;
      options.hosts = "127.0.0.1 vmess-server.test\n";
      VmessLocal local(dir, p, options);
      auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      REQUIRE(r.ok());
      r.socket.send_all("ping", deadline);
      CHECK(r.socket.recv_exact(4, deadline) == Bytes{'p', 'i', 'n', 'g'});
    }
    SUBCASE("server never completes the TCP handshake: 0x06 after the connect timeout") {
      // A listener with backlog 0 that never accepts: once its queue is full the kernel drops
      // further SYNs, so connect() hangs like a black-holed server.
      Socket full = Socket::listen(Endpoint::loopback(Family::kV4), 0);
      std::vector<Socket> fillers;
      for (int i = 0; i < 4; ++i) {
        try {
          fillers.push_back(Socket::connect(full.local_endpoint(), Deadline::after(300ms)));
        } catch (const SocketError&) {
          break;  // the queue is full
        }
      }
      TempDir dir;
      auto p = VmessLocalProfile{};
      p.server_port = full.local_endpoint().port;
      p.uuid = random_uuid();
      p.connect_timeout = 1s;
      VmessLocal local(dir, p);
      auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.reply == 0x06);
      CHECK(local.wait_for_log("upstream connect timed out", deadline));
    }
  }

  TEST_CASE("malformed SOCKS5 input gets the right reply and a log line; the process lives") {
    Tunnel t;
    auto deadline = Deadline::after(20s);
    SUBCASE("BIND: 0x07") {
      Socket raw = t.local.socks_client().open_raw(deadline);
      raw.send_all(socks5::greeting({0x00}), deadline);
      CHECK(raw.recv_exact(2, deadline) == Bytes{0x05, 0x00});
      raw.send_all(socks5::request(Socks5Target::domain("example.org", 80), 0x02), deadline);
      auto reply = Socks5Client::read_reply(std::move(raw), deadline);
      CHECK(reply.reply == 0x07);
      CHECK(t.local.wait_for_log("unsupported command BIND", deadline));
    }
    SUBCASE("unknown address type: 0x08") {
      Socket raw = t.local.socks_client().open_raw(deadline);
      // Greeting, then a request with ATYP 5.
      const std::uint8_t bytes[] = {0x05, 0x01, 0x00, 0x05, 0x01, 0x00,
                                    0x05, 0x01, 0x02, 0x03, 0x04};
      raw.send_all(std::span(bytes), deadline);
      auto closed = raw.recv_until_closed(deadline);
      REQUIRE(closed.data.size() >= 4);
      CHECK(closed.data[0] == 0x05);
      CHECK(closed.data[1] == 0x00);  // method reply
      CHECK(closed.data[3] == 0x08);  // then the request reply
    }
    SUBCASE("no protocol the port speaks: closed without a reply, the first bytes logged") {
      // (SOCKS4 and HTTP share the port now: inbound_protocols_test.cpp.)
      Socket raw = t.local.socks_client().open_raw(deadline);
      raw.send_all(std::string_view("\x07\x01\x00\x50\x7f\x00\x00\x01\x00", 9), deadline);
      CHECK(raw.recv_until_closed(deadline).data.empty());
      CHECK(t.local.wait_for_log("unknown protocol (first bytes 07 01 00 50)", deadline));
    }
    CHECK(t.local.process().alive());
  }

  TEST_CASE("SIGTERM with tunnels open: they close, the process exits 0 promptly") {
    Tunnel t;
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    Socket a = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    Socket b = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    a.send_all("x", deadline);
    CHECK(a.recv_exact(1, deadline) == Bytes{'x'});
    auto started = std::chrono::steady_clock::now();
    auto status = t.local.process().terminate(Deadline::after(5s));
    CHECK(status.success());
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    CHECK(a.recv_until_closed(deadline).data.empty());
    CHECK(t.local.log_text().find("stopped") != std::string::npos);
  }

  TEST_CASE("SIGHUP: the profile is reloaded and the tunnels go on, old and new") {
    Tunnel t;
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    Socket a = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    t.local.process().signal(SIGHUP);
    CHECK(t.local.wait_for_log("profile reloaded: listening on", deadline));
    CHECK(t.local.process().alive());
    a.send_all("live", deadline);  // the tunnel from before the signal
    CHECK(a.recv_exact(4, deadline) == Bytes{'l', 'i', 'v', 'e'});
    Socket b = t.local.open(Socks5Target::to(echo.endpoint()), deadline);  // and new ones
    b.send_all("new", deadline);
    CHECK(b.recv_exact(3, deadline) == Bytes{'n', 'e', 'w'});
    CHECK(t.local.process().terminate(Deadline::after(5s)).success());
  }

  TEST_CASE("command line: --check, --version, a bad profile, and --help") {
    TempDir dir;
    auto good = VmessLocalProfile{};
    good.server_port = 443;
    good.uuid = random_uuid();
    good.listen = {Endpoint::loopback(Family::kV4, 1080)};
    dir.write_file("good.toml", good.to_toml());
    auto check = run_command(
        {vmess_local_binary().string(), "--check", "-c", dir.file("good.toml").string()},
        Deadline::after(10s));
    CHECK(check.success());
    CHECK(check.out.find("OK") != std::string::npos);
    CHECK(check.out.find(good.uuid) == std::string::npos);  // never print the UUID

    auto version = run_command({vmess_local_binary().string(), "--version"}, Deadline::after(5s));
    CHECK(version.success());
    CHECK(version.out.find("vmess-local") != std::string::npos);

    auto help = run_command({vmess_local_binary().string(), "--help"}, Deadline::after(5s));
    CHECK(help.success());
    CHECK(help.out.find("--config") != std::string::npos);

    auto p = launch_vmess_local(dir, "[local]\nlisten = [\"127.0.0.1:1\"]\ntypo = 1\n");
    auto status = p.wait_exit(Deadline::after(5s));
    REQUIRE(status);
    CHECK(status->code == 2);
    CHECK(p.log_text().find("vmess-local.toml:3:1:") != std::string::npos);

    auto usage =
        run_command({vmess_local_binary().string(), "--no-such-flag"}, Deadline::after(5s));
    REQUIRE(usage.status);
    CHECK(usage.status->code == 2);
  }
}
