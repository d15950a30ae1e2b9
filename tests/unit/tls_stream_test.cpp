// TlsStream over a real TcpStream against an OpenSSL server in a thread, with a certificate
// made here: bulk data both ways through backpressure pauses, close_notify, each way the
// certificate check can go (CA file, system store, name, pins, insecure), TLS 1.2, session
// resumption, the stage a stalled handshake reports, and what a close sends before the socket
// goes.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "stream_harness.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/transport/tcp_stream.hpp"
#include "vmlocal/transport/tls_stream.hpp"
#include "vmlocal/transport/upstream.hpp"

using namespace vmlocal;
using namespace vmlocal::transport;
using vmlocal::test::Listener;
using vmlocal::test::StreamDriver;

namespace {

// A self-signed P-256 certificate for localhost / 127.0.0.1, written to a PEM file.
struct TestCertificate {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string pem_path;
  PinSha256 pin{};

  TestCertificate() {
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());

    char path[] = "/tmp/vmlocal-tls-test-XXXXXX";
    const int fd = mkstemp(path);
    pem_path = path;
    std::FILE* f = fdopen(fd, "w");
    PEM_write_X509(f, cert);
    std::fclose(f);

    unsigned char* der = nullptr;
    const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    SHA256(der, static_cast<size_t>(len), pin.data());
    OPENSSL_free(der);
  }
  ~TestCertificate() {
    std::remove(pem_path.c_str());
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

const TestCertificate& certificate() {
  static TestCertificate c;
  return c;
}

// An OpenSSL server for `connections` connections in a thread; `serve` runs per connection
// after the handshake (a failed handshake is counted and skipped).
class TlsServer {
 public:
  using Serve = std::function<void(SSL*)>;

  TlsServer(Serve serve, int connections = 1, int max_version = 0) : serve_(std::move(serve)) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, certificate().cert);
    SSL_CTX_use_PrivateKey(ctx_, certificate().key);
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx_, max_version);
    thread_ = std::thread([this, connections] {
      for (int i = 0; i < connections; ++i) {
        const int fd = listener_.accept();
        if (fd < 0) return;
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
          serve_(ssl);
        } else {
          ++failed_handshakes;
        }
        SSL_free(ssl);
        ::close(fd);
        ERR_clear_error();
      }
    });
  }
  ~TlsServer() {
    thread_.join();
    SSL_CTX_free(ctx_);
  }

  uint16_t port() const { return listener_.port(); }
  std::atomic<int> failed_handshakes{0};

 private:
  Listener listener_;
  Serve serve_;
  SSL_CTX* ctx_ = nullptr;
  std::thread thread_;
};

// Echoes until the client's close_notify, then answers with its own.
void echo(SSL* ssl) {
  uint8_t buf[16384];
  for (;;) {
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    if (SSL_write(ssl, buf, n) != n) return;
  }
  SSL_shutdown(ssl);
}

TlsOptions trusting_options() {
  TlsOptions o;
  o.server_name = "localhost";
  o.verify_name = "localhost";
  o.ca_file = certificate().pem_path;
  return o;
}

std::unique_ptr<TlsContext> make_context(TlsOptions options) {
  auto made = TlsContext::create(std::move(options));
  if (auto* error = std::get_if<std::string>(&made)) FAIL(*error);
  return std::move(std::get<std::unique_ptr<TlsContext>>(made));
}

void attach(StreamDriver& driver, TlsContext& context, uint16_t port) {
  uv_loop_t* loop = driver.loop();
  driver.stream =
      std::make_unique<TlsStream>(loop, driver, context, [loop, port](StreamHandler& h) {
        return std::make_unique<TcpStream>(loop, h, "127.0.0.1", port);
      });
  driver.stream->connect();
}

std::string failure_of(TlsOptions options, int max_version = 0) {
  TlsServer server([](SSL*) {}, 1, max_version);
  auto context = make_context(std::move(options));
  StreamDriver driver({});
  attach(driver, *context, server.port());
  REQUIRE(driver.run());
  REQUIRE(driver.failure.has_value());
  CHECK_FALSE(driver.connected);
  return driver.failure->message;
}

