// Security properties of the running binary: secrets never reach the log at any level, and a
// profile other users can read is called out.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "harness/harness.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/account.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string without_dashes(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
  return s;
}

}  // namespace

TEST_SUITE("security") {
  TEST_CASE("the UUID and the command key never appear in the log, even at debug level") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.log_level = "debug";
    VmessLocal local(dir, profile);
    EchoServer echo;
    HttpServer http;
    auto deadline = Deadline::after(30s);

    // Traffic of every kind: a good tunnel, a refused request, a half-closed download.
    Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, 1 << 20, 3, deadline);
    CHECK(r.received_sha256 == r.sent_sha256);
    auto bind = local.socks_client().open_raw(deadline);
    bind.send_all(socks5::greeting({0x00}), deadline);
    bind.recv_exact(2, deadline);
    bind.send_all(socks5::request(Socks5Target::domain("example.org", 80), 0x02), deadline);
    bind.recv_until_closed(deadline);
    auto curl = run_command(
        {"curl", "-sS", "--max-time", "10", "--socks5-hostname", local.socks_endpoint().to_string(),
         "http://localhost:" + std::to_string(http.port()) + "/"},
        deadline);
    CHECK(curl.success());

    // And a second process whose tunnels the server refuses (wrong UUID).
    auto wrong = VmessLocalProfile::for_server(v2ray);
    wrong.uuid = random_uuid();
    wrong.log_level = "debug";
    VmessLocal refused(dir, wrong);
    auto t = refused.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    if (t.ok()) {
      t.socket.send_all(std::string(8192, 'x'), deadline);
      t.socket.recv_until_closed(deadline);
    }
    CHECK(refused.wait_for_log("before responding", deadline));
    local.process().terminate(Deadline::after(5s));
    refused.process().terminate(Deadline::after(5s));

    for (const auto& [uuid, log] :
         {std::pair{profile.uuid, local.log_text()}, std::pair{wrong.uuid, refused.log_text()}}) {
      auto account = vmlocal::vmess::Account::make(*vmlocal::vmess::parse_uuid(uuid), 0);
      const std::string cmd_key = vmlocal::to_hex(account.cmd_key);
      const std::string text = lower(log);
      CHECK(log.find("tunnel ") != std::string::npos);  // the log did record the traffic
      CHECK(text.find(lower(uuid)) == std::string::npos);
      CHECK(text.find(lower(without_dashes(uuid))) == std::string::npos);
      CHECK(text.find(cmd_key) == std::string::npos);
      // Not even a recognisable piece of it.
      CHECK(text.find(lower(uuid).substr(0, 8)) == std::string::npos);
    }
    // --check prints a summary, not the UUID.
    auto check = run_command(
        {vmess_local_binary().string(), "--check", "-c", local.profile_path().string()}, deadline);
    CHECK(check.success());
    CHECK(lower(check.out + check.err).find(lower(profile.uuid)) == std::string::npos);
  }

  TEST_CASE("a profile other users can read gets a warning") {
    TempDir dir;
    auto profile = VmessLocalProfile{};
    profile.listen = {Endpoint::loopback(Family::kV4, 1080)};
    profile.server_port = 443;
    profile.uuid = random_uuid();
    auto path = dir.write_file("open.toml", profile.to_toml(), std::filesystem::perms(0644));
    auto r = run_command({vmess_local_binary().string(), "--check", "-c", path.string()},
                         Deadline::after(10s));
    CHECK(r.success());
    CHECK(r.err.find("readable by other users") != std::string::npos);
    CHECK(r.err.find("chmod 600") != std::string::npos);

    auto closed = dir.write_file("closed.toml", profile.to_toml(), std::filesystem::perms(0600));
    auto q = run_command({vmess_local_binary().string(), "--check", "-c", closed.string()},
                         Deadline::after(10s));
    CHECK(q.success());
    CHECK(q.err.find("readable by other users") == std::string::npos);
  }
}

TEST_SUITE("security") {
  TEST_CASE("SOCKS5 username/password (RFC 1929), plain and pipelined") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.credentials = Socks5Credentials{"alice", "correct horse"};
    profile.log_level = "debug";
    VmessLocal local(dir, profile);
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    auto target = Socks5Target::to(echo.endpoint());
    for (bool pipelined : {false, true}) {
      CAPTURE(pipelined);
      Socks5Client::Options options;
      options.credentials = profile.credentials;
      options.pipelined = pipelined;
      Socket s = Socks5Client(local.socks_endpoint(), options).open_tunnel(target, deadline);
      s.send_all("x", deadline);
      CHECK(s.recv_exact(1, deadline) == Bytes{'x'});
    }
    Socks5Client::Options wrong;
    wrong.credentials = Socks5Credentials{"alice", "correct horsf"};
    CHECK(Socks5Client(local.socks_endpoint(), wrong).connect(target, deadline).stage ==
          Socks5Result::Stage::kAuthRejected);
    CHECK(Socks5Client(local.socks_endpoint()).connect(target, deadline).stage ==
          Socks5Result::Stage::kMethodRejected);
    CHECK(local.wait_for_log("wrong username or password", deadline));
    CHECK(local.log_text().find("correct horse") == std::string::npos);
    CHECK(echo.accepted() == 2);
  }

  TEST_CASE("listening beyond loopback needs a password or allow_open_proxy") {
    TempDir dir;
    auto profile = VmessLocalProfile{};
    profile.server_port = 443;
    profile.uuid = random_uuid();
    profile.listen = {Endpoint{"0.0.0.0", free_port()}};
    auto refused = launch_vmess_local(dir, profile.to_toml(), {}, "open");
    auto status = refused.wait_exit(Deadline::after(10s));
    REQUIRE(status);
    CHECK(status->code == 2);
    CHECK(refused.log_text().find("lets other machines use your server") != std::string::npos);

    // The same through --listen on a profile that is fine on its own.
    profile.listen = {Endpoint::loopback(Family::kV4, free_port())};
    VmessLocalOptions wide;
    wide.extra_args = {"--listen", "0.0.0.0:1080"};
    auto overridden = launch_vmess_local(dir, profile.to_toml(), wide, "override");
    auto overridden_status = overridden.wait_exit(Deadline::after(10s));
    REQUIRE(overridden_status);
    CHECK(overridden_status->code == 2);

    // Opting in starts, with a warning; so does a password.
    profile.listen = {Endpoint{"0.0.0.0", free_port()}};
    profile.allow_open_proxy = true;
    VmessLocal open(dir, profile);
    CHECK(open.log_text().find("anyone who can reach") != std::string::npos);
    profile.listen = {Endpoint{"0.0.0.0", free_port()}};
    profile.allow_open_proxy = false;
    profile.credentials = Socks5Credentials{"u", "p"};
    VmessLocal authed(dir, profile);
    CHECK(authed.process().alive());
  }
}
