// Upstream transports end to end: vmess-local over tcp, ws, tcp+tls and ws+tls to the real
// v2ray 4.34, whose inbounds this file configures (a self-signed certificate made per test with
// the openssl command). Every byte is checked by SHA-256; rates are printed, never asserted.
#include <doctest/doctest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <thread>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 64 * kMiB;

using Kind = TransportKind;

// The client side: transport and the [server.tls]/[server.ws] tables.
struct ClientSide {
  std::string ws_path = "/ws";
  std::string tls_keys;  // lines inside [server.tls]; default: ca_file = the test's certificate
  bool default_trust = true;
};

void configure_client(VmessLocalProfile& p, Kind kind, const Certificate* cert,
                      const ClientSide& side) {
  p.transport = has_ws(kind) ? "ws" : "tcp";
  std::string extra;
  if (has_tls(kind)) {
    // "localhost", so the certificate's name (and SNI) match.
    p.server_address = "localhost";
    extra += "[server.tls]\n";
    if (side.default_trust) extra += ca_file_line(*cert);
    extra += side.tls_keys;
  }
  if (has_ws(kind)) extra += "[server.ws]\npath = \"" + side.ws_path + "\"\n";
  p.extra_toml = extra;
}

// v2ray with the transport's inbound, plus vmess-local pointed at it.
struct Tunnel {
  TempDir dir;
  Certificate cert;
  V2rayServer v2ray;
  VmessLocal local;

  explicit Tunnel(Kind kind, const ClientSide& side = {},
                  const std::function<void(VmessInboundOptions&)>& server_adjust = {})
      : cert(make_certificate(dir)),
        v2ray(V2rayServer::vmess(dir, inbound_for(kind, cert, server_adjust))),
        local(dir, profile_for(kind, v2ray, cert, side)) {}

  static VmessInboundOptions inbound_for(Kind kind, const Certificate& cert,
                                         const std::function<void(VmessInboundOptions&)>& adjust) {
    VmessInboundOptions in;
    in.stream_settings = stream_settings(kind, cert);
    if (adjust) adjust(in);
    return in;
  }

  static VmessLocalProfile profile_for(Kind kind, const V2rayServer& v2ray, const Certificate& cert,
                                       const ClientSide& side) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    configure_client(p, kind, &cert, side);
    return p;
  }
};

std::string hex(const Digest& d) {
  return to_hex(d);
}

}  // namespace

