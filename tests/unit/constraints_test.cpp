// The table of settings that constrain each other (vmlocal/config/constraints.hpp): every rule
// fires, with its position and fix, on a profile written to break it, and stays quiet on one
// written to satisfy it. A rule added to the table without a case here fails the first test.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "support/test_ca.hpp"
#include "vmlocal/config/constraints.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/transport/upstream.hpp"

using vmlocal::config::Constraint;
using vmlocal::config::constraints;
using vmlocal::config::parse_profile;
using vmlocal::config::Profile;
using vmlocal::config::ProfileResult;
using vmlocal::config::Verdict;
using vmlocal::config::WrittenKeys;

namespace {

using vmlocal::test::kTestCaPem;
const std::string kPin = "pin_sha256 = \"" + std::string(vmlocal::test::kTestCaPin) + "\"";

// kTestCaPem in a file of its own for the life of the test.
class CaFile {
 public:
  CaFile() {
    char pattern[] = "/tmp/vmlocal-constraints-test-XXXXXX.pem";
    const int fd = mkstemps(pattern, 4);
    REQUIRE(fd >= 0);
    ::close(fd);
    path_ = pattern;
    std::ofstream(path_) << kTestCaPem;
  }
  ~CaFile() { std::remove(path_.c_str()); }
  CaFile(const CaFile&) = delete;
  CaFile& operator=(const CaFile&) = delete;
  std::string line() const { return "ca_file = \"" + path_ + "\""; }

