// The HTTP/1-style transports end to end (issue 14): tcp with v2ray's "http" header against
// the real v2ray 4.34, whose tcp inbound has it (tcpSettings.header.type = "http"). Every byte
// is checked by SHA-256; rates are printed, never asserted.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>

#include "harness/certificate.hpp"
#include "harness/chromium.hpp"
#include "harness/harness.hpp"

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
  if (cert != nullptr) {
    s["security"] = "tls";
    s["tlsSettings"] = {{"certificates", json::array({{{"certificateFile", cert->cert.string()},
                                                       {"keyFile", cert->key.string()}}})}};
  }
  return s;
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
    std::string extra = "[server.tcp]\n" + client_tcp;
    if (tls) {
      p.server_address = "localhost";  // the certificate's name
      extra += "[server.tls]\nca_file = \"" + cert.cert.string() + "\"\n";
    }
    p.extra_toml = extra;
    return p;
  }

  Socket open(const Socks5Target& target, Deadline deadline) {
    auto r = local.socks_client().connect(target, deadline);
    REQUIRE_MESSAGE(r.ok(), r.describe() << "\n" << local.log_text());
    return std::move(r.socket);
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

      Socket d = t.open(Socks5Target::to(source.endpoint()), deadline);
      auto down = download(d, kBulk, ++seed, deadline);
      MESSAGE(down.summary("download over " + label));
      CHECK(down.received == kBulk);
      CHECK(to_hex(down.received_sha256) == to_hex(stream_sha256(seed, kBulk)));

      Socket u = t.open(Socks5Target::to(sink.endpoint()), deadline);
      auto up = upload(u, kBulk, ++seed, deadline);
      MESSAGE(up.summary("upload over " + label));
      CHECK(up.received == kBulk);
      CHECK(to_hex(up.received_sha256) == to_hex(stream_sha256(seed, kBulk)));
      CHECK(t.local.process().alive());
      CHECK(t.local.log_text().find("HTTP header: response 200 OK") != std::string::npos);
      char line[128];
      std::snprintf(line, sizeof line, "\n  %-13s %7.1f / %7.1f", label.c_str(), down.mib_per_s(),
                    up.mib_per_s());
      table += line;
    }
    MESSAGE(table);
  }

  TEST_CASE("tcp+http: a path the server does not list gets its 404, named in the log") {
    HttpHeaderTunnel t(false, "header = \"http\"\npath = [\"/wrong\"]\n");
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    Socket s = t.open(Socks5Target::to(echo.endpoint()), deadline);
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