// The server_name a TLS server found in the ClientHello ("" when it had none, "<no handshake>"
// when none completed) for `server`'s TLS settings. The context comes from tls_options_for(), as
// the proxy makes it; only the TCP layer goes to 127.0.0.1 instead of server.address, so a host
// name in the profile is never resolved.
std::string sni_seen_for(config::Profile::Server server) {
  std::string seen = "<no handshake>";
  {
    TlsServer tls_server([&](SSL* ssl) {
      const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      seen = name != nullptr ? name : "";
      SSL_write(ssl, "ok", 2);
      uint8_t b[1];
      SSL_read(ssl, b, 1);  // until the client's close
    });
    server.port = tls_server.port();
    auto context = make_context(tls_options_for(server));
    StreamDriver driver({});
    attach(driver, *context, tls_server.port());
    const bool ok = driver.run_until([&] { return driver.received.size() == 2 || driver.closed; });
    INFO("failure: " << (driver.failure ? driver.failure->message : std::string("none")));
    CHECK(ok);
    CHECK(std::string(driver.received.begin(), driver.received.end()) == "ok");
    driver.stream->close(false);
    CHECK(driver.run());
  }  // the server thread is joined: `seen` is settled
  return seen;
}

}  // namespace

TEST_CASE("tls stream: 8 MiB echoed through read pauses, half-close with close_notify") {
  constexpr uint64_t kSize = 8 * 1024 * 1024;
  TlsServer server(echo);
  auto context = make_context(trusting_options());
  StreamDriver::Options options;
  options.upload = kSize;
  options.shutdown_after = true;  // TLS 1.3: close_notify, then the echo still comes back
  options.pause_every = 512 * 1024;
  StreamDriver driver(options);
  attach(driver, *context, server.port());
  REQUIRE(driver.run(std::chrono::seconds(60)));
  INFO((driver.failure ? driver.failure->message : std::string()));
  CHECK_FALSE(driver.failure.has_value());
  CHECK(driver.connected);
  CHECK(driver.eof);  // the server's close_notify
  CHECK(driver.pauses >= 8);
  CHECK(test::matches_pattern(driver.received, kSize));
  CHECK(context->buffers().in_use() == 0);  // every borrowed buffer came back
}

TEST_CASE("tls stream: what was negotiated, and session resumption on the next connection") {
  TlsServer server(
      [](SSL* ssl) {
        uint8_t b[1];
        SSL_write(ssl, "hi", 2);
        SSL_read(ssl, b, 1);  // until the client's close
      },
      2);
  auto context = make_context(trusting_options());
  for (int i = 0; i < 2; ++i) {
    StreamDriver driver({});
    attach(driver, *context, server.port());
    REQUIRE(driver.run_until([&] { return driver.received.size() == 2 || driver.closed; }));
    auto* tls = static_cast<TlsStream*>(driver.stream.get());
    CHECK(tls->protocol_version() == "TLSv1.3");
    CHECK(tls->alpn_selected().empty());
    CHECK(tls->session_reused() == (i == 1));
    driver.stream->close(false);
    REQUIRE(driver.run());
  }
  CHECK(context->handshakes() == 2);
  CHECK(context->resumed_handshakes() == 1);
}

TEST_CASE("tls stream: TLS 1.2 works; shutdown() sends no close_notify there") {
  std::atomic<bool> got_close_notify{false};
  TlsServer server(
      [&](SSL* ssl) {
        uint8_t buf[4096];
        size_t total = 0;
        while (total < 100000) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) {
            got_close_notify = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
            return;
          }
          total += static_cast<size_t>(n);
        }
        SSL_write(ssl, "done", 4);
        const int n = SSL_read(ssl, buf, sizeof buf);  // EOF when the client closes
        got_close_notify = n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
      },
      1, TLS1_2_VERSION);
  auto context = make_context(trusting_options());
  StreamDriver::Options options;
  options.upload = 100000;
  options.shutdown_after = true;
  StreamDriver driver(options);
  attach(driver, *context, server.port());
  REQUIRE(driver.run_until([&] { return driver.received.size() == 4 || driver.closed; }));
  CHECK(static_cast<TlsStream*>(driver.stream.get())->protocol_version() == "TLSv1.2");
  CHECK(std::string(driver.received.begin(), driver.received.end()) == "done");
  driver.stream->close(true);  // a reset: no close_notify either
  REQUIRE(driver.run());
}