 private:
  std::string path_;
};

// Lines 1-4 are a valid [server]; `extra` starts on line 5.
std::string server_and(const std::vector<std::string>& extra) {
  std::string out =
      "[server]\naddress = \"vmess.example.org\"\nport = 443\n"
      "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\n";
  for (const std::string& line : extra)
    out += line + "\n";
  return out;
}

struct Case {
  std::vector<std::string> breaks;     // lines after [server] that break the rule
  std::string at;                      // where the message must point: "p.toml:L:C: "
  std::vector<std::string> satisfies;  // lines that satisfy it (and every other rule)
};

std::map<std::string_view, Case> cases(const CaFile& ca) {
  return {
      {"ws-table-needs-ws",
       {{"[server.ws]", R"(path = "/ws")"},
        "p.toml:5:1: ",
        {R"(transport = "ws")", "[server.ws]", R"(path = "/ws")"}}},
      {"httpupgrade-table-needs-httpupgrade",
       {{"[server.httpupgrade]", R"(path = "/up")"},
        "p.toml:5:1: ",
        {R"(transport = "httpupgrade")", "[server.httpupgrade]", R"(path = "/up")"}}},
      {"tcp-table-needs-tcp",
       {{R"(transport = "ws")", "[server.tcp]", R"(header = "http")"},
        "p.toml:6:1: ",
        {R"(transport = "tcp")", "[server.tcp]", R"(header = "http")"}}},
      {"tcp-http-keys-need-header",
       {{"[server.tcp]", R"(path = ["/a"])"},
        "p.toml:6:8: ",
        {"[server.tcp]", R"(header = "http")", R"(path = ["/a"])"}}},
      {"ws-early-header-needs-early-data",
       {{R"(transport = "ws")", "[server.ws]", R"(early_data_header = "")"},
        "p.toml:7:21: ",
        {R"(transport = "ws")", "[server.ws]", R"(early_data_header = "")",
         "max_early_data = 2048"}}},
      {"ws-early-header-vs-headers",
       {{R"(transport = "ws")", "[server.ws]", "max_early_data = 2048",
         R"(early_data_header = "X-Ed")", R"(headers = { "x-ed" = "x" })"},
        "p.toml:9:11: ",
        {R"(transport = "ws")", "[server.ws]", "max_early_data = 2048",
         R"(early_data_header = "X-Ed")", R"(headers = { "X-A" = "x" })"}}},
      {"ws-alpn-http11",
       {{R"(transport = "ws")", "[server.tls]", R"(alpn = ["h2", "http/1.1"])"},
        "p.toml:7:8: ",
        {R"(transport = "ws")", "[server.tls]", R"(alpn = ["http/1.1"])"}}},
      {"h2-table-needs-h2",
       {{"[server.h2]", R"(path = "/h2")"},
        "p.toml:5:1: ",
        {R"(transport = "h2")", "[server.tls]", "[server.h2]", R"(path = "/h2")"}}},
      {"grpc-table-needs-grpc",
       {{R"(transport = "ws")", "[server.grpc]", R"(service_name = "GunService")"},
        "p.toml:6:1: ",
        {R"(transport = "grpc")", "[server.tls]", "[server.grpc]",
         R"(service_name = "GunService")"}}},
      {"http2-needs-tls",
       {{R"(transport = "h2")"}, "p.toml:5:13: ", {R"(transport = "h2")", "[server.tls]"}}},
      {"http2-alpn-h2",
       {{R"(transport = "h2")", "[server.tls]", R"(alpn = ["http/1.1"])"},
        "p.toml:7:8: ",
        {R"(transport = "h2")", "[server.tls]", R"(alpn = ["h2"])"}}},
      {"grpc-service-name",
       {{R"(transport = "grpc")", "[server.tls]"},
        "p.toml:5:13: ",
        {R"(transport = "grpc")", "[server.tls]", "[server.grpc]",
         R"(service_name = "GunService")"}}},
      {"tls-insecure-vs-trust",
       {{"[server.tls]", "insecure = true", std::string(kPin)},
        "p.toml:6:12: ",
        {"[server.tls]", "insecure = false", std::string(kPin)}}},
      {"tls-ca-file-vs-pin",
       {{"[server.tls]", ca.line(), std::string(kPin)},
        "p.toml:6:11: ",
        {"[server.tls]", ca.line()}}},
      {"tls-insecure",
       {{"[server.tls]", "insecure = true"},
        "p.toml:6:12: ",
        {"[server.tls]", "insecure = false"}}},
      {"legacy-header", {{"alter_id = 4"}, "p.toml:5:12: ", {"alter_id = 0"}}},
      {"plaintext-security",
       {{R"(security = "zero")"}, "p.toml:5:12: ", {R"(security = "zero")", "[server.tls]"}}},
      {"udp-needs-chunks",
       {{R"(security = "zero")", "[server.tls]", "[local]", "udp = true"},
        "p.toml:8:7: ",
        {R"(security = "zero")", "[server.tls]", "[local]", "udp = false"}}},
      {"local-credentials-pair",
       {{"[local]", R"(password = "hunter2")"},
        "p.toml:6:12: ",
        {"[local]", R"(username = "me")", R"(password = "hunter2")"}}},
      {"socks4-only-with-credentials",
       {{"[local]", R"(protocols = ["socks4"])", R"(username = "me")", R"(password = "pw")"},
        "p.toml:6:13: ",
        {"[local]", R"(protocols = ["socks4", "socks5"])", R"(username = "me")",
         R"(password = "pw")"}}},
      {"open-proxy",
       {{"[local]", R"(listen = ["0.0.0.0:1080"])"},
        "p.toml:6:10: ",
        {"[local]", R"(listen = ["0.0.0.0:1080"])", "allow_open_proxy = true"}}},
  };
}

bool ends_with(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

}  // namespace

TEST_CASE("constraints: the table is well formed and every rule has a case") {
  const CaFile ca;
  const auto all = cases(ca);
  std::set<std::string_view> ids;
  std::set<std::string_view> fixes;
  for (const Constraint& rule : constraints()) {
    CAPTURE(rule.id);
    CHECK(ids.insert(rule.id).second);
    CHECK(fixes.insert(rule.fix).second);  // the tests below tell rules apart by their fix
    CHECK_FALSE(rule.fix.empty());
    CHECK_FALSE(rule.settings.empty());
    CHECK_FALSE(rule.at[0].empty());
    CHECK((rule.verdict == Verdict::kRepair) == (rule.repair != nullptr));
    CHECK(all.count(rule.id) == 1);
  }
  CHECK(all.size() == ids.size());  // no case for a rule that is gone
  CHECK(ids.size() >= 7);
}

TEST_CASE("constraints: every rule fires on a profile that breaks it, not on one that keeps it") {
  const CaFile ca;
  const auto all = cases(ca);
  for (const Constraint& rule : constraints()) {
    CAPTURE(rule.id);
    const auto found = all.find(rule.id);
    REQUIRE(found != all.end());
    const Case& c = found->second;

    const std::string broken = server_and(c.breaks);
    CAPTURE(broken);
    const ProfileResult bad = parse_profile(broken, "p.toml");
    if (rule.verdict == Verdict::kRefuse) {
      REQUIRE_FALSE(bad.ok());
      CHECK(bad.error().starts_with(c.at));
      CHECK(ends_with(bad.error(), "; " + std::string(rule.fix)));
    } else {
      INFO("error: " << (bad.ok() ? std::string() : bad.error()));
      REQUIRE(bad.ok());
      REQUIRE(bad.warnings.size() == 1);
      CHECK(bad.warnings[0].starts_with(c.at));
      CHECK(ends_with(bad.warnings[0], "; " + std::string(rule.fix)));
      // A repaired profile keeps the rule; a warned one is left as it was written.
      CHECK(rule.breaks(bad.profile(), WrittenKeys{}) == (rule.verdict == Verdict::kWarn));
    }

    const std::string kept = server_and(c.satisfies);
    CAPTURE(kept);
    const ProfileResult good = parse_profile(kept, "p.toml");
    INFO("error: " << (good.ok() ? std::string() : good.error()));
    REQUIRE(good.ok());
    CHECK(good.warnings.empty());
    CHECK_FALSE(rule.breaks(good.profile(), WrittenKeys{}));
  }
}

TEST_CASE("constraints: apply_constraints repairs a profile built in code, and says why") {
  Profile p;
  p.servers.front().address = "vmess.example.org";
  p.servers.front().port = 443;
  p.servers.front().transport = vmlocal::config::Transport::kWs;
  p.servers.front().tls.emplace();
  p.servers.front().tls->alpn = std::vector<std::string>{"h2", "http/1.1", "h2"};
  const auto findings = vmlocal::config::apply_constraints(p, WrittenKeys{});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].rule->id == "ws-alpn-http11");
  CHECK(findings[0].message.find(R"(dropped "h2" ()") != std::string::npos);  // once
  CHECK(*p.servers.front().tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(vmlocal::config::apply_constraints(p, WrittenKeys{}).empty());
}

