// tunnel::Tunnel alone: a real app socket on one side and, instead of VMess, a fake outbound
// stream the test drives by hand (connect results, write completions, downlink views, EOF,
// close). Everything runs on a private libuv loop in the test thread: the app is a
// non-blocking loopback socket whose every wait pumps the loop until a deadline, so a broken
// tunnel fails a check instead of hanging the test.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/tunnel/loop_context.hpp"
#include "vmlocal/tunnel/tunnel.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace vmlocal;
using namespace std::chrono_literals;

namespace {

uint8_t pattern(uint64_t i) {
  return static_cast<uint8_t>((i * 2654435761u) >> 11);
}

Bytes to_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// What the fake outbound saw and what the test may do to it. Outlives the stream, which the
// tunnel owns and destroys.
struct FakeState {
  // Set by the dialer.
  int dials = 0;
  std::optional<TargetAddress> target;
  transport::StreamHandler* handler = nullptr;
  std::optional<Error> dial_error;  // set: dial() fails with it

  // Behaviour.
  bool writes_pend = false;     // write() returns kPending until the test completes it
  bool shutdown_pends = false;  // shutdown() returns kPending likewise
  size_t max_write = SIZE_MAX;
  std::string route;  // what route() says ("direct", a server's name; empty: none)

  // What the tunnel did.
  bool connect_called = false;
  bool reading = false;
  int read_starts = 0;
  std::vector<Bytes> writes;  // one entry per write() call
  Bytes written;              // all of them, in order
  bool write_pending = false;
  int shutdown_calls = 0;
  bool shutdown_pending = false;
  int write_calls_after_shutdown = 0;
  int close_calls = 0;
  bool close_reset = false;
  int release_views_calls = 0;
  bool closed_delivered = false;
  bool destroyed = false;

  // Views handed over and not yet released.
  bool views_held = false;
};

class FakeStream final : public transport::Stream {
 public:
  explicit FakeStream(FakeState& state) : state_(state) {}
  ~FakeStream() override { state_.destroyed = true; }

  void connect() override { state_.connect_called = true; }
  void read_start() override {
    state_.reading = true;
    ++state_.read_starts;
  }
  void read_stop() override { state_.reading = false; }
  WriteResult write(uv_buf_t* bufs, size_t count) override {
    // The stream contract: one pending write at most. (CHECK, not REQUIRE: this runs inside a
    // libuv callback, which an exception must not cross.)
    CHECK(!state_.write_pending);
    CHECK(!state_.shutdown_pending);
    if (state_.shutdown_calls > 0) ++state_.write_calls_after_shutdown;
    Bytes one;
    for (size_t i = 0; i < count; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(bufs[i].base);
      one.insert(one.end(), p, p + bufs[i].len);
    }
    state_.written.insert(state_.written.end(), one.begin(), one.end());
    state_.writes.push_back(std::move(one));
    if (!state_.writes_pend) return WriteResult::kDone;
    state_.write_pending = true;
    return WriteResult::kPending;
  }
  WriteResult shutdown() override {
    CHECK(!state_.write_pending);
    ++state_.shutdown_calls;
    if (!state_.shutdown_pends) return WriteResult::kDone;
    state_.shutdown_pending = true;
    return WriteResult::kPending;
  }
  void close(bool reset) override {
    if (state_.close_calls++ == 0) state_.close_reset = reset;
  }
  const transport::Failure& failure() const override { return failure_; }
  std::string_view connect_stage() const override { return "fake: connect"; }
  std::string_view route() const override { return state_.route; }
  size_t max_write_size() const override { return state_.max_write; }
  void release_views() override {
    ++state_.release_views_calls;
    state_.views_held = false;
  }

 private:
  FakeState& state_;
  transport::Failure failure_{ErrorKind::kOther, "fake failure"};
};

class FakeDialer final : public outbound::Dialer {
 public:
  explicit FakeDialer(FakeState& state) : state_(state) {}
  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override {
    ++state_.dials;
    state_.target = target;
    if (state_.dial_error) return *state_.dial_error;
    state_.handler = &handler;
    return std::unique_ptr<transport::Stream>(std::make_unique<FakeStream>(state_));
  }

