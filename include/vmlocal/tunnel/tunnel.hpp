// One app connection, from its first byte to the last close callback: it drives the inbound
// handshake it was given (any protocol, through handshake::InboundHandshake), asks the dialer
// for an outbound stream to the request's target, answers the app truthfully once that stream
// is up or has failed, then pumps bytes both ways. It knows neither SOCKS nor VMess.
//
// Lifetime: created by Tunnel::accept, never moved, freed by itself exactly once, after the last
// of its handles (app socket, timer, outbound stream) has closed. Every way to end — clean
// finish, error, timeout, shutdown — goes through close(), which is idempotent and logs the one
// summary line.
//
// Backpressure: each direction stops reading its source while a write to its sink is pending,
// so a tunnel holds at most one uplink block and the outbound's one downlink block, and only
// while bytes move. Half-close: app EOF -> outbound shutdown(); outbound EOF -> shutdown toward
// the app; the tunnel ends cleanly when both have happened.
//
// Outbounds whose opening carries the app's first bytes (StreamHandler::on_stream_writable) get
// the app's answer, and its bytes, before they are connected; a failure of the opening then
// reaches the app as a reset. The tunnel asks nothing about which protocol that is.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/handshake/inbound_handshake.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/tunnel/loop_context.hpp"
#include "vmlocal/tunnel/udp_associator.hpp"
#include "vmlocal/util/target_address.hpp"
#include "vmlocal/uv/close_latch.hpp"

namespace vmlocal::tunnel {

class Tunnel final : private transport::StreamHandler {
 public:
  // Accepts one pending connection on `listener`. `profile` is the configuration snapshot the
  // tunnel keeps for its whole life (timeouts; the handshake may point into it). Returns the
  // libuv error of a failed accept (logged), else 0.
  static int accept(LoopContext& context, std::shared_ptr<const config::Profile> profile,
                    std::unique_ptr<handshake::InboundHandshake> handshake,
                    outbound::Dialer& dialer, uv_stream_t* listener);
  // The same with a dialer of this connection's own, which the tunnel owns and frees: how an
  // inbound puts an adapter between the tunnel and the outbound (the HTTP proxy's forwarding of
  // plain requests) while the tunnel stays protocol-free.
  static int accept(LoopContext& context, std::shared_ptr<const config::Profile> profile,
                    std::unique_ptr<handshake::InboundHandshake> handshake,
                    std::unique_ptr<outbound::Dialer> own_dialer, uv_stream_t* listener);

  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  enum class End : uint8_t {
    kClean,     // both directions finished
    kError,     // something failed: the app sees a reset, not a clean end of stream
    kQuiet,     // app went away during the handshake, or a handled handshake refusal
    kShutdown,  // the process is stopping
  };
  void close(End end, std::string reason);

 private:
  friend struct LoopContext;
  enum class Phase : uint8_t { kHandshake, kConnecting, kEstablished, kLingering, kClosing };
  enum class TimerPurpose : uint8_t { kNone, kHandshake, kConnect, kIdle, kLinger };

  Tunnel(LoopContext& context, std::shared_ptr<const config::Profile> profile,
         std::unique_ptr<handshake::InboundHandshake> handshake, outbound::Dialer& dialer,
         std::unique_ptr<outbound::Dialer> own_dialer);
  ~Tunnel();
  int start(uv_stream_t* listener);

  // Handshake and connect (tunnel_handshake.cpp).
  void on_handshake_bytes(size_t n);
  void queue_reply(ByteView bytes);
  void flush_replies();
  void replies_flushed();
  void refuse_with(ByteView reply, std::string reason, log::Level level = log::Level::kWarn);
  void fail_request(ErrorKind kind, std::string reason);
  void start_connect();
  static void on_reply_write(uv_write_t* req, int status);

