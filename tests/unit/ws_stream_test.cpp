// WsStream over a real TcpStream against a WebSocket server in a thread (built from the same
// frame codec in the server role): the upgrade with frames right behind the 101, echo of
// masked uploads as fragmented frames with pings in between (answered with pongs), read
// pauses, the close handshake, refused upgrades, and what a close sends before the socket goes.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "stream_harness.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/transport/tcp_stream.hpp"
#include "vmlocal/transport/ws_stream.hpp"

using namespace vmlocal;
using namespace vmlocal::transport;
using vmlocal::test::Listener;
using vmlocal::test::StreamDriver;

namespace {

bool send_all(int fd, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    const ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool send_frame(int fd, ws::Opcode op, ByteView payload, bool fin = true) {
  std::array<uint8_t, ws::kMaxHeaderSize> header{};
  const size_t n = ws::encode_header(op, payload.size(), nullptr, header);
  if (!fin) header[0] &= 0x7F;
  return send_all(fd, header.data(), n) && send_all(fd, payload.data(), payload.size());
}

// Reads the request head; returns it (without the blank line), or "" on EOF/timeout.
std::string read_head(int fd) {
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) return {};
    head += c;
  }
  return head;
}

std::string header_value(const std::string& head, const std::string& name) {
  const size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return {};
  const size_t start = at + name.size() + 4;
  return head.substr(start, head.find("\r\n", start) - start);
}

enum class Mode { kEcho, kNotFound, kBadAccept };

struct ServerResult {
  std::string request_head;
  uint64_t echoed = 0;
  int pings_sent = 0;
  int pongs = 0;
  std::string last_pong;
  uint16_t client_close_code = 0;
  bool got_client_close = false;
  std::string error;
};

// Serves one connection. kEcho: answers 101 with a "hello" frame right behind it, echoes
// `expected` payload bytes back in three fragments around a ping, then sends Close(1000).
void serve(const Listener& listener, Mode mode, uint64_t expected, ServerResult& out) {
  const int fd = listener.accept();
  if (fd < 0) {
    out.error = "no connection";
    return;
  }
  out.request_head = read_head(fd);
  const std::string key = header_value(out.request_head, "Sec-WebSocket-Key");
  if (mode == Mode::kNotFound) {
    const std::string r = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    send_all(fd, r.data(), r.size());
    char c;
    while (::recv(fd, &c, 1, 0) > 0) {
    }
    ::close(fd);
    return;
  }
  const std::string accept =
      mode == Mode::kBadAccept ? "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" : ws::accept_for_key(key);
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
      accept + "\r\n\r\n";
  // A first frame in the same segment as the 101.
  response += std::string("\x82\x05hello", 7);
  send_all(fd, response.data(), response.size());
  if (mode == Mode::kBadAccept) {
    char c;
    while (::recv(fd, &c, 1, 0) > 0) {
    }
    ::close(fd);
    return;
  }

  ws::FrameDecoder decoder(ws::Role::kServer);
  Bytes pending;  // payload received, not yet echoed
  std::array<uint8_t, 65536> buf{};
  bool closing = false;
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    MutableByteView input(buf.data(), static_cast<size_t>(n));
    while (!input.empty()) {
      ws::DecodeStep step = decoder.next(input);
      input = input.subspan(step.consumed);
      if (step.status == ws::DecodeStatus::kNeedMore) break;
      if (step.status == ws::DecodeStatus::kError) {
        out.error = decoder.error();
        ::close(fd);
        return;
      }
      if (step.status == ws::DecodeStatus::kControl) {
        if (step.opcode == ws::Opcode::kPong) {
          ++out.pongs;
          out.last_pong.assign(step.data.begin(), step.data.end());
        }
        if (step.opcode == ws::Opcode::kClose) {
          std::string reason;
          out.got_client_close = ws::parse_close_payload(step.data, out.client_close_code, reason);
        }
        continue;
      }
      pending.insert(pending.end(), step.data.begin(), step.data.end());
    }
    // Echo what came, as three fragments with a ping in the middle.
    if (!pending.empty()) {
      const size_t third = pending.size() / 3;
      const std::string ping = "p" + std::to_string(out.pings_sent++);
      ByteView all(pending);
      send_frame(fd, ws::Opcode::kBinary, all.first(third), false);
      send_frame(fd, ws::Opcode::kPing, as_bytes(ping));
      send_frame(fd, ws::Opcode::kContinuation, all.subspan(third, third), false);
      send_frame(fd, ws::Opcode::kContinuation, all.subspan(2 * third), true);
      out.echoed += pending.size();
      pending.clear();
    }
    if (out.echoed == expected && !closing) {
      closing = true;
      std::array<uint8_t, ws::kMaxControlPayload> body{};
      const size_t len = ws::encode_close_payload(ws::kCloseNormal, "bye", body);
      send_frame(fd, ws::Opcode::kClose, ByteView(body.data(), len));
    }
  }
  ::close(fd);
}