 private:
  FakeState& state_;
};

// The loop, a listener whose connections become tunnels, and the fake outbound behind them.
class Harness {
 public:
  explicit Harness(config::Profile profile = {}) : dialer_(fake) {
    log::set_level(log::Level::kError);  // refusals and failures are expected here
    profile_ = std::make_shared<const config::Profile>(std::move(profile));
    uv_loop_init(&loop_);
    context_ = std::make_unique<tunnel::LoopContext>(&loop_);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, on_connection) == 0);
    int len = sizeof addr;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }

  ~Harness() {
    // A test that failed half-way leaves a tunnel: stop it the way the process would.
    if (context_->tunnel_count > 0) context_->close_all("test finished");
    run_until([&] { return fake.handler == nullptr || fake.destroyed; }, 5s);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    // Every tunnel is closing by now, so this ends once their close callbacks have run.
    uv_run(&loop_, UV_RUN_DEFAULT);
    context_.reset();
    const int rc = uv_loop_close(&loop_);
    CHECK_MESSAGE(rc == 0, "handles left open on the loop");
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  uint16_t port() const { return port_; }
  tunnel::LoopContext& context() { return *context_; }

  // One loop iteration, then the fake stream's asynchronous close callback if it is due.
  void turn() {
    uv_run(&loop_, UV_RUN_NOWAIT);
    if (fake.close_calls > 0 && !fake.closed_delivered && fake.handler != nullptr) {
      fake.closed_delivered = true;
      fake.handler->on_stream_closed();  // may free the tunnel (and the stream)
    }
  }

  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      turn();
      usleep(100);
    }
    return done();
  }
  // Runs the loop for `duration` whatever happens (to show that something does not happen).
  void run_for(std::chrono::milliseconds duration) {
    run_until([] { return false; }, duration);
  }

  // The handler the tunnel gave the dialer, for driving the fake outbound.
  transport::StreamHandler& handler() {
    REQUIRE(fake.handler != nullptr);
    return *fake.handler;
  }

  FakeState fake;
  int accepts = 0;
  int accept_errors = 0;

 private:
  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Harness*>(server->data);
    if (status != 0) return;
    ++self->accepts;
    if (tunnel::Tunnel::accept(*self->context_, self->profile_,
                               std::make_unique<socks5::HandshakeParser>(), self->dialer_,
                               server) != 0) {
      ++self->accept_errors;
    }
  }

  uv_loop_t loop_{};
  std::unique_ptr<tunnel::LoopContext> context_;
  uv_tcp_t listener_{};
  std::shared_ptr<const config::Profile> profile_;
  FakeDialer dialer_;
  uint16_t port_ = 0;
};

// The app: a non-blocking loopback socket; every wait turns the harness loop, with a deadline.
class App {
 public:
  explicit App(Harness& harness, int receive_buffer = 0) : harness_(harness) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(harness.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A loopback connect completes in the kernel's accept queue, without the loop.
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~App() {
    if (fd_ >= 0) ::close(fd_);
  }
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  void send(ByteView data) {
    size_t off = 0;
    const bool ok = harness_.run_until([&] {
      while (off < data.size()) {
        const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
      }
      return true;
    });
    REQUIRE_MESSAGE(ok, "app send stalled after " << off << " of " << data.size() << " bytes");
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

  // Whatever has arrived, without waiting.
  Bytes take_available() {
    Bytes out;
    uint8_t buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.insert(out.end(), buf, buf + n);
        continue;
      }
      if (n == 0) eof_ = true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) error_ = errno;
      return out;
    }
  }
  // Reads until `n` bytes arrived in all (returns them), EOF or an error, or the deadline.
  Bytes receive(size_t n, std::chrono::milliseconds limit = 5s) {
    Bytes out;
    harness_.run_until(
        [&] {
          Bytes more = take_available();
          out.insert(out.end(), more.begin(), more.end());
          return out.size() >= n || eof_ || error_ != 0;
        },
        limit);
    return out;
  }
  // Reads (discarding) until EOF or an error; true at EOF.
  bool wait_eof(std::chrono::milliseconds limit = 5s) {
    harness_.run_until(
        [&] {
          take_available();
          return eof_ || error_ != 0;
        },
        limit);
    return eof_;
  }
  bool eof() const { return eof_; }
  int error() const { return error_; }

 private:
  Harness& harness_;
  int fd_ = -1;
  bool eof_ = false;
  int error_ = 0;
};

