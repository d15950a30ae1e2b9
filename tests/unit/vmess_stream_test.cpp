// outbound::VmessStream alone: no tunnel and no app socket. A recording StreamHandler drives one
// stream on a private libuv loop against the scripted VMess server (support/fake_vmess_server)
// over plain TCP on loopback. Every wait has a deadline.
#include <doctest/doctest.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/fake_vmess_server.hpp"
#include "support/fresh_account.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace vmlocal;
using namespace std::chrono_literals;
using vmlocal::test::fresh_account;

namespace {

uint8_t pattern(uint64_t i) {
  return static_cast<uint8_t>((i * 2654435761u) >> 9);
}

Bytes pattern_bytes(size_t n, uint64_t from = 0) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = pattern(from + i);
  return out;
}

Bytes source_bytes(uint64_t n) {
  Bytes out(n);
  for (uint64_t i = 0; i < n; ++i)
    out[i] = test::source_byte(i);
  return out;
}

Bytes to_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// Drives one VmessStream and records what it reports. Owns the loop, the outbound context and
// the stream; run_until() turns the loop until a condition holds or a deadline passes.
class Driver final : public transport::StreamHandler {
 public:
  struct Options {
    std::vector<Bytes> writes;    // written in order once connected (copies: sealed in place)
    bool shutdown_after = false;  // shutdown() after the last write
    bool read = true;             // read_start() once connected
    int hold_views = 0;           // return false from this many on_stream_views calls
    bool close_on_eof = true;
  };

  Driver(const vmess::Account& account, uint16_t server_port, Options options,
         vmess::Security security = vmess::Security::kAes128Gcm,
         TargetAddress target = TargetAddress::ipv4({127, 0, 0, 1}, 9))
      : options_(std::move(options)) {
    log::set_level(log::Level::kError);
    uv_loop_init(&loop_);
    context_ = std::make_unique<outbound::OutboundContext>(&loop_, random_);
    config::Profile::Server server;
    server.address = "127.0.0.1";
    server.port = server_port;
    server.uuid = account.id;
    server.alter_id = 0;
    server.security = security;
    server.transport = config::Transport::kTcp;
    Result<std::shared_ptr<const outbound::ServerContext>> made =
        outbound::ServerContext::make(server);
    REQUIRE(made.ok());
    Result<std::unique_ptr<outbound::VmessStream>> opened =
        outbound::VmessStream::open(*context_, *made, target, *this);
    REQUIRE(opened.ok());
    stream = std::move(*opened);
  }

  ~Driver() {
    if (stream && !closed) {
      stream->close(true);
      run_until([&] { return closed; }, 5s);
    }
    stream.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // only closing handles can be left
    context_.reset();
    CHECK(uv_loop_close(&loop_) == 0);
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  void connect() {
    connect_started_ = std::chrono::steady_clock::now();
    stream->connect();
  }

  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      usleep(100);
    }
    return done();
  }
  void run_for(std::chrono::milliseconds duration) {
    run_until([] { return false; }, duration);
  }
  // Runs until the stream reported closed.
  bool run_to_close(std::chrono::milliseconds limit = 10s) {
    return run_until([&] { return closed; }, limit);
  }

  // The views kept by the last on_stream_views that returned false, copied out now (they must
  // still hold the plaintext), then handed back.
  void release_held_views() {
    REQUIRE(held_);
    for (const uv_buf_t& v : held_views_) {
      const auto* p = reinterpret_cast<const uint8_t*>(v.base);
      received.insert(received.end(), p, p + v.len);
    }
    held_views_.clear();
    held_ = false;
    stream->release_views();
  }

  std::unique_ptr<outbound::VmessStream> stream;
  std::optional<std::chrono::steady_clock::time_point> connected_at;
  bool connected = false;
  bool eof = false;
  bool closed = false;
  bool writes_done = false;  // every planned write and the shutdown have completed
  std::optional<transport::Failure> failure;
  Bytes received;
  int views_calls = 0;
  int views_after_eof = 0;
  int buffer_calls = 0;  // a decoding stream never asks for the handler's buffer
  bool views_while_held = false;
  size_t max_views_in_call = 0;

  bool held() const { return held_; }

  void on_stream_connected() override {
    connected = true;
    connected_at = std::chrono::steady_clock::now();
    if (options_.read) stream->read_start();
    write_next();
  }
  void on_stream_failed(const transport::Failure& f) override {
    failure = f;
    stream->close(true);
  }
  MutableByteView on_stream_buffer() override {
    ++buffer_calls;
    return MutableByteView(scratch_);
  }
  void on_stream_read(size_t /*n*/) override { ++buffer_calls; }
  bool on_stream_views(uv_buf_t* views, size_t count) override {
    ++views_calls;
    if (eof) ++views_after_eof;
    if (held_) views_while_held = true;
    max_views_in_call = std::max(max_views_in_call, count);
    if (options_.hold_views > 0) {
      --options_.hold_views;
      held_ = true;
      held_views_.assign(views, views + count);
      return false;
    }
    for (size_t i = 0; i < count; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(views[i].base);
      received.insert(received.end(), p, p + views[i].len);
    }
    return true;
  }
  void on_stream_eof() override {
    eof = true;
    if (options_.close_on_eof) stream->close(false);
  }
  void on_stream_write_done() override {
    write_pending_ = false;
    write_next();
  }
  void on_stream_closed() override { closed = true; }

 private:
  void write_next() {
    while (!write_pending_ && next_write_ < options_.writes.size() && !failure) {
      // The stream seals in place: hand it a copy that lives until the write completes.
      in_flight_ = options_.writes[next_write_++];
      buf_ = uv_buf_init(reinterpret_cast<char*>(in_flight_.data()),
                         static_cast<unsigned>(in_flight_.size()));
      if (!submit(stream->write(&buf_, 1))) return;
    }
    if (write_pending_ || next_write_ < options_.writes.size() || failure) return;
    if (options_.shutdown_after && !shut_) {
      shut_ = true;
      if (!submit(stream->shutdown())) return;
      if (write_pending_) return;
    }
    writes_done = true;
  }
  bool submit(transport::Stream::WriteResult result) {
    switch (result) {
      case transport::Stream::WriteResult::kDone:
        return true;
      case transport::Stream::WriteResult::kPending:
        write_pending_ = true;
        return true;
      case transport::Stream::WriteResult::kFailed:
        failure = stream->failure();
        stream->close(true);
        return false;
    }
    return false;
  }

  Options options_;
  uv_loop_t loop_{};
  crypto::SystemRandom random_;
  std::unique_ptr<outbound::OutboundContext> context_;
  std::optional<std::chrono::steady_clock::time_point> connect_started_;
  Bytes in_flight_;
  uv_buf_t buf_{};
  size_t next_write_ = 0;
  bool write_pending_ = false;
  bool shut_ = false;
  bool held_ = false;
  std::vector<uv_buf_t> held_views_;
  std::array<uint8_t, 4096> scratch_{};
};

}  // namespace