WsOptions options_for(uint16_t port) {
  WsOptions o;
  o.request.host = "127.0.0.1:" + std::to_string(port);
  o.request.path = "/ws";
  o.request.headers = {{"User-Agent", "vmess-local-test"}};
  return o;
}

void attach(StreamDriver& driver, crypto::Random& random, uint16_t port) {
  uv_loop_t* loop = driver.loop();
  driver.stream = std::make_unique<WsStream>(
      loop, driver, options_for(port), random, [loop, port](StreamHandler& h) {
        return std::make_unique<TcpStream>(loop, h, "127.0.0.1", port);
      });
  driver.stream->connect();
}

}  // namespace

TEST_CASE("ws stream: upgrade, 4 MiB echoed as fragments with pings, close handshake") {
  constexpr uint64_t kSize = 4 * 1024 * 1024;
  crypto::SystemRandom random;
  Listener listener;
  ServerResult result;
  std::thread server([&] { serve(listener, Mode::kEcho, kSize, result); });
  StreamDriver::Options options;
  options.upload = kSize;
  options.shutdown_after = true;  // nothing on the wire: the echo must still come back
  options.pause_every = 256 * 1024;
  StreamDriver driver(options);
  attach(driver, random, listener.port());
  const bool ran = driver.run(std::chrono::seconds(60));
  server.join();
  REQUIRE(ran);
  INFO((driver.failure ? driver.failure->message : result.error));
  CHECK_FALSE(driver.failure.has_value());
  CHECK(result.error.empty());
  // The request as sent.
  CHECK(result.request_head.starts_with("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:"));
  CHECK(header_value(result.request_head, "Upgrade") == "websocket");
  CHECK(header_value(result.request_head, "Sec-WebSocket-Version") == "13");
  CHECK(header_value(result.request_head, "User-Agent") == "vmess-local-test");
  // "hello" from behind the 101, then the echo, intact.
  REQUIRE(driver.received.size() == 5 + kSize);
  CHECK(std::string(driver.received.begin(), driver.received.begin() + 5) == "hello");
  CHECK(test::matches_pattern(Bytes(driver.received.begin() + 5, driver.received.end()), kSize));
  CHECK(result.echoed == kSize);
  CHECK(result.pings_sent > 0);
  // Every ping got a pong, except that an unsent pong may be replaced by a newer one (§5.5.3).
  CHECK(result.pongs >= 1);
  CHECK(result.pongs <= result.pings_sent);
  CHECK(result.last_pong == "p" + std::to_string(result.pings_sent - 1));
  CHECK(driver.eof);
  CHECK(static_cast<WsStream*>(driver.stream.get())->peer_close_code() == ws::kCloseNormal);
  CHECK(result.got_client_close);  // the close was answered
  CHECK(result.client_close_code == ws::kCloseNormal);
  CHECK(driver.pauses > 4);
}

