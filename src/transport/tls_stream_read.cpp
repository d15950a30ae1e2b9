// TlsStream's downlink: ciphertext from the inner stream into OpenSSL, plaintext into the
// handler's buffer, and when to read from the inner stream at all. See tls_internal.hpp for why
// libssl is included here.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>

#include "tls_stream_internal.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::transport {

using tls_internal::kMinReadRoom;

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
  } else if (connected_ && reading()) {
    pump_reads();
  } else {
    update_inner_reading();
  }
}

void TlsStream::on_stream_eof() {
  if (closing() || failed()) return;
  inner_eof_ = true;
  note_inner_reads_stopped();
  if (handshaking_) {
    advance_handshake();  // consumes what is left, then reports the early close
  } else if (connected_ && reading()) {
    pump_reads();
  }
}

bool TlsStream::has_buffered_input() const {
  return in_end_ > in_begin_ || (ssl_ != nullptr && SSL_has_pending(ssl_) == 1);
}

bool TlsStream::has_pending_delivery() const {
  return has_buffered_input() || inner_eof_ || end_pending();
}

void TlsStream::on_resume() {
  if (connected_ && reading()) pump_reads();
}

void TlsStream::pump_reads() {
  while (reading() && !closing() && !failed() && !eof_reported()) {
    // Ask the handler for its buffer only when a whole record is there to decrypt, so an idle
    // tunnel does not hold the handler's block.
    if (SSL_pending(ssl_) == 0) {
      uint8_t probe = 0;
      size_t got = 0;
      ERR_clear_error();
      const int rc = SSL_peek_ex(ssl_, &probe, 1, &got);
      if (rc != 1) {
        if (!handle_read_stop(why_read_stopped(rc))) break;
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
    // What stopped the read is taken from OpenSSL before the handler runs: a handler that
    // writes from on_stream_read (HTTP/2's WINDOW_UPDATEs) makes an SSL_write, after which
    // SSL_get_error no longer describes this read (it said SSL_ERROR_SYSCALL for a plain
    // WANT_READ, and the tunnel failed with "the connection broke").
    ReadStop stop;
    if (rc != 1) stop = why_read_stopped(rc);
    if (total > 0) handler_.on_stream_read(total);
    if (rc != 1 && !handle_read_stop(stop)) break;
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

TlsStream::ReadStop TlsStream::why_read_stopped(int rc) {
  ReadStop stop;
  stop.error = SSL_get_error(ssl_, rc);
  if (stop.error != SSL_ERROR_WANT_READ && stop.error != SSL_ERROR_WANT_WRITE &&
      stop.error != SSL_ERROR_ZERO_RETURN) {
    stop.failure = describe_failure(rc, "read");
  }
  return stop;
}

bool TlsStream::handle_read_stop(const ReadStop& stop) {
  if (closing() || failed()) return false;
  switch (stop.error) {
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
      fail(FailureKind::kReset, stop.failure);
      return false;
  }
}

bool TlsStream::wants_inner_reads() const {
  if (inner_eof_ || !inner_connected_) return false;
  if (handshaking_) return true;
  // Stop while the buffer is nearly full; pump_reads() drains it and starts again.
  return connected_ && reading() && !eof_reported() &&
         kTlsBufferSize - (in_end_ - in_begin_) >= kMinReadRoom;
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

}  // namespace vmlocal::transport
