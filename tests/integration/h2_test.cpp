// The h2 transport (v2ray's "http" network: one HTTP/2 stream per tunnel over TLS with ALPN
// h2) end to end against the real v2ray 4.34 "http" inbound: bulk both ways checked by
// SHA-256, a headless Chromium page load, and the refusals a wrong path or host gets. Rates
// are printed, never asserted.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <algorithm>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 64 * kMiB;

// A self-signed P-256 certificate for "localhost" and 127.0.0.1 (as transport_test.cpp makes).
struct Certificate {
  std::filesystem::path cert;
  std::filesystem::path key;
};

Certificate make_certificate(TempDir& dir) {
  Certificate c{dir.file("h2-cert.pem"), dir.file("h2-key.pem")};
  auto r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", c.key.string(), "-out", c.cert.string()},
                       Deadline::after(20s));
  REQUIRE_MESSAGE(r.success(), r.describe());
  return c;
}

// v2ray's inbound: network "http" (httpSettings path and host) over TLS.
json h2_stream_settings(const Certificate& cert, const json& hosts, const std::string& path) {
  json http = {{"path", path}};
  if (!hosts.empty()) http["host"] = hosts;
  return {{"network", "http"},
          {"httpSettings", http},
          {"security", "tls"},
          {"tlsSettings",
           {{"certificates", json::array({{{"certificateFile", cert.cert.string()},
                                           {"keyFile", cert.key.string()}}})}}}};
}

struct ClientSide {
  std::string path = "/h2";
  std::string host_list = R"(["a.example.org", "b.example.org"])";  // "" leaves host out
};

struct Tunnel {
  TempDir dir;
  Certificate cert;
  V2rayServer v2ray;
  VmessLocal local;

  explicit Tunnel(const ClientSide& side = {},
                  const json& server_hosts = json::array({"a.example.org", "b.example.org"}),
                  const std::string& server_path = "/h2")
      : cert(make_certificate(dir)),
        v2ray(V2rayServer::vmess(dir, inbound(cert, server_hosts, server_path))),
        local(dir, profile(v2ray, cert, side)) {}

  static VmessInboundOptions inbound(const Certificate& cert, const json& hosts,
                                     const std::string& path) {
    VmessInboundOptions in;
    in.stream_settings = h2_stream_settings(cert, hosts, path);
    return in;
  }

  static VmessLocalProfile profile(const V2rayServer& v2ray, const Certificate& cert,
                                   const ClientSide& side) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    p.transport = "h2";
    p.server_address = "localhost";  // the certificate's name, and SNI
    p.extra_toml = "[server.tls]\nca_file = \"" + cert.cert.string() +
                   "\"\n[server.h2]\npath = \"" + side.path + "\"\n";
    if (!side.host_list.empty()) p.extra_toml += "host = " + side.host_list + "\n";
    return p;
  }

  Socket open(const Socks5Target& target, Deadline deadline) {
    auto r = local.socks_client().connect(target, deadline);
    REQUIRE_MESSAGE(r.ok(), r.describe() << "\n" << local.log_text());
    return std::move(r.socket);
  }
};

