// The grpc transport (the gRPC "gun" tunnel of Xray, sing-box and v2ray >= 4.36, which
// Debian's v2ray 4.34 does not have) end to end against the harness's gun server
// (harness/grpc_gun_server.hpp, written from the same documents), which relays each call to
// the real v2ray's VMess inbound: bulk both ways checked by SHA-256, echo with half-close, the
// request's headers, and a wrong service name. Rates are printed, never asserted.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness/grpc_gun_server.hpp"
#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 64 * kMiB;

GrpcGunOptions gun_options(const Certificate& cert, const V2rayServer& v2ray) {
  GrpcGunOptions o;
  o.service_name = "GunService";
  o.cert = cert.cert;
  o.key = cert.key;
  o.backend = v2ray.endpoint();
  return o;
}

struct Tunnel {
  TempDir dir;
  Certificate cert;
  V2rayServer v2ray;  // VMess over plain TCP, behind the gun server
  GrpcGunServer gun;
  VmessLocal local;

  explicit Tunnel(const std::string& service_name = "GunService")
      : cert(make_certificate(dir, "grpc")),
        v2ray(V2rayServer::vmess(dir)),
        gun(gun_options(cert, v2ray)),
        local(dir, profile(v2ray, gun, cert, service_name)) {}

  static VmessLocalProfile profile(const V2rayServer& v2ray, const GrpcGunServer& gun,
                                   const Certificate& cert, const std::string& service_name) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    p.transport = "grpc";
    p.warm = 0;  // the gun server's calls are counted one per tunnel
    p.server_port = gun.port();
    trust_certificate(p, cert);
    p.extra_toml += "[server.grpc]\nservice_name = \"" + service_name + "\"\n";
    return p;
  }
};

}  // namespace

TEST_SUITE("grpc") {
  TEST_CASE("grpc harness: the gun server's own Hunk encoding, from the documents") {
    // Hunk{data: "abc"} = 0A 03 61 62 63 behind the 5-byte prefix (length 5).
    CHECK(GrpcGunServer::encode_hunk("abc") == std::string("\x00\x00\x00\x00\x05\x0a\x03"
                                                           "abc",
                                                           10));
    std::string buffer = GrpcGunServer::encode_hunk(std::string(300, 'x')) +
                         GrpcGunServer::encode_hunk("yz") + std::string("\x00\x00", 2);
    std::string out;
    CHECK(GrpcGunServer::decode_hunks(buffer, out));
    CHECK(out == std::string(300, 'x') + "yz");
    CHECK(buffer == std::string("\x00\x00", 2));  // a partial prefix stays
  }

  TEST_CASE("grpc: 64 MiB each way through the gun server with matching SHA-256") {
    SourceServer source;
    SinkServer sink;
    Tunnel t;
    auto deadline = Deadline::after(180s);

    const BothWays both =
        transfer_both_ways(t.local, Socks5Target::to(source.endpoint()),
                           Socks5Target::to(sink.endpoint()), kBulk, 401, deadline);
    MESSAGE(both.down.summary("download over grpc"));
    MESSAGE(both.up.summary("upload over grpc"));
    CHECK(both.problems == "");

    CHECK(t.gun.calls() >= 2);
    CHECK(t.gun.refused() == 0);
    // The request as the documents describe it.
    const auto requests = t.gun.requests();
    REQUIRE_FALSE(requests.empty());
    const std::string& first = requests.front();
    CHECK(first.find(":method: POST\n") != std::string::npos);
    CHECK(first.find(":scheme: https\n") != std::string::npos);
    CHECK(first.find(":path: /GunService/Tun\n") != std::string::npos);
    CHECK(first.find(":authority: localhost:" + std::to_string(t.gun.port()) + "\n") !=
          std::string::npos);
    CHECK(first.find("content-type: application/grpc\n") != std::string::npos);
    CHECK(first.find("te: trailers\n") != std::string::npos);
    CHECK(t.local.process().alive());
  }

  TEST_CASE("grpc: echo both ways at once with half-close, one call per tunnel") {
    EchoServer echo;
    Tunnel t;
    auto deadline = Deadline::after(90s);
    constexpr int kTunnels = 10;
    for (int i = 0; i < kTunnels; ++i) {
      CAPTURE(i);
      Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
      auto r = echo_transfer(s, 200'000 + static_cast<std::uint64_t>(i) * 777, 500 + i, deadline);
      CHECK(r.received == r.sent);
      CHECK(to_hex(r.received_sha256) == to_hex(r.sent_sha256));
    }
    CHECK(t.gun.calls() == kTunnels);
    CHECK(t.local.process().alive());
  }

  TEST_CASE("grpc: a wrong service_name gets UNIMPLEMENTED, and the log says what to check") {
    EchoServer echo;
    Tunnel t("OtherService");
    auto deadline = Deadline::after(60s);
    auto r = t.local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    CHECK(r.reply != 0x00);
    CHECK(
        t.local.wait_for_log("gRPC: the server ended the call with status 12 UNIMPLEMENTED; "
                             "check [server.grpc] service_name",
                             deadline));
    CHECK(t.gun.refused() == 1);
    CHECK(t.gun.calls() == 0);
  }
}
