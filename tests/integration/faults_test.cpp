// Faults: servers that misbehave or die, apps that send garbage, go silent or vanish. Each
// case checks that only the affected tunnel ends, with a clear log line, and that the process
// keeps serving — and ends with a clean SIGTERM exit, which in the sanitizer build is also where
// LeakSanitizer reports anything a fault path failed to free.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "harness/harness.hpp"
#include "harness/http1_front.hpp"
#include "support/fake_vmess_server.hpp"
#include "vmlocal/vmess/account.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using vmlocal::test::FakeScript;
using vmlocal::test::FakeVmessServer;
using vmlocal::test::port_for_script;

namespace {

vmlocal::vmess::Account account_for(const std::string& uuid) {
  return vmlocal::vmess::Account::make(*vmlocal::vmess::parse_uuid(uuid), 0);
}

// vmess-local in front of a scripted fake VMess server.
// What the scripted server streams for kSource and kDrip.
struct FakeSource {
  uint64_t bytes = 0;
  std::chrono::milliseconds pace{0};  // kDrip: between 1 KiB chunks
};

struct FakeTunnel {
  std::string uuid = random_uuid();
  vmlocal::vmess::Account account = account_for(uuid);
  FakeVmessServer server;
  TempDir dir;
  VmessLocal local;

  explicit FakeTunnel(const std::function<void(VmessLocalProfile&)>& adjust = {},
                      const VmessLocalOptions& options = {}, FakeSource source = {})
      : server(account, FakeScript::kByTargetPort, source.bytes, source.pace),
        local(dir, profile(adjust), options) {}

  VmessLocalProfile profile(const std::function<void(VmessLocalProfile&)>& adjust) const {
    VmessLocalProfile p;
    p.server_port = server.port();
    p.uuid = uuid;
    p.log_level = "debug";
    if (adjust) adjust(p);
    return p;
  }

  Socket open(FakeScript script, Deadline deadline) {
    return local.socks_client().open_tunnel(
        Socks5Target::to(Endpoint::loopback(Family::kV4, port_for_script(script))), deadline);
  }

  // SIGTERM: must exit 0 with no tunnel left behind.
  void stop_cleanly() {
    auto status = local.process().terminate(Deadline::after(10s));
    CHECK_MESSAGE(status.success(), status.describe() << "\n" << local.log_text());
    CHECK(local.log_text().find("closing 0 tunnel(s)") != std::string::npos);
  }
};

}  // namespace