const Bytes kGreeting = {0x05, 0x01, 0x00};
// CONNECT 127.0.0.1:5555
const Bytes kRequest = {0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x15, 0xb3};
const Bytes kMethodReply = {0x05, 0x00};

Bytes reply(uint8_t rep) {
  return {0x05, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
}

Bytes cat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Greeting + request (+ early data) sent, the dial seen, the outbound reported connected, and the
// method reply plus success reply read by the app.
void establish(Harness& h, App& app, ByteView early = {}) {
  app.send(cat(cat(kGreeting, kRequest), early));
  REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
  h.handler().on_stream_connected();
  REQUIRE(app.receive(12) == cat(kMethodReply, reply(0x00)));
}

// The tunnel has freed itself: its stream was closed and destroyed, no tunnel is counted and
// every read block is back in the pool.
void check_freed(Harness& h) {
  CHECK(h.run_until([&] { return h.fake.destroyed; }));
  CHECK(h.fake.close_calls >= 1);
  CHECK(h.fake.closed_delivered);
  CHECK(h.context().tunnel_count == 0);
  CHECK(h.context().tunnels == nullptr);
  CHECK(h.context().read_pool.in_use() == 0);
}

}  // namespace

TEST_CASE("tunnel: the SOCKS reply goes out only after on_stream_connected") {
  Harness h;
  App app(h);
  app.send(cat(kGreeting, kRequest));
  REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
  CHECK(h.accepts == 1);
  CHECK(h.accept_errors == 0);
  CHECK(h.context().tunnel_count == 1);
  CHECK(h.fake.dials == 1);
  CHECK(h.fake.target == TargetAddress::ipv4({127, 0, 0, 1}, 5555));

  // Connecting: the app has the method reply, but no answer to its request.
  h.run_for(100ms);
  CHECK(app.take_available() == kMethodReply);
  CHECK(!h.fake.reading);

  h.handler().on_stream_connected();
  CHECK(app.receive(10) == reply(0x00));
  CHECK(h.fake.reading);  // the downlink is open once the app has been answered
  CHECK(h.fake.writes.empty());

  // Ending both ways frees the tunnel.
  app.shutdown_write();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));
  h.handler().on_stream_eof();
  CHECK(app.wait_eof());
  check_freed(h);
  CHECK(!h.fake.close_reset);
}

TEST_CASE("tunnel: a failed connect answers with the code for its ErrorKind, then frees") {
  struct Case {
    ErrorKind kind;
    uint8_t rep;
  };
  const Case cases[] = {{ErrorKind::kRefused, 0x05},    {ErrorKind::kTimeout, 0x06},
                        {ErrorKind::kResolve, 0x04},    {ErrorKind::kUnreachable, 0x04},
                        {ErrorKind::kNoResponse, 0x01}, {ErrorKind::kProtocol, 0x01}};
  for (const Case& c : cases) {
    CAPTURE(error_kind_name(c.kind));
    Harness h;
    App app(h);
    app.send(cat(kGreeting, kRequest));
    REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
    h.handler().on_stream_failed(transport::Failure{c.kind, "fake connect failure"});
    CHECK(app.receive(12) == cat(kMethodReply, reply(c.rep)));
    CHECK(h.fake.close_calls >= 1);  // the outbound is dropped at once
    CHECK(h.fake.writes.empty());
    // The tunnel ends its side after the refusal; the app leaves and the tunnel goes.
    CHECK(app.wait_eof());
    app.close();
    check_freed(h);
  }
}

TEST_CASE("tunnel: a dial error answers the app without any stream") {
  Harness h;
  h.fake.dial_error = Error{ErrorKind::kUnreachable, "target rejected: too long"};
  App app(h);
  app.send(cat(kGreeting, kRequest));
  CHECK(app.receive(12) == cat(kMethodReply, reply(0x04)));
  CHECK(h.fake.dials == 1);
  CHECK(h.fake.handler == nullptr);
  CHECK(app.wait_eof());
  app.close();
  CHECK(h.run_until([&] { return h.context().tunnel_count == 0; }));
  CHECK(h.context().read_pool.in_use() == 0);
}

