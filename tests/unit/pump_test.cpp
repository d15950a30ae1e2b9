// The duplex pump inside a real session: inbound::Proxy on its own loop thread, a scripted VMess
// server, and a blocking app client — all in this process, on loopback.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_vmess_server.hpp"
#include "support/fresh_account.hpp"
#include "support/in_process_proxy.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/account.hpp"

using namespace vmlocal;
using namespace std::chrono_literals;
using vmlocal::test::fresh_account;

namespace {

config::Profile profile_for(const vmess::Account& account, uint16_t server_port) {
  config::Profile profile;
  // The fake server is on loopback, which [route] would send direct by default.
  profile.route.private_targets = route::Decision::kProxy;
  profile.servers.front().address = "127.0.0.1";
  profile.servers.front().port = server_port;
  profile.servers.front().uuid = account.id;
  profile.servers.front().security = vmess::Security::kAes128Gcm;
  profile.log.level = log::Level::kWarn;
  log::set_level(profile.log.level);  // main() does this for the real binary
  return profile;
}

// Waits until `read()` has not changed for `quiet`, or `limit` passes. Returns its last value.
template <typename Read>
uint64_t wait_until_stalled(Read read, std::chrono::milliseconds quiet,
                            std::chrono::milliseconds limit) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  uint64_t last = read();
  auto last_change = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(50ms);
    uint64_t now = read();
    if (now != last) {
      last = now;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change >= quiet) {
      break;
    }
  }
  return last;
}

// What the app read of a source_byte() stream.
struct Download {
  uint64_t bytes = 0;
  uint64_t mismatches = 0;  // bytes that differ from source_byte() at their offset
  bool eof = false;         // a clean end of stream
  std::string stopped;      // why reading ended without one
};

// Reads a source_byte() stream until EOF, but never hangs: a reset, a stall as long as the
// client's receive timeout (10 s) or, for a stream that only trickles, `limit` ends the read
// with the reason in `stopped`. `slow_start`: 4 KiB reads for the first 8 MiB, with a 1 ms
// pause after each in the first MiB.
Download read_source(test::BlockingClient& app, std::chrono::seconds limit,
                     bool slow_start = false) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  std::vector<uint8_t> buf(256 * 1024);
  Download got;
  const auto stop = [&](const std::string& why) {
    got.stopped = "reading stopped after " + std::to_string(got.bytes) + " bytes: " + why;
  };
  for (;;) {
    if (std::chrono::steady_clock::now() >= give_up) {
      stop("no EOF within " + std::to_string(limit.count()) + " s");
      return got;
    }
    size_t n = 0;
    try {
      n = app.receive(buf.data(), slow_start && got.bytes < (8u << 20) ? 4096 : buf.size());
    } catch (const std::exception& e) {
      stop(e.what());
      return got;
    }
    if (n == 0) {
      got.eof = true;
      return got;
    }
    for (size_t i = 0; i < n; ++i)
      got.mismatches += buf[i] != test::source_byte(got.bytes + i);
    got.bytes += n;
    if (slow_start && got.bytes < (1u << 20)) std::this_thread::sleep_for(1ms);
  }
}

}  // namespace

TEST_CASE(
    "pump: a slow app reader stalls the server instead of filling memory, and loses nothing") {
  constexpr uint64_t kTotal = 192ull << 20;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kSource, kTotal);
  test::InProcessProxy proxy(profile_for(account, server.port()));

  test::BlockingClient app(proxy.port(), 64 * 1024);
  REQUIRE(app.socks_connect(9) == 0x00);
  app.send_all(as_bytes("go"));  // the request header leaves with the first chunk

  // The app reads nothing. With backpressure the server can only fill the socket buffers on
  // the way and the one block the tunnel holds; without it, vmess-local would swallow it all.
  const uint64_t stalled_at = wait_until_stalled([&] { return server.payload_sent(); }, 700ms, 20s);
  MESSAGE("server stalled after " << (stalled_at >> 10) << " KiB of " << (kTotal >> 10) << " KiB");
  CHECK(stalled_at > 0);
  CHECK(stalled_at < kTotal / 4);

  // Now read it all, slowly at first: every byte arrives, in order. It takes a few seconds; a
  // pump that stalls fails here after the 10 s receive timeout, one that trickles after 60 s.
  const Download got = read_source(app, 60s, /*slow_start=*/true);
  CHECK_MESSAGE(got.eof, got.stopped);
  CHECK(got.bytes == kTotal);
  CHECK(got.mismatches == 0);
  CHECK(server.payload_sent() == kTotal);
}