TEST_CASE("tls stream: certificate checks") {
  SUBCASE("the system store does not know a self-signed certificate") {
    TlsOptions o = trusting_options();
    o.ca_file.clear();
    CHECK(failure_of(o) ==
          "TLS: certificate verify failed: self-signed certificate (no CA in the system store "
          "vouches for it: set [server.tls] ca_file to the server's CA certificate, or "
          "pin_sha256 to its key)");
  }
  SUBCASE("the name must match") {
    TlsOptions o = trusting_options();
    o.verify_name = "vmess.example.org";
    CHECK(failure_of(o) ==
          "TLS: certificate verify failed: hostname mismatch (the certificate is not valid for "
          "\"vmess.example.org\"; if the server's certificate names another host, set "
          "[server.tls] sni to it)");
  }
  SUBCASE("an IP address is checked against the IP SAN") {
    TlsOptions o = trusting_options();
    o.server_name.clear();
    o.verify_name = "127.0.0.2";
    CHECK(failure_of(o).starts_with("TLS: certificate verify failed: IP address mismatch"));
  }
  SUBCASE("a wrong pin is refused and names the server's pin") {
    TlsOptions o = trusting_options();
    o.ca_file.clear();
    o.pins = {PinSha256{}};
    const std::string message = failure_of(o);
    CHECK(message.starts_with("TLS: certificate pin mismatch: the server's key has pin_sha256 "));
    std::string expected_pin(64, '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expected_pin.data()), certificate().pin.data(),
                    32);
    CHECK(message.find(expected_pin.c_str()) != std::string::npos);
  }
  SUBCASE("an unreadable ca_file fails when the context is made") {
    TlsOptions o = trusting_options();
    o.ca_file = "/nonexistent/ca.pem";
    auto made = TlsContext::create(o);
    REQUIRE(std::holds_alternative<std::string>(made));
    CHECK(std::get<std::string>(made).starts_with("TLS: cannot load ca_file /nonexistent/ca.pem"));
  }
  for (int mode = 0; mode < 2; ++mode) {
    CAPTURE(mode);
    // The right pin (any name, no CA), or insecure: accepted.
    TlsServer server([](SSL* ssl) { SSL_write(ssl, "ok", 2); });
    TlsOptions o;
    o.verify_name = "some.other.name";
    if (mode == 0) {
      o.pins = {PinSha256{}, certificate().pin};
    } else {
      o.insecure = true;
    }
    auto context = make_context(o);
    StreamDriver driver({});
    attach(driver, *context, server.port());
    const bool ran = driver.run();
    INFO("connected " << driver.connected << " eof " << driver.eof << " received "
                      << driver.received.size() << " failure "
                      << (driver.failure ? driver.failure->message : ""));
    REQUIRE(ran);
    CHECK_FALSE(driver.failure.has_value());
    CHECK(std::string(driver.received.begin(), driver.received.end()) == "ok");
  }
}

TEST_CASE("tls stream: a server that never answers leaves the stage at \"TLS: handshake\"") {
  Listener silent;
  auto context = make_context(trusting_options());
  StreamDriver driver({});
  attach(driver, *context, silent.port());
  CHECK(driver.stream->connect_stage() == "TCP: connect");
  const int fd = silent.accept();
  REQUIRE(driver.run_until([&] { return driver.stream->connect_stage() == "TLS: handshake"; }));
  CHECK_FALSE(driver.connected);
  driver.stream->close(false);
  REQUIRE(driver.run());
  ::close(fd);
}