TEST_CASE("tunnel: an outbound that never connects is answered TTL expired at the deadline") {
  config::Profile profile;
  profile.timeouts.connect = 150ms;
  Harness h(profile);
  App app(h);
  const auto start = std::chrono::steady_clock::now();
  app.send(cat(kGreeting, kRequest));
  CHECK(app.receive(12, 3s) == cat(kMethodReply, reply(0x06)));
  CHECK(std::chrono::steady_clock::now() - start >= 140ms);
  CHECK(h.fake.close_calls >= 1);
  app.close();
  check_freed(h);
}

TEST_CASE("tunnel: app bytes reach the outbound intact, early data first") {
  Harness h;
  App app(h);
  const Bytes early = to_bytes("GET / HTTP/1.1\r\n\r\n");
  app.send(cat(cat(kGreeting, kRequest), early));
  REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
  h.run_for(50ms);
  CHECK(h.fake.writes.empty());  // nothing goes before the outbound is up
  h.handler().on_stream_connected();
  REQUIRE(app.receive(12) == cat(kMethodReply, reply(0x00)));
  REQUIRE(h.run_until([&] { return !h.fake.writes.empty(); }));
  CHECK(h.fake.writes.front() == early);  // the early data alone, as the first write

  Bytes more(300 * 1024);
  for (size_t i = 0; i < more.size(); ++i)
    more[i] = pattern(i);
  app.send(more);
  REQUIRE(h.run_until([&] { return h.fake.written.size() == early.size() + more.size(); }));
  CHECK(h.fake.written == cat(early, more));
}

TEST_CASE("tunnel: uplink writes respect max_write_size()") {
  Harness h;
  h.fake.max_write = 1000;
  App app(h);
  establish(h, app);
  Bytes data(20000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = pattern(i);
  app.send(data);
  REQUIRE(h.run_until([&] { return h.fake.written.size() == data.size(); }));
  CHECK(h.fake.written == data);
  for (const Bytes& w : h.fake.writes)
    CHECK(w.size() <= 1000);
}

TEST_CASE("tunnel: a pending outbound write stops app reads until on_stream_write_done") {
  Harness h;
  h.fake.writes_pend = true;
  App app(h);
  establish(h, app);
  app.send(to_bytes("first"));
  REQUIRE(h.run_until([&] { return h.fake.write_pending; }));
  CHECK(h.fake.writes.size() == 1);
  CHECK(h.fake.writes[0] == to_bytes("first"));

  // The block being written is not read into again: the next bytes wait in the socket.
  app.send(to_bytes("second"));
  h.run_for(100ms);
  CHECK(h.fake.writes.size() == 1);

  h.fake.write_pending = false;
  h.handler().on_stream_write_done();
  REQUIRE(h.run_until([&] { return h.fake.write_pending; }));
  CHECK(h.fake.written == to_bytes("firstsecond"));

  // App EOF while a write pends: shutdown() waits for it.
  app.shutdown_write();
  h.run_for(100ms);
  CHECK(h.fake.shutdown_calls == 0);
  h.fake.write_pending = false;
  h.handler().on_stream_write_done();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));
  CHECK(h.fake.write_calls_after_shutdown == 0);
}

TEST_CASE("tunnel: downlink views reach the app in order") {
  Harness h;
  App app(h);
  establish(h, app);
  std::string parts[] = {"hello", ", ", "", "world", "!"};
  uv_buf_t views[5];
  for (size_t i = 0; i < 5; ++i)
    views[i] = uv_buf_init(parts[i].data(), static_cast<unsigned>(parts[i].size()));
  CHECK(h.handler().on_stream_views(views, 5));  // small: written at once, nothing held
  CHECK(app.receive(13) == to_bytes("hello, world!"));

  std::string again = "and more";
  uv_buf_t view = uv_buf_init(again.data(), static_cast<unsigned>(again.size()));
  CHECK(h.handler().on_stream_views(&view, 1));
  CHECK(app.receive(8) == to_bytes("and more"));
  CHECK(h.fake.release_views_calls == 0);  // nothing was held, so nothing to release
}