TEST_CASE("vmess stream: echoed plaintext comes back exactly, then END is on_stream_eof") {
  const vmess::Security securities[] = {vmess::Security::kAes128Gcm,
                                        vmess::Security::kChacha20Poly1305, vmess::Security::kNone,
                                        vmess::Security::kZero};
  for (vmess::Security security : securities) {
    CAPTURE(vmess::security_name(security));
    const vmess::Account account = fresh_account();
    test::FakeVmessServer server(account, test::FakeScript::kEcho);
    Driver::Options options;
    // Small, a whole chunk and more, and the most one write takes.
    options.writes = {to_bytes("hello, vmess"), pattern_bytes(20000, 1), pattern_bytes(1, 2)};
    options.shutdown_after = true;
    Driver d(account, server.port(), options, security);
    const size_t max_write = d.stream->max_write_size();
    CHECK(max_write > 0);
    CHECK(max_write < SIZE_MAX);
    d.connect();
    // Nothing can arrive before the stream connected and the server answered.
    REQUIRE(d.run_until([&] { return d.connected; }));
    CHECK(d.received.empty());
    REQUIRE(d.run_to_close());
    CHECK_MESSAGE(!d.failure, (d.failure ? d.failure->message : ""));
    CHECK(d.writes_done);
    CHECK(d.eof);
    CHECK(d.received == [&] {
      Bytes all;
      for (const Bytes& w : options.writes)
        all.insert(all.end(), w.begin(), w.end());
      return all;
    }());
    CHECK(d.views_calls > 0);
    CHECK(d.views_after_eof == 0);
    CHECK(d.buffer_calls == 0);
    CHECK(server.requests_decoded() == 1);
    CHECK(server.connections() == 1);
  }
}

TEST_CASE("vmess stream: a write of max_write_size() bytes goes through and echoes intact") {
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kEcho);
  size_t max_write = 0;
  {
    Driver probe(account, server.port(), {});
    max_write = probe.stream->max_write_size();
  }
  Driver::Options options;
  options.writes = {pattern_bytes(max_write, 7), pattern_bytes(max_write, 8)};
  options.shutdown_after = true;
  Driver d(account, server.port(), options);
  d.connect();
  REQUIRE(d.run_to_close());
  CHECK_MESSAGE(!d.failure, (d.failure ? d.failure->message : ""));
  CHECK(d.eof);
  CHECK(d.received.size() == 2 * max_write);
  CHECK(d.received == [&] {
    Bytes all = options.writes[0];
    all.insert(all.end(), options.writes[1].begin(), options.writes[1].end());
    return all;
  }());
}

TEST_CASE("vmess stream: with nothing to write, the request header goes out alone after ~100 ms") {
  // kSource answers as soon as it has decoded a request, so the answer proves the header went.
  constexpr uint64_t kTotal = 5000;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kSource, kTotal);
  Driver d(account, server.port(), {});
  d.connect();
  REQUIRE(d.run_until([&] { return d.connected; }));
  d.run_for(40ms);
  CHECK(server.requests_decoded() == 0);  // still waiting for app bytes to ride along

  REQUIRE(d.run_until([&] { return server.requests_decoded() == 1; }, 5s));
  const auto waited = std::chrono::steady_clock::now() - *d.connected_at;
  CHECK(waited >= 95ms);
  REQUIRE(d.run_to_close());
  CHECK_MESSAGE(!d.failure, (d.failure ? d.failure->message : ""));
  CHECK(d.eof);  // the server's END
  CHECK(d.received == source_bytes(kTotal));
}

