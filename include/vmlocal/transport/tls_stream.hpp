// TLS over any inner stream (normally TcpStream), with OpenSSL driven through a custom BIO and
// no socket of its own. Downlink: the inner stream reads ciphertext into a buffer borrowed from
// the TlsContext; OpenSSL takes records from it, decrypts in its record buffer and SSL_read
// copies the plaintext into the handler's lent buffer, several records per on_stream_read().
// Uplink: the caller's iovecs (a VMess write is many small ones) are gathered into whole
// 16 KiB records, encrypted, and every record of one write() leaves in one inner write. The
// copies are OpenSSL's (no writev/readv API); buffers are borrowed only while bytes move, and
// SSL_MODE_RELEASE_BUFFERS lets OpenSSL free its record buffers, so an idle tunnel holds only
// the SSL object.
//
// Half-close: shutdown() sends close_notify and shuts the inner stream down on TLS 1.3, where
// close_notify ends only our direction (RFC 8446 §6.1). On TLS 1.2 a close_notify obliges the
// peer to close at once (RFC 5246 §7.2.1), which would cut the downlink short, so shutdown()
// sends nothing there; the VMess END chunk already told the server. A graceful close() finishes
// the caller's pending write, then sends close_notify (unless shutdown() already did), and the
// connection closes only after they went (bounded: see LayerStream). Once the server sent
// close_notify, a reset closes the same way, so the server gets ours.
#pragma once

#include <uv.h>

#include <optional>
#include <string>

#include "vmlocal/transport/layer_stream.hpp"
#include "vmlocal/transport/tls_context.hpp"

struct bio_st;

namespace vmlocal::transport {

class TlsStream final : public LayerStream {
 public:
  TlsStream(uv_loop_t* loop, StreamHandler& handler, TlsContext& context,
            const MakeInner& make_inner);
  ~TlsStream() override;

  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  std::string_view connect_stage() const override;

  // After on_stream_connected(): what was negotiated.
  bool session_reused() const;
  std::string protocol_version() const;  // "TLSv1.3"
  std::string alpn_selected() const;     // "" when none

  // The server's certificate as received (also after a failed verification), for the doctor.
  struct PeerCertificate {
    std::string subject;    // "CN=vmess.example.org" (RFC 2253)
    std::string issuer;     // "CN=R3,O=Let's Encrypt,C=US"
    std::string not_after;  // "Mar  1 12:00:00 2027 GMT"
    bool expired = false;   // not_after is in the past by this computer's clock
  };
  std::optional<PeerCertificate> peer_certificate() const;

  // Used by the OpenSSL callbacks (tls_bio.cpp, tls_verify.cpp).
  struct Callbacks;

 private:
  // StreamHandler (the inner stream).
  void on_stream_connected() override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;

  bool flush_for_close() override;
  // The server's close_notify obliges ours (RFC 5246 §7.2.1), even when the handler resets.
  bool reply_owed() const override;
  void on_resume() override;

  void advance_handshake();
  void handshake_done();
  void pump_reads();
  // Handles a failed SSL_read/SSL_peek; false if reading must stop for now.
  // Why a read stopped, taken from OpenSSL at once (see pump_reads).
  struct ReadStop {
    int error = 0;        // SSL_get_error
    std::string failure;  // the message, for a fatal error
  };
  ReadStop why_read_stopped(int rc);
  bool handle_read_stop(const ReadStop& stop);
  WriteResult continue_write();
  WriteResult flush_output();
  void finish_shutdown();
  bool ready_for_reads() const override { return connected_; }
  bool has_pending_delivery() const override;
  bool wants_inner_reads() const override;
  void release_idle_buffers();
  std::string describe_failure(int rc, std::string_view during);
  bool has_buffered_input() const;

  size_t out_room() const;

  TlsContext& context_;
  struct ssl_st* ssl_ = nullptr;

  // Ciphertext read from the inner stream, not yet taken by OpenSSL: in_->data[in_begin_, in_end_).
  TlsBuffer* in_ = nullptr;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  // Write buffer: [0, kStagingSize) gathers plaintext into one record; the rest holds
  // ciphertext for the inner stream: [out_sent_, out_flight_end_) is being written,
  // [out_flight_end_, out_len_) waits.
  TlsBuffer* out_ = nullptr;
  size_t staged_ = 0;
  size_t out_sent_ = 0;
  size_t out_flight_end_ = 0;
  size_t out_len_ = 0;
  uv_buf_t out_buf_{};

  // The caller's pending write (kPending returned), advanced in place as it is encrypted.
  uv_buf_t* user_bufs_ = nullptr;
  size_t user_count_ = 0;
  bool user_write_active_ = false;

  bool inner_connected_ = false;
  bool handshaking_ = false;
  bool connected_ = false;
  bool inner_write_pending_ = false;
  bool inner_eof_ = false;
  bool shutdown_requested_ = false;
  bool shutdown_done_ = false;
  bool goodbye_queued_ = false;  // a graceful close queued its close_notify

  std::string alert_;         // the last alert the server sent, e.g. "handshake failure"
  std::string pin_mismatch_;  // set by the pin check: the server key's pin, base64
};

}  // namespace vmlocal::transport
