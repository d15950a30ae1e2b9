// TcpStream against a peer in this thread: how the end of the peer's stream is reported.
//
// libuv reports UV_EOF without calling read(2) when poll says POLLHUP after a short read
// (uv__stream_io). A reset that lands right behind data makes the kernel say POLLHUP as well,
// so unless the stream asks the socket for its pending error, the reset passes for a clean
// end (found by the chaos suite: a response cut by a reset reached the app as a whole one).
// Here the data and the RST (or FIN) are both on the socket before the stream starts reading,
// so the first wakeup sees them together.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "stream_harness.hpp"
#include "vmlocal/transport/tcp_stream.hpp"

using vmlocal::MutableByteView;
using vmlocal::test::Listener;
using vmlocal::transport::Failure;
using vmlocal::transport::FailureKind;
using vmlocal::transport::TcpStream;

namespace {

// Starts reading only when told, and records how the stream ends.
struct Recorder final : vmlocal::transport::StreamHandler {
  std::unique_ptr<TcpStream> stream;
  bool connected = false;
  bool eof = false;
  bool closed = false;
  std::optional<Failure> failure;
  std::string received;
  std::array<uint8_t, 4096> buffer{};

  void on_stream_connected() override { connected = true; }
  void on_stream_failed(const Failure& f) override {
    failure = f;
    stream->close(true);
  }
  MutableByteView on_stream_buffer() override { return MutableByteView(buffer); }
  void on_stream_read(size_t n) override {
    received.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
  void on_stream_eof() override {
    eof = true;
    stream->close(false);
  }
  void on_stream_write_done() override {}
  void on_stream_closed() override { closed = true; }
};

struct Ending {
  std::string received;
  bool eof = false;
  std::optional<Failure> failure;
};

// Connects a TcpStream to a peer that sends "hello" and then closes, with a reset or a FIN,
// before the stream reads anything; returns what the stream reported.
Ending peer_sends_then_closes(bool reset) {
  Listener listener;
  uv_loop_t loop;
  uv_loop_init(&loop);
  Recorder r;
  r.stream = std::make_unique<TcpStream>(&loop, r, "127.0.0.1", listener.port());
  int peer = -1;
  std::thread accepter([&] { peer = listener.accept(); });
  r.stream->connect();
  auto run_until = [&](const bool& flag) {
    for (int i = 0; i < 20000 && !flag; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      if (!flag) usleep(500);
    }
  };
  run_until(r.connected);
  accepter.join();
  REQUIRE(r.connected);
  REQUIRE(peer >= 0);
  REQUIRE(::send(peer, "hello", 5, MSG_NOSIGNAL) == 5);
  if (reset) {
    linger l{1, 0};
    ::setsockopt(peer, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(peer);
  usleep(50 * 1000);  // loopback: both are on our socket long before this
  r.stream->read_start();
  run_until(r.closed);
  CHECK(r.closed);
  r.stream.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return Ending{r.received, r.eof, r.failure};
}

}  // namespace

TEST_CASE("TcpStream: a reset right behind data is a failure, not an end of stream") {
  Ending e = peer_sends_then_closes(true);
  CHECK(e.received == "hello");
  CHECK_FALSE(e.eof);
  REQUIRE(e.failure);
  CHECK(e.failure->kind == FailureKind::kReset);
  CHECK(e.failure->message.find("reset") != std::string::npos);
}

TEST_CASE("TcpStream: a FIN right behind data is an end of stream") {
  Ending e = peer_sends_then_closes(false);
  CHECK(e.received == "hello");
  CHECK(e.eof);
  CHECK_FALSE(e.failure);
}
