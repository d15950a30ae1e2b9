// The HTTP/1-style transports end to end (issue 14): tcp with v2ray's "http" header against
// the real v2ray 4.34, whose tcp inbound has it (tcpSettings.header.type = "http"). Every byte
// is checked by SHA-256; rates are printed, never asserted.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>

#include "harness/certificate.hpp"
#include "harness/chromium.hpp"
#include "harness/harness.hpp"
#include "harness/http1_front.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 64 * kMiB;

// v2ray's tcp inbound with the http header, accepting the request paths `paths`; TLS below it
// when `cert` is given.
json http_header_stream_settings(const json& paths, const Certificate* cert) {
  json s = {{"network", "tcp"},
            {"tcpSettings", {{"header", {{"type", "http"}, {"request", {{"path", paths}}}}}}}};
  return cert != nullptr ? with_tls(std::move(s), *cert) : s;
}

// v2ray with the http header on its tcp inbound, and vmess-local with [server.tcp] lines
// `client_tcp` pointed at it.
struct HttpHeaderTunnel {
  TempDir dir;
  Certificate cert;
  V2rayServer v2ray;
  VmessLocal local;

  HttpHeaderTunnel(bool tls, const std::string& client_tcp)
      : cert(make_certificate(dir)),
        v2ray(V2rayServer::vmess(dir, inbound(tls, cert))),
        local(dir, profile(tls, v2ray, cert, client_tcp)) {}

  static VmessInboundOptions inbound(bool tls, const Certificate& cert) {
    VmessInboundOptions in;
    in.stream_settings =
        http_header_stream_settings(json::array({"/a", "/b"}), tls ? &cert : nullptr);
    return in;
  }

  static VmessLocalProfile profile(bool tls, const V2rayServer& v2ray, const Certificate& cert,
                                   const std::string& client_tcp) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    p.transport = "tcp";
    p.extra_toml = "[server.tcp]\n" + client_tcp;
    if (tls) trust_certificate(p, cert);
    return p;
  }
};

const std::string kClientTcp =
    "header = \"http\"\npath = [\"/a\", \"/b\"]\nhost = [\"cdn.example.org\"]\n";

}  // namespace

TEST_SUITE("http_transports") {
  TEST_CASE("tcp+http and tcp+http+tls: 64 MiB each way with matching SHA-256 (real v2ray)") {
    SourceServer source;
    SinkServer sink;
    std::uint64_t seed = 700;
    std::string table = "rates (MiB/s, download / upload):";
    for (bool tls : {false, true}) {
      const std::string label = tls ? "tcp+http+tls" : "tcp+http";
      CAPTURE(label);
      HttpHeaderTunnel t(tls, kClientTcp);
      auto deadline = Deadline::after(120s);

      const BothWays both =
          transfer_both_ways(t.local, Socks5Target::to(source.endpoint()),
                             Socks5Target::to(sink.endpoint()), kBulk, seed, deadline);
      seed += 2;
      MESSAGE(both.down.summary("download over " + label));
      MESSAGE(both.up.summary("upload over " + label));
      CHECK(both.problems == "");
      CHECK(t.local.process().alive());
      CHECK(t.local.log_text().find("HTTP header: response 200 OK") != std::string::npos);
      char line[128];
      std::snprintf(line, sizeof line, "\n  %-13s %7.1f / %7.1f", label.c_str(),
                    both.down.mib_per_s(), both.up.mib_per_s());
      table += line;
    }
    MESSAGE(table);
  }

  TEST_CASE("tcp+http: a path the server does not list gets its 404, named in the log") {
    HttpHeaderTunnel t(false, "header = \"http\"\npath = [\"/wrong\"]\n");
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    s.send_all(std::string_view("hello"), deadline);
    const auto closed = s.recv_until_closed(deadline);
    CHECK(closed.data.empty());
    CHECK(t.local.wait_for_log(
        "HTTP header: the server answered \"404 Not Found\" and closed (check [server.tcp] path",
        deadline));
    CHECK(echo.accepted() == 0);
    CHECK(t.local.process().alive());
  }

  TEST_CASE("headless Chromium loads a page with 100 subresources through tcp+http") {
    HttpHeaderTunnel t(false, kClientTcp);
    HttpServer http;
    constexpr int kCount = 50;
    add_page_with_resources(http, kCount);
    const CommandResult r = load_page_with_chromium(t.local.socks_endpoint(), http.port());
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << t.local.log_text());
    CHECK(page_problems(http, r.out, kCount) == "");
    MESSAGE("chromium: " << http.requested_paths().size() << " requests through tcp+http");
    CHECK(t.local.process().alive());
  }
}