TEST_CASE("ws stream: a refused upgrade and a wrong accept fail with the reason") {
  crypto::SystemRandom random;
  for (Mode mode : {Mode::kNotFound, Mode::kBadAccept}) {
    Listener listener;
    ServerResult result;
    std::thread server([&] { serve(listener, mode, 0, result); });
    StreamDriver driver({});
    attach(driver, random, listener.port());
    CHECK(driver.stream->connect_stage() == "TCP: connect");
    const bool ran = driver.run();
    server.join();
    REQUIRE(ran);
    REQUIRE(driver.failure.has_value());
    CHECK_FALSE(driver.connected);
    if (mode == Mode::kNotFound) {
      CHECK(driver.failure->message ==
            "WebSocket: upgrade refused: HTTP 404 Not Found (check [server.ws] path \"/ws\" and "
            "host \"127.0.0.1:" +
                std::to_string(listener.port()) + "\")");
    } else {
      CHECK(driver.failure->message.starts_with(
          "WebSocket: wrong Sec-WebSocket-Accept \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\""));
    }
  }
}

TEST_CASE("ws stream: the server closing during the upgrade") {
  crypto::SystemRandom random;
  Listener listener;
  std::thread server([&] {
    const int fd = listener.accept();
    if (fd < 0) return;
    read_head(fd);
    ::close(fd);
  });
  StreamDriver driver({});
  attach(driver, random, listener.port());
  const bool ran = driver.run();
  server.join();
  REQUIRE(ran);
  REQUIRE(driver.failure.has_value());
  CHECK(driver.failure->message ==
        "WebSocket: the server closed the connection during the upgrade (check [server.ws] path "
        "\"/ws\" and host \"127.0.0.1:" +
            std::to_string(listener.port()) + "\")");
}

namespace {

constexpr uint16_t kGoingAway = 1001;

// What a test server saw after the upgrade: payload bytes (checked against the upload
// pattern), the client's Close, and how the connection ended.
struct Seen {
  uint64_t payload = 0;
  bool pattern_ok = true;
  bool got_close = false;
  uint16_t close_code = 0;
  bool data_after_close = false;
  bool clean_end = false;  // recv() returned 0 (FIN), not an error such as a reset
  std::string error;
};

// Upgrades one connection; `after_upgrade` runs before reading. Then reads, decoding as the
// server (which rejects unmasked frames), until the connection ends.
template <typename F>
void serve_and_read(const Listener& listener, Seen& out, F after_upgrade) {
  const int fd = listener.accept();
  if (fd < 0) {
    out.error = "no connection";
    return;
  }
  const std::string head = read_head(fd);
  const std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      ws::accept_for_key(header_value(head, "Sec-WebSocket-Key")) + "\r\n\r\n";
  send_all(fd, response.data(), response.size());
  after_upgrade(fd);
  ws::FrameDecoder decoder(ws::Role::kServer);
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n == 0) {
      out.clean_end = true;
      break;
    }
    if (n < 0) {
      out.error = std::string("recv: ") + std::strerror(errno);
      break;
    }
    MutableByteView input(buf.data(), static_cast<size_t>(n));
    while (!input.empty()) {
      const ws::DecodeStep step = decoder.next(input);
      input = input.subspan(step.consumed);
      if (step.status == ws::DecodeStatus::kNeedMore) break;
      if (step.status == ws::DecodeStatus::kError) {
        out.error = "decode: " + decoder.error();
        ::close(fd);
        return;
      }
      if (step.status == ws::DecodeStatus::kControl) {
        if (step.opcode == ws::Opcode::kClose) {
          std::string reason;
          out.got_close = ws::parse_close_payload(step.data, out.close_code, reason);
        }
        continue;
      }
      if (out.got_close && !step.data.empty()) out.data_after_close = true;
      for (uint8_t b : step.data) {
        if (b != test::pattern_byte(out.payload++)) out.pattern_ok = false;
      }
    }
  }
  ::close(fd);
}

}  // namespace

