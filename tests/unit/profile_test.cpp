// The profile loader: values, defaults, and for every way a profile can be wrong, the exact
// "path:line:column: message" a user sees.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "support/profile_text.hpp"
#include "support/test_ca.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace std::chrono_literals;
using vmlocal::config::ListenEndpoint;
using vmlocal::config::load_profile;
using vmlocal::config::parse_listen_endpoint;
using vmlocal::config::parse_profile;
using vmlocal::config::Profile;
using vmlocal::config::ProfileResult;
using vmlocal::config::Transport;
namespace vmess = vmlocal::vmess;
using vmlocal::test::lines;
using vmlocal::test::parse_error;
using vmlocal::test::server_and;

namespace {

Profile parse_ok(const std::string& text) {
  ProfileResult result = parse_profile(text, "p.toml");
  INFO("error: " << (result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  CHECK(result.warnings.empty());
  return result.profile();
}

// A legacy-header profile: valid, with exactly the one warning every alter_id > 0 earns.
Profile parse_ok_legacy(const std::string& text) {
  ProfileResult result = parse_profile(text, "p.toml");
  INFO("error: " << (result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  REQUIRE(result.warnings.size() == 1);
  CHECK(result.warnings[0].find("selects the legacy VMess header") != std::string::npos);
  return result.profile();
}

std::string endpoint_error(std::string_view text) {
  auto result = parse_listen_endpoint(text);
  REQUIRE(std::holds_alternative<std::string>(result));
  return std::get<std::string>(result);
}

// A private directory for files whose permissions the tests set; removed on destruction.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/vmlocal-profile-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& file : files_) {
      std::remove(file.c_str());
    }
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string file = path_ + "/" + name;
    files_.push_back(file);
    std::ofstream(file) << text;
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

}  // namespace

TEST_CASE("profile: a minimal profile gets every default") {
  const Profile p = parse_ok(server_and({}));
  REQUIRE(p.local.listen.size() == 1);
  CHECK(p.local.listen[0].host == "127.0.0.1");
  CHECK(p.local.listen[0].port == 1080);
  CHECK(p.servers.front().address == "vmess.example.org");
  CHECK(p.servers.front().port == 443);
  CHECK(p.servers.front().uuid[0] == 0xb8);
  CHECK(p.servers.front().uuid[1] == 0x31);
  CHECK(p.servers.front().uuid[15] == 0x11);
  CHECK(p.servers.front().alter_id == 0);
  CHECK(p.servers.front().security == vmess::Security::kAuto);
  CHECK(p.servers.front().transport == Transport::kTcp);
  CHECK(p.timeouts.handshake == 10s);
  CHECK(p.timeouts.connect == 10s);
  CHECK(p.timeouts.idle == 300s);
  CHECK(p.log.level == vmlocal::log::Level::kInfo);
}

TEST_CASE("profile: a full profile sets every field") {
  const Profile p = parse_ok_legacy(lines({
      "[local]",
      R"(listen = ["127.0.0.1:1081", "[::1]:1082", "0.0.0.0:1083"])",
      R"(username = "alice")",
      R"(password = "s3cret")",
      "max_connections = 500",
      "workers = 2",
      "[server]",
      R"(address = "2001:db8::7")",
      "port = 8443",
      R"(uuid = "B831381D-6324-4D53-AD4F-8CDA48B30811")",
      "alter_id = 64",
      R"(security = "chacha20-poly1305")",
      R"(transport = "tcp")",
      "[timeouts]",
      "handshake = 2.5",
      "connect = 30",
      "idle = 0.001",
      "uplink_only = 2",
      "downlink_only = 0.5",
      "shutdown_grace = 5",
      "[log]",
      R"(level = "debug")",
  }));
  REQUIRE(p.local.listen.size() == 3);
  CHECK(p.local.username == "alice");
  CHECK(p.local.password == "s3cret");
  CHECK(p.local.max_connections == 500);
  CHECK(p.local.workers == 2);
  CHECK_FALSE(p.local.allow_open_proxy);
  CHECK(p.timeouts.shutdown_grace == 5s);
  CHECK(p.local.listen[0].to_string() == "127.0.0.1:1081");
  CHECK(p.local.listen[1].host == "::1");
  CHECK(p.local.listen[1].port == 1082);
  CHECK(p.local.listen[2].to_string() == "0.0.0.0:1083");
  CHECK(p.servers.front().address == "2001:db8::7");
  CHECK(p.servers.front().port == 8443);
  CHECK(p.servers.front().uuid[0] == 0xb8);
  CHECK(p.servers.front().alter_id == 64);
  CHECK(p.servers.front().security == vmess::Security::kChacha20Poly1305);
  CHECK(p.timeouts.handshake == 2500ms);
  CHECK(p.timeouts.connect == 30s);
  CHECK(p.timeouts.idle == 1ms);
  CHECK(p.timeouts.uplink_only == 2s);
  CHECK(p.timeouts.downlink_only == 500ms);
  CHECK(p.log.level == vmlocal::log::Level::kDebug);
}

TEST_CASE("profile: each security and level name") {
  const std::pair<std::string_view, vmess::Security> securities[] = {
      {"auto", vmess::Security::kAuto},
      {"aes-128-gcm", vmess::Security::kAes128Gcm},
      {"chacha20-poly1305", vmess::Security::kChacha20Poly1305},
      {"none", vmess::Security::kNone},
      {"zero", vmess::Security::kZero},
  };
  // Not structured bindings: clang 14 cannot capture those in CAPTURE's lambda.
  for (const auto& entry : securities) {
    const std::string line = "security = \"" + std::string(entry.first) + "\"";
    CAPTURE(line);
    // With TLS below, so that "none" and "zero" come without the plaintext warning.
    CHECK(parse_ok(server_and({line, "[server.tls]"})).servers.front().security == entry.second);
  }
  const std::pair<std::string_view, vmlocal::log::Level> levels[] = {
      {"error", vmlocal::log::Level::kError},
      {"warn", vmlocal::log::Level::kWarn},
      {"info", vmlocal::log::Level::kInfo},
      {"debug", vmlocal::log::Level::kDebug},
  };
  for (const auto& entry : levels) {
    const std::string line = "level = \"" + std::string(entry.first) + "\"";
    CAPTURE(line);
    CHECK(parse_ok(server_and({"[log]", line})).log.level == entry.second);
  }
}

TEST_CASE("profile: listen as a single string, and IPv6") {
  Profile p = parse_ok(server_and({"[local]", R"(listen = "127.0.0.2:9050")"}));
  REQUIRE(p.local.listen.size() == 1);
  CHECK(p.local.listen[0].host == "127.0.0.2");
  CHECK(p.local.listen[0].port == 9050);

  p = parse_ok(server_and({"[local]", R"(listen = ["[0:0::1]:1080"])"}));
  REQUIRE(p.local.listen.size() == 1);
  CHECK(p.local.listen[0].host == "::1");  // canonical form
  CHECK(p.local.listen[0].to_string() == "[::1]:1080");
  CHECK(p.local.listen[0].is_loopback());
}

TEST_CASE("profile: server.address forms") {
  CHECK(parse_ok(lines({"[server]", R"(address = "203.0.113.7")", "port = 1",
                        R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"}))
            .servers.front()
            .address == "203.0.113.7");
  CHECK(parse_ok(lines({"[server]", R"(address = "::1")", "port = 1",
                        R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"}))
            .servers.front()
            .address == "::1");
  CHECK(parse_ok(lines({"[server]", R"(address = "example.org.")", "port = 65535",
                        R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"}))
            .servers.front()
            .port == 65535);
}

TEST_CASE("profile: TOML syntax errors keep toml++'s position and wording") {
  CHECK(parse_error(lines({"[server", R"(address = "x")"})) ==
        R"(p.toml:1:8: Error while parsing table header: expected ']', saw '\n')");
  CHECK(parse_error(server_and({"port = 444"})) ==
        "p.toml:5:8: Error while parsing key-value pair: cannot redefine existing integer 'port'");
  // An unquoted value gets a hint; an unquoted UUID is not echoed.
  const std::string unquoted =
      parse_error(lines({"[server]", "uuid = b831381d-6324-4d53-ad4f-8cda48b30811", "port = 443"}));
  CHECK(unquoted ==
        "p.toml:2:8: Error while parsing value: could not determine value type (text values "
        R"(need double quotes, e.g. address = "vmess.example.org"))");
  CHECK(parse_error(lines({"[server]", "uuid = 18313812-6324-4d53-ad4f-8cda48b30811"})) ==
        "p.toml:2:12: Error while parsing date: expected '-', saw '3' (text values need double "
        R"(quotes, e.g. address = "vmess.example.org"))");
  CHECK(parse_error("[server]\r\nport = 1 2\r\n") ==
        "p.toml:2:10: Error while parsing key-value pair: expected a comment or whitespace, "
        "saw '2'");
}

TEST_CASE("profile: a table header and a key on one line get the fix") {
  // The known mistake, as a hint pasted literally: `[probe] url = "..."`.
  CHECK(parse_error(server_and({R"([probe] url = "http://127.0.0.1:18080/probe")"})) ==
        "p.toml:5:9: Error while parsing table header: expected a comment or whitespace, saw "
        "'u' (a table header stands alone on its line: put `url = ...` on the next line)");
  CHECK(parse_error(lines({"  [[servers]]\tname=\"a\""}))
            .ends_with("(a table header stands alone on its line: put `name = ...` on the next "
                       "line)"));
  CHECK(parse_error("[route]\r\n[probe] url=\"x\"\r\n")
            .ends_with("put `url = ...` on the next line)"));
  // Not that mistake: no hint.
  CHECK(parse_error(lines({"[probe] url"})).find("stands alone") == std::string::npos);
  CHECK(parse_error(lines({"[probe] # fine", "[probe] x"})).find("stands alone") ==
        std::string::npos);
}

TEST_CASE("profile: unknown tables and keys point at the key") {
  CHECK(parse_error(server_and({"[sever]"})) ==
        R"(p.toml:5:2: unknown table [sever] (did you mean [server]?))");
  CHECK(parse_error(server_and({"[dns]"})) ==
        "p.toml:5:2: unknown table [dns] (allowed tables: [local], [server], [[servers]], "
        "[balancer], [probe], [route], [timeouts], [log], [subscription])");
  CHECK(parse_error("listen = \"127.0.0.1:1080\"\n" + server_and({})) ==
        R"(p.toml:1:1: unknown key "listen" outside any [table] ("listen" belongs in [local]))");
  CHECK(parse_error(server_and({"[local]", R"(  lisen = ["127.0.0.1:1080"])"})) ==
        R"(p.toml:6:3: unknown key "lisen" in [local] (did you mean "listen"?))");
  CHECK(parse_error(server_and({R"(securty = "auto")"})) ==
        R"(p.toml:5:1: unknown key "securty" in [server] (did you mean "security"?))");
  CHECK(parse_error(server_and({"alterId = 0"})) ==
        R"(p.toml:5:1: unknown key "alterId" in [server] (did you mean "alter_id"?))");
  CHECK(parse_error(server_and({"aid = 0"})) ==
        R"(p.toml:5:1: unknown key "aid" in [server] (did you mean "alter_id"?))");
  CHECK(parse_error(server_and({"idle = 5"})) ==
        R"(p.toml:5:1: unknown key "idle" in [server] ("idle" belongs in [timeouts]))");
  CHECK(parse_error(server_and({"fingerprint = true"})) ==
        "p.toml:5:1: unknown key \"fingerprint\" in [server] (allowed: address, port, uuid, "
        "alter_id, security, transport, tls, ws, h2, grpc, tcp, httpupgrade, tcp_fast_open, mux, "
        "clock_offset, name, warm, warm_max_age, warm_idle)");
  CHECK(parse_error(server_and({"[timeouts]", "read = 5"})) ==
        "p.toml:6:1: unknown key \"read\" in [timeouts] (allowed: handshake, connect, idle, "
        "uplink_only, downlink_only, shutdown_grace)");
  CHECK(parse_error(server_and({"[log]", R"(file = "/tmp/x")"})) ==
        R"(p.toml:6:1: unknown key "file" in [log] (allowed: level))");
  // A subtable of a known table is a key of that table.
  CHECK(parse_error(server_and({"[timeouts.extra]"})) ==
        "p.toml:5:11: unknown key \"extra\" in [timeouts] (allowed: handshake, connect, idle, "
        "uplink_only, downlink_only, shutdown_grace)");
}

TEST_CASE("profile: SOCKS5 credentials, open-proxy guard, connection limit, shutdown grace") {
  // Credentials come in pairs, 1..255 bytes; the password is never echoed.
  CHECK(parse_error(server_and({"[local]", R"(username = "me")"})) ==
        "p.toml:6:12: local.username needs local.password as well; set both (1 to 255 bytes "
        "each), or neither");
  CHECK(parse_error(server_and({"[local]", R"(password = "hunter2")"})) ==
        "p.toml:6:12: local.password needs local.username as well; set both (1 to 255 bytes "
        "each), or neither");
  CHECK(parse_error(server_and({"[local]", R"(username = "")", R"(password = "x")"})) ==
        "p.toml:6:12: local.username must be a string of 1 to 255 bytes");
  const std::string long_password(256, 'p');
  const std::string error = parse_error(
      server_and({"[local]", R"(username = "u")", "password = \"" + long_password + "\""}));
  CHECK(error == "p.toml:7:12: local.password must be a string of 1 to 255 bytes");
  CHECK(parse_error(server_and({"[local]", R"(username = "u")", "password = 12345"})) ==
        "p.toml:7:12: local.password must be a string of 1 to 255 bytes");

  // Beyond loopback without a username: refused, pointing at listen, unless opted in.
  CHECK(parse_error(server_and({"[local]", R"(listen = ["0.0.0.0:1080"])"})) ==
        "p.toml:6:10: listening on 0.0.0.0:1080 lets other machines use your server through this "
        "proxy, and [local] sets no username and password; add them, listen on 127.0.0.1 or "
        "[::1], or set allow_open_proxy = true if an open proxy is really what you want");
  CHECK(parse_error(server_and({"[local]", R"(listen = ["[::]:1080"])"})).find("[::]:1080") !=
        std::string::npos);
  const Profile open =
      parse_ok(server_and({"[local]", R"(listen = ["0.0.0.0:1080"])", "allow_open_proxy = true"}));
  CHECK(open.local.allow_open_proxy);
  const Profile authed = parse_ok(server_and(
      {"[local]", R"(listen = ["0.0.0.0:1080"])", R"(username = "u")", R"(password = "p")"}));
  CHECK(authed.local.username == "u");
  CHECK(parse_error(server_and({"[local]", R"(allow_open_proxy = "yes")"})) ==
        R"(p.toml:6:20: local.allow_open_proxy must be true or false, got "yes")");

  CHECK(parse_ok(server_and({"tcp_fast_open = true"})).servers.front().tcp_fast_open);
  CHECK_FALSE(parse_ok(server_and({})).servers.front().tcp_fast_open);
  CHECK(parse_error(server_and({"tcp_fast_open = 1"})) ==
        "p.toml:5:17: server.tcp_fast_open must be true or false, got 1");
  CHECK(parse_error(server_and({"[local]", "workers = 0"})) ==
        "p.toml:6:11: local.workers must be an integer 1..64, got 0");
  CHECK(parse_error(server_and({"[local]", "max_connections = 0"})) ==
        "p.toml:6:19: local.max_connections must be an integer 1..1000000, got 0");
  CHECK(parse_ok(server_and({"[timeouts]", "shutdown_grace = 0"})).timeouts.shutdown_grace == 0ms);
  CHECK(parse_ok(server_and({"[timeouts]", "shutdown_grace = 2.5"})).timeouts.shutdown_grace ==
        2500ms);
  CHECK(parse_error(server_and({"[timeouts]", "shutdown_grace = -1"}))
            .find("timeouts.shutdown_grace must be a number of seconds") != std::string::npos);
}

TEST_CASE("profile: open_proxy_problem sees --listen overrides") {
  Profile p = parse_ok(server_and({}));
  CHECK_FALSE(open_proxy_problem(p));
  p.local.listen = {ListenEndpoint{"192.0.2.1", 1080}};
  CHECK(open_proxy_problem(p));
  p.local.allow_open_proxy = true;
  CHECK_FALSE(open_proxy_problem(p));
}

TEST_CASE("profile: the first problem in the file is the one reported") {
  CHECK(parse_error(lines({
            "[log]",
            R"(level = "loud")",
            "[server]",
            "port = 0",
        })) ==
        R"(p.toml:2:9: log.level must be one of "error", "warn", "info", "debug"; got "loud")");
  // A misspelt required key is reported as the typo, not as the key being missing.
  CHECK(parse_error(lines({
            "[server]",
            R"(adress = "vmess.example.org")",
            "port = 443",
            R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")",
        })) == R"(p.toml:2:1: unknown key "adress" in [server] (did you mean "address"?))");
}

TEST_CASE("profile: missing [server] and missing required keys point at the table") {
  CHECK(parse_error("") ==
        "p.toml:1:1: missing [server] table (it needs address, port and uuid; several servers are "
        "written [[servers]]; or name a [subscription] url)");
  CHECK(parse_error(lines({"[local]", R"(listen = "127.0.0.1:1080")"})) ==
        "p.toml:1:1: missing [server] table (it needs address, port and uuid; several servers are "
        "written [[servers]]; or name a [subscription] url)");
  CHECK(parse_error(lines({"# comment", "", "[server]", "port = 443",
                           R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"})) ==
        "p.toml:3:1: missing server.address (the VMess server's host name or IP address)");
  CHECK(parse_error(lines({"[log]", "", "[server]", R"(address = "a.example")",
                           R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"})) ==
        "p.toml:3:1: missing server.port (the VMess server's port, 1..65535)");
  CHECK(parse_error(lines({"[server]", R"(address = "a.example")", "port = 443"})) ==
        "p.toml:1:1: missing server.uuid (your user ID on the VMess server)");
  CHECK(parse_error(lines({R"(server = "vmess.example.org")"})) ==
        R"(p.toml:1:10: server must be a single table written [server], got "vmess.example.org")");
  CHECK(parse_error(lines({"[[server]]", R"(address = "a")"})) ==
        "p.toml:1:1: server must be a single table written [server], got an array");
}

TEST_CASE("profile: server.port must be an integer 1..65535") {
  auto with_port = [](std::string_view port) {
    return lines({"[server]", R"(address = "vmess.example.org")", port,
                  R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"});
  };
  CHECK(parse_error(with_port("port = 0")) ==
        "p.toml:3:8: server.port must be an integer 1..65535, got 0");
  CHECK(parse_error(with_port("port = 70000")) ==
        "p.toml:3:8: server.port must be an integer 1..65535, got 70000");
  CHECK(parse_error(with_port("port = -443")) ==
        "p.toml:3:8: server.port must be an integer 1..65535, got -443");
  CHECK(parse_error(with_port(R"(port = "443")")) ==
        "p.toml:3:8: server.port must be an integer 1..65535, got \"443\" (in quotes; write "
        "numbers without quotes)");
  CHECK(parse_error(with_port("port    =   443.0")) ==
        "p.toml:3:13: server.port must be an integer 1..65535, got 443.0");
}

TEST_CASE("profile: server.address must be a host name or IP literal") {
  auto with_address = [](std::string_view address) {
    return lines(
        {"[server]", address, "port = 443", R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"});
  };
  CHECK(parse_error(with_address(R"(address = "")")) ==
        "p.toml:2:11: server.address must not be empty");
  CHECK(parse_error(with_address("address = 443")) ==
        "p.toml:2:11: server.address must be a host name or IP address in quotes, e.g. "
        "\"vmess.example.org\", got 443");
  CHECK(parse_error(with_address(R"(address = "vmess.example.org:443")")) ==
        "p.toml:2:11: server.address is \"vmess.example.org:443\"; write the port in "
        "server.port, not in the address");
  CHECK(parse_error(with_address(R"(address = "[::1]")")) ==
        "p.toml:2:11: server.address is \"[::1]\"; write IPv6 addresses without brackets, e.g. "
        "\"::1\", and the port in server.port");
  CHECK(parse_error(with_address(R"(address = "https://example.org/x")")) ==
        "p.toml:2:11: server.address must be a host name or IP address, not a link (got "
        "\"https://\"...); put the host in server.address and the rest in the other [server] "
        "keys");
  CHECK(parse_error(with_address(R"(address = "vmess.example.org ")")) ==
        "p.toml:2:11: server.address is \"vmess.example.org \", which contains a space; it "
        "must be just a host name or IP address");
  CHECK(parse_error(with_address(R"(address = "1.2.3.256")")) ==
        "p.toml:2:11: server.address is \"1.2.3.256\", which is not a valid IPv4 address");
  CHECK(parse_error(with_address(R"(address = "a..example")")) ==
        "p.toml:2:11: server.address is \"a..example\", which is not a valid host name");
}

TEST_CASE("profile: a server.uuid cut short loads as an Xray text ID, with a warning") {
  auto warnings_for = [](std::string_view uuid_line) {
    const ProfileResult result = parse_profile(
        lines({"[server]", R"(address = "vmess.example.org")", "port = 443", uuid_line}), "p.toml");
    REQUIRE(result.ok());
    return result.warnings;
  };
  const auto dashed = warnings_for(R"(uuid = "3f1c2a4e-8b7d-4e21-9c55")");
  REQUIRE(dashed.size() == 1);
  CHECK(dashed[0] ==
        "p.toml:4:8: server.uuid looks like a cut-off UUID (23 characters: hex digits in groups "
        "8-4-4-4); v2ray needs the whole 8-4-4-4-12 form; other text is taken as an Xray text ID");
  const auto digits = warnings_for(R"(uuid = "3f1c2a4e8b7d4e219c550123456a")");
  REQUIRE(digits.size() == 1);
  CHECK(digits[0] ==
        "p.toml:4:8: server.uuid looks like a cut-off UUID (28 hex digits; a UUID has 32); v2ray "
        "needs the whole 8-4-4-4-12 form; other text is taken as an Xray text ID");
  CHECK(digits[0].find("3f1c2a4e") == std::string::npos);
  // Whole UUIDs and text IDs that are names are not warned about.
  CHECK(warnings_for(R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")").empty());
  CHECK(warnings_for(R"(uuid = "b831381d63244d53ad4f8cda48b30811")").empty());
  CHECK(warnings_for(R"(uuid = "alice")").empty());
  CHECK(warnings_for(R"(uuid = "deadbeef")").empty());
  CHECK(warnings_for(R"(uuid = "2024-05-01")").empty());
  // [[servers]]: named, at the entry's uuid.
  const ProfileResult several = parse_profile(
      lines({"[[servers]]", R"(name = "a")", R"(address = "a.example.org")", "port = 443",
             R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")", "[[servers]]", R"(name = "b")",
             R"(address = "b.example.org")", "port = 443", R"(uuid = "3f1c2a4e-8b7d-")"}),
      "p.toml");
  REQUIRE(several.ok());
  REQUIRE(several.warnings.size() == 1);
  CHECK(several.warnings[0] ==
        "p.toml:10:8: [[servers]] \"b\": server.uuid looks like a cut-off UUID (14 characters: "
        "hex digits in groups 8-4); v2ray needs the whole 8-4-4-4-12 form; other text is taken as "
        "an Xray text ID");
}

TEST_CASE("profile: a bad server.uuid is reported without echoing it") {
  auto with_uuid = [](std::string_view uuid) {
    return lines({"[server]", R"(address = "vmess.example.org")", "port = 443", uuid});
  };
  const std::string short_one =
      parse_error(with_uuid(R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b3081")"));
  CHECK(short_one ==
        "p.toml:4:8: server.uuid is not a valid UUID (expected 8-4-4-4-12 hex digits, the same 32 "
        "digits without dashes, or a user ID of 1..30 characters)");
  CHECK(short_one.find("b831381d") == std::string::npos);
  CHECK(short_one.find("8cda48b3081") == std::string::npos);

  const std::string not_hex =
      parse_error(with_uuid(R"(uuid = "g831381d-6324-4d53-ad4f-8cda48b30811")"));
  CHECK(not_hex ==
        "p.toml:4:8: server.uuid is not a valid UUID (expected 8-4-4-4-12 hex digits, the same 32 "
        "digits without dashes, or a user ID of 1..30 characters)");

  const std::string padded =
      parse_error(with_uuid(R"(uuid = " b831381d-6324-4d53-ad4f-8cda48b30811")"));
  CHECK(padded ==
        "p.toml:4:8: server.uuid is not a valid UUID (expected 8-4-4-4-12 hex digits, the same 32 "
        "digits without dashes, or a user ID of 1..30 characters); remove the "
        "spaces around it");
  CHECK(padded.find("b831381d") == std::string::npos);

  CHECK(parse_error(with_uuid("uuid = 1234")) ==
        "p.toml:4:8: server.uuid must be a string in quotes (8-4-4-4-12 hex digits), got a "
        "number");
}

TEST_CASE("profile: server.uuid in the forms v2ray and Xray accept") {
  auto uuid_of = [](std::string_view uuid) {
    const ProfileResult r = parse_profile(
        lines({"[server]", R"(address = "vmess.example.org")", "port = 443", uuid}), "p.toml");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error()));
    return vmess::format_uuid(r.profile().servers.front().uuid);
  };
  CHECK(uuid_of(R"(uuid = "b831381d63244d53ad4f8cda48b30811")") ==
        "b831381d-6324-4d53-ad4f-8cda48b30811");
  // Xray's own example of a string id (docs: "id" of VLESS/VMess users).
  CHECK(uuid_of(R"(uuid = "example")") == "feb54431-301b-52bb-a6dd-e1e93e81bb9e");
  CHECK(uuid_of(R"(uuid = "123456789012345678901234567890")") ==
        vmess::format_uuid(*vmess::parse_user_id("123456789012345678901234567890")));
}

TEST_CASE("profile: a UUID written in the wrong place is never echoed") {
  CHECK(parse_error(server_and({"b831381d-6324-4d53-ad4f-8cda48b30811 = 1"})) ==
        "p.toml:5:1: unknown key \"<UUID hidden>\" in [server] (allowed: address, port, uuid, "
        "alter_id, security, transport, tls, ws, h2, grpc, tcp, httpupgrade, tcp_fast_open, mux, "
        "clock_offset, name, warm, warm_max_age, warm_idle)");
  CHECK(parse_error(server_and({R"(security = "b831381d-6324-4d53-ad4f-8cda48b30811")"})) ==
        "p.toml:5:12: server.security must be one of \"auto\", \"aes-128-gcm\", "
        "\"chacha20-poly1305\", \"none\", \"zero\"; got \"<UUID hidden>\"");
  CHECK(parse_error(
            server_and({"[local]", R"(listen = "x-b831381d-6324-4d53-ad4f-8cda48b30811")"})) ==
        "p.toml:6:10: local.listen: \"x-<UUID hidden>\" has no port (expected \"IPv4:port\" or "
        "\"[IPv6]:port\", e.g. \"127.0.0.1:1080\" or \"[::1]:1080\")");
  CHECK(parse_error(server_and({"[b831381d-6324-4d53-ad4f-8cda48b30811]"})) ==
        "p.toml:5:2: unknown table [<UUID hidden>] (allowed tables: [local], [server], "
        "[[servers]], [balancer], [probe], [route], [timeouts], [log], [subscription])");
  CHECK(parse_error(server_and({R"(["a\nb"])"})) ==
        "p.toml:5:2: unknown table [\"a\\u000Ab\"] (allowed tables: [local], [server], "
        "[[servers]], [balancer], [probe], [route], [timeouts], [log], [subscription])");
  // As an address it would also be sent to the DNS resolver.
  CHECK(parse_error(lines({"[server]", R"(address = "b831381d-6324-4d53-ad4f-8cda48b30811")",
                           "port = 443", R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")"})) ==
        "p.toml:2:11: server.address looks like a UUID; it belongs in server.uuid");
  CHECK(parse_error(lines({"[server]", "b831381d-6324-4d53-ad4f-8cda48b30811 = 1",
                           "b831381d-6324-4d53-ad4f-8cda48b30811 = 2"})) ==
        "p.toml:3:40: Error while parsing key-value pair: cannot redefine existing integer "
        "'<UUID hidden>'");
}

TEST_CASE("profile: server.alter_id must be 0..65535") {
  CHECK(parse_error(server_and({"alter_id = -1"})) ==
        "p.toml:5:12: server.alter_id must be an integer 0..65535, got -1");
  CHECK(parse_error(server_and({"alter_id = 70000"})) ==
        "p.toml:5:12: server.alter_id must be an integer 0..65535, got 70000");
  CHECK(parse_error(server_and({"alter_id = true"})) ==
        "p.toml:5:12: server.alter_id must be an integer 0..65535, got true");
  CHECK(parse_ok_legacy(server_and({"alter_id = 65535"})).servers.front().alter_id == 65535);
}

TEST_CASE("profile: server.security and server.transport") {
  CHECK(parse_error(server_and({R"(security = "aes-256-gcm")"})) ==
        "p.toml:5:12: server.security must be one of \"auto\", \"aes-128-gcm\", "
        "\"chacha20-poly1305\", \"none\", \"zero\"; got \"aes-256-gcm\"");
  CHECK(parse_error(server_and({R"(security = "rc4")"})) ==
        "p.toml:5:12: server.security must be one of \"auto\", \"aes-128-gcm\", "
        "\"chacha20-poly1305\", \"none\", \"zero\"; got \"rc4\"");
  CHECK(parse_ok(server_and({R"(transport = "ws")"})).servers.front().transport == Transport::kWs);
  CHECK(parse_error(server_and({R"(transport = "quic")"})) ==
        R"(p.toml:5:13: server.transport "quic" is not supported by this build; use "tcp", "ws", )"
        R"("httpupgrade", "h2" or "grpc")");
  CHECK(parse_error(server_and({R"(transport = "tpc")"})) ==
        R"(p.toml:5:13: server.transport must be one of "tcp", "ws", "h2", "grpc", "httpupgrade"; )"
        R"(got "tpc" (did you mean "tcp"?))");
  CHECK(parse_error(server_and({R"(transport = "http")"})) ==
        R"(p.toml:5:13: server.transport "http" is v2ray's name for it; write transport = "h2")");
  CHECK(parse_error(server_and({R"(transport = "gun")"})) ==
        R"(p.toml:5:13: server.transport "gun" is v2ray's name for it; write transport = "grpc")");
  CHECK(parse_error(server_and({R"(transport = "wss")"})) ==
        "p.toml:5:13: server.transport \"wss\" is not a transport here: TLS is switched on by a "
        "[server.tls] table; write transport = \"ws\" and add [server.tls]");
  CHECK(parse_error(server_and({R"(transport = "tls")"})) ==
        "p.toml:5:13: server.transport \"tls\" is not a transport here: TLS is switched on by a "
        "[server.tls] table; write transport = \"tcp\" and add [server.tls]");
}

TEST_CASE("profile: timeouts must be seconds in 0.001..86400") {
  CHECK(parse_error(server_and({"[timeouts]", "handshake = 0"})) ==
        "p.toml:6:13: timeouts.handshake must be a number of seconds from 0.001 to 86400 (one "
        "day), got 0");
  CHECK(parse_error(server_and({"[timeouts]", "connect = -5"})) ==
        "p.toml:6:11: timeouts.connect must be a number of seconds from 0.001 to 86400 (one "
        "day), got -5");
  CHECK(parse_error(server_and({"[timeouts]", "idle = -0.5"})) ==
        "p.toml:6:8: timeouts.idle must be a number of seconds from 0.001 to 86400 (one day), "
        "got -0.5");
  CHECK(parse_error(server_and({"[timeouts]", R"(idle = "300")"})) ==
        "p.toml:6:8: timeouts.idle must be a number of seconds from 0.001 to 86400 (one day), "
        "got \"300\" (in quotes; write numbers without quotes)");
  CHECK(parse_error(server_and({"[timeouts]", R"(idle = "5m")"})) ==
        "p.toml:6:8: timeouts.idle must be a number of seconds from 0.001 to 86400 (one day), "
        "got \"5m\"");
  CHECK(parse_error(server_and({"[timeouts]", "idle = 86401"})) ==
        "p.toml:6:8: timeouts.idle must be a number of seconds from 0.001 to 86400 (one day), "
        "got 86401");
  CHECK(parse_error(server_and({"[timeouts]", "idle = nan"})) ==
        "p.toml:6:8: timeouts.idle must be a number of seconds from 0.001 to 86400 (one day), "
        "got nan");
  CHECK(parse_ok(server_and({"[timeouts]", "idle = 86400"})).timeouts.idle == 24h);
}

TEST_CASE("profile: log.level") {
  CHECK(parse_error(server_and({"[log]", R"(level = "verbose")"})) ==
        R"(p.toml:6:9: log.level must be one of "error", "warn", "info", "debug"; got "verbose")");
  CHECK(parse_error(server_and({"[log]", R"(level = "warning")"})) ==
        "p.toml:6:9: log.level must be one of \"error\", \"warn\", \"info\", \"debug\"; got "
        "\"warning\" (did you mean \"warn\"?)");
  CHECK(parse_error(server_and({"[log]", "level = 3"})) ==
        R"(p.toml:6:9: log.level must be one of "error", "warn", "info", "debug"; got 3)");
}

TEST_CASE("profile: bad local.listen values point at the entry") {
  CHECK(parse_error(server_and({"[local]", "listen = []"})) ==
        "p.toml:6:10: local.listen must not be empty; list at least one address, e.g. "
        "[\"127.0.0.1:1080\"]");
  CHECK(parse_error(server_and({"[local]", "listen = 1080"})) ==
        "p.toml:6:10: local.listen must be a list of addresses like [\"127.0.0.1:1080\"], got "
        "1080");
  CHECK(parse_error(server_and({"[local]", R"(listen = ["127.0.0.1:1080", 1081])"})) ==
        "p.toml:6:29: local.listen entries must be strings like \"127.0.0.1:1080\", got 1081");
  CHECK(parse_error(server_and({"[local]", R"(listen = ["127.0.0.1:1080", "1.2.3.4"])"})) ==
        "p.toml:6:29: local.listen: \"1.2.3.4\" has no port (expected \"IPv4:port\" or "
        "\"[IPv6]:port\", e.g. \"127.0.0.1:1080\" or \"[::1]:1080\")");
  CHECK(parse_error(server_and({"[local]", R"(listen = "127.0.0.1:0")"})) ==
        R"(p.toml:6:10: local.listen: "127.0.0.1:0": port must be 1..65535, got 0)");
  CHECK(parse_error(server_and({"[local]", R"(listen = ["[::1"])"})) ==
        "p.toml:6:11: local.listen: \"[::1\" is missing \"]\" (expected \"IPv4:port\" or "
        "\"[IPv6]:port\", e.g. \"127.0.0.1:1080\" or \"[::1]:1080\")");
  CHECK(parse_error(server_and({"[local]", R"(listen = ["[::1]:1080", "[0::1]:1080"])"})) ==
        R"(p.toml:6:25: local.listen lists "[::1]:1080" more than once)");
}

TEST_CASE("profile: parse_listen_endpoint") {
  auto ok = [](std::string_view text) {
    auto result = parse_listen_endpoint(text);
    REQUIRE(std::holds_alternative<ListenEndpoint>(result));
    return std::get<ListenEndpoint>(result);
  };
  CHECK(ok("127.0.0.1:1080").to_string() == "127.0.0.1:1080");
  CHECK(ok("[::]:1").to_string() == "[::]:1");
  CHECK(ok("[2001:DB8::1]:65535").to_string() == "[2001:db8::1]:65535");

  constexpr std::string_view kExpected =
      R"((expected "IPv4:port" or "[IPv6]:port", e.g. "127.0.0.1:1080" or "[::1]:1080"))";
  CHECK(endpoint_error("") == "empty address " + std::string(kExpected));
  CHECK(endpoint_error("1.2.3.4") == "\"1.2.3.4\" has no port " + std::string(kExpected));
  CHECK(endpoint_error("1.2.3.4:") == "\"1.2.3.4:\" has no port " + std::string(kExpected));
  CHECK(endpoint_error("[::1]") == "\"[::1]\" has no port " + std::string(kExpected));
  CHECK(endpoint_error("[::1]1080") == "\"[::1]1080\" has no port " + std::string(kExpected));
  CHECK(endpoint_error("[::1") == "\"[::1\" is missing \"]\" " + std::string(kExpected));
  CHECK(endpoint_error("1.2.3.4:0") == R"("1.2.3.4:0": port must be 1..65535, got 0)");
  CHECK(endpoint_error("1.2.3.4:65536") == R"("1.2.3.4:65536": port must be 1..65535, got 65536)");
  CHECK(endpoint_error("1.2.3.4:99999999999999999999") ==
        R"("1.2.3.4:99999999999999999999": port must be 1..65535, got 99999999999999999999)");
  CHECK(endpoint_error("1.2.3.4:http") ==
        R"("1.2.3.4:http": port "http" is not a number )" + std::string(kExpected));
  CHECK(endpoint_error("1.2.3.4:-1") ==
        R"("1.2.3.4:-1": port "-1" is not a number )" + std::string(kExpected));
  CHECK(endpoint_error("localhost:1080") ==
        "\"localhost:1080\": \"localhost\" is not an IPv4 address; listen addresses must be "
        "numeric, e.g. \"127.0.0.1:1080\"");
  CHECK(endpoint_error("::1:1080") ==
        "\"::1:1080\" looks like an IPv6 address without brackets; write it as "
        "\"[address]:port\", e.g. \"[::1]:1080\"");
  CHECK(endpoint_error("[1.2.3.4]:80") ==
        R"("[1.2.3.4]:80": only IPv6 addresses go in brackets; write IPv4 as "1.2.3.4:port")");
  CHECK(endpoint_error("[fe80::1%eth0]:80") ==
        "\"[fe80::1%eth0]:80\": \"fe80::1%eth0\" is not an IPv6 address " + std::string(kExpected));
}

TEST_CASE("profile: ListenEndpoint::is_loopback") {
  CHECK(ListenEndpoint{"127.0.0.1", 1}.is_loopback());
  CHECK(ListenEndpoint{"127.255.0.9", 1}.is_loopback());
  CHECK(ListenEndpoint{"::1", 1}.is_loopback());
  CHECK(ListenEndpoint{"::ffff:127.0.0.1", 1}.is_loopback());
  CHECK_FALSE(ListenEndpoint{"0.0.0.0", 1}.is_loopback());
  CHECK_FALSE(ListenEndpoint{"128.0.0.1", 1}.is_loopback());
  CHECK_FALSE(ListenEndpoint{"::", 1}.is_loopback());
  CHECK_FALSE(ListenEndpoint{"192.168.1.2", 1}.is_loopback());
  CHECK(ListenEndpoint{"::ffff:127.0.0.1", 1}.to_string() == "[::ffff:127.0.0.1]:1");
}

TEST_CASE("profile: load_profile reads files and warns about their permissions") {
  TempDir dir;
  const std::string text = server_and({});

  SUBCASE("a missing file") {
    const ProfileResult result = load_profile(dir.path() + "/absent.toml");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error() == dir.path() + "/absent.toml: cannot read: No such file or directory");
  }
  SUBCASE("a directory") {
    const ProfileResult result = load_profile(dir.path());
    REQUIRE_FALSE(result.ok());
    CHECK(result.error() == dir.path() + ": cannot read: Is a directory");
  }
  SUBCASE("0600 loads without a warning") {
    const std::string path = dir.write("private.toml", text, 0600);
    const ProfileResult result = load_profile(path);
    REQUIRE(result.ok());
    CHECK(result.profile().servers.front().port == 443);
    CHECK(result.warnings.empty());
  }
  SUBCASE("0644 loads with a warning") {
    const std::string path = dir.write("shared.toml", text, 0644);
    const ProfileResult result = load_profile(path);
    REQUIRE(result.ok());
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0] == path + ": readable by other users; run chmod 600 " + path);
  }
  SUBCASE("0620 is writable by the group") {
    const std::string path = dir.write("group.toml", text, 0620);
    const ProfileResult result = load_profile(path);
    REQUIRE(result.ok());
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0] == path + ": writable by other users; run chmod 600 " + path);
  }
  SUBCASE("errors in a file name the file") {
    const std::string path = dir.write("bad.toml", server_and({"port = 1"}), 0600);
    const ProfileResult result = load_profile(path);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error() == path +
                                ":5:8: Error while parsing key-value pair: cannot redefine "
                                "existing integer 'port'");
  }
  SUBCASE("0640 for our own group (a service's profile, root:vmess-local) loads without one") {
    const std::string path = dir.write("service.toml", text, 0640);
    REQUIRE(::chown(path.c_str(), ::geteuid(), ::getegid()) == 0);
    const ProfileResult result = load_profile(path);
    REQUIRE(result.ok());
    CHECK(result.warnings.empty());
  }
  SUBCASE("0640 for another group warns") {
    const std::string path = dir.write("other-group.toml", text, 0640);
    // Tests run as root (CI does), which may give the file any group.
    REQUIRE(::chown(path.c_str(), ::geteuid(), ::getegid() + 1) == 0);
    const ProfileResult result = load_profile(path);
    REQUIRE(result.ok());
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0] == path + ": readable by other users; run chmod 600 " + path);
  }
  SUBCASE("a path with a space is quoted in the chmod hint") {
    const std::string path = dir.write("my profile.toml", text, 0644);
    const ProfileResult result = load_profile(path);
    REQUIRE(result.ok());
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0] == path + ": readable by other users; run chmod 600 '" + path + "'");
  }
}

TEST_CASE("profile: conf/example.toml loads cleanly") {
  const ProfileResult result = load_profile(VMLOCAL_SOURCE_DIR "/conf/example.toml");
  INFO("error: " << (result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  // The checked-in file may be 0644; only the values matter here.
  const Profile& p = result.profile();
  REQUIRE(p.local.listen.size() == 1);
  CHECK(p.local.listen[0].to_string() == "127.0.0.1:1080");
  CHECK(p.servers.front().address == "vmess.example.org");
  CHECK(p.servers.front().port == 443);
  CHECK(p.servers.front().alter_id == 0);
  CHECK(p.servers.front().security == vmess::Security::kAuto);
  CHECK(p.servers.front().transport == Transport::kTcp);
  CHECK(p.timeouts.handshake == 10s);
  CHECK(p.timeouts.connect == 10s);
  CHECK(p.timeouts.idle == 300s);
  CHECK(p.log.level == vmlocal::log::Level::kInfo);
}

// ---- [server.tls] and [server.ws] ------------------------------------------------------------

namespace {

constexpr std::string_view kCaPem = vmlocal::test::kTestCaPem;
constexpr std::string_view kCaPin = vmlocal::test::kTestCaPin;

}  // namespace

TEST_CASE("profile: [server.tls] present turns TLS on, with defaults") {
  Profile p = parse_ok(server_and({}));
  CHECK_FALSE(p.servers.front().tls.has_value());
  CHECK(vmlocal::config::transport_name(p.servers.front()) == "tcp");

  p = parse_ok(server_and({"[server.tls]"}));
  REQUIRE(p.servers.front().tls.has_value());
  CHECK(p.servers.front().tls->sni.empty());
  CHECK_FALSE(p.servers.front().tls->alpn.has_value());
  CHECK_FALSE(p.servers.front().tls->insecure);
  CHECK(p.servers.front().tls->ca_file.empty());
  CHECK(p.servers.front().tls->pin_sha256.empty());
  CHECK(vmlocal::config::transport_name(p.servers.front()) == "tcp+tls");

  // Inline table form, and ws + tls.
  p = parse_ok(server_and({R"(transport = "ws")", "tls = {}"}));
  CHECK(p.servers.front().tls.has_value());
  CHECK(p.servers.front().ws.path == "/");
  CHECK(vmlocal::config::transport_name(p.servers.front()) == "ws+tls");
}

TEST_CASE("profile: every [server.tls] and [server.ws] key") {
  TempDir dir;
  const std::string ca = dir.write("ca.pem", std::string(kCaPem), 0644);
  const Profile p = parse_ok(server_and({
      R"(transport = "ws")",
      "[server.tls]",
      R"(sni = "cdn.example.org")",
      R"(alpn = ["http/1.1"])",
      "insecure = false",
      "ca_file = \"" + ca + "\"",
      "[server.ws]",
      R"(path = "/v2/ws?ed=2048")",
      R"(host = "cdn.example.org:8443")",
      R"(headers = { "User-Agent" = "Mozilla/5.0", X-Token = "a b" })",
  }));
  REQUIRE(p.servers.front().tls.has_value());
  CHECK(p.servers.front().tls->sni == "cdn.example.org");
  REQUIRE(p.servers.front().tls->alpn.has_value());
  CHECK(*p.servers.front().tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(p.servers.front().tls->ca_file == ca);
  CHECK(p.servers.front().ws.path == "/v2/ws?ed=2048");
  CHECK(p.servers.front().ws.host == "cdn.example.org:8443");
  REQUIRE(p.servers.front().ws.headers.size() == 2);
  CHECK(p.servers.front().ws.headers[0].first == "User-Agent");
  CHECK(p.servers.front().ws.headers[0].second == "Mozilla/5.0");
  CHECK(p.servers.front().ws.headers[1].first == "X-Token");
  CHECK(p.servers.front().ws.headers[1].second == "a b");
}

TEST_CASE("profile: server.tls.pin_sha256 in base64, hex, sha256/ form and as a list") {
  auto pin_of = [](const std::string& line) {
    const Profile p = parse_ok(server_and({"[server.tls]", line}));
    REQUIRE(p.servers.front().tls->pin_sha256.size() >= 1);
    return vmlocal::to_hex(p.servers.front().tls->pin_sha256[0]);
  };
  const std::string hex = "32bc79d151e20dff452bcbf5b48407b08a0c7d14f065825f5d3eb01360a71649";
  CHECK(pin_of("pin_sha256 = \"" + std::string(kCaPin) + "\"") == hex);
  CHECK(pin_of("pin_sha256 = \"sha256/" + std::string(kCaPin) + "\"") == hex);
  CHECK(pin_of("pin_sha256 = \"Mrx50VHiDf9FK8v1tIQHsIoMfRTwZYJfXT6wE2CnFkk\"") == hex);
  CHECK(pin_of("pin_sha256 = \"" + hex + "\"") == hex);
  CHECK(
      pin_of("pin_sha256 = \"32BC79D151E20DFF452BCBF5B48407B08A0C7D14F065825F5D3EB01360A71649\"") ==
      hex);
  const Profile two =
      parse_ok(server_and({"[server.tls]", "pin_sha256 = [\"" + std::string(kCaPin) + "\", \"" +
                                               std::string(64, '0') + "\"]"}));
  CHECK(two.servers.front().tls->pin_sha256.size() == 2);
}

TEST_CASE("profile: bad [server.tls] values point at the value") {
  CHECK(parse_error(server_and({"tls = true"})) ==
        "p.toml:5:7: server.tls must be a table: write [server.tls] (empty for the defaults) to "
        "connect with TLS, or leave it out; got true");
  CHECK(parse_error(server_and({"[server.tls]", R"(sni = "10.0.0.1")"})) ==
        "p.toml:6:7: server.tls.sni is \"10.0.0.1\", an IP address; SNI carries host names only "
        "(leave sni out to connect to an IP address without one)");
  CHECK(parse_error(server_and({"[server.tls]", R"(sni = "a b")"})) ==
        "p.toml:6:7: server.tls.sni is \"a b\", which contains a space; it must be just a host "
        "name or IP address");
  CHECK(parse_error(server_and({"[server.tls]", R"(sni = "")"})) ==
        "p.toml:6:7: server.tls.sni must not be empty (leave it out for the default)");
  CHECK(parse_error(server_and({"[server.tls]", "alpn = [1]"})) ==
        "p.toml:6:9: server.tls.alpn entries must be strings like [\"http/1.1\"], got 1");
  CHECK(parse_error(server_and({"[server.tls]", R"(alpn = ["h 2"])"})) ==
        "p.toml:6:9: server.tls.alpn entries must be protocol names like \"http/1.1\" or \"h2\", "
        "got \"h 2\"");
  CHECK(parse_error(server_and({"[server.tls]", R"(insecure = "yes")"})) ==
        "p.toml:6:12: server.tls.insecure must be true or false, got \"yes\"");
  CHECK(parse_error(server_and({"[server.tls]", R"(pin_sha256 = "abc")"})) ==
        "p.toml:6:14: server.tls.pin_sha256 \"abc\" decodes to 2 bytes, not 32 (expected the "
        "SHA-256 of the server's public key: 64 hex digits or 44 base64 characters)");
  CHECK(
      parse_error(server_and({"[server.tls]", "pin_sha256 = \"" + std::string(63, 'a') + "g\""})) ==
      "p.toml:6:14: server.tls.pin_sha256 \"" + std::string(63, 'a') +
          "g\" is not valid hex (expected the SHA-256 of the server's public key: 64 hex "
          "digits or 44 base64 characters)");
  CHECK(parse_error(server_and({"[server.tls]", R"(pin_sha256 = "not base64!")"})) ==
        "p.toml:6:14: server.tls.pin_sha256 \"not base64!\" is neither hex nor base64 (expected "
        "the SHA-256 of the server's public key: 64 hex digits or 44 base64 characters)");
  CHECK(parse_error(server_and({"[server.tls]", "pin_sha256 = []"})) ==
        "p.toml:6:14: server.tls.pin_sha256 must not be empty (leave it out to verify the "
        "certificate with a CA)");
  CHECK(parse_error(server_and(
            {"[server.tls]", "insecure = true", "pin_sha256 = \"" + std::string(kCaPin) + "\""})) ==
        "p.toml:6:12: server.tls.insecure = true turns off the checks that ca_file and "
        "pin_sha256 ask for; use one or the other");
  CHECK(parse_error(server_and({"[server.tls]", "serverName = \"x.org\""})) ==
        R"(p.toml:6:1: unknown key "serverName" in [server.tls] (did you mean "sni"?))");
  CHECK(parse_error(server_and({"[server.tls]", "allowInsecure = true"})) ==
        R"(p.toml:6:1: unknown key "allowInsecure" in [server.tls] (did you mean "insecure"?))");
  CHECK(parse_error(server_and({"[server.tls]", "fingerprint = \"chrome\""})) ==
        "p.toml:6:1: unknown key \"fingerprint\" in [server.tls] (allowed: sni, alpn, insecure, "
        "ca_file, pin_sha256)");
  CHECK(parse_error(server_and({"path = \"/ws\""})) ==
        R"(p.toml:5:1: unknown key "path" in [server] ("path" belongs in [server.ws]))");
}

TEST_CASE("profile: server.tls.ca_file is checked when the profile loads") {
  TempDir dir;
  SUBCASE("a missing file") {
    CHECK(parse_error(server_and({"[server.tls]", "ca_file = \"" + dir.path() + "/none.pem\""})) ==
          "p.toml:6:11: server.tls.ca_file \"" + dir.path() +
              "/none.pem\" cannot be read: No such file or directory");
  }
  SUBCASE("a directory or a device") {
    CHECK(parse_error(server_and({"[server.tls]", "ca_file = \"" + dir.path() + "\""})) ==
          "p.toml:6:11: server.tls.ca_file \"" + dir.path() + "\" is not a regular file");
    CHECK(parse_error(server_and({"[server.tls]", R"(ca_file = "/dev/zero")"})) ==
          R"(p.toml:6:11: server.tls.ca_file "/dev/zero" is not a regular file)");
  }
  SUBCASE("a file that is not PEM") {
    const std::string junk = dir.write("junk.pem", "hello\n", 0600);
    CHECK(parse_error(server_and({"[server.tls]", "ca_file = \"" + junk + "\""})) ==
          "p.toml:6:11: server.tls.ca_file \"" + junk +
              "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  SUBCASE("a damaged certificate") {
    std::string broken(kCaPem);
    broken[100] = '*';
    const std::string path = dir.write("broken.pem", broken, 0600);
    CHECK(parse_error(server_and({"[server.tls]", "ca_file = \"" + path + "\""})) ==
          "p.toml:6:11: server.tls.ca_file \"" + path + "\" holds a damaged PEM certificate");
  }
  SUBCASE("a relative path is taken from the profile's directory") {
    dir.write("ca.pem", std::string(kCaPem), 0600);
    const std::string profile =
        dir.write("p.toml", server_and({"[server.tls]", R"(ca_file = "ca.pem")"}), 0600);
    const ProfileResult result = load_profile(profile);
    INFO((result.ok() ? std::string() : result.error()));
    REQUIRE(result.ok());
    CHECK(result.profile().servers.front().tls->ca_file == dir.path() + "/ca.pem");
  }
  SUBCASE("ca_file and pin_sha256 together") {
    const std::string ca = dir.write("ca.pem", std::string(kCaPem), 0600);
    CHECK(parse_error(server_and({"[server.tls]", "ca_file = \"" + ca + "\"",
                                  "pin_sha256 = \"" + std::string(kCaPin) + "\""})) ==
          "p.toml:6:11: server.tls.ca_file is not used when pin_sha256 is set (a pinned key is "
          "trusted on its own); keep one of them");
  }
}

TEST_CASE("profile: bad [server.ws] values point at the value") {
  auto ws = [](std::initializer_list<std::string_view> keys) {
    std::string text = server_and({R"(transport = "ws")", "[server.ws]"});
    for (std::string_view k : keys) {
      text += k;
      text += '\n';
    }
    return text;  // keys start on line 7
  };
  CHECK(parse_ok(ws({R"(path = "/ws")"})).servers.front().ws.path == "/ws");
  CHECK(parse_error(ws({R"(path = "ws")"})) ==
        R"(p.toml:7:8: server.ws.path must start with "/", got "ws")");
  CHECK(parse_error(ws({R"(path = "/a b")"})) ==
        "p.toml:7:8: server.ws.path \"/a b\" contains a space or control character; "
        "percent-encode it (a space is %20)");
  CHECK(parse_error(ws({R"(path = "/ü")"})) ==
        "p.toml:7:8: server.ws.path \"/ü\" contains non-ASCII characters; percent-encode them");
  CHECK(parse_error(ws({R"(path = "/a#b")"})) ==
        "p.toml:7:8: server.ws.path \"/a#b\" contains \"#\", which is never sent to a server; "
        "percent-encode it as %23");
  CHECK(parse_ok(ws({R"(host = "[::1]:8080")"})).servers.front().ws.host == "[::1]:8080");
  CHECK(parse_error(ws({R"(host = "https://x.org")"})) ==
        "p.toml:7:8: server.ws.host must be a host name, optionally with \":port\" (e.g. "
        "\"cdn.example.org\"), got \"https://x.org\"");
  CHECK(parse_error(ws({R"(host = "x.org:http")"})) ==
        "p.toml:7:8: server.ws.host must be a host name, optionally with \":port\" (e.g. "
        "\"cdn.example.org\"), got \"x.org:http\"");
  CHECK(parse_error(ws({R"(headers = { Host = "x.org" })"})) ==
        "p.toml:7:13: server.ws.headers: set the Host header with host = \"...\" in [server.ws], "
        "not in headers");
  CHECK(parse_error(ws({R"(headers = { "Sec-WebSocket-Key" = "x" })"})) ==
        "p.toml:7:13: server.ws.headers: \"Sec-WebSocket-Key\" is part of the WebSocket upgrade "
        "and written by vmess-local; remove it");
  CHECK(parse_error(ws({R"(headers = { "Bad Name" = "x" })"})) ==
        "p.toml:7:13: server.ws.headers: \"Bad Name\" is not a valid header name (letters, "
        "digits and !#$%&'*+-.^_`|~ only)");
  CHECK(parse_error(ws({R"(headers = { X-A = "line\nbreak" })"})) ==
        "p.toml:7:19: server.ws.headers.X-A contains a line break or control character");
  CHECK(parse_error(ws({R"(headers = { X-A = 1 })"})) ==
        "p.toml:7:19: server.ws.headers.X-A must be a string, got 1");
  CHECK(parse_error(ws({R"(headers = { X-A = "1", x-a = "2" })"})) ==
        R"(p.toml:7:24: server.ws.headers lists "x-a" twice (names ignore case))");
  CHECK(parse_error(ws({R"(headers = "User-Agent: x")"})) ==
        "p.toml:7:11: server.ws.headers must be a table of strings, e.g. headers = { "
        "\"User-Agent\" = \"Mozilla/5.0\" }, got \"User-Agent: x\"");
  CHECK(parse_error(ws({R"(Host = "x.org")"})) ==
        R"(p.toml:7:1: unknown key "Host" in [server.ws] (did you mean "host"?))");
}

TEST_CASE("profile: transport and its tables must agree") {
  CHECK(parse_error(server_and({"[server.ws]", R"(path = "/ws")"})) ==
        "p.toml:5:1: [server.ws] is set, but server.transport is \"tcp\"; add transport = \"ws\" "
        "to [server] (or remove [server.ws])");
}

// The instance from the field: conf/example.toml used to show alpn = ["h2", "http/1.1"], which
// --check accepted and which failed every ws+tls tunnel once the server picked h2.
TEST_CASE("profile: ws + tls offers exactly http/1.1; other ALPN entries are dropped, warned") {
  auto loaded = [](std::string_view alpn_line) {
    return parse_profile(server_and({R"(transport = "ws")", "[server.tls]", alpn_line}), "p.toml");
  };
  const ProfileResult h2 = loaded(R"(alpn = ["h2", "http/1.1"])");
  REQUIRE(h2.ok());
  CHECK(*h2.profile().servers.front().tls->alpn == std::vector<std::string>{"http/1.1"});
  REQUIRE(h2.warnings.size() == 1);
  CHECK(h2.warnings[0] ==
        "p.toml:7:8: server.tls.alpn: WebSocket needs HTTP/1.1; dropped \"h2\" (a server offered "
        "it takes it, and the WebSocket upgrade then fails), offering only \"http/1.1\"; write "
        "alpn = [\"http/1.1\"] or leave alpn out");

  // Without http/1.1 at all, and an empty list: the same repair.
  const ProfileResult only_h2 = loaded(R"(alpn = ["h2", "h3"])");
  REQUIRE(only_h2.ok());
  CHECK(*only_h2.profile().servers.front().tls->alpn == std::vector<std::string>{"http/1.1"});
  REQUIRE(only_h2.warnings.size() == 1);
  CHECK(only_h2.warnings[0].find(R"(dropped "h2", "h3")") != std::string::npos);
  const ProfileResult empty = loaded("alpn = []");
  REQUIRE(empty.ok());
  CHECK(*empty.profile().servers.front().tls->alpn == std::vector<std::string>{"http/1.1"});
  REQUIRE(empty.warnings.size() == 1);
  CHECK(empty.warnings[0].find(R"(offering exactly "http/1.1")") != std::string::npos);

  // What needs no repair gets no warning; over tcp the list is used as written.
  CHECK(*parse_ok(server_and({R"(transport = "ws")", "[server.tls]", R"(alpn = ["http/1.1"])"}))
             .servers.front()
             .tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK_FALSE(
      parse_ok(server_and({R"(transport = "ws")", "[server.tls]"})).servers.front().tls->alpn);
  CHECK(*parse_ok(server_and({"[server.tls]", R"(alpn = ["h2", "http/1.1"])"}))
             .servers.front()
             .tls->alpn == std::vector<std::string>{"h2", "http/1.1"});
}

TEST_CASE("profile: every conf/*.toml loads cleanly") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(VMLOCAL_SOURCE_DIR "/conf")) {
    if (entry.path().extension() != ".toml") continue;
    ++count;
    const std::string path = entry.path().string();
    CAPTURE(path);
    const ProfileResult result = load_profile(path);
    INFO("error: " << (result.ok() ? std::string() : result.error()));
    CHECK(result.ok());
    // Nor does any need a repair or a warning from the constraints ("path:line:column: ...");
    // only the permission warning ("path: readable ...") may come, from the checkout's mode.
    for (const std::string& warning : result.warnings) {
      CAPTURE(warning);
      CHECK(warning.starts_with(path + ": "));
    }
  }
  // example, demo, example-ws, example-tls, example-ws-tls, example-h2, example-grpc,
  // example-httpupgrade-tls
  CHECK(count >= 8);
}

TEST_CASE("profile: [local] protocols narrows the inbound protocols, errors at the entry") {
  const Profile all = parse_ok(server_and({}));
  CHECK((all.local.protocols.socks5 && all.local.protocols.socks4 && all.local.protocols.http));
  const Profile some = parse_ok(server_and({"[local]", R"(protocols = ["http", "socks4a"])"}));
  CHECK_FALSE(some.local.protocols.socks5);
  CHECK(some.local.protocols.socks4);
  CHECK(some.local.protocols.http);
  CHECK(
      parse_error(server_and({"[local]", R"(protocols = ["socks5", "https"])"})) ==
      R"(p.toml:6:24: local.protocols: unknown protocol "https" (known: "socks5", "socks4" (SOCKS4 and 4a), "http"))");
  CHECK(parse_error(server_and({"[local]", R"(protocols = ["http", "http"])"})) ==
        R"(p.toml:6:22: local.protocols lists "http" more than once)");
  CHECK(parse_error(server_and({"[local]", "protocols = []"}))
            .rfind("p.toml:6:13: local.protocols must be a non-empty list", 0) == 0);
  CHECK(parse_error(server_and({"[local]", R"(protocols = "http")"}))
            .rfind("p.toml:6:13: local.protocols must be a non-empty list", 0) == 0);
}

TEST_CASE("profile: [server.tcp] header = \"http\" with its paths and hosts") {
  const Profile p = parse_ok(server_and({"[server.tcp]", R"(header = "http")",
                                         R"(path = ["/a", "/b"])", R"(host = "cdn.example.org")"}));
  CHECK(p.servers.front().tcp.header == vmlocal::config::TcpHeader::kHttp);
  CHECK(p.servers.front().tcp.path == std::vector<std::string>{"/a", "/b"});
  CHECK(p.servers.front().tcp.host == std::vector<std::string>{"cdn.example.org"});
  CHECK(vmlocal::config::transport_name(p.servers.front()) == "tcp+http");
  CHECK(parse_ok(server_and({})).servers.front().tcp.header == vmlocal::config::TcpHeader::kNone);

  CHECK(parse_error(server_and({"[server.tcp]", R"(header = "tls")"}))
            .starts_with("p.toml:6:10: server.tcp.header must be one of"));
  CHECK(parse_error(server_and({"[server.tcp]", R"(header = "http")", R"(path = ["a"])"})) ==
        R"(p.toml:7:9: server.tcp.path must start with "/", got "a")");
  CHECK(parse_error(server_and({"[server.tcp]", R"(header = "http")", "path = []"})) ==
        "p.toml:7:8: server.tcp.path must not be empty (leave it out for the default)");
  CHECK(parse_error(server_and({"[server.tcp]", R"(header = "http")", R"(host = ["a b"])"}))
            .starts_with("p.toml:7:9: server.tcp.host must be a host name"));
  CHECK(parse_error(server_and({"[server.tcp]", R"(hedaer = "http")"})) ==
        R"(p.toml:6:1: unknown key "hedaer" in [server.tcp] (did you mean "header"?))");
}

TEST_CASE("profile: transport = \"httpupgrade\" and [server.httpupgrade]") {
  const Profile p = parse_ok(server_and({R"(transport = "httpupgrade")", "[server.httpupgrade]",
                                         R"(path = "/up")", R"(host = "cdn.example.org")"}));
  CHECK(p.servers.front().transport == Transport::kHttpUpgrade);
  CHECK(p.servers.front().httpupgrade.path == "/up");
  CHECK(p.servers.front().httpupgrade.host == "cdn.example.org");
  CHECK(vmlocal::config::transport_name(p.servers.front()) == "httpupgrade");
  CHECK(parse_error(server_and(
            {R"(transport = "httpupgrade")", "[server.httpupgrade]", R"(path = "up")"})) ==
        R"(p.toml:7:8: server.httpupgrade.path must start with "/", got "up")");
  CHECK(parse_error(
            server_and({R"(transport = "httpupgrade")", "[server.httpupgrade]", R"(host = "a b")"}))
            .starts_with("p.toml:7:8: server.httpupgrade.host must be a host name"));
  // Over TLS it offers exactly http/1.1, like ws: an "h2" in alpn is dropped with a warning.
  const ProfileResult h2 = parse_profile(
      server_and({R"(transport = "httpupgrade")", "[server.tls]", R"(alpn = ["h2", "http/1.1"])"}),
      "p.toml");
  REQUIRE(h2.ok());
  CHECK(*h2.profile().servers.front().tls->alpn == std::vector<std::string>{"http/1.1"});
  REQUIRE(h2.warnings.size() == 1);
  CHECK(
      h2.warnings[0].starts_with("p.toml:7:8: server.tls.alpn: HTTPUpgrade needs HTTP/1.1; "
                                 "dropped \"h2\""));
}

TEST_CASE("profile: [probe] and server.clock_offset") {
  const Profile defaults = parse_ok(server_and({}));
  CHECK(defaults.probe.url == "https://www.gstatic.com/generate_204");
  CHECK_FALSE(defaults.probe.url_set);
  CHECK(defaults.probe.interval == std::chrono::seconds(180));
  CHECK(defaults.probe.timeout == std::chrono::seconds(5));
  CHECK_FALSE(defaults.servers.front().clock_offset.has_value());  // auto

  const Profile set =
      parse_ok(server_and({"clock_offset = -300", "[probe]", R"(url = "http://127.0.0.1:8080/204")",
                           "interval = 60", "timeout = 2.5"}));
  CHECK(set.servers.front().clock_offset == -300);
  CHECK(set.probe.url == "http://127.0.0.1:8080/204");
  CHECK(set.probe.url_set);
  CHECK(set.probe.interval == std::chrono::seconds(60));
  CHECK(set.probe.timeout == std::chrono::milliseconds(2500));
  CHECK_FALSE(
      parse_ok(server_and({R"(clock_offset = "auto")"})).servers.front().clock_offset.has_value());
  const Profile off = parse_ok(server_and({"[probe]", R"(url = "")"}));
  CHECK(off.probe.url.empty());  // no probes at run time
  CHECK(off.probe.url_set);

  CHECK(parse_error(server_and({R"(clock_offset = "5m")"})) ==
        "p.toml:5:16: server.clock_offset must be \"auto\" or a whole number of seconds "
        "(-86400..86400) added to this clock for VMess timestamps, got \"5m\"");
  CHECK(parse_error(server_and({"clock_offset = 90000"}))
            .starts_with("p.toml:5:16: server.clock_offset must be"));
  CHECK(parse_error(server_and({"[probe]", R"(url = "www.gstatic.com/generate_204")"})) ==
        "p.toml:6:7: probe.url must start with http:// or https://, got "
        "\"www.gstatic.com/generate_204\" (e.g. url = \"https://www.gstatic.com/generate_204\")");
  CHECK(parse_error(server_and({"[probe]", "interval = 0"}))
            .starts_with("p.toml:6:12: probe.interval"));
  CHECK(parse_error(server_and({"[probe]", "urll = 1"})) ==
        R"(p.toml:6:1: unknown key "urll" in [probe] (did you mean "url"?))");
}

TEST_CASE("profile: warm connections") {
  const Profile defaults = parse_ok(server_and({}));
  CHECK(defaults.servers.front().warm == 1);
  CHECK(defaults.servers.front().warm_max_age == std::chrono::milliseconds(3000));
  CHECK(defaults.servers.front().warm_idle == std::chrono::milliseconds(60000));
  const Profile set = parse_ok(server_and({"warm = 3", "warm_max_age = 2.5", "warm_idle = 10"}));
  CHECK(set.servers.front().warm == 3);
  CHECK(set.servers.front().warm_max_age == std::chrono::milliseconds(2500));
  CHECK(set.servers.front().warm_idle == std::chrono::milliseconds(10000));
  CHECK(parse_ok(server_and({"warm = 0"})).servers.front().warm == 0);
  CHECK(parse_error(server_and({"warm = 17"})) ==
        "p.toml:5:8: server.warm must be an integer 0..16, got 17");
  CHECK(parse_error(server_and({"warm = true"})) ==
        "p.toml:5:8: server.warm must be an integer 0..16, got true");
  CHECK(parse_error(server_and({"warm_max_age = 0"})) ==
        "p.toml:5:16: server.warm_max_age must be a number of seconds from 0.001 to 86400 (one "
        "day), got 0");
}
