#include "harness/grpc_gun_server.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace vmlocal::itest {
namespace {

constexpr size_t kBackendReadLimit = 1 << 20;  // response bytes queued before reading stops
constexpr size_t kUplinkLimit = 4 << 20;       // request bytes queued before TLS reads stop
constexpr int32_t kWindow = 4 << 20;

int select_h2(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
              unsigned int inlen, void*) {
  // RFC 7301: the client's list is length-prefixed names; take "h2" or refuse.
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == 2 && std::memcmp(in + i + 1, "h2", 2) == 0) {
      *out = in + i + 1;
      *outlen = 2;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// protobuf base-128 varint (protobuf.dev, "Encoding").
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view in, size_t& pos, uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return false;
    const auto b = static_cast<uint8_t>(in[pos++]);
    v |= uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// One connection: TLS, the nghttp2 server session, and the backend of its one call.
struct Connection {
  GrpcGunServer* server = nullptr;
  const GrpcGunOptions* options = nullptr;
  std::mutex* mutex = nullptr;
  std::vector<std::string>* requests = nullptr;
  std::atomic<uint64_t>* calls = nullptr;
  std::atomic<uint64_t>* refused = nullptr;

  int fd = -1;
  SSL* ssl = nullptr;
  nghttp2_session* session = nullptr;
  std::string tls_out;  // serialized HTTP/2 frames waiting for SSL_write
  int32_t stream_id = -1;
  std::string path, method, content_type, headers_seen;
  Socket backend;
  std::string uplink;       // gRPC bytes received, not yet decoded
  std::string backend_out;  // decoded data for the backend
  std::string downlink;     // encoded Hunks for the client
  bool client_ended = false;
  bool backend_shut = false;
  bool backend_eof = false;
  bool trailers_sent = false;
  bool stream_closed = false;
  bool broken = false;

  static Connection& of(void* p) { return *static_cast<Connection*>(p); }

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* p) {
    of(p).tls_out.append(reinterpret_cast<const char*>(data), len);
    return static_cast<ssize_t>(len);
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    Connection& c = of(p);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        c.stream_id < 0) {
      c.stream_id = frame->hd.stream_id;
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* p) {
    Connection& c = of(p);
    if (frame->hd.stream_id != c.stream_id || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    const std::string key(reinterpret_cast<const char*>(name), namelen);
    const std::string text(reinterpret_cast<const char*>(value), valuelen);
    c.headers_seen += key + ": " + text + "\n";
    if (key == ":path") c.path = text;
    if (key == ":method") c.method = text;
    if (key == "content-type") c.content_type = text;
    return 0;
  }

  static ssize_t read_downlink(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                               size_t length, uint32_t* flags, nghttp2_data_source*, void* p) {
    Connection& c = of(p);
    if (c.downlink.empty()) {
      if (!c.backend_eof) return NGHTTP2_ERR_DEFERRED;
      // The call's end: trailers with grpc-status 0 (PROTOCOL-HTTP2.md "Responses").
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      if (!c.trailers_sent) {
        c.trailers_sent = true;
        static const char kStatus[] = "grpc-status";
        static const char kZero[] = "0";
        nghttp2_nv trailer{(uint8_t*)kStatus, (uint8_t*)kZero, sizeof kStatus - 1, sizeof kZero - 1,
                           NGHTTP2_NV_FLAG_NONE};
        nghttp2_submit_trailer(session, stream_id, &trailer, 1);
      }
      return 0;
    }
    const size_t n = std::min(length, c.downlink.size());
    std::memcpy(buf, c.downlink.data(), n);
    c.downlink.erase(0, n);
    return static_cast<ssize_t>(n);
  }

  void answer(bool ok) {
    static const char kStatus[] = ":status";
    static const char k200[] = "200";
    static const char kType[] = "content-type";
    static const char kGrpc[] = "application/grpc";
    static const char kGrpcStatus[] = "grpc-status";
    static const char k12[] = "12";
    std::vector<nghttp2_nv> nva = {
        {(uint8_t*)kStatus, (uint8_t*)k200, sizeof kStatus - 1, sizeof k200 - 1, 0},
        {(uint8_t*)kType, (uint8_t*)kGrpc, sizeof kType - 1, sizeof kGrpc - 1, 0}};
    if (!ok) {
      nva.push_back(
          {(uint8_t*)kGrpcStatus, (uint8_t*)k12, sizeof kGrpcStatus - 1, sizeof k12 - 1, 0});
      nghttp2_submit_response(session, stream_id, nva.data(), nva.size(), nullptr);
      return;
    }
    nghttp2_data_provider provider{};
    provider.read_callback = read_downlink;
    nghttp2_submit_response(session, stream_id, nva.data(), nva.size(), &provider);
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    Connection& c = of(p);
    if (frame->hd.stream_id != c.stream_id) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      {
        std::lock_guard lock(*c.mutex);
        c.requests->push_back(c.headers_seen);
      }
      const bool ok = c.method == "POST" && c.path == "/" + c.options->service_name + "/Tun" &&
                      c.content_type.rfind("application/grpc", 0) == 0;
      if (!ok) {
        ++*c.refused;
        c.answer(false);
        return 0;
      }
      try {
        c.backend = Socket::connect(c.options->backend, Deadline::after(std::chrono::seconds(10)));
      } catch (const std::exception&) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      ++*c.calls;
      c.answer(true);
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) c.client_ended = true;
    return 0;
  }

  static int on_data(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                     void* p) {
    Connection& c = of(p);
    if (stream_id != c.stream_id) return 0;
    c.uplink.append(reinterpret_cast<const char*>(data), len);
    if (!GrpcGunServer::decode_hunks(c.uplink, c.backend_out)) {
      c.broken = true;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_close(nghttp2_session*, int32_t stream_id, uint32_t, void* p) {
    Connection& c = of(p);
    if (stream_id == c.stream_id) c.stream_closed = true;
    return 0;
  }

  bool flush_tls() {
    while (!tls_out.empty()) {
      ERR_clear_error();
      const int n = SSL_write(ssl, tls_out.data(), static_cast<int>(tls_out.size()));
      if (n <= 0) {
        const int e = SSL_get_error(ssl, n);
        return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ;
      }
      tls_out.erase(0, static_cast<size_t>(n));
    }
    return true;
  }

  bool handshake(const std::atomic<bool>& stop) {
    for (;;) {
      ERR_clear_error();
      const int rc = SSL_accept(ssl);
      if (rc == 1) return true;
      const int e = SSL_get_error(ssl, rc);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
      pollfd pfd{fd, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      if (poll(&pfd, 1, 100) < 0 && errno != EINTR) return false;
      if (stop.load()) return false;
    }
  }

  void run(const std::atomic<bool>& stop) {
    if (!handshake(stop)) return;
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_server_new(&session, cb, this);
    nghttp2_session_callbacks_del(cb);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindow)}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kWindow);

    std::array<uint8_t, 64 * 1024> buf{};
    bool tls_eof = false;
    while (!stop.load() && !broken) {
      if (nghttp2_session_send(session) != 0 || !flush_tls()) break;
      if (stream_closed && tls_out.empty()) break;
      if (tls_eof && tls_out.empty()) break;
      std::array<pollfd, 2> pfds{};
      pfds[0].fd = fd;
      pfds[0].events = static_cast<short>(
          (uplink.size() + backend_out.size() < kUplinkLimit && !tls_eof ? POLLIN : 0) |
          (tls_out.empty() ? 0 : POLLOUT));
      nfds_t count = 1;
      if (backend.valid()) {
        pfds[1].fd = backend.fd();
        pfds[1].events =
            static_cast<short>((!backend_eof && downlink.size() < kBackendReadLimit ? POLLIN : 0) |
                               (backend_out.empty() ? 0 : POLLOUT));
        count = 2;
      }
      // SSL may hold decrypted bytes that poll cannot see.
      const int timeout = SSL_pending(ssl) > 0 ? 0 : 100;
      if (poll(pfds.data(), count, timeout) < 0 && errno != EINTR) break;
      if ((pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 || SSL_pending(ssl) > 0) {
        for (;;) {
          ERR_clear_error();
          const int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
          if (n <= 0) {
            const int e = SSL_get_error(ssl, n);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) tls_eof = true;
            break;
          }
          if (nghttp2_session_mem_recv(session, buf.data(), static_cast<size_t>(n)) < 0) {
            broken = true;
            break;
          }
        }
      }
      if (count == 2 && (pfds[1].revents & POLLOUT) != 0 && !backend_out.empty()) {
        const ssize_t n =
            ::send(backend.fd(), backend_out.data(), backend_out.size(), MSG_NOSIGNAL);
        if (n > 0)
          backend_out.erase(0, static_cast<size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
          break;
      }
      if (backend.valid() && client_ended && backend_out.empty() && !backend_shut) {
        backend_shut = true;
        ::shutdown(backend.fd(), SHUT_WR);
      }
      if (count == 2 && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !backend_eof) {
        const ssize_t n = ::recv(backend.fd(), buf.data(), buf.size(), 0);
        if (n > 0) {
          downlink += GrpcGunServer::encode_hunk(
              std::string_view(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n)));
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          backend_eof = true;
        }
        nghttp2_session_resume_data(session, stream_id);
      }
    }
    nghttp2_session_del(session);
  }
};

}  // namespace