  // UDP ASSOCIATE (tunnel_udp.cpp): the connection only holds the association open; its bytes
  // are discarded and its end ends the association (RFC 1928 §7).
  void start_udp_association();
  static void on_control_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  // StreamHandler (the outbound).
  void on_stream_connected() override;
  void on_stream_writable() override;
  // The app's answer and the uplink's start, once the outbound takes writes.
  void answer_app_and_start_uplink();
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  bool on_stream_views(uv_buf_t* views, size_t count) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;

  // The pump (tunnel_pump.cpp).
  void start_app_reads();
  void send_uplink(uint8_t* data, size_t n);
  void send_uplink_end();
  void uplink_write_finished();
  void release_read_block();
  // False when the write failed (the tunnel is closing) or is pending.
  bool write_downlink(uv_buf_t* bufs, size_t count);
  void release_down_block();
  void maybe_finish();
  static void on_app_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_app_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void on_uplink_read(ssize_t nread);
  static void on_app_write(uv_write_t* req, int status);
  static void on_app_shutdown(uv_shutdown_t* req, int status);

  // Lifetime and timers (tunnel.cpp).
  void arm_timer(TimerPurpose purpose, uint64_t timeout_ms);
  static void on_timer(uv_timer_t* timer);
  void on_idle_timer();
  // One direction has ended: the other gets uplink_only / downlink_only from now on.
  void one_direction_ended();
  void log_close(End end, Phase was, const std::string& reason) const;
  static void on_closed(uv_handle_t* handle);
  void on_handle_closed();

  LoopContext& context_;
  std::shared_ptr<const config::Profile> profile_;  // this tunnel's configuration snapshot
  std::unique_ptr<outbound::Dialer> own_dialer_;    // set when the inbound gave one
  outbound::Dialer& dialer_;
  Tunnel* next_ = nullptr;
  Tunnel* prev_ = nullptr;

  uv_tcp_t app_{};
  uv_timer_t timer_{};
  uv_write_t app_write_req_{};
  uv_write_t reply_write_req_{};
  uv_shutdown_t app_shutdown_req_{};
  std::unique_ptr<transport::Stream> outbound_;
  std::unique_ptr<UdpAssociationLease> association_;  // UDP ASSOCIATE only
  uv::CloseLatch latch_;
  // The outbound took writes before it was connected (on_stream_writable): the app has been
  // answered and the uplink runs, while the connect timer still bounds the opening.
  bool awaiting_open_ = false;

  Phase phase_ = Phase::kHandshake;
  TimerPurpose timer_purpose_ = TimerPurpose::kNone;

  // Handshake state; the handshake is dropped once its last reply is queued.
  std::unique_ptr<handshake::InboundHandshake> handshake_;
  std::string_view protocol_;  // the handshake's name for log lines ("socks5")
  // Replies; only appended to while writes may pend. Sized for an HTTP error response.
  std::array<uint8_t, 512> replies_{};
  size_t replies_len_ = 0;
  size_t replies_sent_ = 0;
  uv_buf_t reply_buf_{};
  bool reply_write_pending_ = false;

  std::string peer_;
  std::optional<TargetAddress> target_;

  // Uplink.
  ReadBlock* up_block_ = nullptr;
  uv_buf_t up_buf_{};
  size_t early_offset_ = 0;  // app bytes that came with the request, waiting in up_block_
  size_t early_len_ = 0;
  bool up_write_pending_ = false;
  bool app_eof_ = false;
  bool end_requested_ = false;
  bool uplink_done_ = false;

  // Downlink.
  ReadBlock* down_block_ = nullptr;  // only for outbounds that read into our buffer
  uv_buf_t down_buf_{};
  bool down_write_pending_ = false;
  bool downlink_ended_ = false;  // the outbound ended; shutting the app's side down
  bool downlink_done_ = false;   // app shutdown completed

  uint64_t started_ms_ = 0;
  uint64_t last_activity_ms_ = 0;
  uint64_t bytes_up_ = 0;
  uint64_t bytes_down_ = 0;
};

}  // namespace vmlocal::tunnel
