// TLS over an inner stream. See tls_internal.hpp for why libssl is included here.
#include "vmlocal/transport/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstring>

#include "tls_internal.hpp"
#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::transport {
namespace {

// The write buffer starts with room for one record of plaintext (the most one TLS record
// carries); the rest holds ciphertext.
constexpr size_t kStagingSize = 16 * 1024;
constexpr size_t kOutCapacity = kTlsBufferSize - kStagingSize;
// Room an SSL_write of one full record needs (header, tag, padding, a KeyUpdate riding along).
constexpr size_t kRecordRoom = kStagingSize + 1024;
// Below this much room, move unread ciphertext to the front before lending the rest.
constexpr size_t kMinReadRoom = 16 * 1024;

std::string verify_hint(long result, const TlsOptions& options) {
  switch (result) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return options.ca_file.empty()
                 ? " (no CA in the system store vouches for it: set [server.tls] ca_file to the "
                   "server's CA certificate, or pin_sha256 to its key)"
                 : " (not signed by the CA in ca_file " + options.ca_file + ")";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return " (the certificate is not valid for \"" + options.verify_name +
             "\"; if the server's certificate names another host, set [server.tls] sni to it)";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return " (or this computer's clock is wrong)";
    default:
      return {};
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// OpenSSL callbacks: the BIO that connects OpenSSL to our buffers, the alert observer, the pin
// check.

struct TlsStream::Callbacks {
  static TlsStream* from(BIO* bio) { return static_cast<TlsStream*>(BIO_get_data(bio)); }

  static int bio_read(BIO* bio, char* out, size_t len, size_t* read) {
    TlsStream* self = from(bio);
    BIO_clear_retry_flags(bio);
    const size_t available = self->in_end_ - self->in_begin_;
    if (available == 0) {
      // EOF from the inner stream is tracked by TlsStream, so OpenSSL only ever waits here.
      BIO_set_retry_read(bio);
      *read = 0;
      return 0;
    }
    const size_t n = std::min(len, available);
    std::memcpy(out, self->in_->data.data() + self->in_begin_, n);
    self->in_begin_ += n;
    *read = n;
    return 1;
  }

  static int bio_write(BIO* bio, const char* data, size_t len, size_t* written) {
    TlsStream* self = from(bio);
    BIO_clear_retry_flags(bio);
    if (self->out_ == nullptr) {
      self->out_ = self->context_.buffers().acquire();
      self->out_sent_ = self->out_flight_end_ = self->out_len_ = 0;
    }
    const size_t n = std::min(len, self->out_room());
    if (n == 0) {
      BIO_set_retry_write(bio);
      *written = 0;
      return 0;
    }
    std::memcpy(self->out_->data.data() + kStagingSize + self->out_len_, data, n);
    self->out_len_ += n;
    *written = n;
    return 1;
  }

  static long bio_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_PENDING: {
        const TlsStream* self = from(bio);
        return static_cast<long>(self->in_end_ - self->in_begin_);
      }
      default:
        return 0;
    }
  }

  static int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }

  static BIO_METHOD* bio_method() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vmlocal stream");
      BIO_meth_set_write_ex(m, bio_write);
      BIO_meth_set_read_ex(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
      return m;
    }();
    return method;
  }

  static void on_info(const SSL* ssl, int where, int ret) {
    if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT) return;
    if ((ret & 0xFF) == SSL_AD_CLOSE_NOTIFY) return;
    auto* self = static_cast<TlsStream*>(SSL_get_app_data(ssl));
    if (self != nullptr) self->alert_ = SSL_alert_desc_string_long(ret);
  }

  static void note_pin(TlsStream* self, const PinSha256& pin) {
    self->pin_mismatch_ = crypto::base64_encode(pin);
  }
};