TEST_CASE("tunnel: a slow app makes the tunnel hold the views, then release_views()") {
  Harness h;
  App app(h, 4096);  // a small receive window: the app reads nothing for a while
  establish(h, app);

  // More than the socket buffers on the way can take: the write to the app must queue.
  constexpr size_t kBig = 8u << 20;
  Bytes big(kBig);
  for (size_t i = 0; i < kBig; ++i)
    big[i] = pattern(i);
  const size_t cut = 1000;  // two views over one buffer
  uv_buf_t views[2] = {
      uv_buf_init(reinterpret_cast<char*>(big.data()), cut),
      uv_buf_init(reinterpret_cast<char*>(big.data() + cut), static_cast<unsigned>(kBig - cut))};
  const bool consumed = h.handler().on_stream_views(views, 2);
  CHECK_FALSE(consumed);  // the views are still being written: the stream keeps them
  h.fake.views_held = !consumed;
  h.run_for(100ms);
  CHECK(h.fake.release_views_calls == 0);

  // The app reads: everything arrives, in order, and then the tunnel gives the views back.
  const Bytes got = app.receive(kBig, 20s);
  CHECK(got.size() == kBig);
  CHECK(got == big);
  CHECK(h.run_until([&] { return h.fake.release_views_calls == 1; }));
  CHECK_FALSE(h.fake.views_held);

  // After the release the next views flow again, behind the first ones.
  std::string tail = "tail";
  uv_buf_t view = uv_buf_init(tail.data(), 4);
  CHECK(h.handler().on_stream_views(&view, 1));
  CHECK(app.receive(4) == to_bytes("tail"));
  CHECK(h.fake.release_views_calls == 1);
}

TEST_CASE("tunnel: app EOF shuts the outbound down; outbound EOF reaches the app; both free it") {
  Harness h;
  App app(h);
  establish(h, app, to_bytes("ping"));
  REQUIRE(h.run_until([&] { return h.fake.written == to_bytes("ping"); }));

  app.shutdown_write();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));
  CHECK(h.fake.close_calls == 0);  // half-closed, not closed: the answer may still come
  CHECK(h.context().tunnel_count == 1);

  std::string answer = "pong";
  uv_buf_t view = uv_buf_init(answer.data(), 4);
  CHECK(h.handler().on_stream_views(&view, 1));
  h.handler().on_stream_eof();
  CHECK(app.receive(5) == to_bytes("pong"));  // then EOF
  CHECK(app.wait_eof());

  check_freed(h);
  CHECK_FALSE(h.fake.close_reset);  // a clean end is a graceful close
  CHECK(h.fake.shutdown_calls == 1);
}

TEST_CASE("tunnel: outbound EOF first, then app EOF; a pending shutdown is waited for") {
  Harness h;
  h.fake.shutdown_pends = true;
  App app(h);
  establish(h, app);

  h.handler().on_stream_eof();
  CHECK(app.wait_eof());
  CHECK(h.context().tunnel_count == 1);  // the app may still send

  app.send(to_bytes("late"));
  REQUIRE(h.run_until([&] { return h.fake.written == to_bytes("late"); }));
  app.shutdown_write();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_pending; }));
  // END is not on the wire yet: the tunnel waits for it.
  h.run_for(100ms);
  CHECK(h.fake.close_calls == 0);
  CHECK(h.context().tunnel_count == 1);

  h.fake.shutdown_pending = false;
  h.handler().on_stream_write_done();
  check_freed(h);
  CHECK_FALSE(h.fake.close_reset);
}

// The summary line's reason for a clean end, captured from the log at info.
std::string summary_reason(const std::function<void(Harness&, App&)>& run) {
  std::vector<std::string> lines;
  log::set_sink([&](log::Level, std::string_view line) { lines.emplace_back(line); });
  {
    Harness h;
    log::set_level(log::Level::kInfo);  // after the harness, which quiets the log
    App app(h);
    establish(h, app);
    run(h, app);
    check_freed(h);
  }
  log::set_sink(nullptr);
  log::set_level(log::Level::kError);
  for (const std::string& line : lines) {
    if (line.find("tunnel ") != std::string::npos && line.find(" B, ") != std::string::npos) {
      const size_t at = line.find(" s, ", line.find(" B, down "));  // after the duration
      return line.substr(at + 4);
    }
  }
  std::string all;
  for (const std::string& line : lines)
    all += line + "\n";
  return "(no summary line in: " + all + ")";
}

