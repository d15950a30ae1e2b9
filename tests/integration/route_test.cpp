// [route] end to end: with the default profile a loopback target is reached by vmess-local
// itself (the server sees no connection); with private = "block" it is refused with SOCKS5
// 0x02; "proxy" takes it through the real v2ray.
#include <doctest/doctest.h>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

TEST_SUITE("route") {
  TEST_CASE("default: a loopback target goes direct, the server sees nothing") {
    TempDir dir;
    // A "server" that only counts connections: a tunnel through it could not work.
    TcpServer server("counting server", Family::kV4, [](Socket&) {});
    VmessLocalProfile profile;
    profile.server_port = server.port();
    profile.uuid = random_uuid();
    profile.route_private = "";  // the product's default
    VmessLocal local(dir, profile);
    EchoServer echo;
    auto deadline = Deadline::after(30s);

    Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, 4 << 20, 7, deadline);
    CHECK(r.received_sha256 == r.sent_sha256);
    s.close();
    // A name: "localhost" is resolved here, not by the server.
    Socket by_name = local.socks_client().open_tunnel(
        Socks5Target::domain("localhost", echo.endpoint().port), deadline);
    auto r2 = echo_transfer(by_name, 64 << 10, 8, deadline);
    CHECK(r2.received_sha256 == r2.sent_sha256);
    by_name.close();

    CHECK(local.wait_for_log("(direct): up", deadline));
    CHECK(server.accepted() == 0);
  }

  TEST_CASE("private = \"block\": refused with 0x02, nothing dialled") {
    TempDir dir;
    TcpServer server("counting server", Family::kV4, [](Socket&) {});
    VmessLocalProfile profile;
    profile.server_port = server.port();
    profile.uuid = random_uuid();
    profile.route_private = "block";
    VmessLocal local(dir, profile);
    EchoServer echo;
    auto deadline = Deadline::after(30s);

    Socks5Result refused =
        local.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    CHECK(refused.stage == Socks5Result::Stage::kReplied);
    CHECK(refused.reply == 0x02);
    Socks5Result by_name =
        local.socks_client().connect(Socks5Target::domain("printer.local", 631), deadline);
    CHECK(by_name.reply == 0x02);
    CHECK(local.wait_for_log("private = \"block\"", deadline));
    CHECK(server.accepted() == 0);
    CHECK(echo.accepted() == 0);
  }

  TEST_CASE("private = \"proxy\" goes through the real v2ray; a [route] direct entry does not") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    EchoServer echo;
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.route_private = "";
    profile.extra_toml = "[route]\nprivate = \"proxy\"\ndirect = [\"localhost\"]\n";
    VmessLocal local(dir, profile);
    auto deadline = Deadline::after(30s);

    Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, 1 << 20, 9, deadline);
    CHECK(r.received_sha256 == r.sent_sha256);
    s.close();
    const std::string through = "-> " + echo.endpoint().to_string() + ": up";
    CHECK(local.wait_for_log(through, deadline));

    Socket named = local.socks_client().open_tunnel(
        Socks5Target::domain("localhost", echo.endpoint().port), deadline);
    auto r2 = echo_transfer(named, 1 << 20, 10, deadline);
    CHECK(r2.received_sha256 == r2.sent_sha256);
    named.close();
    CHECK(
        local.wait_for_log("localhost:" + std::to_string(echo.port()) + " (direct): up", deadline));
    CHECK(echo.accepted() == 2);
  }
}