TEST_CASE("ws stream: a Close from the server mid-stream is answered before the socket closes") {
  // The tunnel resets the outbound when the server's Close cuts a VMess chunk; the Close
  // answer (§5.5.1: the same code, masked) must still reach the server first.
  crypto::SystemRandom random;
  Listener listener;
  Seen seen;
  std::thread server([&] {
    serve_and_read(listener, seen, [](int fd) {
      const std::string part = "a chunk cut short";
      send_frame(fd, ws::Opcode::kBinary, as_bytes(part));
      std::array<uint8_t, ws::kMaxControlPayload> body{};
      const size_t len = ws::encode_close_payload(kGoingAway, "restart", body);
      send_frame(fd, ws::Opcode::kClose, ByteView(body.data(), len));
    });
  });
  StreamDriver::Options options;
  options.reset_on_eof = true;
  StreamDriver driver(options);
  attach(driver, random, listener.port());
  const bool ran = driver.run();
  server.join();
  REQUIRE(ran);
  CHECK(driver.eof);
  CHECK(std::string(driver.received.begin(), driver.received.end()) == "a chunk cut short");
  INFO("server: " << seen.error);
  CHECK(seen.got_close);  // decoded as the server: masked
  CHECK(seen.close_code == kGoingAway);
  CHECK(seen.clean_end);
}

TEST_CASE("ws stream: a graceful close sends the pending frame, then Close, then FIN") {
  crypto::SystemRandom random;
  Listener listener;
  Seen seen;
  // The server reads nothing at first, so the socket fills and a write stays pending.
  std::thread server([&] { serve_and_read(listener, seen, [](int) { usleep(300 * 1000); }); });
  StreamDriver::Options options;
  options.upload = 256 * 1024 * 1024;  // far more than the socket buffers hold
  options.close_when_pending = true;
  StreamDriver driver(options);
  attach(driver, random, listener.port());
  const bool ran = driver.run(std::chrono::seconds(20));
  server.join();
  REQUIRE(ran);
  REQUIRE(driver.closed_while_pending);
  INFO("server: " << seen.error);
  CHECK(seen.payload == driver.sent);  // every byte handed to write(), the pending write too
  CHECK(seen.pattern_ok);
  CHECK(seen.got_close);
  CHECK(seen.close_code == ws::kCloseNormal);
  CHECK_FALSE(seen.data_after_close);
  CHECK(seen.clean_end);
}

TEST_CASE("ws stream: a graceful close gives up after kCloseDrainMs when the server never reads") {
  crypto::SystemRandom random;
  Listener listener;
  std::atomic<bool> client_closed{false};
  std::thread server([&] {
    const int fd = listener.accept();
    if (fd < 0) return;
    const std::string head = read_head(fd);
    const std::string response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        ws::accept_for_key(header_value(head, "Sec-WebSocket-Key")) + "\r\n\r\n";
    send_all(fd, response.data(), response.size());
    for (int i = 0; i < 1000 && !client_closed; ++i)  // at most 10 s
      usleep(10 * 1000);
    ::close(fd);
  });
  StreamDriver::Options options;
  options.upload = 256 * 1024 * 1024;
  options.close_when_pending = true;
  StreamDriver driver(options);
  attach(driver, random, listener.port());
  REQUIRE(driver.run_until([&] { return driver.closed_while_pending || driver.closed; }));
  const auto start = std::chrono::steady_clock::now();
  const bool ran = driver.run(std::chrono::seconds(10));
  const auto waited = std::chrono::steady_clock::now() - start;
  client_closed = true;
  server.join();
  REQUIRE(ran);
  CHECK(driver.closed_while_pending);
  CHECK(waited >= std::chrono::milliseconds(kCloseDrainMs * 9 / 10));
  CHECK(waited < std::chrono::milliseconds(kCloseDrainMs * 3));
}
