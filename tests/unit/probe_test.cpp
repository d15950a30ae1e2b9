// The VMess probe and the fail-fast check, against the scripted VMess server on loopback: what
// the result says for a server that refuses us (silent), one that answers (echo), and one that
// cannot be reached; and the pool failing tunnels at once once a probe marked the server.
#include <doctest/doctest.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "support/fake_vmess_server.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/probe.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/server_pool.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/http_url.hpp"

using namespace vmlocal;
using namespace std::chrono_literals;

namespace {

const vmess::Account& test_account() {
  static const vmess::Account account =
      vmess::Account::make(vmess::Uuid{0xb8, 0x31, 0x38, 0x1d, 0x63, 0x24, 0x4d, 0x53, 0xad, 0x4f,
                                       0x8c, 0xda, 0x48, 0xb3, 0x08, 0x11},
                           0);
  return account;
}

config::Profile::Server server_on(uint16_t port) {
  config::Profile::Server server;
  server.address = "127.0.0.1";
  server.port = port;
  server.uuid = test_account().id;
  return server;
}

http::Url url(std::string_view text) {
  auto parsed = http::parse_url(text);
  REQUIRE(std::holds_alternative<http::Url>(parsed));
  return std::get<http::Url>(parsed);
}

struct Loop {
  Loop() {
    log::set_level(getenv("PROBE_DEBUG") ? log::Level::kDebug : log::Level::kError);
    uv_loop_init(&loop);
    context = std::make_unique<outbound::OutboundContext>(&loop, random);
    // The product's listeners keep its loop alive; an unreferenced timer alone would not run.
    uv_timer_init(&loop, &keepalive);
    uv_timer_start(
        &keepalive, [](uv_timer_t*) {}, 1000, 1000);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&keepalive), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    context.reset();
    CHECK(uv_loop_close(&loop) == 0);
  }
  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(200);
    }
    return done();
  }
  uv_loop_t loop{};
  uv_timer_t keepalive{};
  crypto::SystemRandom random;
  std::unique_ptr<outbound::OutboundContext> context;
};

std::optional<outbound::ProbeResult> run_probe(Loop& loop, uint16_t port,
                                               std::chrono::milliseconds timeout) {
  auto made = outbound::ServerContext::make(server_on(port));
  REQUIRE(made.ok());
  outbound::ProbeOptions options;
  options.url = url("http://127.0.0.1:9/generate_204");
  options.connect_timeout = 5s;
  options.timeout = timeout;
  std::optional<outbound::ProbeResult> result;
  bool called_inside_start = true;
  outbound::Probe::start(*loop.context, *made, options,
                         [&](const outbound::ProbeResult& r) { result = r; });
  called_inside_start = result.has_value();
  CHECK_FALSE(called_inside_start);
  loop.run_until([&] { return result.has_value(); }, 10s);
  return result;
}

}  // namespace

TEST_CASE("probe: a server that keeps silent while the connection stays open refused us") {
  test::FakeVmessServer server(test_account(), test::FakeScript::kSilent);
  Loop loop;
  const auto result = run_probe(loop, server.port(), 300ms);
  REQUIRE(result.has_value());
  CHECK_FALSE(result->ok);
  CHECK(result->refused);
  CHECK_FALSE(result->responded);
  CHECK(result->stage == outbound::ProbeStage::kResponse);
  CHECK(result->error.kind == ErrorKind::kTimeout);
  CHECK(result->error.message.find("kept the connection open") != std::string::npos);
  CHECK(result->elapsed >= 300ms);
  CHECK(server.requests_decoded() == 1);  // the request did reach the server
}

TEST_CASE("probe: a server that answers accepted the login, whatever the URL's answer") {
  // The echo script sends our own GET back as the response body: the VMess part worked, the
  // "HTTP answer" is not one, and the result says so at the URL stage.
  test::FakeVmessServer server(test_account(), test::FakeScript::kEcho);
  Loop loop;
  const auto result = run_probe(loop, server.port(), 3s);
  REQUIRE(result.has_value());
  CHECK_FALSE(result->ok);
  CHECK(result->responded);
  CHECK_FALSE(result->refused);
  CHECK(result->stage == outbound::ProbeStage::kUrl);
  CHECK(result->error.message ==
        "the probe URL's answer: not an HTTP response (starts with 0x47)");  // "G" of "GET"
}

TEST_CASE("probe: a server that cannot be reached fails at the server stage") {
  Loop loop;
  const auto result = run_probe(loop, 1, 1s);  // port 1 on loopback: refused
  REQUIRE(result.has_value());
  CHECK(result->stage == outbound::ProbeStage::kServer);
  CHECK(result->error.kind == ErrorKind::kRefused);
  CHECK_FALSE(result->refused);
}

TEST_CASE("fail fast: a probe at start marks a silent server, and the pool fails tunnels at once") {
  test::FakeVmessServer server(test_account(), test::FakeScript::kSilent);
  Loop loop;
  config::Profile profile;
  profile.servers = {server_on(server.port())};
  profile.probe.url = "http://127.0.0.1:9/";
  profile.probe.url_set = true;
  profile.probe.timeout = 300ms;
  {
    outbound::ServerPool pool(&loop.loop, loop.random);
    REQUIRE(pool.configure(profile).ok());
    pool.start_checks(profile);
    CHECK(loop.run_until([&] { return pool.pick()->state->refusing(); }, 10s));
    struct NullHandler final : transport::StreamHandler {
      void on_stream_connected() override {}
      void on_stream_failed(const transport::Failure&) override {}
      MutableByteView on_stream_buffer() override { return {}; }
      void on_stream_read(size_t) override {}
      void on_stream_eof() override {}
      void on_stream_write_done() override {}
      void on_stream_closed() override {}
    } handler;
    auto dialed = pool.dial(TargetAddress::ipv4({127, 0, 0, 1}, 80), handler);
    REQUIRE_FALSE(dialed.ok());
    CHECK(dialed.error().kind == ErrorKind::kRefusedLogin);
    CHECK(pool.pick()->state->refusing_reason().find("kept the connection open") !=
          std::string::npos);
    pool.stop();
  }
}

TEST_CASE("fail fast: without [probe] url nothing is probed at start") {
  test::FakeVmessServer server(test_account(), test::FakeScript::kSilent);
  Loop loop;
  config::Profile profile;
  profile.servers = {server_on(server.port())};
  profile.probe.timeout = 300ms;
  outbound::ServerPool pool(&loop.loop, loop.random);
  REQUIRE(pool.configure(profile).ok());
  pool.start_checks(profile);
  loop.run_until([] { return false; }, 500ms);
  CHECK(server.connections() == 0);
  CHECK_FALSE(pool.pick()->state->refusing());
  pool.stop();
}
