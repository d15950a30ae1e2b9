// The shared OpenSSL client context. See tls_internal.hpp for why libssl is included here.
#include "vmlocal/transport/tls_context.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls_internal.hpp"
#include "vmlocal/crypto/hash.hpp"

namespace vmlocal::transport {
namespace tls_internal {

bool spki_sha256(X509* cert, PinSha256& out) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return false;
  out = crypto::sha256({ByteView(der, static_cast<size_t>(len))});
  OPENSSL_free(der);
  return true;
}

std::string take_openssl_error() {
  const unsigned long error = ERR_get_error();
  ERR_clear_error();
  if (error == 0) return {};
  const char* reason = ERR_reason_error_string(error);
  if (reason != nullptr) return reason;
  char text[256];
  ERR_error_string_n(error, text, sizeof text);
  return text;
}

}  // namespace tls_internal

namespace {

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

}  // namespace

TlsContext::TlsContext(TlsOptions options) : options_(std::move(options)) {}

TlsContext::~TlsContext() {
  if (last_session_ != nullptr) SSL_SESSION_free(last_session_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

std::variant<std::unique_ptr<TlsContext>, std::string> TlsContext::create(TlsOptions options) {
  std::unique_ptr<TlsContext> self(new TlsContext(std::move(options)));
  const TlsOptions& o = self->options_;
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return "TLS: cannot create a context: " + tls_internal::take_openssl_error();
  self->ctx_ = ctx;
  SSL_CTX_set_app_data(ctx, self.get());

  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle tunnels must stay light: OpenSSL frees its record buffers whenever they are empty.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Keep reading past non-application records (TLS 1.3 session tickets): without this,
  // SSL_read reports WANT_READ after a ticket even though the next record is already here, and
  // with nothing more arriving the data behind it would wait forever. Our BIO never blocks.
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);

  if (o.insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else if (!o.pins.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, tls_internal::verify_pinned, self.get());
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!o.ca_file.empty()) {
      if (SSL_CTX_load_verify_file(ctx, o.ca_file.c_str()) != 1) {
        return "TLS: cannot load ca_file " + o.ca_file + ": " + tls_internal::take_openssl_error();
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return "TLS: cannot load the system CA store: " + tls_internal::take_openssl_error();
    }
  }

  if (!o.alpn.empty()) {
    std::string wire;
    for (const std::string& protocol : o.alpn) {
      wire += static_cast<char>(protocol.size());
      wire += protocol;
    }
    // Returns 0 on success, unlike most of OpenSSL.
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      return "TLS: cannot set ALPN: " + tls_internal::take_openssl_error();
    }
  }

  // Client-side resumption: keep the newest session (TLS 1.2 ID or ticket, TLS 1.3 ticket) and
  // offer it on the next connection to the same server.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  return self;
}

int TlsContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self->last_session_ != nullptr) SSL_SESSION_free(self->last_session_);
  self->last_session_ = session;
  return 1;  // we keep the reference
}

SSL* TlsContext::new_connection() {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  if (!options_.server_name.empty()) SSL_set_tlsext_host_name(ssl, options_.server_name.c_str());
  if (!options_.insecure && options_.pins.empty() && !options_.verify_name.empty()) {
    if (is_ip_literal(options_.verify_name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), options_.verify_name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, options_.verify_name.c_str());
    }
  }
  if (last_session_ != nullptr && SSL_SESSION_is_resumable(last_session_) == 1) {
    SSL_set_session(ssl, last_session_);
  }
  return ssl;
}

}  // namespace vmlocal::transport