TEST_CASE("tunnel: downlink_only after nothing at all says the server never answered") {
  // A server that took the request and says nothing (a newcomer's silent test server): the
  // summary names that, not just the timeout that ended it.
  const std::string nothing = summary_reason([](Harness& h, App& app) {
    app.shutdown_write();
    REQUIRE(h.run_until([&] { return h.fake.close_calls > 0; }, 5s));
  });
  CHECK(
      nothing.starts_with("the server sent nothing at all (it took the request and never "
                          "answered"));
  CHECK(nothing.ends_with("after the app finished sending (timeouts.downlink_only)"));
  // After an answer it is an ordinary end.
  const std::string answered = summary_reason([](Harness& h, App& app) {
    std::string answer = "pong";
    uv_buf_t view = uv_buf_init(answer.data(), 4);
    CHECK(h.handler().on_stream_views(&view, 1));
    CHECK(app.receive(4) == to_bytes("pong"));
    app.shutdown_write();
    REQUIRE(h.run_until([&] { return h.fake.close_calls > 0; }, 5s));
  });
  CHECK(answered.starts_with("done: the server sent nothing more for "));
}

TEST_CASE("tunnel: a direct tunnel that got nothing blames the target, not a server") {
  const std::string nothing = summary_reason([](Harness& h, App& app) {
    h.fake.route = "direct";
    app.shutdown_write();
    REQUIRE(h.run_until([&] { return h.fake.close_calls > 0; }, 5s));
  });
  CHECK(nothing.starts_with("the target sent nothing at all (direct: no server involved)"));
  CHECK(nothing.find("server that refuses us") == std::string::npos);
}

TEST_CASE("tunnel: a far side that ended first without a byte is named in the summary") {
  const std::string silent =
      "closed from the server's side before any byte (the target closed at once, or the server "
      "dropped it)";
  // Outbound EOF first, nothing downloaded, then the app leaves: the far side ended silently.
  CHECK(summary_reason([](Harness& h, App& app) {
          h.handler().on_stream_eof();
          REQUIRE(app.wait_eof());
          app.shutdown_write();
        }) == silent);
  // The same with an answer before the EOF: an ordinary end.
  CHECK(summary_reason([](Harness& h, App& app) {
          std::string answer = "pong";
          uv_buf_t view = uv_buf_init(answer.data(), 4);
          CHECK(h.handler().on_stream_views(&view, 1));
          h.handler().on_stream_eof();
          CHECK(app.receive(4) == to_bytes("pong"));
          REQUIRE(app.wait_eof());
          app.shutdown_write();
        }) == "closed");
  // The app ended first: whatever the far side does after, it is not a silent end of its own.
  CHECK(summary_reason([](Harness& h, App& app) {
          app.shutdown_write();
          REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));
          h.handler().on_stream_eof();
          REQUIRE(app.wait_eof());
        }) == "closed");
}

TEST_CASE("tunnel: an outbound failure after data resets the app and frees the tunnel") {
  Harness h;
  App app(h);
  establish(h, app, to_bytes("x"));
  REQUIRE(h.run_until([&] { return !h.fake.written.empty(); }));
  h.handler().on_stream_failed(transport::Failure{ErrorKind::kReset, "fake: cut"});
  CHECK(h.run_until([&] {
    app.take_available();
    return app.eof() || app.error() != 0;
  }));
  CHECK(app.error() == ECONNRESET);  // not a clean EOF: the app must not trust the stream
  check_freed(h);
  CHECK(h.fake.close_reset);
}