TEST_SUITE("faults") {
  TEST_CASE("a misbehaving server ends only that tunnel, with a clear log line") {
    FakeTunnel t;
    auto deadline = Deadline::after(60s);
    Socket healthy = t.open(FakeScript::kEcho, deadline);
    healthy.send_all("before", deadline);
    CHECK(healthy.recv_exact(6, deadline) == Bytes{'b', 'e', 'f', 'o', 'r', 'e'});

    const struct {
      FakeScript script;
      const char* log;
    } cases[] = {
        {FakeScript::kWrongCheckByte, "response check byte mismatch"},
        {FakeScript::kFlipTagBit, "chunk authentication failed"},
        {FakeScript::kTruncatedChunk, "server closed the connection in the middle of a chunk"},
        {FakeScript::kImpossibleLength, "chunk length smaller than its overhead"},
        {FakeScript::kGarbage, "response header length authentication failed"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.log);
      Socket s = t.open(c.script, deadline);
      s.send_all("hello", deadline);
      auto started = std::chrono::steady_clock::now();
      auto closed = s.recv_until_closed(Deadline::after(10s));
      CHECK(closed.data.empty());  // not one byte of a broken stream reaches the app
      CHECK(closed.reset);         // and the app sees an error, not a clean end
      CHECK(std::chrono::steady_clock::now() - started < 3s);
      CHECK(t.local.wait_for_log(c.log, Deadline::after(5s)));
    }
    // The healthy tunnel never noticed.
    healthy.send_all("after", deadline);
    CHECK(healthy.recv_exact(5, deadline) == Bytes{'a', 'f', 't', 'e', 'r'});
    healthy.shutdown_write();
    CHECK_FALSE(healthy.recv_until_closed(deadline).reset);
    CHECK(t.server.requests_decoded() == 6);
    t.stop_cleanly();
  }

  TEST_CASE("a response cut off without END reaches the app as a reset, not a clean end") {
    FakeTunnel t;
    auto deadline = Deadline::after(30s);
    // Data, then the server closes without END while the app is still sending: the app gets
    // the bytes that arrived, then a reset, so it cannot take the stream for complete.
    Socket cut = t.open(FakeScript::kCutAfterData, deadline);
    cut.send_all("request", deadline);
    auto closed = cut.recv_until_closed(deadline);
    CHECK(closed.data == Bytes(100, 'z'));
    CHECK(closed.reset);
    CHECK(t.local.wait_for_log("without an END chunk", deadline));
    // A target that closed without sending anything is a clean, empty response.
    Socket empty = t.open(FakeScript::kHeaderThenClose, deadline);
    empty.send_all("request", deadline);
    auto ended = empty.recv_until_closed(deadline);
    CHECK(ended.data.empty());
    CHECK_FALSE(ended.reset);
    empty.close();  // the app ends its side too: the tunnel is done
    CHECK(t.local.wait_for_log(
        "-> 127.0.0.1:" + std::to_string(port_for_script(FakeScript::kHeaderThenClose)) + ":",
        deadline));
    t.stop_cleanly();
  }

  TEST_CASE(
      "a server that never passes END on: downlink_only ends the tunnel after the app's FIN") {
    // sing-box's server skips the request's END and keeps the connection open; the idle timeout
    // is long here, so only timeouts.downlink_only (default 1 s) can end this tunnel soon.
    FakeTunnel t([](VmessLocalProfile& p) { p.idle_timeout = 60s; });
    auto deadline = Deadline::after(30s);
    Socket s = t.open(FakeScript::kIgnoreEnd, deadline);
    s.send_all("request", deadline);
    CHECK(s.recv_exact(7, deadline) == Bytes{'r', 'e', 'q', 'u', 'e', 's', 't'});
    s.shutdown_write();
    auto started = std::chrono::steady_clock::now();
    auto closed = s.recv_until_closed(deadline);
    auto waited = std::chrono::steady_clock::now() - started;
    CHECK(closed.data.empty());
    CHECK_FALSE(closed.reset);  // all the data arrived: a clean end, as after END
    CHECK(waited >= 500ms);
    CHECK(waited < 10s);  // generous: the sanitizer build on 2 shared cores
    CHECK(t.local.wait_for_log("timeouts.downlink_only", deadline));
    t.stop_cleanly();
  }

  TEST_CASE("a download longer than downlink_only after the app's FIN is not cut") {
    // kDrip sends 16 KiB in 1 KiB chunks 200 ms apart (3.2 s): each gap is under downlink_only.
    FakeTunnel t([](VmessLocalProfile& p) { p.idle_timeout = 60s; }, {},
                 FakeSource{16 * 1024, 200ms});
    auto deadline = Deadline::after(30s);
    Socket s = t.open(FakeScript::kDrip, deadline);
    s.send_all("go", deadline);
    s.shutdown_write();
    auto got = s.recv_until_closed(deadline);
    CHECK_FALSE(got.reset);
    REQUIRE(got.data.size() == 16 * 1024);
    for (size_t i = 0; i < got.data.size(); ++i) {
      if (got.data[i] != vmlocal::test::source_byte(i)) {
        FAIL("byte " << i << " differs");
      }
    }
    t.stop_cleanly();
  }

  // The same two over ws: a WebSocket front (written from RFC 6455, tests/integration/harness/
  // http1_front.hpp) before the scripted server. sing-box's ws server does not close when the
  // target does either, and vmess-local's ws shutdown puts nothing on the wire (the END chunk
  // says it all), so only downlink_only can end the tunnel.
  TEST_CASE(
      "over ws: downlink_only ends a tunnel whose server ignores END; a long download is not cut") {
    const std::string uuid = random_uuid();
    const vmlocal::vmess::Account account = account_for(uuid);
    FakeVmessServer server(account, FakeScript::kByTargetPort, 16 * 1024, 200ms);
    Http1FrontOptions front_options;
    front_options.mode = FrontMode::kWebSocket;
    front_options.path = "/ws";
    front_options.backend = Endpoint::loopback(Family::kV4, server.port());
    Http1Front front(front_options);
    TempDir dir;
    VmessLocalProfile p;
    p.server_port = front.port();
    p.uuid = uuid;
    p.log_level = "debug";
    p.idle_timeout = 60s;
    p.transport = "ws";
    p.extra_toml = "[server.ws]\npath = \"/ws\"\n";
    p.warm = 0;  // the front counts one upgrade per tunnel
    VmessLocal local(dir, p);
    auto open = [&](FakeScript script, Deadline deadline) {
      return local.socks_client().open_tunnel(
          Socks5Target::to(Endpoint::loopback(Family::kV4, port_for_script(script))), deadline);
    };
    auto deadline = Deadline::after(30s);
    {
      Socket s = open(FakeScript::kIgnoreEnd, deadline);
      s.send_all("request", deadline);
      CHECK(s.recv_exact(7, deadline) == Bytes{'r', 'e', 'q', 'u', 'e', 's', 't'});
      s.shutdown_write();
      auto started = std::chrono::steady_clock::now();
      auto closed = s.recv_until_closed(deadline);
      auto waited = std::chrono::steady_clock::now() - started;
      CHECK(closed.data.empty());
      CHECK_FALSE(closed.reset);
      CHECK(waited >= 500ms);
      CHECK(waited < 10s);  // generous: the sanitizer build on 2 shared cores
      CHECK(local.wait_for_log("timeouts.downlink_only", deadline));
    }
    {
      // 16 KiB in 1 KiB chunks 200 ms apart (3.2 s) after the app's FIN: each gap is under
      // downlink_only, so nothing is cut.
      Socket s = open(FakeScript::kDrip, deadline);
      s.send_all("go", deadline);
      s.shutdown_write();
      auto got = s.recv_until_closed(deadline);
      CHECK_FALSE(got.reset);
      REQUIRE(got.data.size() == 16 * 1024);
      for (size_t i = 0; i < got.data.size(); ++i) {
        if (got.data[i] != vmlocal::test::source_byte(i)) {
          FAIL("byte " << i << " differs");
        }
      }
    }
    CHECK(front.upgrades() == 2);
    CHECK(front.errors().empty());
    auto status = local.process().terminate(Deadline::after(10s));
    CHECK_MESSAGE(status.success(), status.describe() << "\n" << local.log_text());
  }

  TEST_CASE("a server that accepts but never answers: the idle timeout ends the tunnel") {
    FakeTunnel t([](VmessLocalProfile& p) { p.idle_timeout = 1500ms; });
    auto deadline = Deadline::after(20s);
    Socket s = t.open(FakeScript::kSilent, deadline);
    s.send_all("anyone there?", deadline);
    auto started = std::chrono::steady_clock::now();
    auto closed = s.recv_until_closed(deadline);
    auto waited = std::chrono::steady_clock::now() - started;
    CHECK(closed.data.empty());
    CHECK(waited >= 1s);
    CHECK(waited < 5s);
    CHECK(t.local.wait_for_log("idle for", deadline));
    t.stop_cleanly();
  }

  TEST_CASE("app faults: garbage, silence, and an abrupt reset mid-transfer free everything") {
    FakeTunnel t([](VmessLocalProfile& p) { p.handshake_timeout = 1s; });
    auto deadline = Deadline::after(30s);

    SUBCASE("garbage instead of a greeting") {
      Socket raw = t.local.socks_client().open_raw(deadline);
      raw.send_all(std::string_view("\x7f\x45\x4c\x46 garbage\r\n\r\n"), deadline);
      CHECK(raw.recv_until_closed(deadline).data.empty());
      CHECK(t.local.wait_for_log("unknown protocol (first bytes 7f 45 4c 46)", deadline));
    }
    SUBCASE("nothing at all: the handshake timeout") {
      Socket raw = t.local.socks_client().open_raw(deadline);
      auto started = std::chrono::steady_clock::now();
      CHECK(raw.recv_until_closed(deadline).data.empty());
      CHECK(std::chrono::steady_clock::now() - started < 4s);
      CHECK(t.local.wait_for_log("handshake timed out", deadline));
    }
    SUBCASE("a reset in the middle of a transfer") {
      Socket s = t.open(FakeScript::kEcho, deadline);
      s.send_all(std::string(1 << 20, 'q'), deadline);
      s.recv_exact(1000, deadline);
      s.set_reset_on_close();
      s.close();
      CHECK(t.local.wait_for_log("connection reset by peer", deadline));
    }
    CHECK(t.local.process().alive());
    t.stop_cleanly();
  }

  TEST_CASE("near the descriptor limit: new connections are refused, live tunnels carry on") {
    // 64 descriptors leave room for 16 tunnels (two each, after a reserve of 32).
    TempDir wrapper_dir;
    auto wrapper = wrapper_dir.write_file(
        "limited.sh", "#!/bin/sh\nulimit -n 64 && exec \"$VMESS_LOCAL_REAL\" \"$@\"\n",
        std::filesystem::perms(0700));
    VmessLocalOptions options;
    options.binary = wrapper;
    options.env = {{"VMESS_LOCAL_REAL", vmess_local_binary().string()}};
    FakeTunnel t({}, options);
    auto deadline = Deadline::after(60s);

    std::vector<Socket> tunnels;
    for (int i = 0; i < 16; ++i) {
      tunnels.push_back(t.open(FakeScript::kEcho, deadline));
      tunnels.back().send_all("x", deadline);
      REQUIRE(tunnels.back().recv_exact(1, deadline) == Bytes{'x'});
    }
    Socket refused = t.local.socks_client().open_raw(deadline);
    CHECK(refused.recv_until_closed(Deadline::after(5s)).data.empty());
    CHECK(t.local.wait_for_log("refusing new connections: the file descriptor limit is near",
                               deadline));

    // Free four slots: accepting resumes, and the other twelve never noticed.
    for (int i = 0; i < 4; ++i)
      tunnels.pop_back();
    CHECK(t.local.wait_for_log("-> 127.0.0.1:1000", deadline));
    Socket fresh;
    for (auto retry = Deadline::after(5s); !fresh.valid() && !retry.expired();) {
      try {
        fresh = t.open(FakeScript::kEcho, deadline);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(100ms);  // the closes may still be in flight
      }
    }
    REQUIRE(fresh.valid());
    fresh.send_all("y", deadline);
    CHECK(fresh.recv_exact(1, deadline) == Bytes{'y'});
    for (Socket& s : tunnels) {
      s.send_all("z", deadline);
      CHECK(s.recv_exact(1, deadline) == Bytes{'z'});
    }
    tunnels.clear();
    fresh.close();
    // All 17 tunnels end (each logs its summary line) before the clean stop.
    auto all_closed = Deadline::after(10s);
    while (count_of(t.local.log_text(), "-> 127.0.0.1:1000:") < 17 && !all_closed.expired()) {
      std::this_thread::sleep_for(20ms);
    }
    t.stop_cleanly();
  }

  TEST_CASE("max_connections: the next connection is refused until one closes") {
    FakeTunnel t([](VmessLocalProfile& p) { p.max_connections = 3; });
    auto deadline = Deadline::after(30s);
    std::vector<Socket> tunnels;
    for (int i = 0; i < 3; ++i)
      tunnels.push_back(t.open(FakeScript::kEcho, deadline));
    Socket refused = t.local.socks_client().open_raw(deadline);
    CHECK(refused.recv_until_closed(Deadline::after(5s)).data.empty());
    CHECK(t.local.wait_for_log("refusing new connections: max_connections reached", deadline));
    tunnels.pop_back();
    CHECK(t.local.wait_for_log("-> 127.0.0.1:1000:", deadline));
    Socket again = t.open(FakeScript::kEcho, deadline);
    again.send_all("ok", deadline);
    CHECK(again.recv_exact(2, deadline) == Bytes{'o', 'k'});
  }

  TEST_CASE("SIGTERM with shutdown_grace: live tunnels finish, new ones are refused") {
    auto deadline = Deadline::after(60s);
    SUBCASE("the last tunnel ends before the grace period: exit at once") {
      FakeTunnel t([](VmessLocalProfile& p) { p.shutdown_grace = 10s; });
      Socket s = t.open(FakeScript::kEcho, deadline);
      t.local.process().signal(SIGTERM);
      CHECK(t.local.wait_for_log("waiting up to 10 s for 1 tunnel(s)", deadline));
      CHECK_THROWS(t.local.socks_client().open_raw(Deadline::after(2s)));  // no listener now
      s.send_all("still here", deadline);
      CHECK(s.recv_exact(10, deadline).size() == 10);
      s.shutdown_write();
      CHECK_FALSE(s.recv_until_closed(deadline).reset);
      auto started = std::chrono::steady_clock::now();
      auto status = t.local.process().wait_exit(Deadline::after(5s));
      REQUIRE(status);
      CHECK(status->code == 0);
      CHECK(std::chrono::steady_clock::now() - started < 3s);
    }
    SUBCASE("a tunnel that stays open is closed when the grace period ends") {
      FakeTunnel t([](VmessLocalProfile& p) { p.shutdown_grace = 1500ms; });
      Socket s = t.open(FakeScript::kEcho, deadline);
      auto started = std::chrono::steady_clock::now();
      t.local.process().signal(SIGTERM);
      s.recv_until_closed(deadline);
      auto status = t.local.process().wait_exit(Deadline::after(10s));
      auto took = std::chrono::steady_clock::now() - started;
      REQUIRE(status);
      CHECK(status->code == 0);
      CHECK(took >= 1s);
      CHECK(took < 5s);
      CHECK(t.local.log_text().find("grace period over") != std::string::npos);
    }
    SUBCASE("a second signal exits at once") {
      FakeTunnel t([](VmessLocalProfile& p) { p.shutdown_grace = 60s; });
      Socket s = t.open(FakeScript::kEcho, deadline);
      t.local.process().signal(SIGTERM);
      CHECK(t.local.wait_for_log("waiting up to 60 s", deadline));
      auto started = std::chrono::steady_clock::now();
      t.local.process().signal(SIGINT);
      auto status = t.local.process().wait_exit(Deadline::after(5s));
      REQUIRE(status);
      CHECK(status->code == 0);
      CHECK(std::chrono::steady_clock::now() - started < 2s);
    }
  }

  TEST_CASE("the server dies mid-transfer; new tunnels work as soon as it is back") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.log_level = "debug";
    VmessLocal local(dir, profile);
    SourceServer source;
    auto deadline = Deadline::after(60s);

    Socket s = local.socks_client().open_tunnel(Socks5Target::to(source.endpoint()), deadline);
    s.send_all(SourceServer::request(1ull << 34, 5), deadline);  // far more than will arrive
    s.recv_exact(4 << 20, deadline);
    v2ray.process().signal(SIGKILL);
    auto started = std::chrono::steady_clock::now();
    s.recv_until_closed(deadline);  // whatever was in flight, then the close
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    REQUIRE(v2ray.process().wait_exit(deadline));

    // While the server is down: a truthful refusal.
    auto refused = local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
    CHECK(refused.reply == 0x05);

    // The same server comes back on the same port.
    Process again({v2ray_binary().string(), "-config", v2ray.config_path().string()},
                  dir.file("v2ray-again.log"));
    wait_until_accepting(v2ray.endpoint(), again, deadline);
    Socket d = local.socks_client().open_tunnel(Socks5Target::to(source.endpoint()), deadline);
    auto r = download(d, 1 << 20, 6, deadline);
    CHECK(to_hex(r.received_sha256) == to_hex(stream_sha256(6, 1 << 20)));
    CHECK(local.process().alive());
    auto status = local.process().terminate(Deadline::after(10s));
    CHECK(status.success());
  }
}
