// What every TLS connection to one server shares, created once per proxy: the OpenSSL client
// context (trust store, verification mode, ALPN, TLS 1.2..1.3), the last session ticket for
// resumption (a context serves one server, so the newest session is the one to offer), and the
// ciphertext buffers TlsStreams borrow while bytes move. Single-threaded, like the loop.
//
// OpenSSL types stay out of this header (only src/transport/tls_*.cpp include libssl).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "vmlocal/uv/block_pool.hpp"

struct ssl_ctx_st;
struct ssl_session_st;
struct ssl_st;

namespace vmlocal::transport {

using PinSha256 = std::array<uint8_t, 32>;

struct TlsOptions {
  // SNI; empty: none (the server address is an IP literal and no sni was set).
  std::string server_name;
  // The name (or IP literal) the certificate must be valid for.
  std::string verify_name;
  // ALPN protocols offered, in order of preference; empty: no ALPN extension.
  std::vector<std::string> alpn;
  // WebSocket runs on top: refuse a server that chooses anything but http/1.1.
  bool require_http11 = false;
  // HTTP/2 runs on top: refuse a server that chooses anything but h2 (or nothing).
  bool require_h2 = false;
  // Skip every certificate check. Loudly warned about by whoever creates the context.
  bool insecure = false;
  // PEM CA certificates to trust instead of the system store; empty: the system store.
  std::string ca_file;
  // SHA-256 of the server certificate's SubjectPublicKeyInfo. When not empty, a certificate
  // whose key matches one of these is accepted without the CA, name or date checks; any other
  // certificate is refused.
  std::vector<PinSha256> pins;
};

// A ciphertext buffer: a TLS record is at most 16 KiB + 256 bytes; this holds several, so a
// 64 KiB write leaves in one writev-free write and a read drains several records at once.
inline constexpr size_t kTlsBufferSize = 96 * 1024;
struct TlsBuffer {
  std::array<uint8_t, kTlsBufferSize> data;
};

class TlsContext {
 public:
  // Builds the OpenSSL context; the error names what failed ("cannot load ca_file ...: ...").
  static std::variant<std::unique_ptr<TlsContext>, std::string> create(TlsOptions options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const TlsOptions& options() const { return options_; }
  ssl_ctx_st* native() const { return ctx_; }

  // A new client connection object with SNI, host check and the cached session applied.
  ssl_st* new_connection();

  uv::BlockPool<TlsBuffer>& buffers() { return buffers_; }

  // Handshakes that resumed a cached session, and all finished handshakes (for tests and logs).
  uint64_t resumed_handshakes() const { return resumed_; }
  uint64_t handshakes() const { return handshakes_; }
  void count_handshake(bool resumed) {
    ++handshakes_;
    if (resumed) ++resumed_;
  }

 private:
  explicit TlsContext(TlsOptions options);
  static int on_new_session(ssl_st* ssl, ssl_session_st* session);

  TlsOptions options_;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_session_st* last_session_ = nullptr;
  uv::BlockPool<TlsBuffer> buffers_{16};
  uint64_t handshakes_ = 0;
  uint64_t resumed_ = 0;
};

}  // namespace vmlocal::transport