TEST_CASE("constraints: h2 and grpc messages say what is wrong and what was dropped") {
  auto error = [](const std::vector<std::string>& lines) {
    const ProfileResult r = parse_profile(server_and(lines), "p.toml");
    REQUIRE_FALSE(r.ok());
    return r.error();
  };
  CHECK(error({R"(transport = "grpc")", "[server.grpc]", R"(service_name = "x")"}) ==
        "p.toml:5:13: server.transport = \"grpc\" is HTTP/2 over TLS (negotiated with ALPN "
        "\"h2\"), and the profile has no [server.tls]; add [server.tls] (with sni if the "
        "certificate's name is not the address)");
  CHECK(error({"[server.h2]"}) ==
        "p.toml:5:1: [server.h2] is set, but server.transport is \"tcp\"; add transport = "
        "\"h2\" to [server] (or remove [server.h2])");
  const ProfileResult r = parse_profile(
      server_and({R"(transport = "grpc")", "[server.tls]", R"(alpn = ["http/1.1", "h2"])",
                  "[server.grpc]", R"(service_name = "x")"}),
      "p.toml");
  REQUIRE(r.ok());
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "p.toml:7:8: server.tls.alpn: grpc needs HTTP/2; dropped \"http/1.1\" (a server "
        "offered it may take it, and HTTP/2 then fails), offering only \"h2\"; write alpn = "
        "[\"h2\"] or leave alpn out");
  CHECK(*r.profile().servers.front().tls->alpn == std::vector<std::string>{"h2"});
}

// The offer itself, for a profile that did not come through the loader: under ws it is
// exactly "http/1.1", a server that prefers h2 has nothing else to pick.
TEST_CASE(
    "constraints: tls_options_for offers exactly http/1.1 under ws and httpupgrade, the list "
    "over tcp") {
  Profile::Server server;
  server.address = "vmess.example.org";
  server.port = 443;
  server.tls.emplace();
  server.tls->alpn = std::vector<std::string>{"h2", "http/1.1"};
  server.transport = vmlocal::config::Transport::kWs;
  auto options = vmlocal::transport::tls_options_for(server);
  CHECK(options.alpn == std::vector<std::string>{"http/1.1"});
  CHECK(options.require_http11);
  server.tls->alpn = std::vector<std::string>{};
  CHECK(vmlocal::transport::tls_options_for(server).alpn == std::vector<std::string>{"http/1.1"});
  server.tls->alpn.reset();
  CHECK(vmlocal::transport::tls_options_for(server).alpn == std::vector<std::string>{"http/1.1"});
  // HTTPUpgrade opens with an HTTP/1.1 request too.
  server.transport = vmlocal::config::Transport::kHttpUpgrade;
  server.tls->alpn = std::vector<std::string>{"h2", "http/1.1"};
  options = vmlocal::transport::tls_options_for(server);
  CHECK(options.alpn == std::vector<std::string>{"http/1.1"});
  CHECK(options.require_http11);

  server.transport = vmlocal::config::Transport::kTcp;
  server.tls->alpn = std::vector<std::string>{"h2", "http/1.1"};
  options = vmlocal::transport::tls_options_for(server);
  CHECK(options.alpn == std::vector<std::string>{"h2", "http/1.1"});
  CHECK_FALSE(options.require_http11);
  server.tls->alpn.reset();
  CHECK(vmlocal::transport::tls_options_for(server).alpn.empty());
}

TEST_CASE("constraints: security \"zero\" keeps UDP when [server.mux] is on") {
  // Over Mux.Cool each datagram is a frame of its own, so a body without chunks is fine.
  const ProfileResult on =
      parse_profile(server_and({R"(security = "zero")", "[server.tls]", "[server.mux]",
                                "enabled = true", "[local]", "udp = true"}),
                    "p.toml");
  REQUIRE(on.ok());
  CHECK(vmlocal::config::udp_enabled(on.profile()));
  const ProfileResult off =
      parse_profile(server_and({R"(security = "zero")", "[server.tls]", "[server.mux]",
                                "enabled = false", "[local]", "udp = true"}),
                    "p.toml");
  REQUIRE_FALSE(off.ok());
  CHECK(off.error().find("SOCKS5 UDP (local.udp = true) cannot work over it") != std::string::npos);
  CHECK(off.error().find("turn on [server.mux]") != std::string::npos);
}
