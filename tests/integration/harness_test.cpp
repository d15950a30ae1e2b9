// Validates the integration harness itself: first its pieces without any proxy, then every
// piece through Debian's v2ray acting as a plain SOCKS5 server, so that when a vmess-local
// test fails the harness is already known to be sound.
#include <doctest/doctest.h>
#include <signal.h>

#include <toml++/toml.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBulk = 8 * kMiB;

std::string hex(const Digest& d) {
  return to_hex(d);
}

void check_no_server_errors(const std::vector<std::string>& errors) {
  for (const auto& e : errors)
    FAIL_CHECK("origin server error: " << e);
}

}  // namespace

TEST_SUITE("harness") {
  // ---- The pieces on their own ---------------------------------------------------------------

  TEST_CASE("DataStream: the same bytes whatever the read sizes") {
    DataStream whole(42);
    std::vector<std::uint8_t> a(100'003);
    whole.fill(a);

    DataStream pieces(42);
    std::vector<std::uint8_t> b(a.size());
    std::size_t at = 0;
    for (std::size_t step : {1, 7, 8, 3, 4096, 65537, 5}) {
      auto n = std::min(step, b.size() - at);
      pieces.fill(std::span(b).subspan(at, n));
      at += n;
    }
    pieces.fill(std::span(b).subspan(at));
    CHECK(a == b);
    CHECK(hex(sha256(a)) == hex(stream_sha256(42, a.size())));
    CHECK(hex(stream_sha256(42, 1000)) != hex(stream_sha256(43, 1000)));
  }

  TEST_CASE("Sha256: known answer") {
    CHECK(hex(sha256(std::span<const std::uint8_t>())) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    Sha256 h;
    h.update("abc");
    CHECK(hex(h.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }

  TEST_CASE("run_command: exit code, both outputs, and the deadline") {
    auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}, Deadline::after(10s));
    REQUIRE(r.status);
    CHECK(r.status->code == 3);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");

    auto start = std::chrono::steady_clock::now();
    auto slow = run_command({"sleep", "30"}, Deadline::after(300ms));
    CHECK_FALSE(slow.status);
    CHECK(std::chrono::steady_clock::now() - start < 5s);

    CHECK_THROWS(run_command({"/nonexistent/program"}, Deadline::after(1s)));
  }

  TEST_CASE("Process: log file, terminate, SIGKILL fallback, kill on destruction") {
    TempDir dir;
    {
      Process p({"sh", "-c", "echo started; exec sleep 30"}, dir.file("sleep.log"));
      CHECK(p.wait_for_log("started", Deadline::after(5s)));
      CHECK(p.alive());
      auto status = p.terminate(Deadline::after(5s));
      CHECK(status.signal == SIGTERM);
      CHECK_FALSE(p.alive());
    }
    {
      // Ignores SIGTERM (an ignored disposition survives exec), so only SIGKILL ends it.
      Process p({"sh", "-c", "trap '' TERM; echo started; exec sleep 30"},
                dir.file("stubborn.log"));
      REQUIRE(p.wait_for_log("started", Deadline::after(5s)));
      auto start = std::chrono::steady_clock::now();
      auto status = p.terminate(Deadline::after(300ms));
      CHECK(status.signal == SIGKILL);
      CHECK(std::chrono::steady_clock::now() - start < 5s);
    }
    pid_t pid;
    {
      Process p({"sleep", "30"}, dir.file("leak.log"));
      pid = p.pid();
      CHECK(::kill(pid, 0) == 0);
    }
    CHECK(::kill(pid, 0) != 0);  // killed and reaped by the destructor
    {
      Process p({"sh", "-c", "exit 7"}, dir.file("exit.log"));
      auto status = p.wait_exit(Deadline::after(5s));
      REQUIRE(status);
      CHECK(status->code == 7);
    }
  }

  TEST_CASE("TempDir: removed at the end unless VMLOCAL_KEEP_TEST_DIRS is set") {
    std::filesystem::path path;
    {
      TempDir dir("tempdir-check");
      path = dir.path();
      auto f = dir.write_file("secret.toml", "x = 1\n");
      CHECK(std::filesystem::exists(f));
      CHECK((std::filesystem::status(f).permissions() & std::filesystem::perms::group_read) ==
            std::filesystem::perms::none);
    }
    CHECK(std::filesystem::exists(path) == (std::getenv("VMLOCAL_KEEP_TEST_DIRS") != nullptr));
  }

  TEST_CASE("free ports come from the kernel and are free on the asked family") {
    auto p4 = free_port(Family::kV4);
    auto p6 = free_port(Family::kV6);
    CHECK(p4 != 0);
    CHECK(p6 != 0);
    Socket l4 = Socket::listen(Endpoint::loopback(Family::kV4, p4));
    Socket l6 = Socket::listen(Endpoint::loopback(Family::kV6, p6));
    auto dual = free_dual_stack_port();
    Socket d4 = Socket::listen(Endpoint::loopback(Family::kV4, dual));
    Socket d6 = Socket::listen(Endpoint::loopback(Family::kV6, dual));
    // Nothing listens on a fresh free port: connecting is refused (not a self-connect).
    CHECK_THROWS_AS(
        Socket::connect(Endpoint::loopback(Family::kV4, free_port()), Deadline::after(2s)),
        SocketError);
  }

  TEST_CASE("origin servers, directly (no proxy)") {
    for (Family family : {Family::kV4, Family::kV6}) {
      CAPTURE(to_string(family));
      EchoServer echo(family);
      SourceServer source(family);
      SinkServer sink(family);
      HttpServer http(family);
      auto deadline = Deadline::after(20s);

      Socket e = Socket::connect(echo.endpoint(), deadline);
      auto er = echo_transfer(e, kMiB + 3, 1, deadline);
      CHECK(er.received == kMiB + 3);
      CHECK(hex(er.received_sha256) == hex(er.sent_sha256));

      Socket d = Socket::connect(source.endpoint(), deadline);
      auto dr = download(d, kMiB + 5, 2, deadline);
      CHECK(dr.received == kMiB + 5);
      CHECK(hex(dr.received_sha256) == hex(stream_sha256(2, kMiB + 5)));

      for (UploadEnd end : {UploadEnd::kAnnounced, UploadEnd::kEof}) {
        Socket u = Socket::connect(sink.endpoint(), deadline);
        auto ur = upload(u, kMiB + 7, 3, deadline, end);
        CHECK(ur.received == kMiB + 7);
        CHECK(hex(ur.received_sha256) == hex(stream_sha256(3, kMiB + 7)));
      }

      http.add_page("/page.css", "p { color: red }", "text/css");
      Socket h = Socket::connect(http.endpoint(), deadline);
      h.send_all("GET /page.css HTTP/1.1\r\nHost: x\r\n\r\n", deadline);
      std::string response = h.recv_text_until_eof(deadline);
      CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
      CHECK(response.ends_with("\r\n\r\np { color: red }"));
      CHECK(http.requested_paths() == std::vector<std::string>{"/page.css"});

      CHECK(echo.accepted() == 1);
      CHECK(source.accepted() == 1);
      CHECK(sink.accepted() == 2);
      CHECK(http.accepted() == 1);
      check_no_server_errors(echo.errors());
      check_no_server_errors(source.errors());
      check_no_server_errors(sink.errors());
      check_no_server_errors(http.errors());
    }
  }

  TEST_CASE("origin servers stop cleanly with connections still open") {
    auto deadline = Deadline::after(10s);
    auto start = std::chrono::steady_clock::now();
    Socket idle_echo, idle_sink;
    {
      EchoServer echo;
      SinkServer sink;
      idle_echo = Socket::connect(echo.endpoint(), deadline);
      idle_sink = Socket::connect(sink.endpoint(), deadline);
      idle_sink.send_all(SinkServer::header(SinkServer::kUntilEof), deadline);
      idle_echo.send_all("ping", deadline);
      CHECK(idle_echo.recv_exact(4, deadline) == Bytes{'p', 'i', 'n', 'g'});
    }  // destructors must not wait for these clients
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(idle_echo.recv_until_eof(deadline).empty());
  }

  TEST_CASE("VmessLocalProfile renders the documented TOML schema") {
    VmessLocalProfile p;
    p.listen = {Endpoint::loopback(Family::kV4, 1080), Endpoint::loopback(Family::kV6, 1081)};
    p.credentials = Socks5Credentials{"me", "se\"cret"};
    p.server_port = 10086;
    p.uuid = random_uuid();
    p.alter_id = 4;
    p.idle_timeout = 2500ms;
    p.extra_toml = "# end";
    auto t = toml::parse(p.to_toml());
    CHECK(t["local"]["listen"][0].value_or("") == std::string("127.0.0.1:1080"));
    CHECK(t["local"]["listen"][1].value_or("") == std::string("[::1]:1081"));
    CHECK(t["local"]["password"].value_or("") == std::string("se\"cret"));
    CHECK(t["server"]["address"].value_or("") == std::string("127.0.0.1"));
    CHECK(t["server"]["port"].value_or(0) == 10086);
    CHECK(t["server"]["uuid"].value_or("") == p.uuid);
    CHECK(t["server"]["alter_id"].value_or(-1) == 4);
    CHECK(t["server"]["security"].value_or("") == std::string("aes-128-gcm"));
    CHECK(t["server"]["transport"].value_or("") == std::string("tcp"));
    CHECK(t["timeouts"]["handshake"].value_or(0) == 10);
    CHECK(t["timeouts"]["idle"].value_or(0.0) == doctest::Approx(2.5));
    CHECK(t["log"]["level"].value_or("") == std::string("info"));
    CHECK(p.uuid.size() == 36);
    CHECK(p.uuid[14] == '4');
  }

  TEST_CASE("VMESS_LOCAL_BIN points at the binary meson built") {
    auto bin = vmess_local_binary();
    CHECK(std::filesystem::exists(bin));
    CHECK(bin.filename() == "vmess-local");
  }

  TEST_CASE("VmessLocal launcher: profile, -c FILE, wait for the port, log") {
    // The real binary is validated by the forwarder suite; here a stand-in script checks the
    // command line and serves SOCKS5 with v2ray on the profile's port.
    TempDir dir;
    const uint16_t port = free_port();
    nlohmann::json config = {
        {"log", {{"loglevel", "warning"}, {"access", "none"}}},
        {"inbounds",
         {{{"listen", "127.0.0.1"},
           {"port", port},
           {"protocol", "socks"},
           {"settings", {{"auth", "noauth"}, {"udp", false}}}}}},
    };
    config.merge_patch(loopback_only_config());  // the stand-in relays to loopback only too
    auto config_path = dir.write_file("stand-in.json", config.dump());
    auto script =
        dir.write_file("stand-in.sh",
                       "#!/bin/sh\n"
                       "[ \"$1\" = -c ] && [ -f \"$2\" ] || { echo \"usage\" >&2; exit 64; }\n"
                       "echo \"stand-in: profile $2 (listening on its port)\"\n"
                       "exec \"$V2RAY\" -config \"$CONFIG\"\n",
                       std::filesystem::perms(0700));

    VmessLocalProfile profile;
    profile.listen = {Endpoint::loopback(Family::kV4, port)};
    profile.server_port = 1;
    profile.uuid = random_uuid();
    VmessLocalOptions options;
    options.binary = script;
    options.env = {{"V2RAY", v2ray_binary().string()}, {"CONFIG", config_path.string()}};
    VmessLocal local(dir, profile, options);

    CHECK(local.socks_endpoint().port == port);
    CHECK((std::filesystem::status(local.profile_path()).permissions() &
           std::filesystem::perms::others_read) == std::filesystem::perms::none);
    CHECK(local.wait_for_log("stand-in: profile " + local.profile_path().string(),
                             Deadline::after(5s)));
    EchoServer echo;
    auto deadline = Deadline::after(10s);
    Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    s.send_all("hi", deadline);
    CHECK(s.recv_exact(2, deadline) == Bytes{'h', 'i'});

    // A binary that exits at once: the launcher fails fast, with the exit status and the log.
    auto failing =
        dir.write_file("failing.sh", "#!/bin/sh\necho 'x.toml:3:1: unknown key'\nexit 2\n",
                       std::filesystem::perms(0700));
    VmessLocalOptions fail_options;
    fail_options.binary = failing;
    profile.listen.clear();  // a fresh port: the stand-in above still accepts on the old one
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(VmessLocal(dir, profile, fail_options), doctest::Contains("exit code 2"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(VmessLocal(dir, profile, fail_options),
                         doctest::Contains("x.toml:3:1: unknown key"), std::runtime_error);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }

  TEST_CASE("V2rayServer: VMess inbound with a fresh UUID, AEAD and legacy alterId") {
    TempDir dir;
    auto aead = V2rayServer::vmess(dir);
    VmessInboundOptions legacy_options;
    legacy_options.alter_id = 4;
    auto legacy = V2rayServer::vmess(dir, legacy_options);
    CHECK(aead.uuid() != legacy.uuid());
    CHECK(aead.port() != legacy.port());
    CHECK(legacy.config()["inbounds"][0]["settings"]["clients"][0]["alterId"] == 4);
    CHECK(legacy.config()["inbounds"][0]["settings"]["clients"][0]["id"] == legacy.uuid());
    CHECK(aead.process().alive());
    auto profile = VmessLocalProfile::for_server(legacy);
    CHECK(profile.server_port == legacy.port());
    CHECK(profile.alter_id == 4);
  }

  // ---- Through v2ray as a SOCKS5 server --------------------------------------------------------

  TEST_CASE("every v2ray config the harness writes relays to loopback only, by reading them") {
    // Read back from disk, as v2ray reads them: the catch-all rule goes to a blackhole, and
    // the rules before it match only 127.0.0.0/8, ::1 and localhost. Nothing is sent anywhere.
    TempDir dir;
    V2rayOptions options;
    options.extra_config = {{"policy", {{"levels", {{"0", {{"handshake", 4}}}}}}}};
    std::vector<V2rayServer> servers;
    servers.push_back(V2rayServer::vmess(dir));
    VmessInboundOptions v6;
    v6.family = Family::kV6;
    servers.push_back(V2rayServer::vmess(dir, v6, options));
    VmessInboundOptions ws;
    ws.stream_settings = {{"network", "ws"}, {"wsSettings", {{"path", "/ws"}}}};
    servers.push_back(V2rayServer::vmess(dir, ws));
    servers.push_back(V2rayServer::socks(dir));
    for (const V2rayServer& server : servers) {
      std::ifstream in(server.config_path());
      const nlohmann::json config = nlohmann::json::parse(in);
      INFO(server.config_path().string() << ": " << config.dump());
      CHECK(check_loopback_only(config).empty());
      const auto& rules = config["routing"]["rules"];
      REQUIRE(rules.size() == 3);
      CHECK(rules[2]["network"] == "tcp,udp");
      CHECK(rules[2]["outboundTag"] == "elsewhere");
      CHECK(config["outbounds"][1]["protocol"] == "blackhole");
      CHECK(config["outbounds"][1]["tag"] == "elsewhere");
      CHECK(rules[0]["ip"] == nlohmann::json::array({"127.0.0.0/8", "::1/128"}));
      CHECK(rules[1]["domain"] == nlohmann::json::array({"full:localhost"}));
    }
    // The check itself: the old relay-anything config, and configs that widen the loopback
    // rule, resolve names to route, or drop the catch-all, are refused with the reason.
    nlohmann::json relay_all = {{"outbounds", {{{"protocol", "freedom"}}}}};
    CHECK_FALSE(check_loopback_only(relay_all).empty());
    nlohmann::json wide = loopback_only_config();
    wide["routing"]["rules"][0]["ip"] = {"0.0.0.0/0"};
    CHECK(check_loopback_only(wide) == "rule 0 matches ip \"0.0.0.0/0\"");
    nlohmann::json resolving = loopback_only_config();
    resolving["routing"]["domainStrategy"] = "IPOnDemand";
    CHECK_FALSE(check_loopback_only(resolving).empty());
    nlohmann::json no_catch_all = loopback_only_config();
    no_catch_all["routing"]["rules"].erase(2);
    CHECK_FALSE(check_loopback_only(no_catch_all).empty());
    // And the harness refuses to start such a config.
    V2rayOptions widening;
    widening.extra_config = {
        {"routing",
         {{"rules", {{{"type", "field"}, {"network", "tcp,udp"}, {"outboundTag", "loopback"}}}}}}};
    CHECK_THROWS_WITH_AS(V2rayServer::vmess(dir, {}, widening),
                         doctest::Contains("would relay beyond loopback"), std::runtime_error);
  }

  TEST_CASE("v2ray SOCKS: echo 8 MiB, SHA-256 equal both ways") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    Socket s = v2ray.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
    auto r = echo_transfer(s, kBulk, 11, deadline);
    MESSAGE(r.summary("v2ray SOCKS echo"));
    CHECK(r.sent == kBulk);
    CHECK(r.received == kBulk);
    CHECK(hex(r.sent_sha256) == hex(stream_sha256(11, kBulk)));
    CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
    CHECK(echo.accepted() == 1);
    check_no_server_errors(echo.errors());
  }

  TEST_CASE("v2ray SOCKS: download 8 MiB from SourceServer") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    SourceServer source;
    auto deadline = Deadline::after(30s);
    for (AfterRequest after : {AfterRequest::kHalfClose, AfterRequest::kKeepOpen}) {
      Socket s = v2ray.socks_client().open_tunnel(Socks5Target::to(source.endpoint()), deadline);
      auto r = download(s, kBulk, 12, deadline, after);
      MESSAGE(r.summary(after == AfterRequest::kHalfClose ? "v2ray SOCKS download"
                                                          : "v2ray SOCKS download, uplink open"));
      CHECK(r.received == kBulk);
      CHECK(hex(r.received_sha256) == hex(stream_sha256(12, kBulk)));
    }
    CHECK(source.accepted() == 2);
    check_no_server_errors(source.errors());
  }

  TEST_CASE("v2ray SOCKS: upload 8 MiB to SinkServer") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    SinkServer sink;
    auto deadline = Deadline::after(30s);
    Socket s = v2ray.socks_client().open_tunnel(Socks5Target::to(sink.endpoint()), deadline);
    auto r = upload(s, kBulk, 13, deadline);
    MESSAGE(r.summary("v2ray SOCKS upload"));
    CHECK(r.received == kBulk);
    CHECK(hex(r.received_sha256) == hex(stream_sha256(13, kBulk)));
    CHECK(hex(r.sent_sha256) == hex(r.received_sha256));
    check_no_server_errors(sink.errors());
  }

  TEST_CASE("v2ray SOCKS: a half-close is not passed on to the target") {
    // Pins down the reason SinkServer takes a length (see sink_server.hpp): v2ray's freedom
    // outbound never shuts down its write side toward the target, so a target that waits for
    // EOF only sees the whole connection closed by the idle timer, and its answer is lost.
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    SinkServer sink;
    auto deadline = Deadline::after(15s);
    Socket s = v2ray.socks_client().open_tunnel(Socks5Target::to(sink.endpoint()), deadline);
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(upload(s, 64 * 1024, 14, deadline, UploadEnd::kEof), SocketError);
    auto waited = std::chrono::steady_clock::now() - start;
    MESSAGE("v2ray closed the tunnel " << std::chrono::duration<double>(waited).count()
                                       << " s after the client's FIN");
    CHECK(waited >= 900ms);  // the 1 s one-direction idle rule (checked every second: 1-2 s)
  }

  TEST_CASE("v2ray SOCKS on ::1, IPv6 target") {
    TempDir dir;
    SocksInboundOptions v6;
    v6.family = Family::kV6;
    auto v2ray = V2rayServer::socks(dir, v6);
    CHECK(v2ray.endpoint().host == "::1");
    EchoServer echo(Family::kV6);
    auto deadline = Deadline::after(20s);
    auto result = v2ray.socks_client().connect(Socks5Target::to(echo.endpoint()), deadline);
    REQUIRE_MESSAGE(result.ok(), result.describe());
    auto r = echo_transfer(result.socket, kMiB, 15, deadline);
    CHECK(r.received == kMiB);
    CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
    CHECK(echo.accepted() == 1);
  }

  TEST_CASE("v2ray SOCKS: domain target (localhost)") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    EchoServer echo;  // 127.0.0.1: what /etc/hosts says localhost is here
    auto deadline = Deadline::after(20s);
    Socket s =
        v2ray.socks_client().open_tunnel(Socks5Target::domain("localhost", echo.port()), deadline);
    auto r = echo_transfer(s, kMiB, 16, deadline);
    CHECK(r.received == kMiB);
    CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
    CHECK(echo.accepted() == 1);
  }

  TEST_CASE("v2ray SOCKS: curl --socks5-hostname fetches HttpServer pages") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    HttpServer http;
    http.add_page("/data.json", R"({"ok":true})", "application/json");
    const std::string proxy = v2ray.endpoint().to_string();
    auto url = [&](std::string_view path) {
      return "http://localhost:" + std::to_string(http.port()) + std::string(path);
    };

    auto page =
        run_command({"curl", "-sS", "--max-time", "10", "--socks5-hostname", proxy, url("/")},
                    Deadline::after(15s));
    REQUIRE_MESSAGE(page.success(), page.describe());
    CHECK(page.out == HttpServer::kDefaultBody);

    auto json = run_command({"curl", "-sS", "--max-time", "10", "--socks5-hostname", proxy, "-w",
                             "\n%{http_code} %{content_type}", url("/data.json")},
                            Deadline::after(15s));
    REQUIRE_MESSAGE(json.success(), json.describe());
    CHECK(json.out == "{\"ok\":true}\n200 application/json");

    auto missing = run_command({"curl", "-sS", "--max-time", "10", "--socks5-hostname", proxy, "-o",
                                "/dev/null", "-w", "%{http_code}", url("/missing")},
                               Deadline::after(15s));
    REQUIRE_MESSAGE(missing.success(), missing.describe());
    CHECK(missing.out == "404");

    CHECK(http.accepted() == 3);
    CHECK(http.requested_paths() == std::vector<std::string>{"/", "/data.json", "/missing"});
    check_no_server_errors(http.errors());
  }

  TEST_CASE("v2ray SOCKS: a dead origin") {
    // v2ray answers "succeeded" as soon as it has parsed the request, before its freedom
    // outbound dials (proxy/socks/protocol.go, handshake5). A refused target therefore shows
    // up as a tunnel that closes without a byte, after freedom's dial retries (about 1 s).
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    auto deadline = Deadline::after(15s);
    auto dead = Endpoint::loopback(Family::kV4, free_port());
    auto result = v2ray.socks_client().connect(Socks5Target::to(dead), deadline);
    MESSAGE("v2ray's reply for a refused target: " << result.describe());
    CHECK(result.stage == Socks5Result::Stage::kReplied);
    CHECK(result.reply == socks5::kReplySucceeded);
    CHECK(result.socket.recv_until_eof(deadline).empty());
  }

  TEST_CASE("v2ray SOCKS: raw bytes - BIND gets a non-success reply") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    auto deadline = Deadline::after(10s);
    Socket s = v2ray.socks_client().open_raw(deadline);
    s.send_all(socks5::greeting({socks5::kMethodNoAuth}), deadline);
    CHECK(s.recv_exact(2, deadline) == Bytes{socks5::kVersion, socks5::kMethodNoAuth});
    s.send_all(
        socks5::request(Socks5Target::to(Endpoint::loopback(Family::kV4, 80)), socks5::kCmdBind),
        deadline);
    auto reply = Socks5Client::read_reply(std::move(s), deadline);
    CHECK_FALSE(reply.ok());
    CHECK(reply.reply == 0x07);  // command not supported
    CHECK(reply.socket.recv_until_eof(deadline).empty());
  }

  TEST_CASE("v2ray SOCKS: username/password, pipelined requests") {
    TempDir dir;
    SocksInboundOptions auth;
    auth.credentials = Socks5Credentials{"alice", "correct horse"};
    auto v2ray = V2rayServer::socks(dir, auth);
    EchoServer echo;
    auto deadline = Deadline::after(20s);
    auto target = Socks5Target::to(echo.endpoint());

    for (bool pipelined : {false, true}) {
      CAPTURE(pipelined);
      Socks5Client::Options options;
      options.credentials = auth.credentials;
      options.pipelined = pipelined;
      Socket s = Socks5Client(v2ray.endpoint(), options).open_tunnel(target, deadline);
      auto r = echo_transfer(s, 100'000, 17, deadline);
      CHECK(hex(r.received_sha256) == hex(r.sent_sha256));
    }

    Socks5Client::Options wrong;
    wrong.credentials = Socks5Credentials{"alice", "wrong"};
    auto refused = Socks5Client(v2ray.endpoint(), wrong).connect(target, deadline);
    CHECK(refused.stage == Socks5Result::Stage::kAuthRejected);

    auto no_auth = Socks5Client(v2ray.endpoint()).connect(target, deadline);
    CHECK(no_auth.stage == Socks5Result::Stage::kMethodRejected);
    CHECK(no_auth.method == socks5::kMethodNone);
    CHECK(echo.accepted() == 2);
  }

  TEST_CASE("v2ray SOCKS: 32 concurrent tunnels") {
    TempDir dir;
    auto v2ray = V2rayServer::socks(dir);
    EchoServer echo;
    auto deadline = Deadline::after(30s);
    constexpr int kTunnels = 32;
    std::atomic<int> good{0};
    std::vector<std::string> failures(kTunnels);
    std::vector<std::thread> threads;
    for (int i = 0; i < kTunnels; ++i) {
      threads.emplace_back([&, i] {
        try {
          Socket s = v2ray.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
          auto r = echo_transfer(s, 256 * 1024, 100 + static_cast<std::uint64_t>(i), deadline);
          if (r.received == 256 * 1024 && r.received_sha256 == r.sent_sha256)
            ++good;
          else
            failures[static_cast<std::size_t>(i)] = "digest mismatch";
        } catch (const std::exception& e) {
          failures[static_cast<std::size_t>(i)] = e.what();
        }
      });
    }
    for (auto& t : threads)
      t.join();
    for (const auto& f : failures) {
      if (!f.empty()) FAIL_CHECK("tunnel failed: " << f);
    }
    CHECK(good == kTunnels);
    CHECK(echo.accepted() == kTunnels);
    check_no_server_errors(echo.errors());
  }
}