TEST_SUITE("transport") {
  TEST_CASE("64 MiB each way over tcp, ws, tcp+tls and ws+tls with matching SHA-256") {
    SourceServer source;
    SinkServer sink;
    std::map<std::string, std::pair<double, double>> rates;
    std::uint64_t seed = 100;
    for (Kind kind : {Kind::kTcp, Kind::kWs, Kind::kTls, Kind::kWsTls}) {
      const std::string kind_label = transport_name(kind);
      CAPTURE(kind_label);
      Tunnel t(kind);
      auto deadline = Deadline::after(90s);

      const BothWays both =
          transfer_both_ways(t.local, Socks5Target::to(source.endpoint()),
                             Socks5Target::to(sink.endpoint()), kBulk, seed, deadline);
      seed += 2;
      MESSAGE(both.down.summary(std::string("download over ") + transport_name(kind)));
      MESSAGE(both.up.summary(std::string("upload over ") + transport_name(kind)));
      CHECK(both.problems == "");
      rates[transport_name(kind)] = {both.down.mib_per_s(), both.up.mib_per_s()};
      CHECK(t.local.process().alive());
    }
    std::string table = "rates (MiB/s, download / upload):";
    for (const auto& [name, r] : rates) {
      char line[128];
      std::snprintf(line, sizeof line, "\n  %-8s %7.1f / %7.1f", name.c_str(), r.first, r.second);
      table += line;
    }
    MESSAGE(table);
  }

  TEST_CASE("ws+tls: echo both ways at once, half-close, and many tunnels on one process") {
    Tunnel t(Kind::kWsTls);
    EchoServer echo;
    SourceServer source;
    auto deadline = Deadline::after(60s);
    Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, 16 * kMiB, 7, deadline);
    MESSAGE(r.summary("echo over ws+tls"));
    CHECK(r.received == 16 * kMiB);
    CHECK(hex(r.received_sha256) == hex(r.sent_sha256));

    // Half-close: END goes up, the downlink still arrives whole.
    Socket h = t.local.open(Socks5Target::to(source.endpoint()), deadline);
    h.send_all(SourceServer::request(3 * kMiB, 42), deadline);
    h.shutdown_write();
    auto closed = h.recv_until_closed(deadline);
    REQUIRE(closed.data.size() == 3 * kMiB);
    CHECK(hex(sha256(closed.data)) == hex(stream_sha256(42, 3 * kMiB)));

    // Twenty tunnels at once, each with its own download.
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int i = 0; i < 20; ++i) {
      threads.emplace_back([&, i] {
        try {
          auto r2 = t.local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
          if (!r2.ok()) return;
          auto got = download(r2.socket, kMiB, 500 + i, deadline);
          if (got.received == kMiB && got.received_sha256 == stream_sha256(500 + i, kMiB)) ++good;
        } catch (const std::exception&) {
        }
      });
    }
    for (auto& th : threads)
      th.join();
    CHECK(good == 20);
    CHECK(t.local.process().alive());
  }

  // v2ray's TLS inbound offers ["h2", "http/1.1"] by default and takes h2 whenever the client
  // lists it; a WebSocket upgrade is HTTP/1.1, so a ws profile must offer only "http/1.1".
  TEST_CASE(
      "ws+tls with alpn = [\"h2\", \"http/1.1\"]: h2 is dropped with a warning, tunnels work") {
    ClientSide side;
    side.tls_keys = "alpn = [\"h2\", \"http/1.1\"]\n";
    Tunnel t(Kind::kWsTls, side);
    SourceServer source;
    auto deadline = Deadline::after(30s);
    // The warning comes before vmess-local listens, so it is in the log by now.
    CHECK(t.local.log_text().find("dropped \"h2\"") != std::string::npos);
    for (int i = 0; i < 2; ++i) {
      Socket d = t.local.open(Socks5Target::to(source.endpoint()), deadline);
      auto got = download(d, kMiB, 60 + i, deadline, AfterRequest::kKeepOpen);
      CHECK(got.received == kMiB);
      CHECK(got.received_sha256 == stream_sha256(60 + i, kMiB));
    }
    // What the server picked, as the TLS layer logs it at debug level.
    CHECK(t.local.wait_for_log(", ALPN http/1.1", deadline));
    CHECK(t.local.log_text().find("ALPN h2") == std::string::npos);
    CHECK_MESSAGE(t.local.process().alive(), t.local.log_text());
  }

  // The pair needs no rule over tcp (config/constraints.hpp): nothing reads the ALPN result.
  TEST_CASE("tcp+tls with alpn = [\"h2\", \"http/1.1\"]: the server takes h2, tunnels work") {
    ClientSide side;
    side.tls_keys = "alpn = [\"h2\", \"http/1.1\"]\n";
    Tunnel t(Kind::kTls, side);
    SourceServer source;
    auto deadline = Deadline::after(30s);
    Socket d = t.local.open(Socks5Target::to(source.endpoint()), deadline);
    auto got = download(d, kMiB, 70, deadline, AfterRequest::kKeepOpen);
    CHECK(got.received_sha256 == stream_sha256(70, kMiB));
    CHECK(t.local.wait_for_log(", ALPN h2", deadline));
    CHECK(t.local.log_text().find(" WARN ") == std::string::npos);
  }

  TEST_CASE("tls: a certificate that does not verify is refused, and accepted when trusted") {
    SourceServer source;
    auto deadline = Deadline::after(60s);
    auto fetch_ok = [&](Tunnel& t) {
      Socket d = t.local.open(Socks5Target::to(source.endpoint()), deadline);
      auto got = download(d, kMiB, 9, deadline);
      CHECK(got.received_sha256 == stream_sha256(9, kMiB));
    };

    SUBCASE("system CA store only: refused with a clear log line") {
      ClientSide side;
      side.default_trust = false;
      Tunnel t(Kind::kTls, side);
      auto r = t.local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
      CHECK(r.stage == Socks5Result::Stage::kReplied);
      CHECK(r.reply == 0x01);  // general failure
      CHECK(t.local.wait_for_log("TLS: certificate verify failed: self-signed certificate",
                                 deadline));
      CHECK(source.accepted() == 0);
      CHECK(t.local.process().alive());
    }
    SUBCASE("the right name is required: sni for another host is refused") {
      ClientSide side;
      side.tls_keys = "sni = \"vmess.example.org\"\n";
      Tunnel t(Kind::kTls, side);
      auto r = t.local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
      CHECK(r.reply == 0x01);
      CHECK(t.local.wait_for_log("TLS: certificate verify failed: hostname mismatch", deadline));
    }
    SUBCASE("insecure = true: accepted, with a loud warning at start") {
      ClientSide side;
      side.default_trust = false;
      side.tls_keys = "insecure = true\n";
      Tunnel t(Kind::kTls, side);
      CHECK(t.local.wait_for_log("insecure = true: the server's certificate is NOT verified",
                                 deadline));
      fetch_ok(t);
    }
    SUBCASE("the right pin_sha256 (base64): accepted without any CA") {
      TempDir dir;
      ClientSide side;
      side.default_trust = false;
      // The pin is only known once the certificate exists: make the tunnel in two steps.
      Certificate cert = make_certificate(dir);
      VmessInboundOptions in;
      in.stream_settings = stream_settings(Kind::kTls, cert);
      V2rayServer v2ray = V2rayServer::vmess(dir, in);
      auto p = VmessLocalProfile::for_server(v2ray);
      p.log_level = "debug";
      side.tls_keys = "pin_sha256 = \"" + cert.pin_base64 + "\"\n";
      configure_client(p, Kind::kTls, &cert, side);
      VmessLocal local(dir, p);
      auto r = local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
      REQUIRE_MESSAGE(r.ok(), r.describe() << "\n" << local.log_text());
      auto got = download(r.socket, kMiB, 9, deadline);
      CHECK(got.received_sha256 == stream_sha256(9, kMiB));

      // Hex works too; a wrong pin is refused and the log shows the server key's pin.
      auto hex_profile = p;
      hex_profile.extra_toml = "[server.tls]\npin_sha256 = [\"" + cert.pin_hex + "\"]\n";
      VmessLocal hex_local(dir, hex_profile);
      CHECK(hex_local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline).ok());

      auto wrong = p;
      wrong.extra_toml =
          "[server.tls]\npin_sha256 = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n";
      VmessLocal wrong_local(dir, wrong);
      auto refused =
          wrong_local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
      CHECK(refused.reply == 0x01);
      CHECK(
          wrong_local.wait_for_log("TLS: certificate pin mismatch: the server's key has "
                                   "pin_sha256 \"" +
                                       cert.pin_base64 + "\"",
                                   deadline));
    }
  }

  TEST_CASE("tls: session resumption on the second connection") {
    Tunnel t(Kind::kTls, {}, [](VmessInboundOptions& in) {
      in.stream_settings["tlsSettings"]["enableSessionResumption"] = true;
    });
    SourceServer source;
    auto deadline = Deadline::after(30s);
    for (int i = 0; i < 3; ++i) {
      Socket d = t.local.open(Socks5Target::to(source.endpoint()), deadline);
      // Keep the uplink open: after a half-close v2ray gives the downlink only 1 s of silence,
      // which a loaded machine can exceed before the origin answers.
      auto got = download(d, 64 * 1024, 30 + i, deadline, AfterRequest::kKeepOpen);
      CAPTURE(i);
      CHECK(got.received == 64 * 1024);
      CHECK_MESSAGE(got.received_sha256 == stream_sha256(30 + i, 64 * 1024), t.local.log_text());
    }
    CHECK(t.local.wait_for_log("full handshake", deadline));
    CHECK(t.local.wait_for_log("resumed session", deadline));
  }

  TEST_CASE("ws: a wrong path is refused with a clear log line") {
    for (Kind kind : {Kind::kWs, Kind::kWsTls}) {
      const std::string kind_label = transport_name(kind);
      CAPTURE(kind_label);
      ClientSide side;
      side.ws_path = "/wrong";
      Tunnel t(kind, side);
      EchoServer echo;
      auto deadline = Deadline::after(30s);
      auto r = t.local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.stage == Socks5Result::Stage::kReplied);
      CHECK(r.reply == 0x01);
      CHECK(t.local.wait_for_log(
          "WebSocket: upgrade refused: HTTP 404 Not Found (check [server.ws] path \"/wrong\"",
          deadline));
      CHECK(echo.accepted() == 0);
      CHECK(t.local.process().alive());
    }
  }

  TEST_CASE("a TLS client against a plain server, and the connect timeout names the stage") {
    auto deadline = Deadline::after(30s);
    EchoServer echo;
    SUBCASE("a server that does not speak TLS: the handshake fails with a TLS error") {
      // An echo server sends the ClientHello back, which is no ServerHello.
      TempDir dir;
      Certificate cert = make_certificate(dir);
      EchoServer not_tls;
      auto p = VmessLocalProfile{};
      p.server_port = not_tls.port();
      p.uuid = random_uuid();
      configure_client(p, Kind::kTls, &cert, {});
      VmessLocal local(dir, p);
      auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.reply == 0x01);
      CHECK(local.wait_for_log("upstream TLS: handshake failed: ", deadline));
    }
    SUBCASE("a server that accepts TCP but never answers the ClientHello: TLS: handshake timeout") {
      TempDir dir;
      Certificate cert = make_certificate(dir);
      Socket silent = Socket::listen(Endpoint::loopback(Family::kV4), 16);
      auto p = VmessLocalProfile{};
      p.server_port = silent.local_endpoint().port;
      p.uuid = random_uuid();
      p.connect_timeout = 1s;
      configure_client(p, Kind::kTls, &cert, {});
      VmessLocal local(dir, p);
      auto r = local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.reply == 0x06);
      CHECK(local.wait_for_log("(TLS: handshake timeout)", deadline));
    }
  }

  TEST_CASE("headless Chromium loads a page with 100 subresources through ws+tls") {
    Tunnel t(Kind::kWsTls);
    HttpServer http;
    constexpr int kCount = 50;
    add_page_with_resources(http, kCount);
    const CommandResult r = load_page_with_chromium(t.local.socks_endpoint(), http.port());
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << t.local.log_text());
    // Every subresource was asked for at the origin, through the tunnel, and ran in the DOM.
    CHECK(page_problems(http, r.out, kCount) == "");
    const auto paths = http.requested_paths();
    MESSAGE("chromium: " << paths.size() << " requests through ws+tls");
    CHECK(t.local.log_text().find("tunnel ") != std::string::npos);
    CHECK(t.local.process().alive());
  }
}
