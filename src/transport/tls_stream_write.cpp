// TlsStream's uplink: the caller's buffers gathered into records, encrypted into the
// ciphertext area and flushed to the inner stream, and the half-close. See tls_internal.hpp for
// why libssl is included here.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

#include "tls_stream_internal.hpp"

namespace vmlocal::transport {

using tls_internal::kOutCapacity;
using tls_internal::kRecordRoom;
using tls_internal::kStagingSize;

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
  if (failed()) return;
  inner_write_pending_ = false;
  out_sent_ = out_flight_end_;
  if (out_sent_ == out_len_) {
    out_sent_ = out_flight_end_ = out_len_ = 0;
  }
  if (closing()) {
    on_close_write_done();
    return;
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
  if (connected_ && reading() && (has_buffered_input() || end_pending())) schedule_resume();
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

bool TlsStream::reply_owed() const {
  return connected_ && !failed() && (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0;
}

bool TlsStream::flush_for_close() {
  if (!connected_ || ssl_ == nullptr) return true;  // below sends what the handshake queued
  if (inner_write_pending_) return false;
  if (user_write_active_) {
    // The caller's write goes first: its records, then close_notify after them.
    const WriteResult result = continue_write();
    if (result == WriteResult::kPending) return false;
    user_write_active_ = false;
    if (result == WriteResult::kFailed) return true;  // nothing more can go: close below
  }
  if (!goodbye_queued_) {
    goodbye_queued_ = true;
    if (!shutdown_done_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // queues close_notify; we never wait for the server's
      ERR_clear_error();
    }
  }
  return flush_output() != WriteResult::kPending;
}

}  // namespace vmlocal::transport
