// Drives one transport::Stream on a private libuv loop for the TLS and WebSocket stream tests:
// a StreamHandler that records what happens, uploads a byte pattern in multi-iovec writes,
// and can pause reading now and then (read_stop, then read_start from a timer) to exercise
// backpressure. Plus a blocking loopback listener for the in-thread test servers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::test {

inline uint8_t pattern_byte(uint64_t i) {
  return static_cast<uint8_t>((i * 2654435761u) >> 13);
}

// A listening socket on 127.0.0.1 with a kernel-chosen port; accept() waits at most 10 s.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("listener setup failed");
    }
    port_ = ntohs(addr.sin_port);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const { return port_; }
  // A connected socket with 10 s send/receive timeouts, or -1.
  int accept() const {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class StreamDriver final : public transport::StreamHandler {
 public:
  struct Options {
    uint64_t upload = 0;          // pattern bytes to write once connected
    bool shutdown_after = false;  // shutdown() after the upload
    uint64_t pause_every = 0;     // read_stop after this many bytes, read_start 2 ms later
    bool close_on_eof = true;
    bool reset_on_eof = false;        // close(true) on EOF, as the tunnel does on a cut stream
    bool close_when_pending = false;  // close(false) as soon as a write returns kPending
  };

  explicit StreamDriver(Options options) : options_(options) {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &timer_);
    timer_.data = this;
  }
  ~StreamDriver() {
    if (stream && !closed) {
      stream->close(true);
      run(std::chrono::seconds(5));
    }
    stream.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  uv_loop_t* loop() { return &loop_; }

  // Runs the loop until the stream reported closed (true) or `limit` passed (false).
  bool run(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!closed && std::chrono::steady_clock::now() < end) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (!closed) usleep(200);
    }
    return closed;
  }
  // Runs until `done()` or the limit.
  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      usleep(200);
    }
    return done();
  }

  std::unique_ptr<transport::Stream> stream;
  bool connected = false;
  bool eof = false;
  bool closed = false;
  std::optional<transport::Failure> failure;
  Bytes received;
  uint64_t sent = 0;  // bytes handed to write(), including one still pending
  int pauses = 0;
  bool closed_while_pending = false;

  void on_stream_connected() override {
    connected = true;
    stream->read_start();
    send_more();
  }
  void on_stream_failed(const transport::Failure& f) override {
    failure = f;
    stream->close(true);
  }
  MutableByteView on_stream_buffer() override { return MutableByteView(buffer_); }
  void on_stream_read(size_t n) override {
    received.insert(received.end(), buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(n));
    if (options_.pause_every > 0 && received.size() / options_.pause_every != pause_mark_) {
      pause_mark_ = received.size() / options_.pause_every;
      ++pauses;
      stream->read_stop();
      uv_timer_start(&timer_, on_timer, 2, 0);
    }
  }
  void on_stream_eof() override {
    eof = true;
    if (options_.reset_on_eof) {
      stream->close(true);
    } else if (options_.close_on_eof) {
      stream->close(false);
    }
  }
  void on_stream_write_done() override {
    write_pending_ = false;
    send_more();
  }
  void on_stream_closed() override { closed = true; }

 private:
  static void on_timer(uv_timer_t* timer) {
    auto* self = static_cast<StreamDriver*>(timer->data);
    if (!self->closed && self->stream) self->stream->read_start();
  }

  // Writes the next up-to-64 KiB of the pattern as five iovecs of uneven sizes.
  void send_more() {
    while (!write_pending_ && sent < options_.upload && !failure) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(64 * 1024, options_.upload - sent));
      for (size_t i = 0; i < n; ++i)
        out_[i] = pattern_byte(sent + i);
      const size_t cuts[] = {0,
                             std::min<size_t>(2, n),
                             std::min<size_t>(1000, n),
                             std::min<size_t>(31000, n),
                             std::min<size_t>(n > 16 ? n - 16 : n, n),
                             n};
      size_t count = 0;
      for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
        if (cuts[i + 1] > cuts[i]) {
          bufs_[count++] = uv_buf_init(reinterpret_cast<char*>(out_.data() + cuts[i]),
                                       static_cast<unsigned>(cuts[i + 1] - cuts[i]));
        }
      }
      sent += n;
      switch (stream->write(bufs_.data(), count)) {
        case transport::Stream::WriteResult::kDone:
          break;
        case transport::Stream::WriteResult::kPending:
          write_pending_ = true;
          if (options_.close_when_pending) {
            closed_while_pending = true;
            stream->close(false);
            return;
          }
          break;
        case transport::Stream::WriteResult::kFailed:
          failure = stream->failure();
          stream->close(true);
          return;
      }
    }
    if (!write_pending_ && sent == options_.upload && options_.shutdown_after && !shut_) {
      shut_ = true;
      stream->shutdown();
    }
  }

  Options options_;
  uv_loop_t loop_{};
  uv_timer_t timer_{};
  std::array<uint8_t, 70000> buffer_{};
  std::array<uint8_t, 64 * 1024> out_{};
  std::array<uv_buf_t, 8> bufs_{};
  bool write_pending_ = false;
  bool shut_ = false;
  uint64_t pause_mark_ = 0;
};

inline bool matches_pattern(const Bytes& data, uint64_t expected_size) {
  if (data.size() != expected_size) return false;
  for (uint64_t i = 0; i < expected_size; ++i) {
    if (data[i] != pattern_byte(i)) return false;
  }
  return true;
}

}  // namespace vmlocal::test