TEST_CASE(
    "tunnel: an outbound that reads into the tunnel's buffer is paused while the app is slow") {
  // The other downlink style (a plain stream): on_stream_buffer + on_stream_read. While the write
  // to the app pends, the tunnel must read_stop() the outbound, and read_start() it afterwards.
  Harness h;
  App app(h, 4096);
  establish(h, app);
  REQUIRE(h.fake.reading);
  constexpr size_t kBig = 8u << 20;
  size_t delivered = 0;
  bool saw_stop = false;
  Bytes got;
  const bool done = h.run_until(
      [&] {
        if (h.fake.reading && delivered < kBig) {
          const MutableByteView buf = h.handler().on_stream_buffer();
          REQUIRE(!buf.empty());
          const size_t n = std::min(buf.size(), kBig - delivered);
          for (size_t i = 0; i < n; ++i)
            buf[i] = pattern(delivered + i);
          delivered += n;
          h.handler().on_stream_read(n);
        } else if (!h.fake.reading && delivered < kBig) {
          saw_stop = true;
        }
        // The app starts reading only once the tunnel has pushed back.
        if (saw_stop || delivered == kBig) {
          Bytes more = app.take_available();
          got.insert(got.end(), more.begin(), more.end());
        }
        return got.size() >= kBig;
      },
      20s);
  CHECK(done);
  CHECK(saw_stop);
  CHECK(h.fake.read_starts > 1);  // started again after each pause
  CHECK(got.size() == kBig);
  bool intact = got.size() == kBig;
  for (size_t i = 0; intact && i < kBig; ++i)
    intact = got[i] == pattern(i);
  CHECK(intact);
  CHECK(h.fake.release_views_calls == 0);  // no views were involved
  h.handler().on_stream_eof();
  CHECK(app.wait_eof());
  app.shutdown_write();
  check_freed(h);
}

TEST_CASE("tunnel: after the app's FIN, downlink_only ends a tunnel the server left quiet") {
  // A server that never passes END on (sing-box's) answers and then says nothing more.
  config::Profile profile;
  profile.timeouts.downlink_only = 300ms;
  Harness h(profile);
  App app(h);
  establish(h, app, to_bytes("request"));
  app.shutdown_write();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));

  // A download that goes on well past downlink_only is not cut while data keeps coming.
  std::string chunk(1000, 'd');
  const auto start = std::chrono::steady_clock::now();
  size_t sent = 0;
  auto quiet_from = start;
  for (int i = 0; i < 12; ++i) {  // 12 x 100 ms: four times downlink_only
    uv_buf_t view = uv_buf_init(chunk.data(), static_cast<unsigned>(chunk.size()));
    CHECK(h.handler().on_stream_views(&view, 1));
    quiet_from = std::chrono::steady_clock::now();
    sent += chunk.size();
    h.run_for(100ms);
    CHECK(h.fake.close_calls == 0);
  }
  CHECK(app.receive(sent).size() == sent);

  // Then the server goes quiet: the tunnel ends within downlink_only, cleanly.
  REQUIRE(h.run_until([&] { return h.fake.close_calls > 0; }, 3s));
  const auto waited = std::chrono::steady_clock::now() - quiet_from;
  CHECK(waited >= 250ms);
  CHECK(waited < 2s);
  CHECK(std::chrono::steady_clock::now() - start > 1200ms);
  CHECK(app.wait_eof());  // a clean end (FIN), as for a server close without END after ours
  CHECK_FALSE(h.fake.close_reset);
  check_freed(h);
}

TEST_CASE("tunnel: after the server's end, uplink_only ends a tunnel the app left open") {
  config::Profile profile;
  profile.timeouts.uplink_only = 300ms;
  Harness h(profile);
  App app(h);
  establish(h, app);
  std::string answer = "done";
  uv_buf_t view = uv_buf_init(answer.data(), 4);
  CHECK(h.handler().on_stream_views(&view, 1));
  h.handler().on_stream_eof();
  CHECK(app.receive(4) == to_bytes("done"));

  // The app keeps its side open and silent; the server has finished.
  const auto quiet_from = std::chrono::steady_clock::now();
  REQUIRE(h.run_until([&] { return h.fake.close_calls > 0; }, 3s));
  const auto waited = std::chrono::steady_clock::now() - quiet_from;
  CHECK(waited >= 250ms);
  CHECK(waited < 2s);
  CHECK(h.fake.shutdown_calls == 0);  // the app never finished its side
  check_freed(h);
}

TEST_CASE("tunnel: with both directions open only the idle timeout applies") {
  config::Profile profile;
  profile.timeouts.uplink_only = 100ms;
  profile.timeouts.downlink_only = 100ms;
  Harness h(profile);
  App app(h);
  establish(h, app);
  h.run_for(600ms);  // six times either one-direction limit
  CHECK(h.fake.close_calls == 0);
  CHECK(h.context().tunnel_count == 1);
}

