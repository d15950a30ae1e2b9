// Mux.Cool ([server.mux]) against the real v2ray 4.34: many tunnels share few VMess
// connections, nothing is lost or mixed between them, and one app that stops reading stalls
// only its own connection (new tunnels go on a fresh one).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

VmessLocalProfile mux_profile(const V2rayServer& v2ray, uint16_t server_port, int concurrency) {
  auto profile = VmessLocalProfile::for_server(v2ray);
  profile.server_port = server_port;
  profile.extra_toml =
      "[server.mux]\nenabled = true\nconcurrency = " + std::to_string(concurrency) + "\n";
  return profile;
}

}  // namespace

TEST_SUITE("mux") {
  TEST_CASE("check and the start line say Mux.Cool is on (a newcomer could not tell)") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    VmessLocalProfile profile = mux_profile(v2ray, v2ray.endpoint().port, 4);
    profile.listen = {Endpoint{"127.0.0.1", free_port()}};
    const auto path = dir.write_file("mux.toml", profile.to_toml());
    const auto checked = run_command({vmess_local_binary().string(), "check", "-c", path.string()},
                                     Deadline::after(10s));
    REQUIRE_MESSAGE(checked.success(), checked.describe());
    CHECK(checked.out.find(", Mux.Cool (4 per connection))") != std::string::npos);
    VmessLocal local(dir, profile);
    CHECK(local.wait_for_log(", Mux.Cool (4 per connection); private targets: ",
                             Deadline::after(10s)));
  }

  TEST_CASE("64 tunnels at once, 4 MiB each way each, over Mux.Cool: every byte intact") {
    TempDir dir;
    V2rayOptions options;
    options.log_level = "info";  // a connection v2ray drops says why in the test's log
    V2rayServer v2ray = V2rayServer::vmess(dir, {}, options);
    ChaosRelay counter(v2ray.endpoint());  // no faults: it counts the VMess connections
    VmessLocal local(dir, mux_profile(v2ray, counter.port(), 8));
    EchoServer echo;
    const auto client = local.socks_client();
    auto deadline = Deadline::after(300s);

    constexpr int kTunnels = 64;
    constexpr std::uint64_t kBytes = 4u << 20;
    std::vector<TransferResult> results(kTunnels);
    std::vector<std::string> failures(kTunnels);
    std::vector<std::thread> threads;
    for (int i = 0; i < kTunnels; ++i) {
      threads.emplace_back([&, i] {
        try {
          Socket s = client.open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
          // The app ends only once its echo is back: Mux.Cool does not carry a half-close, so
          // the tunnel ends by downlink_only after the app's end (see MuxSession::shutdown).
          results[i] = echo_transfer(s, kBytes, 100 + i, deadline, EchoEnd::kAfterEcho);
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    }
    for (auto& t : threads)
      t.join();
    for (int i = 0; i < kTunnels; ++i) {
      CAPTURE(i);
      CAPTURE(failures[i]);
      CHECK(failures[i].empty());
      CHECK(results[i].received == kBytes);
      CHECK(results[i].received_sha256 == results[i].sent_sha256);
    }
    CHECK(echo.accepted() == kTunnels);
    // 64 tunnels, 8 per connection: at least 8 connections, and far fewer than 64.
    MESSAGE("VMess connections for 64 tunnels: " << counter.accepted());
    CHECK(counter.accepted() >= 8);
    CHECK(counter.accepted() <= 24);
    CHECK(local.wait_for_log("(mux): up 4194304 B, down 4194304 B", deadline));
    if (std::any_of(failures.begin(), failures.end(), [](const auto& f) { return !f.empty(); })) {
      MESSAGE(local.log_text());
    }
  }

  TEST_CASE("an app that stops reading stalls its connection; new tunnels use a fresh one") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    ChaosRelay counter(v2ray.endpoint());
    VmessLocal local(dir, mux_profile(v2ray, counter.port(), 8));
    SourceServer source;
    EchoServer echo;
    const auto client = local.socks_client();
    auto deadline = Deadline::after(120s);

    // A 64 MiB download the app never reads: the session's 512 KiB fill, then the
    // connection's read stops (Mux.Cool has no per-session flow control).
    Socket stalled = client.open_tunnel(Socks5Target::to(source.endpoint()), deadline);
    const auto request = SourceServer::request(64u << 20, 1);
    stalled.send_all(request, deadline);
    std::this_thread::sleep_for(2s);
    CHECK(counter.accepted() == 1);

    // New tunnels meanwhile complete, on a second connection.
    for (int i = 0; i < 4; ++i) {
      Socket s = client.open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
      auto r = echo_transfer(s, 256u << 10, 200 + i, deadline, EchoEnd::kAfterEcho);
      CHECK(r.received_sha256 == r.sent_sha256);
    }
    CHECK(counter.accepted() == 2);

    // The stalled app reads at last: everything arrives, in order.
    const Bytes got = stalled.recv_until_eof(deadline, 65u << 20);
    CHECK(got.size() == (64u << 20));
    CHECK(sha256(got) == stream_sha256(1, 64u << 20));
  }
}