namespace {

// vmess-local -> Http1Front (the upgrade, checked against the documents) -> the real v2ray's
// plain tcp VMess inbound -> loopback origins.
struct FrontTunnel {
  TempDir dir;
  V2rayServer v2ray;
  Http1Front front;
  VmessLocal local;

  FrontTunnel(Http1FrontOptions front_options, const std::string& transport,
              const std::string& client_tables)
      : v2ray(V2rayServer::vmess(dir)),
        front(with_backend(std::move(front_options), v2ray)),
        local(dir, profile(transport, client_tables)) {}

  static Http1FrontOptions with_backend(Http1FrontOptions options, const V2rayServer& v2ray) {
    options.backend = v2ray.endpoint();
    return options;
  }

  VmessLocalProfile profile(const std::string& transport, const std::string& tables) const {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.server_port = front.port();
    p.log_level = "debug";
    p.transport = transport;
    p.warm = 0;  // the front's upgrades are counted one per tunnel
    p.extra_toml = tables;
    return p;
  }
};

Http1FrontOptions ws_front(std::string path, std::size_t max_early_data,
                           std::string early_data_header) {
  Http1FrontOptions o;
  o.mode = FrontMode::kWebSocket;
  o.path = std::move(path);
  o.max_early_data = max_early_data;
  o.early_data_header = std::move(early_data_header);
  return o;
}

// 64 MiB down and up through `t`, hash-checked; returns "down / up" MiB/s.
std::string bulk_both_ways(FrontTunnel& t, const std::string& label, std::uint64_t seed) {
  SourceServer source;
  SinkServer sink;
  auto deadline = Deadline::after(120s);
  const BothWays both =
      transfer_both_ways(t.local, Socks5Target::to(source.endpoint()),
                         Socks5Target::to(sink.endpoint()), kBulk, seed, deadline);
  MESSAGE(both.down.summary("download over " + label));
  MESSAGE(both.up.summary("upload over " + label));
  CHECK(both.problems == "");
  CHECK(t.local.process().alive());
  char line[96];
  std::snprintf(line, sizeof line, "%7.1f / %7.1f", both.down.mib_per_s(), both.up.mib_per_s());
  return line;
}

}  // namespace