TEST_CASE("tunnel: downlink_only never cuts a download the app is slow to read") {
  // After the app's FIN the write to the app queues behind a slow reader: that is not a quiet
  // server, and a clean end there would drop the queued bytes.
  config::Profile profile;
  profile.timeouts.downlink_only = 200ms;
  Harness h(profile);
  App app(h, 4096);
  establish(h, app);
  app.shutdown_write();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));

  constexpr size_t kBig = 8u << 20;
  Bytes big(kBig);
  for (size_t i = 0; i < kBig; ++i)
    big[i] = pattern(i);
  uv_buf_t view = uv_buf_init(reinterpret_cast<char*>(big.data()), kBig);
  const bool consumed = h.handler().on_stream_views(&view, 1);
  CHECK_FALSE(consumed);
  h.fake.views_held = !consumed;
  h.run_for(1s);  // five times downlink_only with the write still queued
  CHECK(h.fake.close_calls == 0);

  const Bytes got = app.receive(kBig, 20s);
  CHECK(got.size() == kBig);
  CHECK(got == big);
  CHECK(h.run_until([&] { return h.fake.release_views_calls == 1; }));
  // Once it has all gone and the server stays quiet, downlink_only ends the tunnel.
  CHECK(h.run_until([&] { return h.fake.close_calls > 0; }, 3s));
  CHECK(app.wait_eof());
  check_freed(h);
}

// Early data (StreamHandler::on_stream_writable): the outbound takes the app's first bytes for
// its opening, so the app is answered before on_stream_connected; reads wait for it.
TEST_CASE("tunnel: on_stream_writable answers the app and sends its bytes before connected") {
  Harness h;
  App app(h);
  h.fake.writes_pend = true;  // the first write completes with the opening
  app.send(cat(kGreeting, kRequest));
  REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
  h.run_for(50ms);
  CHECK(app.take_available() == kMethodReply);

  h.handler().on_stream_writable();
  CHECK(app.receive(10) == reply(0x00));
  CHECK(!h.fake.reading);  // no downlink before the opening is done
  const Bytes first = to_bytes("GET / HTTP/1.1\r\n\r\n");
  app.send(first);
  REQUIRE(h.run_until([&] { return !h.fake.writes.empty(); }));
  CHECK(h.fake.writes.front() == first);

  h.handler().on_stream_connected();
  CHECK(h.fake.reading);
  h.fake.write_pending = false;
  h.handler().on_stream_write_done();
  const Bytes more = to_bytes("more");
  app.send(more);
  REQUIRE(h.run_until([&] { return h.fake.written.size() == first.size() + more.size(); }));
  CHECK(h.fake.written == cat(first, more));
}

TEST_CASE("tunnel: after on_stream_writable a failed opening resets the app") {
  Harness h;
  App app(h);
  app.send(cat(kGreeting, kRequest));
  REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
  h.handler().on_stream_writable();
  CHECK(app.receive(12) == cat(kMethodReply, reply(0x00)));
  h.handler().on_stream_failed(transport::Failure{ErrorKind::kProtocol, "upgrade refused"});
  CHECK(h.run_until([&] {
    app.take_available();
    return app.eof() || app.error() != 0;
  }));
  CHECK(app.error() == ECONNRESET);  // the app was answered: a reset is all that is left
  check_freed(h);
  CHECK(h.fake.close_reset);
}

TEST_CASE("tunnel: after on_stream_writable the connect timeout still bounds the opening") {
  config::Profile profile;
  profile.timeouts.connect = 150ms;
  profile.timeouts.downlink_only = 20ms;
  Harness h(profile);
  App app(h);
  const auto start = std::chrono::steady_clock::now();
  app.send(cat(kGreeting, kRequest));
  REQUIRE(h.run_until([&] { return h.fake.connect_called; }));
  h.handler().on_stream_writable();
  CHECK(app.receive(12) == cat(kMethodReply, reply(0x00)));
  // The app's FIN must not start downlink_only while the opening is still on its way.
  app.shutdown_write();
  REQUIRE(h.run_until([&] { return h.fake.shutdown_calls == 1; }));
  CHECK(h.run_until(
      [&] {
        app.take_available();
        return app.eof() || app.error() != 0;
      },
      3s));
  CHECK(app.error() == ECONNRESET);
  CHECK(std::chrono::steady_clock::now() - start >= 140ms);
  check_freed(h);
}