TEST_CASE("pump: a download longer than the idle timeout finishes while the app sends nothing") {
  // Downlink bytes are activity too. The server drips its answer over about 3x the idle timeout
  // while the app, after its first two bytes, only reads; if only uplink bytes counted, the idle
  // timer would reset the tunnel about a second in.
  constexpr auto kIdle = 1s;
  constexpr uint64_t kTotal = 16 * 1024;  // 16 chunks of 1 KiB, 200 ms apart: 3.2 s
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kDrip, kTotal, 200ms);
  config::Profile profile = profile_for(account, server.port());
  profile.timeouts.idle = kIdle;
  test::InProcessProxy proxy(profile);
  test::BlockingClient app(proxy.port());
  REQUIRE(app.socks_connect(9) == 0x00);

  const auto start = std::chrono::steady_clock::now();
  app.send_all(as_bytes("go"));
  const Download got = read_source(app, 20s);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_MESSAGE(got.eof, got.stopped);
  CHECK(got.bytes == kTotal);
  CHECK(got.mismatches == 0);
  CHECK(took >= 3 * kIdle);  // it did outlast the idle timeout, twice over
}

TEST_CASE("pump: a server that does not read stalls the app's sends, and loses nothing") {
  // Uplink backpressure: while an upstream write is pending the session must stop reading from
  // the app, so the app's sends stall once the socket buffers on the way and the one block the
  // tunnel holds are full. A session that kept reading would overwrite the block being written
  // and swallow the app's bytes as fast as it sends them.
  constexpr uint64_t kTotal = 128ull << 20;
  constexpr size_t kPiece = 64 * 1024;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kPausedSink);
  test::InProcessProxy proxy(profile_for(account, server.port()));
  test::BlockingClient app(proxy.port());
  REQUIRE(app.socks_connect(9) == 0x00);

  // The writer stops on its own if a send blocks for the client's 10 s send timeout.
  std::atomic<uint64_t> sent{0};
  std::string writer_error;  // read only after join()
  std::thread writer([&] {
    std::vector<uint8_t> piece(kPiece);
    try {
      for (uint64_t off = 0; off < kTotal; off += kPiece) {
        for (size_t i = 0; i < kPiece; ++i)
          piece[i] = test::source_byte(off + i);
        app.send_all(piece);
        sent += kPiece;
      }
      app.shutdown_write();
    } catch (const std::exception& e) {
      writer_error = std::string(e.what()) + " after " + std::to_string(sent.load()) + " bytes";
    }
  });

  // No REQUIRE until the writer is joined: leaving the test with it running would abort.
  const uint64_t stalled_at = wait_until_stalled([&] { return sent.load(); }, 700ms, 20s);
  MESSAGE("app stalled after " << (stalled_at >> 10) << " KiB of " << (kTotal >> 10) << " KiB");
  CHECK(stalled_at > 0);
  CHECK(stalled_at < kTotal / 4);
  CHECK(server.payload_received() == 0);  // the server really has not read a byte yet

  // Now the server reads: the writer finishes, and the server saw every byte, in order, then
  // END, which it answers with END (the app's EOF).
  server.resume_reading();
  writer.join();
  CHECK_MESSAGE(writer_error.empty(), writer_error);
  const Download got = read_source(app, 20s);
  CHECK_MESSAGE(got.eof, got.stopped);
  CHECK(got.bytes == 0);
  CHECK(server.payload_received() == kTotal);
  CHECK(server.payload_mismatches() == 0);
}

TEST_CASE("pump: echo through a session, with END both ways") {
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kEcho);
  test::InProcessProxy proxy(profile_for(account, server.port()));
  test::BlockingClient app(proxy.port());
  REQUIRE(app.socks_connect(9) == 0x00);

  crypto::SystemRandom random;
  std::vector<uint8_t> sent(3u << 20);
  random.fill(sent);
  std::thread writer([&] {
    app.send_all(sent);
    app.shutdown_write();
  });
  std::vector<uint8_t> got;
  std::vector<uint8_t> buf(65536);
  for (size_t n; (n = app.receive(buf.data(), buf.size())) > 0;) {
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  writer.join();
  CHECK(got.size() == sent.size());
  CHECK(got == sent);
}