std::string GrpcGunServer::encode_hunk(std::string_view data) {
  std::string message = "\x0a";  // Hunk.data: field 1, wire type 2
  put_varint(message, data.size());
  message.append(data);
  std::string out(1, '\0');  // Compressed-Flag 0
  const auto len = static_cast<uint32_t>(message.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(len >> shift));
  return out + message;
}

bool GrpcGunServer::decode_hunks(std::string& buffer, std::string& out) {
  size_t pos = 0;
  while (buffer.size() - pos >= 5) {
    if (buffer[pos] != 0) return false;  // compressed: never negotiated
    uint32_t len = 0;
    for (size_t i = 1; i <= 4; ++i)
      len = (len << 8) | static_cast<uint8_t>(buffer[pos + i]);
    if (buffer.size() - pos - 5 < len) break;
    const std::string_view message(buffer.data() + pos + 5, len);
    size_t at = 0;
    while (at < message.size()) {
      uint64_t tag = 0;
      uint64_t size = 0;
      if (!get_varint(message, at, tag) || (tag & 7) != 2 || !get_varint(message, at, size) ||
          size > message.size() - at) {
        return false;
      }
      if (tag >> 3 == 1) out.append(message.substr(at, size));
      at += size;
    }
    pos += 5 + len;
  }
  buffer.erase(0, pos);
  return true;
}

