// The HTTP forwarding adapter (inbound::HttpForwardStream) between a recording handler (what
// the tunnel would see) and scripted legs (what each origin's outbound stream would see), on a
// real libuv loop for its timers: request rewriting, bodies, pipelining on one leg, a new leg
// for a new origin only after the earlier responses ended, response framing, local errors.
#include <doctest/doctest.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "vmlocal/inbound/http_forward_stream.hpp"
#include "vmlocal/log/log.hpp"

using namespace vmlocal;

namespace {

struct LegState {
  TargetAddress target;
  transport::StreamHandler* handler = nullptr;
  std::string written;
  bool connected_called = false;
  bool reading = false;
  bool shutdown = false;
  bool closed = false;
};

class ScriptedLeg final : public transport::Stream {
 public:
  explicit ScriptedLeg(LegState& s) : s_(s) {}
  void connect() override { s_.connected_called = true; }
  void read_start() override { s_.reading = true; }
  void read_stop() override { s_.reading = false; }
  WriteResult write(uv_buf_t* bufs, size_t count) override {
    for (size_t i = 0; i < count; ++i)
      s_.written.append(bufs[i].base, bufs[i].len);
    return WriteResult::kDone;
  }
  WriteResult shutdown() override {
    s_.shutdown = true;
    return WriteResult::kDone;
  }
  void close(bool) override {
    if (s_.closed) return;
    s_.closed = true;
    s_.handler->on_stream_closed();
  }
  const transport::Failure& failure() const override { return failure_; }

 private:
  LegState& s_;
  transport::Failure failure_;
};

struct ScriptedDialer final : outbound::Dialer {
  std::vector<std::unique_ptr<LegState>> legs;
  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override {
    legs.push_back(std::make_unique<LegState>());
    legs.back()->target = target;
    legs.back()->handler = &handler;
    return std::unique_ptr<transport::Stream>(std::make_unique<ScriptedLeg>(*legs.back()));
  }
};

struct Recorder final : transport::StreamHandler {
  bool connected = false;
  bool eof = false;
  bool closed = false;
  int write_done = 0;
  std::string failed;
  std::string down;
  void on_stream_connected() override { connected = true; }
  void on_stream_failed(const transport::Failure& f) override { failed = f.message; }
  MutableByteView on_stream_buffer() override { return {}; }
  void on_stream_read(size_t) override {}
  bool on_stream_views(uv_buf_t* views, size_t count) override {
    for (size_t i = 0; i < count; ++i)
      down.append(views[i].base, views[i].len);
    return true;
  }
  void on_stream_eof() override { eof = true; }
  void on_stream_write_done() override { ++write_done; }
  void on_stream_closed() override { closed = true; }
};

struct Fixture {
  uv_loop_t loop{};
  ScriptedDialer dialer;
  Recorder app;
  std::unique_ptr<transport::Stream> stream;