TEST_CASE("tls stream: the server closing mid-handshake is a TLS failure") {
  Listener listener;
  std::thread server([&] {
    const int fd = listener.accept();
    if (fd < 0) return;
    uint8_t hello[512];
    (void)::read(fd, hello, sizeof hello);  // the ClientHello, then hang up
    ::close(fd);
  });
  auto context = make_context(trusting_options());
  StreamDriver driver({});
  attach(driver, *context, listener.port());
  const bool ran = driver.run();
  server.join();
  REQUIRE(ran);
  REQUIRE(driver.failure.has_value());
  CHECK(driver.failure->message == "TLS: the server closed the connection during the handshake");
}

TEST_CASE("tls stream: the ClientHello names the configured sni, else the server's host name") {
  config::Profile::Server server;
  server.tls.emplace();
  SUBCASE("sni set: that name, not the address") {
    server.address = "vmess.test";  // never resolved: TCP goes to 127.0.0.1
    server.tls->sni = "localhost";  // the test certificate's name, so it verifies with the CA
    server.tls->ca_file = certificate().pem_path;
    CHECK(sni_seen_for(server) == "localhost");
  }
  SUBCASE("no sni and the address is a name: the address") {
    server.address = "vmess.test";
    server.tls->pin_sha256 = {certificate().pin};  // the certificate does not name vmess.test
    CHECK(sni_seen_for(server) == "vmess.test");
  }
  SUBCASE("no sni and the address is an IP: no server_name at all (RFC 6066 forbids IPs)") {
    server.address = "127.0.0.1";
    server.tls->ca_file = certificate().pem_path;  // verified against the IP SAN
    CHECK(sni_seen_for(server) == "");
  }
}

namespace {

// What the server read after the handshake, and how the client's side ended.
struct TlsSeen {
  uint64_t plaintext = 0;
  bool pattern_ok = true;
  bool close_notify = false;  // SSL_read ended with SSL_ERROR_ZERO_RETURN
  std::string end;            // otherwise: how it ended
};

void read_to_end(SSL* ssl, TlsSeen& seen) {
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    const int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
    if (n > 0) {
      for (int i = 0; i < n; ++i) {
        if (buf[static_cast<size_t>(i)] != test::pattern_byte(seen.plaintext++)) {
          seen.pattern_ok = false;
        }
      }
      continue;
    }
    const int error = SSL_get_error(ssl, n);
    seen.close_notify = error == SSL_ERROR_ZERO_RETURN;
    if (!seen.close_notify) {
      seen.end = "SSL_get_error " + std::to_string(error) + ", errno " + std::strerror(errno);
    }
    return;
  }
}

}  // namespace

TEST_CASE("tls stream: a graceful close sends the pending write, then close_notify") {
  TlsSeen seen;
  auto context = make_context(trusting_options());
  StreamDriver::Options options;
  options.upload = 256 * 1024 * 1024;  // far more than the socket buffers hold
  options.close_when_pending = true;
  StreamDriver driver(options);
  {
    // The server reads nothing at first, so the socket fills and a write stays pending.
    TlsServer server([&](SSL* ssl) {
      usleep(300 * 1000);
      read_to_end(ssl, seen);
    });
    attach(driver, *context, server.port());
    REQUIRE(driver.run(std::chrono::seconds(20)));
  }  // joined
  REQUIRE(driver.closed_while_pending);
  INFO("server: " << seen.end);
  CHECK(seen.plaintext == driver.sent);  // every byte handed to write(), the pending write too
  CHECK(seen.pattern_ok);
  CHECK(seen.close_notify);
}

