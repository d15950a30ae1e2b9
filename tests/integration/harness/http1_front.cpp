#include "harness/http1_front.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "harness/deadline.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {
namespace {

constexpr std::size_t kMaxHead = 16 * 1024;
constexpr std::string_view kWsGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3

Deadline io_deadline() {
  return Deadline::after(TcpServer::kIoTimeout);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

struct Request {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return std::nullopt;
  }
  bool header_has_token(std::string_view name, std::string_view token) const {
    const auto value = header(name);
    if (!value) return false;
    std::string_view rest = *value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      if (lower(trim(rest.substr(0, comma))) == token) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return false;
  }
};

std::optional<Request> parse_head(std::string_view head) {
  Request r;
  std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return std::nullopt;
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  r.version = line.substr(sp2 + 1);
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    const std::string_view h = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    if (h.empty()) break;
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    r.headers.emplace_back(lower(h.substr(0, colon)), std::string(trim(h.substr(colon + 1))));
  }
  return r;
}

std::string base64_std(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// RFC 4648 §5 without padding, strictly: any '+', '/' or '=' is refused.
std::optional<Bytes> base64url_raw_decode(std::string_view text) {
  std::string s;
  for (char c : text) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;
    s += c == '-' ? '+' : c == '_' ? '/' : c;
  }
  if (s.size() % 4 == 1) return std::nullopt;
  const std::size_t pad = (4 - s.size() % 4) % 4;
  s.append(pad, '=');
  Bytes out(s.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()),
                                static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string ws_accept(std::string_view key) {
  const std::string input = std::string(key) + std::string(kWsGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
  return base64_std(digest, len);
}

// An unmasked server frame header (RFC 6455 §5.2).
std::size_t frame_header(std::uint8_t opcode, std::uint64_t len, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(0x80 | opcode);
  if (len < 126) {
    out[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(len >> 8);
    out[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i)
    out[2 + i] = static_cast<std::uint8_t>(len >> (56 - 8 * i));
  return 10;
}

struct Relay {
  Relay(Socket& c, Socket b) : client(c), backend(std::move(b)) {}
  Socket& client;
  Socket backend;
  std::mutex send_mutex;  // client sends come from both directions (data, pong, close)
  std::atomic<bool> close_sent{false};

  void send_client(const std::uint8_t* data, std::size_t n) {
    std::lock_guard lock(send_mutex);
    client.send_all(std::span<const std::uint8_t>(data, n), io_deadline());
  }
  void send_frame(std::uint8_t opcode, const std::uint8_t* payload, std::size_t n) {
    std::uint8_t header[10];
    const std::size_t h = frame_header(opcode, n, header);
    std::lock_guard lock(send_mutex);
    client.send_all(std::span<const std::uint8_t>(header, h), io_deadline());
    if (n > 0) client.send_all(std::span<const std::uint8_t>(payload, n), io_deadline());
  }
};

}  // namespace

Http1Front::Http1Front(Http1FrontOptions options)
    : options_(std::move(options)),
      server_("http1-front", Family::kV4, [this](Socket& client) { serve(client); }) {}

std::vector<std::string> Http1Front::request_heads() const {
  std::lock_guard lock(mutex_);
  return heads_;
}

std::vector<std::string> Http1Front::errors() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

void Http1Front::serve(Socket& client) {
  // 1. The request head.
  std::string head;
  Bytes leftover;
  {
    std::uint8_t buf[4096];
    for (;;) {
      const std::size_t n = client.recv_some(buf, io_deadline());
      if (n == 0) return;
      head.append(reinterpret_cast<const char*>(buf), n);
      const std::size_t end = head.find("\r\n\r\n");
      if (end != std::string::npos) {
        leftover.assign(head.begin() + static_cast<std::ptrdiff_t>(end + 4), head.end());
        head.resize(end + 4);
        break;
      }
      if (head.size() > kMaxHead) return;
    }
  }
  {
    std::lock_guard lock(mutex_);
    heads_.push_back(head);
  }
  auto refuse = [&](std::string_view status) {
    ++refusals_;
    const std::string answer =
        "HTTP/1.1 " + std::string(status) + "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    client.send_all(answer, io_deadline());
  };

  // 2. Check it against the document of the mode.
  const std::optional<Request> request = parse_head(head);
  if (!request || request->method != "GET" || request->version != "HTTP/1.1" ||
      !request->header_has_token("upgrade", "websocket") ||
      !request->header_has_token("connection", "upgrade")) {
    refuse("400 Bad Request");
    return;
  }
  if (!options_.host.empty() && request->header("host") != options_.host) {
    refuse("404 Not Found");
    return;
  }
  const bool ws = options_.mode == FrontMode::kWebSocket;
  Bytes early;
  std::string echo_protocol;
  if (ws) {
    const auto key = request->header("sec-websocket-key");
    if (!key || key->size() != 24 || request->header("sec-websocket-version") != "13") {
      refuse("400 Bad Request");
      return;
    }
  }
  const bool path_form = ws && options_.max_early_data > 0 && options_.early_data_header.empty();
  if (path_form) {
    if (!request->target.starts_with(options_.path)) {
      refuse("404 Not Found");
      return;
    }
    const auto decoded = base64url_raw_decode(request->target.substr(options_.path.size()));
    if (!decoded || decoded->size() > options_.max_early_data) {
      refuse("400 Bad Request");
      return;
    }
    early = *decoded;
  } else if (request->target != options_.path) {
    refuse("404 Not Found");
    return;
  }
  if (ws && options_.max_early_data > 0 && !options_.early_data_header.empty()) {
    if (const auto value = request->header(lower(options_.early_data_header))) {
      const auto decoded = base64url_raw_decode(*value);
      if (!decoded || decoded->size() > options_.max_early_data) {
        refuse("400 Bad Request");
        return;
      }
      early = *decoded;
      if (lower(options_.early_data_header) == "sec-websocket-protocol") echo_protocol = *value;
    }
  }

  // 3. The backend, then the answer.
  Relay relay(client, Socket::connect(options_.backend, io_deadline()));
  std::string answer =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\n";
  if (ws)
    answer += "Sec-WebSocket-Accept: " + ws_accept(*request->header("sec-websocket-key")) + "\r\n";
  if (!echo_protocol.empty()) answer += "Sec-WebSocket-Protocol: " + echo_protocol + "\r\n";
  answer += "\r\n";
  client.send_all(answer, io_deadline());
  ++upgrades_;
  early_data_bytes_ += early.size();
  if (!early.empty()) relay.backend.send_all(early, io_deadline());

  auto record = [this](const std::string& what) {
    std::lock_guard lock(mutex_);
    errors_.push_back(what);
  };

  // 4. Downlink on its own thread: backend bytes to the client, framed for WebSocket.
  std::thread down([&] {
    std::vector<std::uint8_t> buf(64 * 1024);
    try {
      for (;;) {
        const std::size_t n = relay.backend.recv_some(buf, io_deadline());
        if (n == 0) break;
        if (ws) {
          relay.send_frame(0x2, buf.data(), n);
        } else {
          relay.send_client(buf.data(), n);
        }
      }
      if (ws) {
        const std::uint8_t normal[2] = {0x03, 0xE8};  // 1000
        relay.close_sent = true;
        relay.send_frame(0x8, normal, 2);
      } else {
        client.shutdown_write();
      }
    } catch (const std::exception&) {
      client.shutdown_both();  // pass the failure on; wakes the uplink
    }
  });

  // 5. Uplink here: client bytes (frames, for WebSocket) to the backend.
  try {
    if (!ws) {
      if (!leftover.empty()) relay.backend.send_all(leftover, io_deadline());
      std::vector<std::uint8_t> buf(64 * 1024);
      for (;;) {
        const std::size_t n = client.recv_some(buf, io_deadline());
        if (n == 0) break;
        relay.backend.send_all(std::span<const std::uint8_t>(buf.data(), n), io_deadline());
      }
      relay.backend.shutdown_write();
    } else {
      Bytes in = std::move(leftover);
      std::size_t at = 0;
      std::vector<std::uint8_t> buf(64 * 1024);
      bool closed = false;
      while (!closed) {
        // One whole frame at `at`, or read more.
        const std::size_t have = in.size() - at;
        std::size_t need = 2;
        std::uint64_t len = 0;
        if (have >= 2) {
          const std::uint8_t b1 = in[at + 1];
          if ((b1 & 0x80) == 0) throw std::runtime_error("a client frame without a mask");
          len = b1 & 0x7F;
          std::size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
          need = 2 + ext + 4;
          if (have >= need) {
            if (ext > 0) {
              len = 0;
              for (std::size_t i = 0; i < ext; ++i)
                len = (len << 8) | in[at + 2 + i];
            }
            need += static_cast<std::size_t>(len);
          }
        }
        if (have < need) {
          if (at > 0) {
            in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(at));
            at = 0;
          }
          const std::size_t n = client.recv_some(buf, io_deadline());
          if (n == 0) break;  // the connection ended without a Close
          in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
          continue;
        }
        const std::uint8_t opcode = in[at] & 0x0F;
        const std::size_t mask_at = need - static_cast<std::size_t>(len) - 4;
        std::uint8_t* payload = in.data() + at + need - static_cast<std::size_t>(len);
        const std::uint8_t* mask = in.data() + at + mask_at;
        for (std::uint64_t i = 0; i < len; ++i)
          payload[i] ^= mask[i % 4];
        const std::size_t n = static_cast<std::size_t>(len);
        at += need;
        switch (opcode) {
          case 0x0:
          case 0x2:
            relay.backend.send_all(std::span<const std::uint8_t>(payload, n), io_deadline());
            break;
          case 0x8:
            if (!relay.close_sent.exchange(true))
              relay.send_frame(0x8, payload, std::min<std::size_t>(n, 2));
            closed = true;
            break;
          case 0x9:
            relay.send_frame(0xA, payload, n);
            break;
          case 0xA:
            break;
          default:
            throw std::runtime_error("client frame with opcode " + std::to_string(opcode));
        }
      }
      relay.backend.shutdown_both();  // WebSocket has no half-close: the tunnel is over
    }
  } catch (const SocketError&) {
    // A peer went away (v2ray closes, even with a reset, once the target is done and refuses
    // what the client still sends, its END): the relay passes that on, as a real server would.
    relay.backend.shutdown_both();
  } catch (const std::exception& e) {
    record(std::string("uplink: ") + e.what());  // the client broke the protocol
    relay.backend.shutdown_both();
  }
  down.join();
}

}  // namespace vmlocal::itest