TEST_CASE("vmess stream: a server that closes before responding is kNoResponse") {
  SUBCASE("the server does not know the user") {
    const vmess::Account server_account = fresh_account();
    const vmess::Account client_account = fresh_account();
    test::FakeVmessServer server(server_account, test::FakeScript::kEcho);
    Driver::Options options;
    options.writes = {to_bytes("hello")};
    Driver d(client_account, server.port(), options);
    d.connect();
    REQUIRE(d.run_to_close());
    REQUIRE(d.failure);
    CHECK(d.failure->kind == ErrorKind::kNoResponse);
    CHECK(d.failure->message.find("before responding") != std::string::npos);
    CHECK(d.received.empty());
    CHECK(!d.eof);
    CHECK(server.requests_decoded() == 0);
  }
  SUBCASE("the server decodes the request, then closes (it could not reach the target)") {
    const vmess::Account account = fresh_account();
    // kByTargetPort with a port that names no script: decode, then close without a byte.
    test::FakeVmessServer server(account, test::FakeScript::kByTargetPort);
    Driver::Options options;
    options.writes = {to_bytes("hello")};
    Driver d(account, server.port(), options);
    d.connect();
    REQUIRE(d.run_to_close());
    REQUIRE(d.failure);
    CHECK(d.failure->kind == ErrorKind::kNoResponse);
    CHECK(server.requests_decoded() == 1);
  }
}

TEST_CASE("vmess stream: misbehaving servers fail with the right kind and message") {
  struct Case {
    test::FakeScript script;
    ErrorKind kind;
    std::string_view message;
  };
  const Case cases[] = {
      {test::FakeScript::kTruncatedChunk, ErrorKind::kReset, "in the middle of a chunk"},
      {test::FakeScript::kCutAfterData, ErrorKind::kReset, "without an END chunk"},
      {test::FakeScript::kWrongCheckByte, ErrorKind::kProtocol, "bad response"},
      {test::FakeScript::kFlipTagBit, ErrorKind::kProtocol, "bad response"},
      {test::FakeScript::kImpossibleLength, ErrorKind::kProtocol, "bad response"},
  };
  for (const Case& c : cases) {
    CAPTURE(static_cast<int>(c.script));
    const vmess::Account account = fresh_account();
    test::FakeVmessServer server(account, c.script);
    Driver::Options options;
    options.writes = {to_bytes("hello")};
    Driver d(account, server.port(), options);
    d.connect();
    REQUIRE(d.run_to_close());
    REQUIRE(d.failure);
    CHECK(d.failure->kind == c.kind);
    CHECK_MESSAGE(d.failure->message.find(c.message) != std::string::npos, d.failure->message);
    CHECK(!d.eof);
  }
}

TEST_CASE("vmess stream: held views stop delivery until release_views()") {
  // Enough for many chunks: several on_stream_views calls, some while views are held.
  constexpr uint64_t kTotal = 512 * 1024;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kSource, kTotal);
  Driver::Options options;
  options.writes = {to_bytes("go")};
  options.hold_views = 3;
  Driver d(account, server.port(), options);
  d.connect();

  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    REQUIRE(d.run_until([&] { return d.held(); }));
    const int calls = d.views_calls;
    const size_t got = d.received.size();
    // The server has sent everything long before this ends; none of it may reach the handler.
    d.run_for(150ms);
    CHECK(d.views_calls == calls);
    CHECK(d.received.size() == got);
    CHECK(!d.eof);
    CHECK(!d.closed);
    d.release_held_views();  // copies the held views (still intact), then releases
  }
  REQUIRE(d.run_to_close());
  CHECK_MESSAGE(!d.failure, (d.failure ? d.failure->message : ""));
  CHECK(d.eof);
  CHECK(!d.views_while_held);
  CHECK(d.received.size() == kTotal);
  CHECK(d.received == source_bytes(kTotal));
  CHECK(d.views_calls > 3);
  CHECK(d.max_views_in_call <= outbound::kMaxDownlinkViews);
}

TEST_CASE("vmess stream: read_stop() pauses the downlink, read_start() resumes it intact") {
  constexpr uint64_t kTotal = 16u << 20;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer server(account, test::FakeScript::kSource, kTotal);
  Driver::Options options;
  options.writes = {to_bytes("go")};
  options.read = false;  // connected, but not reading
  Driver d(account, server.port(), options);
  d.connect();
  REQUIRE(d.run_until([&] { return d.connected; }));
  d.run_for(200ms);
  CHECK(d.views_calls == 0);
  CHECK(server.payload_sent() < kTotal);  // the server is stalled by the socket buffers
  d.stream->read_start();
  REQUIRE(d.run_to_close());
  CHECK_MESSAGE(!d.failure, (d.failure ? d.failure->message : ""));
  CHECK(d.eof);
  CHECK(d.received == source_bytes(kTotal));
}