  explicit Fixture(const std::string& first_head,
                   TargetAddress first = TargetAddress::ipv4({127, 0, 0, 1}, 80)) {
    uv_loop_init(&loop);
    auto opened = inbound::HttpForwardStream::open(&loop, dialer, first, first_head, 5000, app);
    REQUIRE(opened.ok());
    stream = std::move(*opened);
    stream->connect();
    stream->read_start();
  }
  ~Fixture() {
    stream->close(false);
    run();
    CHECK(app.closed);
    stream.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void run() {
    for (int i = 0; i < 5; ++i)
      uv_run(&loop, UV_RUN_NOWAIT);
  }
  void connect_leg(size_t i) {
    dialer.legs.at(i)->handler->on_stream_connected();
    run();
  }
  // The app writes `text` (the adapter may keep it pending).
  transport::Stream::WriteResult app_writes(std::string& text) {
    buf = uv_buf_init(text.data(), static_cast<unsigned>(text.size()));
    auto r = stream->write(&buf, 1);
    run();
    return r;
  }
  void origin_sends(size_t leg, std::string text) {
    uv_buf_t view = uv_buf_init(text.data(), static_cast<unsigned>(text.size()));
    CHECK(dialer.legs.at(leg)->handler->on_stream_views(&view, 1));
    run();
  }
  uv_buf_t buf{};
};

}  // namespace

TEST_CASE("forwarding: the first head goes out rewritten before the tunnel hears connected") {
  Fixture f(
      "GET http://127.0.0.1/a HTTP/1.1\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n");
  REQUIRE(f.dialer.legs.size() == 1);
  CHECK(f.dialer.legs[0]->connected_called);
  CHECK_FALSE(f.app.connected);
  f.connect_leg(0);
  CHECK(f.app.connected);
  CHECK(f.dialer.legs[0]->written == "GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n");
  f.origin_sends(0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(f.app.down == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

TEST_CASE("forwarding: a chunked body and pipelined requests to the same origin share the leg") {
  Fixture f("POST http://127.0.0.1/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  f.connect_leg(0);
  std::string more =
      "3\r\nabc\r\n0\r\n\r\n"
      "HEAD http://127.0.0.1/h HTTP/1.1\r\nConnection: close\r\n\r\n"
      "GET http://127.0.0.1/g HTTP/1.1\r\n\r\n";
  CHECK(f.app_writes(more) == transport::Stream::WriteResult::kDone);
  CHECK(f.dialer.legs.size() == 1);
  CHECK(f.dialer.legs[0]->written ==
        "POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n"
        "HEAD /h HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        "GET /g HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  // Responses: 100 then 200 chunked for the POST, a bodiless answer to HEAD despite its
  // Content-Length, then a length-framed one.
  const std::string responses =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ng";
  for (char c : responses)
    f.origin_sends(0, std::string(1, c));  // byte by byte
  CHECK(f.app.down == responses);
  CHECK(f.app.failed.empty());
  // A byte after the last response has no request: the origin misbehaves, the tunnel is told.
  f.origin_sends(0, "x");
  CHECK(f.app.failed.find("no request outstanding") != std::string::npos);
}

TEST_CASE("forwarding: another origin gets a new leg only after the earlier response ended") {
  std::vector<std::string> lines;
  log::set_sink([&](log::Level, std::string_view line) { lines.emplace_back(line); });
  log::set_level(log::Level::kInfo);
  Fixture f("GET http://127.0.0.1/1 HTTP/1.1\r\n\r\n");
  f.connect_leg(0);
  std::string next = "GET http://example.org:8080/2 HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(f.app_writes(next) == transport::Stream::WriteResult::kPending);
  CHECK(f.dialer.legs.size() == 1);  // the first response is still coming
  f.origin_sends(0, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  CHECK(f.dialer.legs.size() == 1);
  f.origin_sends(0, "one");
  REQUIRE(f.dialer.legs.size() == 2);
  CHECK(f.dialer.legs[0]->closed);
  CHECK(f.dialer.legs[1]->target.to_string() == "example.org:8080");
  CHECK(f.dialer.legs[1]->written.empty());
  CHECK(f.app.write_done == 0);
  f.connect_leg(1);
  CHECK(f.dialer.legs[1]->written == "GET /2 HTTP/1.1\r\nHost: example.org:8080\r\n\r\n");
  CHECK(f.app.write_done == 1);
  CHECK(f.dialer.legs[0]->written == "GET /1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  log::set_sink(nullptr);
  log::set_level(log::Level::kError);
  // The tunnel's summary names the first origin: the move to the second is a line of its own.
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("http forwarding: the app's next request on this connection goes to "
                      "example.org:8080") != std::string::npos);
}

TEST_CASE("forwarding: a close-delimited response ends the app's connection at the close") {
  Fixture f("GET http://127.0.0.1/ HTTP/1.0\r\n\r\n");
  f.connect_leg(0);
  f.origin_sends(0, "HTTP/1.0 200 OK\r\n\r\nuntil the close");
  CHECK_FALSE(f.app.eof);
  f.dialer.legs[0]->handler->on_stream_eof();
  CHECK(f.app.eof);
  CHECK(f.app.down == "HTTP/1.0 200 OK\r\n\r\nuntil the close");
}

TEST_CASE("forwarding: a response cut short is a failure, not a clean end") {
  Fixture f("GET http://127.0.0.1/ HTTP/1.1\r\n\r\n");
  f.connect_leg(0);
  f.origin_sends(0, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  f.dialer.legs[0]->handler->on_stream_eof();
  CHECK_FALSE(f.app.eof);
  CHECK(f.app.failed.find("before its response was complete") != std::string::npos);
}

TEST_CASE("forwarding: a bad later request gets 400 after the response before it, then the end") {
  Fixture f("GET http://127.0.0.1/ HTTP/1.1\r\n\r\n");
  f.connect_leg(0);
  std::string bad = "GET /relative HTTP/1.1\r\n\r\nmore bytes that are dropped";
  CHECK(f.app_writes(bad) == transport::Stream::WriteResult::kDone);
  CHECK(f.app.down.empty());  // the first response has not come yet
  f.origin_sends(0, "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(f.app.down.rfind("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(f.app.down.find("not an absolute http:// URI") != std::string::npos);
  CHECK(f.app.eof);
  CHECK(f.dialer.legs[0]->written == "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

TEST_CASE(
    "forwarding: a later request with too many fields, or one the rewrite would add to, 431") {
  // kMaxHeaderCount fields and no Host: the rewrite's Host would make one too many.
  for (size_t count : {http1::kMaxHeaderCount, http1::kMaxHeaderCount + 1}) {
    CAPTURE(count);
    Fixture f("GET http://127.0.0.1/ HTTP/1.1\r\n\r\n");
    f.connect_leg(0);
    f.origin_sends(0, "HTTP/1.1 204 No Content\r\n\r\n");
    std::string many = "GET http://127.0.0.1/two HTTP/1.1\r\n";
    for (size_t i = 0; i < count; ++i)
      many += "X-" + std::to_string(i) + ": 1\r\n";
    many += "\r\n";
    CHECK(f.app_writes(many) == transport::Stream::WriteResult::kDone);
    CHECK(f.app.down.find("HTTP/1.1 431 Request Header Fields Too Large\r\n") != std::string::npos);
    CHECK(f.app.down.find("more than 128 header fields") != std::string::npos);
    CHECK(f.app.eof);
    CHECK(f.dialer.legs[0]->written == "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
}

TEST_CASE("forwarding: a leg that fails before any response gets 502, not a reset") {
  // v2ray drops a target its routing blocks by closing: the VMess stream reports that as a
  // failure (kNoResponse) or as an end, by timing. Both are answered alike (once a flaky 1 in 15).
  Fixture f("GET http://dropped.invalid/x HTTP/1.1\r\n\r\n",
            TargetAddress::from_domain("dropped.invalid", 80));
  f.connect_leg(0);
  REQUIRE(f.dialer.legs.size() == 1);
  f.dialer.legs[0]->handler->on_stream_failed(
      {ErrorKind::kNoResponse, "server closed the connection before responding"});
  f.run();
  CHECK(f.app.failed.empty());
  CHECK(f.app.down.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(f.app.down.find("the connection to dropped.invalid:80 closed before any response") !=
        std::string::npos);
  CHECK(f.app.eof);
  CHECK(f.dialer.legs[0]->closed);
}

TEST_CASE("forwarding: a later origin that cannot be reached gets 502") {
  Fixture f("GET http://127.0.0.1/ HTTP/1.1\r\n\r\n");
  f.connect_leg(0);
  f.origin_sends(0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  std::string next = "GET http://10.255.255.1/ HTTP/1.1\r\n\r\n";
  CHECK(f.app_writes(next) == transport::Stream::WriteResult::kPending);
  REQUIRE(f.dialer.legs.size() == 2);
  f.dialer.legs[1]->handler->on_stream_failed({ErrorKind::kRefused, "connection refused"});
  f.run();
  CHECK(f.app.down.find("HTTP/1.1 502 Bad Gateway\r\n") != std::string::npos);
  CHECK(f.app.eof);
  CHECK(f.app.write_done == 1);  // the app's write is finished (its bytes dropped)
}

TEST_CASE("forwarding: an Upgrade answered with 101 becomes a plain relay both ways") {
  Fixture f(
      "GET http://127.0.0.1/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  f.connect_leg(0);
  f.origin_sends(0, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x01x");
  std::string frames =
      "\x81\x81"
      "anything at all";
  CHECK(f.app_writes(frames) == transport::Stream::WriteResult::kDone);
  CHECK(f.dialer.legs[0]->written.find("\x81\x81"
                                       "anything at all") != std::string::npos);
  f.origin_sends(0, "more raw bytes");
  CHECK(f.app.failed.empty());
  CHECK(f.app.down.find("more raw bytes") != std::string::npos);
}