TEST_SUITE("http_transports") {
  TEST_CASE("ws early data in Sec-WebSocket-Protocol and in the path: 64 MiB each way") {
    struct Form {
      const char* label;
      const char* front_header;
      const char* client;
    } forms[] = {
        {"ws+ed (header)", "Sec-WebSocket-Protocol",
         "[server.ws]\npath = \"/ws\"\nmax_early_data = 2048\n"},
        {"ws+ed (path)", "",
         "[server.ws]\npath = \"/ws\"\nmax_early_data = 2048\nearly_data_header = \"\"\n"},
    };
    std::uint64_t seed = 800;
    std::string table = "rates (MiB/s, download / upload):";
    for (const Form& form : forms) {
      CAPTURE(form.label);
      FrontTunnel t(ws_front("/ws", 2048, form.front_header), "ws", form.client);
      table += std::string("\n  ") + form.label + "  " + bulk_both_ways(t, form.label, seed += 2);
      CHECK(t.front.upgrades() == 2);
      CHECK(t.front.refusals() == 0);
      const std::vector<std::string> errors = t.front.errors();
      CHECK_MESSAGE(errors.empty(), (errors.empty() ? "" : errors.front()));
      // Each upgrade carried the VMess request header (and the app's first bytes, when the
      // upload's came in time): more than the 61 bytes of an AEAD header with a short target.
      CHECK(t.front.early_data_bytes() >= 2 * 61);
      for (const std::string& head : t.front.request_heads()) {
        CAPTURE(head);
        if (*form.front_header != '\0') {
          CHECK(head.starts_with("GET /ws HTTP/1.1\r\n"));
          CHECK(head.find("\r\nSec-WebSocket-Protocol: ") != std::string::npos);
        } else {
          CHECK(head.starts_with("GET /ws"));
          CHECK_FALSE(head.starts_with("GET /ws HTTP/1.1"));
          CHECK(head.find("Sec-WebSocket-Protocol") == std::string::npos);
        }
      }
      CHECK(t.local.log_text().find("bytes of early data in the upgrade request") !=
            std::string::npos);
    }
    MESSAGE(table);
  }

  TEST_CASE("ws early data: the app's first bytes ride in the request, up to max_early_data") {
    FrontTunnel t(ws_front("/ws", 2048, "Sec-WebSocket-Protocol"), "ws",
                  "[server.ws]\npath = \"/ws\"\nmax_early_data = 2048\n");
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    // Sent at once after the SOCKS reply: with the reply before the upgrade, the VMess header
    // and these bytes fill the request's 2048 bytes (the header alone is ~120), and the
    // rest follows as a frame after the 101.
    const std::string message(5000, 'e');
    s.send_all(message, deadline);
    const Bytes back = s.recv_exact(message.size(), deadline);
    CHECK(std::string(back.begin(), back.end()) == message);
    CHECK(t.front.upgrades() == 1);
    CHECK(t.front.early_data_bytes() == 2048);  // the front refuses more than 2048 (a 400)
  }

  TEST_CASE("ws early data: a refused upgrade reaches the app as a reset after its reply") {
    FrontTunnel t(ws_front("/ws", 2048, "Sec-WebSocket-Protocol"), "ws",
                  "[server.ws]\npath = \"/wrong\"\nmax_early_data = 2048\n");
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    // The SOCKS reply is a success: the app's first bytes are needed before the upgrade.
    Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
    s.send_all(std::string_view("hello"), deadline);
    const auto closed = s.recv_until_closed(deadline);
    CHECK(closed.data.empty());
    CHECK(closed.reset);
    CHECK(t.local.wait_for_log("WebSocket: upgrade refused: HTTP 404 Not Found", deadline));
    CHECK(t.front.refusals() == 1);
    CHECK(echo.accepted() == 0);
    CHECK(t.local.process().alive());
  }
}

TEST_SUITE("http_transports") {
  TEST_CASE("httpupgrade: 64 MiB each way through a server written from the documents") {
    Http1FrontOptions o;
    o.mode = FrontMode::kHttpUpgrade;
    o.path = "/up";
    o.host = "cdn.example.org";
    FrontTunnel t(o, "httpupgrade",
                  "[server.httpupgrade]\npath = \"/up\"\nhost = \"cdn.example.org\"\n");
    const std::string rates = bulk_both_ways(t, "httpupgrade", 900);
    MESSAGE("rates (MiB/s, download / upload):\n  httpupgrade  " << rates);
    CHECK(t.front.upgrades() == 2);
    CHECK(t.front.refusals() == 0);
    const std::vector<std::string> errors = t.front.errors();
    CHECK_MESSAGE(errors.empty(), (errors.empty() ? "" : errors.front()));
    for (const std::string& head : t.front.request_heads()) {
      CHECK(head ==
            "GET /up HTTP/1.1\r\nHost: cdn.example.org\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\n\r\n");
    }
    CHECK(t.local.log_text().find("HTTPUpgrade: upgraded (GET /up, Host cdn.example.org)") !=
          std::string::npos);
  }

  TEST_CASE("httpupgrade: echo with half-close, and a wrong path refused with a clear line") {
    Http1FrontOptions o;
    o.mode = FrontMode::kHttpUpgrade;
    o.path = "/up";
    {
      FrontTunnel t(o, "httpupgrade", "[server.httpupgrade]\npath = \"/up\"\n");
      EchoServer echo;
      auto deadline = Deadline::after(30s);
      Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
      s.send_all(std::string_view("ping over httpupgrade"), deadline);
      s.shutdown_write();
      const auto closed = s.recv_until_closed(deadline);
      CHECK(std::string(closed.data.begin(), closed.data.end()) == "ping over httpupgrade");
      CHECK_FALSE(closed.reset);
    }
    FrontTunnel t(o, "httpupgrade", "[server.httpupgrade]\npath = \"/wrong\"\n");
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    auto r = t.local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    CHECK(r.stage == Socks5Result::Stage::kReplied);
    CHECK(r.reply == 0x01);
    CHECK(t.local.wait_for_log(
        "HTTPUpgrade: upgrade refused: HTTP 404 Not Found (check [server.httpupgrade] path "
        "\"/wrong\"",
        deadline));
    CHECK(echo.accepted() == 0);
  }
}
