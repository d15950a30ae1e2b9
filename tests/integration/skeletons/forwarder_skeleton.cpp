// SKELETON, not built. The lead's suite starts from this: copy it to
// tests/integration/forwarder_test.cpp, adjust, and uncomment 'forwarder' in
// tests/integration/meson.build. Every case drives the real vmess-local binary through the
// real v2ray VMess server; the harness itself is validated by harness_test.cpp.
//
// v2ray facts these cases rely on (see harness_test.cpp for the pinned versions):
//  * After one direction ends, v2ray closes the tunnel 1-2 s later (the 1 s one-direction
//    idle rule, checked once a second). Transfers report time to the last byte separately.
//  * v2ray never passes a half-close on to the target, hence SinkServer's announced length.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 8 * kMiB;

std::string hex(const Digest& d) {
  return to_hex(d);
}

// v2ray's VMess inbound plus vmess-local pointed at it, in one object per test.
struct Tunnel {
  TempDir dir;
  V2rayServer v2ray;
  VmessLocal local;

  explicit Tunnel(const VmessInboundOptions& inbound = {},
                  const std::function<void(VmessLocalProfile&)>& adjust = {})
      : v2ray(V2rayServer::vmess(dir, inbound)), local(dir, profile_for(v2ray, adjust)) {}

  static VmessLocalProfile profile_for(const V2rayServer& v2ray,
                                       const std::function<void(VmessLocalProfile&)>& adjust) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    if (adjust) adjust(p);
    return p;
  }

  Socket open(const Socks5Target& target, Deadline deadline) {
    auto r = local.socks_client().connect(target, deadline);
    REQUIRE_MESSAGE(r.ok(), r.describe() << "\n" << local.log_text());
    return std::move(r.socket);
  }
};

}  // namespace