TEST_CASE("tls stream: close_notify from the server mid-stream is answered even on a reset") {
  // The tunnel resets the outbound when the server's close_notify cuts a VMess chunk; the
  // server is still owed our close_notify (RFC 5246 §7.2.1) before the socket closes.
  for (int max_version : {0, TLS1_2_VERSION}) {
    CAPTURE(max_version);
    TlsSeen seen;
    auto context = make_context(trusting_options());
    StreamDriver::Options options;
    options.reset_on_eof = true;
    StreamDriver driver(options);
    {
      TlsServer server(
          [&](SSL* ssl) {
            SSL_write(ssl, "cut", 3);
            SSL_shutdown(ssl);  // close_notify, then wait for the client's
            read_to_end(ssl, seen);
          },
          1, max_version);
      attach(driver, *context, server.port());
      REQUIRE(driver.run());
    }  // joined
    CHECK(driver.eof);
    CHECK(std::string(driver.received.begin(), driver.received.end()) == "cut");
    INFO("server: " << seen.end);
    CHECK(seen.close_notify);
  }
}

namespace {

// A handler that answers every read with a small write from inside on_stream_read, as the
// HTTP/2 layer does with WINDOW_UPDATEs.
class WriteOnReadHandler final : public StreamHandler {
 public:
  std::unique_ptr<Stream> stream;
  Bytes received;
  std::optional<Failure> failure;
  bool eof = false;
  bool closed = false;
  uint64_t writes = 0;

  void on_stream_connected() override { stream->read_start(); }
  void on_stream_failed(const Failure& f) override {
    failure = f;
    stream->close(true);
  }
  MutableByteView on_stream_buffer() override { return MutableByteView(buffer_); }
  void on_stream_read(size_t n) override {
    received.insert(received.end(), buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(n));
    if (pending_) return;
    ack_ = uv_buf_init(const_cast<char*>("ack-ack-!"), 9);
    ++writes;
    switch (stream->write(&ack_, 1)) {
      case Stream::WriteResult::kDone:
        break;
      case Stream::WriteResult::kPending:
        pending_ = true;
        break;
      case Stream::WriteResult::kFailed:
        failure = stream->failure();
        stream->close(true);
        break;
    }
  }
  void on_stream_eof() override {
    eof = true;
    stream->close(false);
  }
  void on_stream_write_done() override { pending_ = false; }
  void on_stream_closed() override { closed = true; }

 private:
  std::array<uint8_t, 64 * 1024> buffer_{};
  uv_buf_t ack_{};
  bool pending_ = false;
};

}  // namespace

// The read loop used to ask OpenSSL why a read stopped after the handler ran; a handler that had
// written in between (an SSL_write) made a plain "want more input" look like SSL_ERROR_SYSCALL,
// and the stream failed with "TLS: read failed: the connection broke".
TEST_CASE("tls stream: a handler that writes from on_stream_read does not break the reads") {
  constexpr uint64_t kSize = 4 * 1024 * 1024;
  TlsServer server([](SSL* ssl) {
    Bytes chunk(16 * 1024);
    for (uint64_t sent = 0; sent < kSize; sent += chunk.size()) {
      for (size_t i = 0; i < chunk.size(); ++i)
        chunk[i] = test::pattern_byte(sent + i);
      if (SSL_write(ssl, chunk.data(), static_cast<int>(chunk.size())) <= 0) return;
    }
    SSL_shutdown(ssl);
    uint8_t b[4096];
    while (SSL_read(ssl, b, sizeof b) > 0) {
    }
  });
  auto context = make_context(trusting_options());
  uv_loop_t loop;
  uv_loop_init(&loop);
  WriteOnReadHandler handler;
  handler.stream = std::make_unique<TlsStream>(&loop, handler, *context, [&](StreamHandler& h) {
    return std::make_unique<TcpStream>(&loop, h, "127.0.0.1", server.port());
  });
  handler.stream->connect();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!handler.closed && std::chrono::steady_clock::now() < end) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(200);
  }
  INFO((handler.failure ? handler.failure->message : std::string()));
  CHECK(handler.closed);
  CHECK_FALSE(handler.failure.has_value());
  CHECK(handler.eof);
  CHECK(handler.writes > 1);
  CHECK(test::matches_pattern(handler.received, kSize));
  handler.stream.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}