std::string page_with_resources(int count) {
  std::string html =
      "<!doctype html><html><head><title>many</title></head><body><div id=\"marks\"></div>\n";
  for (int i = 0; i < count; ++i) {
    html += "<img src=\"/img/" + std::to_string(i) +
            ".svg\" onload=\"document.getElementById('marks').insertAdjacentText('beforeend', "
            "'img" +
            std::to_string(i) + ";')\">\n";
    html += "<script src=\"/js/" + std::to_string(i) + ".js\"></script>\n";
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace

TEST_SUITE("h2") {
  TEST_CASE("h2: 64 MiB each way through v2ray's http inbound with matching SHA-256") {
    SourceServer source;
    SinkServer sink;
    Tunnel t;
    auto deadline = Deadline::after(120s);

    Socket d = t.open(Socks5Target::to(source.endpoint()), deadline);
    auto down = download(d, kBulk, 201, deadline);
    MESSAGE(down.summary("download over h2"));
    CHECK(down.received == kBulk);
    CHECK(to_hex(down.received_sha256) == to_hex(stream_sha256(201, kBulk)));

    Socket u = t.open(Socks5Target::to(sink.endpoint()), deadline);
    auto up = upload(u, kBulk, 202, deadline);
    MESSAGE(up.summary("upload over h2"));
    CHECK(up.received == kBulk);
    CHECK(to_hex(up.received_sha256) == to_hex(stream_sha256(202, kBulk)));

    // Each tunnel was its own HTTP/2 request, with one of the two hosts.
    const std::string log = t.local.log_text();
    CHECK(log.find("HTTP/2: PUT /h2 (") != std::string::npos);
    CHECK(log.find("ALPN h2") != std::string::npos);
    CHECK(t.local.process().alive());
  }

  TEST_CASE("h2: echo both ways at once and half-close, many tunnels, both hosts drawn") {
    EchoServer echo;
    Tunnel t;
    auto deadline = Deadline::after(90s);
    for (int i = 0; i < 20; ++i) {
      CAPTURE(i);
      Socket s = t.open(Socks5Target::to(echo.endpoint()), deadline);
      auto r =
          echo_transfer(s, 256 * 1024 + static_cast<std::uint64_t>(i) * 1000, 300 + i, deadline);
      CHECK(r.received == r.sent);
      CHECK(to_hex(r.received_sha256) == to_hex(r.sent_sha256));
    }
    const std::string log = t.local.log_text();
    CHECK(log.find("(a.example.org)") != std::string::npos);
    CHECK(log.find("(b.example.org)") != std::string::npos);
    CHECK(t.local.process().alive());
  }

  TEST_CASE("h2: a wrong path or host is refused with the status and what to check") {
    EchoServer echo;
    auto deadline = Deadline::after(60s);
    SUBCASE("path") {
      ClientSide side;
      side.path = "/other";
      Tunnel t(side);
      auto r = t.local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.reply != 0x00);
      CHECK(
          t.local.wait_for_log("HTTP/2: the server answered 404 to PUT /other (check "
                               "[server.h2] path and host",
                               deadline));
    }
    SUBCASE("host: none given sends v2ray's default, which this server does not list") {
      ClientSide side;
      side.host_list = "";
      Tunnel t(side);
      auto r = t.local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
      CHECK(r.reply != 0x00);
      CHECK(t.local.wait_for_log("the host sent was \"www.example.com\"", deadline));
    }
    SUBCASE("host: none on either side is v2ray's default on both, which works") {
      ClientSide side;
      side.host_list = "";
      Tunnel t(side, json::array());
      Socket s = t.open(Socks5Target::to(echo.endpoint()), deadline);
      auto r = echo_transfer(s, 100'000, 77, deadline);
      CHECK(to_hex(r.received_sha256) == to_hex(r.sent_sha256));
    }
  }

  TEST_CASE("h2: headless Chromium loads a page with 100 subresources") {
    auto chromium = find_program("chromium");
    REQUIRE_MESSAGE(chromium, "chromium is not installed (scripts/test installs it)");
    Tunnel t;
    HttpServer http;
    constexpr int kCount = 50;
    http.add_page("/", page_with_resources(kCount));
    for (int i = 0; i < kCount; ++i) {
      http.add_page("/img/" + std::to_string(i) + ".svg",
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"><rect "
                    "width=\"4\" height=\"4\" fill=\"#0c0\"/></svg>",
                    "image/svg+xml");
      http.add_page("/js/" + std::to_string(i) + ".js",
                    "document.getElementById('marks').insertAdjacentText('beforeend', 'js" +
                        std::to_string(i) + ";');\n",
                    "text/javascript");
    }
    TempDir profile_dir("chromium-profile");
    const std::string url = "http://localhost:" + std::to_string(http.port()) + "/";
    auto r = run_command(
        {chromium->string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage",
         "--user-data-dir=" + profile_dir.path().string(),
         "--proxy-server=socks5://" + t.local.socks_endpoint().to_string(),
         "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=10000", "--dump-dom", url},
        Deadline::after(90s), {{"HOME", profile_dir.path().string()}});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << t.local.log_text());
    const auto paths = http.requested_paths();
    for (int i = 0; i < kCount; ++i) {
      CAPTURE(i);
      CHECK(std::count(paths.begin(), paths.end(), "/img/" + std::to_string(i) + ".svg") >= 1);
      CHECK(std::count(paths.begin(), paths.end(), "/js/" + std::to_string(i) + ".js") >= 1);
      CHECK(r.out.find("img" + std::to_string(i) + ";") != std::string::npos);
      CHECK(r.out.find("js" + std::to_string(i) + ";") != std::string::npos);
    }
    MESSAGE("chromium: " << paths.size() << " requests through h2");
    CHECK(t.local.log_text().find("HTTP/2: PUT /h2") != std::string::npos);
    CHECK(t.local.process().alive());
  }
}