namespace tls_internal {

int verify_pinned(X509_STORE_CTX* store, void* arg) {
  const auto* context = static_cast<const TlsContext*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  PinSha256 pin{};
  if (leaf == nullptr || !spki_sha256(leaf, pin)) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  for (const PinSha256& wanted : context->options().pins) {
    if (wanted == pin) {
      X509_STORE_CTX_set_error(store, X509_V_OK);
      return 1;
    }
  }
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl != nullptr) {
    if (auto* stream = static_cast<TlsStream*>(SSL_get_app_data(ssl))) {
      TlsStream::Callbacks::note_pin(stream, pin);
    }
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace tls_internal

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
                                     "\", but WebSocket needs \"http/1.1\" (list only "
                                     "\"http/1.1\" in [server.tls] alpn)");
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

std::string TlsStream::describe_failure(int rc, std::string_view during) {
  const int error = SSL_get_error(ssl_, rc);
  const unsigned long first = ERR_peek_error();
  const long verify = SSL_get_verify_result(ssl_);
  std::string message;
  if (!pin_mismatch_.empty()) {
    message = "TLS: certificate pin mismatch: the server's key has pin_sha256 \"" + pin_mismatch_ +
              "\", which is not one of the pins in the profile";
  } else if (first != 0 && ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
             verify != X509_V_OK) {
    message = std::string("TLS: certificate verify failed: ") +
              X509_verify_cert_error_string(verify) + verify_hint(verify, context_.options());
  } else if (!alert_.empty()) {
    message = "TLS: alert from the server during the " + std::string(during) + ": " + alert_;
  } else if (first != 0) {
    message = "TLS: " + std::string(during) + " failed: " + tls_internal::take_openssl_error();
  } else if (error == SSL_ERROR_SYSCALL) {
    message = "TLS: " + std::string(during) + " failed: the connection broke";
  } else {
    message =
        "TLS: " + std::string(during) + " failed (OpenSSL error " + std::to_string(error) + ")";
  }
  ERR_clear_error();
  return message;
}

// ---------------------------------------------------------------------------------------------
// Reading

MutableByteView TlsStream::on_stream_buffer() {
  if (in_ == nullptr) {
    in_ = context_.buffers().acquire();
    in_begin_ = in_end_ = 0;
  }
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (kTlsBufferSize - in_end_ < kMinReadRoom && in_begin_ > 0) {
    std::memmove(in_->data.data(), in_->data.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  return MutableByteView(in_->data.data() + in_end_, kTlsBufferSize - in_end_);
}

void TlsStream::on_stream_read(size_t n) {
  if (closing() || failed()) return;
  in_end_ += n;
  if (handshaking_) {
    advance_handshake();
  } else if (connected_ && reading_) {
    pump_reads();
  } else {
    update_inner_reading();
  }
}

void TlsStream::on_stream_eof() {
  if (closing() || failed()) return;
  inner_eof_ = true;
  inner_reading_ = false;
  if (handshaking_) {
    advance_handshake();  // consumes what is left, then reports the early close
  } else if (connected_ && reading_) {
    pump_reads();
  }
}

bool TlsStream::has_buffered_input() const {
  return in_end_ > in_begin_ || (ssl_ != nullptr && SSL_has_pending(ssl_) == 1);
}

void TlsStream::read_start() {
  if (!connected_ || closing() || failed()) return;
  reading_ = true;
  if (has_buffered_input() || inner_eof_ || end_pending_) {
    schedule_resume();  // delivered on the next loop iteration, never from inside this call
  } else {
    update_inner_reading();
  }
}

void TlsStream::read_stop() {
  reading_ = false;
  cancel_resume();
  update_inner_reading();
}

void TlsStream::on_resume() {
  if (connected_ && reading_) pump_reads();
}

void TlsStream::pump_reads() {
  while (reading_ && !closing() && !failed() && !eof_reported_) {
    // Ask the handler for its buffer only when a whole record is there to decrypt, so an idle
    // tunnel does not hold the handler's block.
    if (SSL_pending(ssl_) == 0) {
      uint8_t probe = 0;
      size_t got = 0;
      ERR_clear_error();
      const int rc = SSL_peek_ex(ssl_, &probe, 1, &got);
      if (rc != 1) {
        if (!handle_read_result(rc)) break;
        continue;
      }
    }
    const MutableByteView space = handler_.on_stream_buffer();
    size_t total = 0;
    int rc = 1;
    while (total < space.size()) {
      size_t got = 0;
      ERR_clear_error();
      rc = SSL_read_ex(ssl_, space.data() + total, space.size() - total, &got);
      if (rc != 1) break;
      total += got;
      // Fewer bytes than a record header: no further record can be complete yet.
      if (SSL_pending(ssl_) == 0 && in_end_ - in_begin_ < 5) break;
    }
    if (total > 0) handler_.on_stream_read(total);
    if (rc != 1 && !handle_read_result(rc)) break;
  }
  if (!closing() && !failed()) {
    // A KeyUpdate answer or an alert may be waiting to go out.
    if (!inner_write_pending_ && flush_output() == WriteResult::kFailed) {
      fail(failure_.kind, failure_.message);
      return;
    }
    update_inner_reading();
    release_idle_buffers();
  }
}

bool TlsStream::handle_read_result(int rc) {
  if (closing() || failed()) return false;
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      if (inner_eof_ && in_end_ == in_begin_) {
        // VMess authenticates its own end (the END chunk), so a TCP close without close_notify
        // is passed on as EOF and judged there.
        log::debug("TLS: the server closed the connection without close_notify");
        report_eof();
      }
      return false;
    case SSL_ERROR_WANT_WRITE:
      return false;  // output is full; on_stream_write_done() resumes reading
    case SSL_ERROR_ZERO_RETURN:
      report_eof();  // close_notify (OpenSSL keeps answering ZERO_RETURN from now on)
      return false;
    default:
      fail(FailureKind::kReset, describe_failure(rc, "read"));
      return false;
  }
}

void TlsStream::report_eof() {
  if (eof_reported_) return;
  if (!reading_) {
    end_pending_ = true;  // told when the handler reads again
    return;
  }
  end_pending_ = false;
  eof_reported_ = true;
  update_inner_reading();
  handler_.on_stream_eof();
}

void TlsStream::update_inner_reading() {
  bool want = false;
  if (!closing() && !failed() && !inner_eof_ && inner_connected_) {
    if (handshaking_) {
      want = true;
    } else if (connected_ && reading_ && !eof_reported_) {
      // Stop while the buffer is nearly full; pump_reads() drains it and starts again.
      want = kTlsBufferSize - (in_end_ - in_begin_) >= kMinReadRoom;
    }
  }
  if (want == inner_reading_) return;
  inner_reading_ = want;
  if (want) {
    inner_->read_start();
  } else {
    inner_->read_stop();
  }
}

void TlsStream::release_idle_buffers() {
  if (in_ != nullptr && in_begin_ == in_end_) {
    context_.buffers().release(in_);
    in_ = nullptr;
    in_begin_ = in_end_ = 0;
  }
  if (out_ != nullptr && out_len_ == 0 && staged_ == 0 && !inner_write_pending_) {
    context_.buffers().release(out_);
    out_ = nullptr;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

size_t TlsStream::out_room() const {
  if (out_ == nullptr) return kOutCapacity;
  return kOutCapacity - out_len_;
}

Stream::WriteResult TlsStream::write(uv_buf_t* bufs, size_t count) {
  if (!connected_ || closing() || failed() || shutdown_requested_) {
    if (failure_.message.empty()) failure_ = Failure{FailureKind::kOther, "TLS: not writable"};
    return WriteResult::kFailed;
  }
  user_bufs_ = bufs;
  user_count_ = count;
  user_write_active_ = true;
  const WriteResult result = continue_write();
  if (result != WriteResult::kPending) user_write_active_ = false;
  if (result == WriteResult::kDone) release_idle_buffers();
  return result;
}

Stream::WriteResult TlsStream::continue_write() {
  for (;;) {
    if (inner_write_pending_) return WriteResult::kPending;
    // Encrypt record by record while the ciphertext area has room for one more.
    while (out_room() >= kRecordRoom && (staged_ > 0 || user_count_ > 0)) {
      if (out_ == nullptr) {
        out_ = context_.buffers().acquire();
        out_sent_ = out_flight_end_ = out_len_ = 0;
      }
      uint8_t* staging = out_->data.data();
      // Gather plaintext from the caller's buffers (advancing them in place) into one record.
      while (staged_ < kStagingSize && user_count_ > 0) {
        uv_buf_t& b = *user_bufs_;
        const size_t n = std::min(kStagingSize - staged_, static_cast<size_t>(b.len));
        std::memcpy(staging + staged_, b.base, n);
        staged_ += n;
        b.base += n;
        b.len -= static_cast<unsigned>(n);
        if (b.len == 0) {
          ++user_bufs_;
          --user_count_;
        }
      }
      if (staged_ == 0) break;
      size_t written = 0;
      ERR_clear_error();
      const int rc = SSL_write_ex(ssl_, staging, staged_, &written);
      if (rc == 1) {
        staged_ = 0;
        continue;
      }
      if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_WRITE) break;  // flush, then retry as is
      failure_ = Failure{FailureKind::kReset, describe_failure(rc, "write")};
      return WriteResult::kFailed;
    }
    if (out_len_ == out_sent_) {
      return (staged_ > 0 || user_count_ > 0) ? WriteResult::kPending : WriteResult::kDone;
    }
    const WriteResult flushed = flush_output();
    if (flushed != WriteResult::kDone) return flushed;
  }
}

Stream::WriteResult TlsStream::flush_output() {
  if (inner_write_pending_) return WriteResult::kPending;
  if (out_ == nullptr || out_len_ == out_sent_) return WriteResult::kDone;
  out_buf_ = uv_buf_init(reinterpret_cast<char*>(out_->data.data() + kStagingSize + out_sent_),
                         static_cast<unsigned>(out_len_ - out_sent_));
  out_flight_end_ = out_len_;
  switch (inner_->write(&out_buf_, 1)) {
    case WriteResult::kDone:
      out_sent_ = out_len_ = out_flight_end_ = 0;
      return WriteResult::kDone;
    case WriteResult::kPending:
      inner_write_pending_ = true;
      return WriteResult::kPending;
    case WriteResult::kFailed:
      break;
  }
  failure_ = inner_->failure();
  return WriteResult::kFailed;
}

void TlsStream::on_stream_write_done() {
  if (closing() || failed()) return;
  inner_write_pending_ = false;
  out_sent_ = out_flight_end_;
  if (out_sent_ == out_len_) {
    out_sent_ = out_flight_end_ = out_len_ = 0;
  }
  if (handshaking_) {
    advance_handshake();
    return;
  }
  bool user_write_finished = false;
  if (user_write_active_) {
    const WriteResult result = continue_write();
    if (result == WriteResult::kPending) return;
    user_write_active_ = false;
    if (result == WriteResult::kFailed) {
      fail(failure_.kind, failure_.message);
      return;
    }
    user_write_finished = true;
  } else {
    const WriteResult result = flush_output();
    if (result == WriteResult::kFailed) {
      fail(failure_.kind, failure_.message);
      return;
    }
    if (result == WriteResult::kPending) return;
  }
  if (shutdown_requested_ && !shutdown_done_) finish_shutdown();
  if (closing() || failed()) return;
  release_idle_buffers();
  // Reading may have stopped on a full output buffer (WANT_WRITE).
  if (connected_ && reading_ && (has_buffered_input() || end_pending_)) schedule_resume();
  if (user_write_finished) handler_.on_stream_write_done();
}

Stream::WriteResult TlsStream::shutdown() {
  if (!connected_ || closing() || failed() || shutdown_requested_) return WriteResult::kDone;
  // See the header: only TLS 1.3 defines close_notify as a half-close.
  if (SSL_version(ssl_) < TLS1_3_VERSION) return WriteResult::kDone;
  shutdown_requested_ = true;
  if (!user_write_active_ && !inner_write_pending_) finish_shutdown();
  return WriteResult::kDone;
}

void TlsStream::finish_shutdown() {
  shutdown_done_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; we never wait for the server's
  if (flush_output() == WriteResult::kFailed) {
    fail(failure_.kind, failure_.message);
    return;
  }
  inner_->shutdown();  // after the queued bytes (the inner stream orders it)
}

void TlsStream::say_goodbye() {
  if (!connected_ || ssl_ == nullptr || inner_write_pending_ || shutdown_done_) return;
  // Best effort: the close that follows cancels whatever the socket did not take at once.
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
  flush_output();
}

}  // namespace vmlocal::transport
