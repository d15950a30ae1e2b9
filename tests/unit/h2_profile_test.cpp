// [server.h2] and [server.grpc]: each key read and checked, and what the transport layer makes
// of them (the request's path, authority and headers, ALPN).
#include <doctest/doctest.h>

#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/transport/upstream.hpp"

using namespace vmlocal;
using vmlocal::config::parse_profile;
using vmlocal::config::Profile;
using vmlocal::config::Transport;

namespace {

// Lines 1-6: a valid [server] with the transport and TLS; `extra` starts on line 7.
std::string profile_with(std::string_view transport, std::string_view extra) {
  std::string out =
      "[server]\naddress = \"vmess.example.org\"\nport = 443\n"
      "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\ntransport = \"";
  out += transport;
  out += "\"\n[server.tls]\n";
  out += extra;
  return out;
}

Profile ok(const std::string& text) {
  auto result = parse_profile(text, "p.toml");
  INFO("error: " << (result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  return result.profile();
}

std::string error(const std::string& text) {
  auto result = parse_profile(text, "p.toml");
  REQUIRE_FALSE(result.ok());
  return result.error();
}

// Draws the given values in turn.
class FixedRandom final : public crypto::Random {
 public:
  explicit FixedRandom(uint8_t byte) : byte_(byte) {}
  void fill(MutableByteView out) override {
    for (auto& b : out)
      b = byte_;
  }

 private:
  uint8_t byte_;
};

}  // namespace

TEST_CASE("h2 profile: path and host list, defaults, and the request they make") {
  const Profile p = ok(profile_with(
      "h2", "[server.h2]\npath = \"/v2\"\nhost = [\"a.example\", \"b.example:8443\"]\n"));
  CHECK(p.servers.front().transport == Transport::kH2);
  CHECK(p.servers.front().h2.path == "/v2");
  CHECK(p.servers.front().h2.host == std::vector<std::string>{"a.example", "b.example:8443"});
  CHECK(config::transport_name(p.servers.front()) == "h2+tls");

  // One host drawn per tunnel from the list.
  FixedRandom zero(0);
  CHECK(transport::h2_options_for(p.servers.front(), zero).authority == "a.example");
  FixedRandom high(0x01);  // 0x01010101 % 2 == 1
  CHECK(transport::h2_options_for(p.servers.front(), high).authority == "b.example:8443");
  const auto options = transport::h2_options_for(p.servers.front(), zero);
  CHECK_FALSE(options.grpc);
  CHECK(options.path == "/v2");
  // v2ray 4.34's request (dialer.go, through Go's http2.Transport): PUT, accept-encoding.
  const auto headers = transport::H2Stream::request_headers(options);
  using H = std::pair<std::string, std::string>;
  CHECK(headers == std::vector<H>{{":authority", "a.example"},
                                  {":method", "PUT"},
                                  {":path", "/v2"},
                                  {":scheme", "https"},
                                  {"accept-encoding", "identity"},
                                  {"user-agent", "Go-http-client/2.0"}});
  // ALPN is exactly h2, whatever the profile lists.
  CHECK(transport::tls_options_for(p.servers.front()).alpn == std::vector<std::string>{"h2"});
  CHECK(transport::tls_options_for(p.servers.front()).require_h2);

  // Defaults: path "/", and v2ray's "www.example.com" when no host is given; a single string
  // is a one-entry list.
  const Profile d = ok(profile_with("h2", ""));
  CHECK(d.servers.front().h2.path == "/");
  CHECK(transport::h2_options_for(d.servers.front(), zero).authority == "www.example.com");
  CHECK(ok(profile_with("h2", "[server.h2]\nhost = \"one.example\"\n")).servers.front().h2.host ==
        std::vector<std::string>{"one.example"});
}

TEST_CASE("h2 profile: bad values point at the key") {
  CHECK(error(profile_with("h2", "[server.h2]\npath = \"v2\"\n")) ==
        "p.toml:8:8: server.h2.path must start with \"/\", got \"v2\" (write \"/v2\")");
  CHECK(error(profile_with("h2", "[server.h2]\npath = \"/a b\"\n")) ==
        "p.toml:8:8: server.h2.path \"/a b\" contains a space or control character; "
        "percent-encode it (a space is %20)");
  CHECK(error(profile_with("h2", "[server.h2]\nhost = [\"a.example\", \"bad host\"]\n")) ==
        "p.toml:8:22: server.h2.host entries must be host names, optionally with \":port\" "
        "(e.g. \"example.org\"), got \"bad host\"");
  CHECK(error(profile_with("h2", "[server.h2]\nhost = 3\n")) ==
        "p.toml:8:8: server.h2.host must be a list of host names like [\"example.org\"], got 3");
  CHECK(error(profile_with("h2", "[server.h2]\nheaders = {}\n"))
            .starts_with("p.toml:8:1: unknown key \"headers\" in [server.h2]"));
}

TEST_CASE("grpc profile: service_name, the path and authority it makes") {
  const Profile p = ok(profile_with("grpc", "[server.grpc]\nservice_name = \"GunService\"\n"));
  CHECK(p.servers.front().transport == Transport::kGrpc);
  CHECK(config::transport_name(p.servers.front()) == "grpc+tls");
  FixedRandom zero(0);
  const auto options = transport::h2_options_for(p.servers.front(), zero);
  CHECK(options.grpc);
  // /${serviceName}/Tun (v2fly config/transport/grpc.html; Xray config/transports/grpc.html).
  CHECK(options.path == "/GunService/Tun");
  CHECK(options.authority == "vmess.example.org:443");
  // gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): POST, content-type, te: trailers.
  using H = std::pair<std::string, std::string>;
  CHECK(transport::H2Stream::request_headers(options) ==
        std::vector<H>{{":method", "POST"},
                       {":scheme", "https"},
                       {":path", "/GunService/Tun"},
                       {":authority", "vmess.example.org:443"},
                       {"content-type", "application/grpc"},
                       {"te", "trailers"}});
  CHECK(transport::tls_options_for(p.servers.front()).alpn == std::vector<std::string>{"h2"});
  // Xray's custom path: a name starting with "/" is the whole path.
  const Profile custom =
      ok(profile_with("grpc", "[server.grpc]\nservice_name = \"/my/path/Tun\"\n"));
  CHECK(config::grpc_path(custom.servers.front().grpc) == "/my/path/Tun");

  CHECK(error(profile_with("grpc", "[server.grpc]\nservice_name = \"\"\n")) ==
        "p.toml:8:16: server.grpc.service_name must not be empty (copy serviceName from the "
        "server's grpcSettings)");
  CHECK(error(profile_with("grpc", "[server.grpc]\nservice_name = \"a/b\"\n")) ==
        "p.toml:8:16: server.grpc.service_name \"a/b\" contains \"/\"; write the name alone (the "
        "path is /<service_name>/Tun), or start it with \"/\" to give the whole path");
  CHECK(error(profile_with("grpc", "[server.grpc]\nservice_name = \"/Tun\"\n")) ==
        "p.toml:8:16: server.grpc.service_name \"/Tun\" starts with \"/\", so it is the whole "
        "request path, \"/<service>/<method>\" (e.g. \"/my/path/Tun\")");
}
