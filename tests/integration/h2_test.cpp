// The h2 transport (v2ray's "http" network: one HTTP/2 stream per tunnel over TLS with ALPN
// h2) end to end against the real v2ray 4.34 "http" inbound: bulk both ways checked by
// SHA-256, a headless Chromium page load, and the refusals a wrong path or host gets. Rates
// are printed, never asserted.
#include <doctest/doctest.h>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 64 * kMiB;

// v2ray's inbound: network "http" (httpSettings path and host) over TLS.
json h2_stream_settings(const Certificate& cert, const json& hosts, const std::string& path) {
  json http = {{"path", path}};
  if (!hosts.empty()) http["host"] = hosts;
  return with_tls({{"network", "http"}, {"httpSettings", http}}, cert);
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
      : cert(make_certificate(dir, "h2")),
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
    trust_certificate(p, cert);
    p.extra_toml += "[server.h2]\npath = \"" + side.path + "\"\n";
    if (!side.host_list.empty()) p.extra_toml += "host = " + side.host_list + "\n";
    return p;
  }
};

}  // namespace

TEST_SUITE("h2") {
  TEST_CASE("h2: 64 MiB each way through v2ray's http inbound with matching SHA-256") {
    SourceServer source;
    SinkServer sink;
    Tunnel t;
    auto deadline = Deadline::after(120s);

    const BothWays both =
        transfer_both_ways(t.local, Socks5Target::to(source.endpoint()),
                           Socks5Target::to(sink.endpoint()), kBulk, 201, deadline);
    MESSAGE(both.down.summary("download over h2"));
    MESSAGE(both.up.summary("upload over h2"));
    CHECK(both.problems == "");

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
      Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
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
      Socket s = t.local.open(Socks5Target::to(echo.endpoint()), deadline);
      auto r = echo_transfer(s, 100'000, 77, deadline);
      CHECK(to_hex(r.received_sha256) == to_hex(r.sent_sha256));
    }
  }

  TEST_CASE("h2: headless Chromium loads a page with 100 subresources") {
    Tunnel t;
    HttpServer http;
    constexpr int kCount = 50;
    add_page_with_resources(http, kCount);
    const CommandResult r = load_page_with_chromium(t.local.socks_endpoint(), http.port());
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << t.local.log_text());
    CHECK(page_problems(http, r.out, kCount) == "");
    const auto paths = http.requested_paths();
    MESSAGE("chromium: " << paths.size() << " requests through h2");
    CHECK(t.local.log_text().find("HTTP/2: PUT /h2") != std::string::npos);
    CHECK(t.local.process().alive());
  }
}
