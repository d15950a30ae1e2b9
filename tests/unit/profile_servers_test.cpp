// [[servers]], [balancer] and [probe]: several servers in order, their names, the two forms of
// the server table refused together, and the constraints applied to each server on its own.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "support/profile_text.hpp"
#include "vmlocal/config/profile.hpp"

using vmlocal::config::parse_profile;
using vmlocal::config::Profile;
using vmlocal::config::ProfileResult;
using vmlocal::test::lines;
using vmlocal::test::parse_error;

namespace {

constexpr std::string_view kUuid = R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")";

Profile parse_ok(const std::string& text) {
  ProfileResult result = parse_profile(text, "p.toml");
  INFO("error: " << (result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  return result.profile();
}

}  // namespace

TEST_CASE("profile servers: [[servers]] keeps the order, each with its own settings and name") {
  const Profile p = parse_ok(lines({
      "[[servers]]",                        // 1
      R"(name = "tokyo")",                  // 2
      R"(address = "a.example.org")",       // 3
      "port = 443",                         // 4
      kUuid,                                // 5
      R"(transport = "ws")",                // 6
      "[servers.tls]",                      // 7
      "[servers.ws]",                       // 8
      R"(path = "/a")",                     // 9
      "[[servers]]",                        // 10
      R"(address = "2001:db8::7")",         // 11
      "port = 8443",                        // 12
      kUuid,                                // 13
      R"(security = "chacha20-poly1305")",  // 14
  }));
  REQUIRE(p.servers.size() == 2);
  CHECK(p.servers[0].name == "tokyo");
  CHECK(p.servers[0].address == "a.example.org");
  CHECK(p.servers[0].transport == vmlocal::config::Transport::kWs);
  CHECK(p.servers[0].tls.has_value());
  CHECK(p.servers[0].ws.path == "/a");
  CHECK(p.servers[1].name == "[2001:db8::7]:8443");  // the default: address:port
  CHECK(p.servers[1].port == 8443);
  CHECK_FALSE(p.servers[1].tls.has_value());
  CHECK(p.servers[1].security == vmlocal::vmess::Security::kChacha20Poly1305);
  CHECK(vmlocal::config::transport_name(p.servers[1]) == "tcp");
}

TEST_CASE("profile servers: a single [server] is one server, named address:port unless named") {
  const Profile p =
      parse_ok(lines({"[server]", R"(address = "vmess.example.org")", "port = 443", kUuid}));
  REQUIRE(p.servers.size() == 1);
  CHECK(p.servers[0].name == "vmess.example.org:443");
  CHECK(parse_ok(lines({"[server]", R"(address = "vmess.example.org")", "port = 443", kUuid,
                        R"(name = "home")"}))
            .servers[0]
            .name == "home");
}

TEST_CASE(
    "profile servers: [server] and [[servers]] together are refused where the second starts") {
  CHECK(parse_error(lines({"[server]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[[servers]]", R"(address = "b.example.org")", "port = 443", kUuid})) ==
        "p.toml:5:1: the profile has both [server] and [[servers]]; use one of them (a single "
        "server can be one [[servers]] entry, or move [server]'s keys into it)");
  CHECK(parse_error(lines({"[[servers]]", R"(address = "b.example.org")", "port = 443", kUuid,
                           "[server]", R"(address = "a.example.org")", "port = 443", kUuid}))
            .starts_with("p.toml:5:1: the profile has both [server] and [[servers]]"));
}

TEST_CASE("profile servers: a sub-table spelt for the other form is named, with the spelling") {
  // Copied from an example: TOML makes the parent of [servers.tls] implicitly, so it looks like
  // both forms at once.
  CHECK(parse_error(lines({"[server]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[servers.tls]", R"(sni = "a.example.org")"})) ==
        "p.toml:5:1: [servers.tls] belongs to a [[servers]] entry; under [server], write "
        "[server.tls]");
  CHECK(parse_error(lines({"[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[server.ws]", R"(path = "/ws")"})) ==
        "p.toml:5:1: [server.ws] after [[servers]]: a [[servers]] entry's ws settings are written "
        "[servers.ws] (they belong to the entry above them)");
  CHECK(parse_error(lines({"[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[[servers.tls]]", R"(sni = "a.example.org")"}))
            .starts_with("p.toml:5:1: servers.tls must be a table: write [servers.tls] "));
}

TEST_CASE("profile servers: wrong shapes, duplicate names and bad keys point at the entry") {
  // [servers] (single brackets) is a table, not a list of servers.
  CHECK(parse_error(lines({"[servers]", R"(address = "a.example.org")", "port = 443", kUuid}))
            .starts_with("p.toml:1:1: servers must be written as one [[servers]] table per "
                         "server (double brackets)"));
  CHECK(parse_error(lines({"servers = []"})).starts_with("p.toml:1:11: servers must be written"));
  CHECK(parse_error(lines({"[[servers]]", R"(name = "x")", R"(address = "a.example.org")",
                           "port = 443", kUuid, "[[servers]]", R"(name = "x")",
                           R"(address = "b.example.org")", "port = 443", kUuid})) ==
        R"(p.toml:7:8: two [[servers]] are named "x"; give each its own name = "...")");
  // Two unnamed entries for the same address:port collide on the default name.
  CHECK(parse_error(lines({"[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid}))
            .starts_with("p.toml:5:1: two [[servers]] are named \"a.example.org:443\""));
  CHECK(parse_error(lines({"[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[[servers]]", R"(address = "b.example.org")", "port = 70000", kUuid}))
            .starts_with("p.toml:7:8: server.port must be"));
  CHECK(parse_error(lines({"[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,
                           "[[servers]]", R"(address = "b.example.org")", "port = 443"}))
            .starts_with("p.toml:5:1: missing server.uuid"));
  CHECK(parse_error(lines({"[[servers]]", R"(name = "")", R"(address = "a.example.org")",
                           "port = 443", kUuid}))
            .starts_with("p.toml:2:8: server name must be a string of 1 to 64 printable"));
}

TEST_CASE("profile servers: a constraint is applied to each server and points into its entry") {
  // The second server breaks a refusing rule: its position, and the server's name.
  const std::string error = parse_error(lines({
      "[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,  // 1-4
      "[[servers]]", R"(name = "b")", R"(address = "b.example.org")", "port = 443", kUuid,
      "[servers.ws]",     // 10
      R"(path = "/ws")",  // 11
  }));
  CHECK(error.starts_with(R"(p.toml:10:1: [[servers]] "b": [server.ws] is set, but )"));
  // A repair applies to the server that needs it only.
  const ProfileResult repaired = parse_profile(
      lines({"[[servers]]", R"(address = "a.example.org")", "port = 443", kUuid,
             R"(transport = "ws")", "[servers.tls]", R"(alpn = ["h2", "http/1.1"])",  // 7
             "[[servers]]", R"(address = "b.example.org")", "port = 443", kUuid, "[servers.tls]",
             R"(alpn = ["h2", "http/1.1"])"}),
      "p.toml");
  REQUIRE(repaired.ok());
  REQUIRE(repaired.warnings.size() == 1);
  CHECK(repaired.warnings[0].starts_with(R"(p.toml:7:8: [[servers]] "a.example.org:443": )"));
  CHECK(*repaired.profile().servers[0].tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(*repaired.profile().servers[1].tls->alpn == std::vector<std::string>{"h2", "http/1.1"});
}

TEST_CASE("profile servers: [balancer] (and [probe]) defaults and values") {
  const std::string server =
      lines({"[server]", R"(address = "a.example.org")", "port = 443", kUuid});
  const Profile defaults = parse_ok(server);
  CHECK(defaults.balancer.strategy == Profile::Balancer::Strategy::kFirst);
  CHECK(defaults.balancer.tolerance == std::chrono::milliseconds(50));
  CHECK(defaults.probe.url == "https://www.gstatic.com/generate_204");
  CHECK(defaults.probe.interval == std::chrono::seconds(180));

  const Profile set =
      parse_ok(server + lines({"[balancer]", R"(strategy = "fastest")", "tolerance_ms = 120",
                               "[probe]", R"(url = "http://127.0.0.1:9/204")", "interval = 2.5"}));
  CHECK(set.balancer.strategy == Profile::Balancer::Strategy::kFastest);
  CHECK(set.balancer.tolerance == std::chrono::milliseconds(120));
  CHECK(set.probe.url == "http://127.0.0.1:9/204");
  CHECK(set.probe.interval == std::chrono::milliseconds(2500));

  CHECK(parse_error(server + lines({"[balancer]", R"(strategy = "random")"}))
            .starts_with("p.toml:6:12: balancer.strategy must be one of"));
  CHECK(parse_error(server + lines({"[balancer]", "tolerance_ms = -1"}))
            .starts_with("p.toml:6:16: balancer.tolerance_ms must be"));
  CHECK(parse_error(server + lines({"[balancer]", "strategi = 1"})) ==
        R"(p.toml:6:1: unknown key "strategi" in [balancer] (did you mean "strategy"?))");
}