TEST_SUITE("forwarder") {
  TEST_CASE("echo, download and upload 8 MiB for each security") {
    for (std::string security : {"aes-128-gcm", "chacha20-poly1305", "none", "auto"}) {
      CAPTURE(security);
      Tunnel t({}, [&](VmessLocalProfile& p) { p.security = security; });
      EchoServer echo;
      SourceServer source;
      SinkServer sink;
      auto deadline = Deadline::after(60s);

      Socket e = t.open(Socks5Target::to(echo.endpoint()), deadline);
      auto er = echo_transfer(e, kBulk, 1, deadline);
      MESSAGE(er.summary("echo " + security));
      CHECK(er.received == kBulk);
      CHECK(hex(er.received_sha256) == hex(er.sent_sha256));

      Socket d = t.open(Socks5Target::to(source.endpoint()), deadline);
      auto dr = download(d, kBulk, 2, deadline);
      MESSAGE(dr.summary("download " + security));
      CHECK(hex(dr.received_sha256) == hex(stream_sha256(2, kBulk)));

      Socket u = t.open(Socks5Target::to(sink.endpoint()), deadline);
      auto ur = upload(u, kBulk, 3, deadline);
      MESSAGE(ur.summary("upload " + security));
      CHECK(ur.received == kBulk);
      CHECK(hex(ur.received_sha256) == hex(stream_sha256(3, kBulk)));
    }
  }

  TEST_CASE("legacy header (alterId > 0)") {
    VmessInboundOptions legacy;
    legacy.alter_id = 4;
    Tunnel t(legacy);
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    Socket s = t.open(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, kMiB, 4, deadline);
    CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
  }

  TEST_CASE("IPv6 and domain targets, IPv6 listen address") {
    Tunnel t({}, [](VmessLocalProfile& p) {
      auto port = free_dual_stack_port();
      p.listen = {Endpoint::loopback(Family::kV4, port), Endpoint::loopback(Family::kV6, port)};
    });
    EchoServer echo4;
    EchoServer echo6(Family::kV6);
    auto deadline = Deadline::after(30s);
    for (const auto& proxy : t.local.listen()) {
      CAPTURE(proxy.to_string());
      Socks5Client client(proxy);
      for (const auto& target :
           {Socks5Target::to(echo6.endpoint()), Socks5Target::domain("localhost", echo4.port())}) {
        CAPTURE(target.to_string());
        Socket s = client.open_tunnel(target, deadline);
        auto r = echo_transfer(s, 256 * 1024, 5, deadline);
        CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
      }
    }
  }

  TEST_CASE("curl --socks5-hostname through vmess-local") {
    Tunnel t;
    HttpServer http;
    auto r = run_command({"curl", "-sS", "--max-time", "10", "--socks5-hostname",
                          t.local.socks_endpoint().to_string(),
                          "http://localhost:" + std::to_string(http.port()) + "/"},
                         Deadline::after(15s));
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << t.local.log_text());
    CHECK(r.out == HttpServer::kDefaultBody);
  }

  TEST_CASE("SOCKS5 handshake: pipelined, and malformed input") {
    Tunnel t;
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    Socks5Client::Options pipelined;
    pipelined.pipelined = true;
    Socket s = Socks5Client(t.local.socks_endpoint(), pipelined)
                   .open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    s.send_all("x", deadline);
    CHECK(s.recv_exact(1, deadline) == Bytes{'x'});

    Socket raw = t.local.socks_client().open_raw(deadline);
    raw.send_all(std::string_view("\x04\x01\x00\x50\x7f\x00\x00\x01\x00", 9), deadline);  // SOCKS4
    CHECK(raw.recv_until_closed(deadline).data.size() <= 2);  // refused and closed, no tunnel
  }

  TEST_CASE("SOCKS5 username/password (needs [local] username/password support)") {
    Tunnel t({}, [](VmessLocalProfile& p) { p.credentials = Socks5Credentials{"u", "p"}; });
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    auto target = Socks5Target::to(echo.endpoint());
    for (bool pipelined : {false, true}) {
      CAPTURE(pipelined);
      Socks5Client::Options options;
      options.credentials = Socks5Credentials{"u", "p"};
      options.pipelined = pipelined;
      Socket s = Socks5Client(t.local.socks_endpoint(), options).open_tunnel(target, deadline);
      s.send_all("x", deadline);
      CHECK(s.recv_exact(1, deadline) == Bytes{'x'});
    }
    Socks5Client::Options wrong;
    wrong.credentials = Socks5Credentials{"u", "wrong"};
    CHECK(Socks5Client(t.local.socks_endpoint(), wrong).connect(target, deadline).stage ==
          Socks5Result::Stage::kAuthRejected);
    CHECK(Socks5Client(t.local.socks_endpoint()).connect(target, deadline).stage ==
          Socks5Result::Stage::kMethodRejected);
  }

  TEST_CASE("wrong UUID: the tunnel closes without data") {
    // v2ray drains and closes without a byte (protocol doc section 11); vmess-local's
    // handshake/idle timeout bounds the wait.
    Tunnel t({}, [](VmessLocalProfile& p) {
      p.uuid = random_uuid();
      p.idle_timeout = 3s;
    });
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    Socket s = t.open(Socks5Target::to(echo.endpoint()), deadline);
    s.send_all(std::string(4096, 'x'), deadline);
    CHECK(s.recv_until_closed(deadline).data.empty());  // FIN or RST, but no byte
    CHECK(echo.accepted() == 0);
  }

  TEST_CASE("dead origin: the tunnel closes without data") {
    Tunnel t;
    auto deadline = Deadline::after(20s);
    auto r = t.local.socks_client().connect(
        Socks5Target::to(Endpoint::loopback(Family::kV4, free_port())), deadline);
    if (r.ok()) CHECK(r.socket.recv_until_closed(deadline).data.empty());
  }

  TEST_CASE("64 concurrent tunnels") {
    Tunnel t;
    EchoServer echo;
    auto deadline = Deadline::after(60s);
    constexpr int kTunnels = 64;
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kTunnels; ++i) {
      threads.emplace_back([&, i] {
        try {
          Socket s =
              t.local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
          auto r = echo_transfer(s, 256 * 1024, 200 + static_cast<std::uint64_t>(i), deadline);
          if (r.received == 256 * 1024 && r.received_sha256 == r.sent_sha256) ++good;
        } catch (const std::exception&) {
        }
      });
    }
    for (auto& th : threads)
      th.join();
    CHECK(good == kTunnels);
  }

  TEST_CASE("SIGTERM: clean exit") {
    Tunnel t;
    auto status = t.local.process().terminate(Deadline::after(5s));
    CHECK(status.success());
    CHECK(t.local.log_text().find("stopped") != std::string::npos);
  }

  TEST_CASE("bad profile: exit code 2 and path:line:column") {
    TempDir dir;
    auto p = launch_vmess_local(dir, "[local]\nlisten = [\"127.0.0.1:1\"]\ntypo = 1\n");
    auto status = p.wait_exit(Deadline::after(5s));
    REQUIRE(status);
    CHECK(status->code == 2);
    CHECK(p.log_text().find("vmess-local.toml:3:") != std::string::npos);
  }
}
