// TLS over an inner stream: the connection's lifetime and its handshake. Reading and writing
// records are in tls_stream_read.cpp and tls_stream_write.cpp, the BIO in tls_bio.cpp, failure
// messages in tls_verify.cpp. See tls_internal.hpp for why libssl is included here.
#include "vmlocal/transport/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_internal.hpp"
#include "tls_stream_internal.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::transport {

// ---------------------------------------------------------------------------------------------
// Lifetime

TlsStream::TlsStream(uv_loop_t* loop, StreamHandler& handler, TlsContext& context,
                     const MakeInner& make_inner)
    : LayerStream(loop, handler, make_inner), context_(context) {}

TlsStream::~TlsStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // frees the BIO too
  if (in_ != nullptr) context_.buffers().release(in_);
  if (out_ != nullptr) context_.buffers().release(out_);
}

std::string_view TlsStream::connect_stage() const {
  if (!inner_connected_) return inner_->connect_stage();
  return connected_ ? "connected" : "TLS: handshake";
}

bool TlsStream::session_reused() const {
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

std::string TlsStream::protocol_version() const {
  return ssl_ != nullptr ? SSL_get_version(ssl_) : "";
}

std::string TlsStream::alpn_selected() const {
  if (ssl_ == nullptr) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

// ---------------------------------------------------------------------------------------------
// Handshake

void TlsStream::on_stream_connected() {
  if (closing() || failed()) return;
  inner_connected_ = true;
  ERR_clear_error();
  ssl_ = context_.new_connection();
  BIO* bio = ssl_ != nullptr ? BIO_new(Callbacks::bio_method()) : nullptr;
  if (bio == nullptr) {
    fail(FailureKind::kOther,
         "TLS: cannot create a connection: " + tls_internal::take_openssl_error());
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by ssl_
  SSL_set_app_data(ssl_, this);
  SSL_set_info_callback(ssl_, Callbacks::on_info);
  handshaking_ = true;
  advance_handshake();
}

void TlsStream::advance_handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  const int error = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
  // ClientHello, Finished, or an alert: send whatever OpenSSL produced.
  if (flush_output() == WriteResult::kFailed) {
    fail(failure_.kind, failure_.message);
    return;
  }
  if (rc == 1) {
    handshake_done();
    return;
  }
  switch (error) {
    case SSL_ERROR_WANT_READ:
      if (inner_eof_) {
        fail(FailureKind::kProtocol, "TLS: the server closed the connection during the handshake");
        return;
      }
      update_inner_reading();
      release_idle_buffers();
      return;
    case SSL_ERROR_WANT_WRITE:
      return;  // the inner write completes, then on_stream_write_done() comes back here
    default:
      fail(FailureKind::kProtocol, describe_failure(rc, "handshake"));
      return;
  }
}

void TlsStream::handshake_done() {
  handshaking_ = false;
  const std::string alpn = alpn_selected();
  if (context_.options().require_http11 && !alpn.empty() && alpn != "http/1.1") {
    fail(FailureKind::kProtocol, "TLS: the server chose ALPN \"" + alpn +
                                     "\", but WebSocket needs \"http/1.1\" (the only "
                                     "protocol offered)");
    return;
  }
  if (context_.options().require_h2 && alpn != "h2") {
    fail(FailureKind::kProtocol,
         alpn.empty() ? std::string("TLS: the server chose no ALPN protocol, but HTTP/2 needs "
                                    "\"h2\" (is the server's transport h2 or grpc, with TLS?)")
                      : "TLS: the server chose ALPN \"" + alpn +
                            "\", but HTTP/2 needs \"h2\" (is the server's transport h2 or "
                            "grpc?)");
    return;
  }
  connected_ = true;
  const bool resumed = session_reused();
  context_.count_handshake(resumed);
  if (log::enabled(log::Level::kDebug)) {
    log::debug("TLS: ", protocol_version(), " ", SSL_get_cipher_name(ssl_), " with ",
               context_.options().verify_name, alpn.empty() ? "" : ", ALPN " + alpn,
               resumed ? ", resumed session" : ", full handshake",
               context_.options().insecure ? ", certificate NOT verified (insecure)" : "");
  }
  update_inner_reading();  // stops reading until the handler asks
  release_idle_buffers();
  handler_.on_stream_connected();
}

}  // namespace vmlocal::transport