GrpcGunServer::GrpcGunServer(GrpcGunOptions options) : options_(std::move(options)) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr || SSL_CTX_use_certificate_chain_file(ctx, options_.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, options_.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ctx != nullptr) SSL_CTX_free(ctx);
    throw std::runtime_error("grpc gun server: cannot load the certificate or key");
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(ctx, select_h2, nullptr);
  ssl_ctx_ = ctx;
  listener_ = Socket::listen(Endpoint::loopback(Family::kV4));
  port_ = listener_.local_endpoint().port;
  acceptor_ = std::thread([this] { accept_loop(); });
}

GrpcGunServer::~GrpcGunServer() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  for (std::thread& t : workers_)
    t.join();
  SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::vector<std::string> GrpcGunServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void GrpcGunServer::accept_loop() {
  while (!stop_.load()) {
    pollfd pfd{listener_.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    const int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void GrpcGunServer::serve(int fd) {
  Socket owner(fd);
  Connection c;
  c.server = this;
  c.options = &options_;
  c.mutex = &mutex_;
  c.requests = &requests_;
  c.calls = &calls_;
  c.refused = &refused_;
  c.fd = fd;
  c.ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
  SSL_set_fd(c.ssl, fd);
  c.run(stop_);
  SSL_free(c.ssl);
}

}  // namespace vmlocal::itest
