// One app connection, from the SOCKS5 greeting to the last close callback: the handshake, the
// upstream connect, and the duplex pump between app and upstream.
//
// Lifetime: created by Session::accept, never moved, freed by itself exactly once, after the
// last of its handles (app socket, timer, upstream stream) has closed. Every way to end — clean
// finish, error, timeout, shutdown — goes through close(), which is idempotent and logs the one
// summary line.
//
// Backpressure: each direction stops reading its source while a write to its sink is queued, so
// a tunnel holds at most one uplink block and one downlink block, and only while bytes move.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "vmlocal/net/session_context.hpp"
#include "vmlocal/socks5/handshake_parser.hpp"
#include "vmlocal/socks5/reply.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/target_address.hpp"
#include "vmlocal/vmess/request_builder.hpp"

namespace vmlocal::net {

class Session final : private transport::StreamHandler {
 public:
  // Accepts one pending connection on `listener`. Returns false (and logs) if accept failed.
  static int accept(SessionContext& context, uv_stream_t* listener);

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  enum class End : uint8_t {
    kClean,     // both directions finished
    kError,     // something failed: the app sees a reset, not a clean end of stream
    kQuiet,     // app went away during the handshake, or a handled handshake refusal
    kShutdown,  // the process is stopping
  };
  void close(End end, std::string reason);

  Session* next_in_context() const { return next_; }

 private:
  enum class Phase : uint8_t { kHandshake, kConnecting, kEstablished, kLingering, kClosing };
  enum class TimerPurpose : uint8_t { kNone, kHandshake, kConnect, kHeaderFlush, kIdle, kLinger };

  explicit Session(SessionContext& context);
  ~Session();

  // Handshake.
  void on_handshake_bytes(size_t offset, size_t n);
  void queue_reply(ByteView bytes);
  void flush_replies();
  void replies_flushed();
  void fail_handshake(socks5::ReplyCode code, std::string reason);
  void refuse_with(ByteView reply, std::string reason);
  void start_connect();

  // StreamHandler.
  void on_stream_connected() override;
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;

  // Uplink: app -> upstream.
  void start_app_reads();
  size_t put_header_once(uv_buf_t* bufs);
  void send_uplink(uint8_t* data, size_t n);
  void send_uplink_end();
  // False if the session closed.
  bool write_upstream(uv_buf_t* bufs, size_t count);
  void uplink_write_finished();
  void release_uplink_block();

  // Downlink: upstream -> app.
  void pump_downlink();
  void finish_downlink();
  void release_downlink_block();

  void arm_timer(TimerPurpose purpose, uint64_t timeout_ms);
  void maybe_finish();
  void on_handle_closed();

  static void on_app_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_app_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_app_write(uv_write_t* req, int status);
  static void on_reply_write(uv_write_t* req, int status);
  static void on_app_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_closed(uv_handle_t* handle);

  SessionContext& context_;
  Session* next_ = nullptr;
  Session* prev_ = nullptr;

  uv_tcp_t app_{};
  uv_timer_t timer_{};
  uv_write_t app_write_req_{};
  uv_write_t reply_write_req_{};
  uv_shutdown_t app_shutdown_req_{};
  std::unique_ptr<transport::Stream> upstream_;

  Phase phase_ = Phase::kHandshake;
  TimerPurpose timer_purpose_ = TimerPurpose::kNone;
  int open_handles_ = 0;

  // Handshake state; the parser is dropped once the request is in.
  std::optional<socks5::HandshakeParser> handshake_;
  std::array<uint8_t, 64> replies_{};  // SOCKS replies; only appended to while writes may pend
  size_t replies_len_ = 0;
  size_t replies_sent_ = 0;
  uv_buf_t reply_buf_{};
  bool reply_write_pending_ = false;

  std::string peer_;
  std::optional<TargetAddress> target_;
  std::optional<vmess::ClientRequest> request_;

  // Uplink.
  UplinkBlock* up_block_ = nullptr;
  size_t early_offset_ = 0;  // app bytes that came with the SOCKS request, waiting in up_block_
  size_t early_len_ = 0;
  uv_buf_t header_buf_{};  // a header sent alone (the app was silent for 100 ms)
  bool header_sent_ = false;
  bool end_sent_ = false;
  bool up_write_pending_ = false;
  bool app_eof_ = false;
  bool uplink_done_ = false;

  // Downlink.
  DownlinkBlock* down_block_ = nullptr;
  size_t down_len_ = 0;       // valid bytes at the front of down_block_->data
  size_t down_consumed_ = 0;  // of those, bytes the reader is finished with
  bool down_write_pending_ = false;
  bool downlink_ended_ = false;  // END seen (or clean EOF); shutting the app's side down
  bool downlink_done_ = false;   // app shutdown completed

  uint64_t started_ms_ = 0;
  uint64_t last_activity_ms_ = 0;
  uint64_t bytes_up_ = 0;
  uint64_t bytes_down_ = 0;
};

}  // namespace vmlocal::net
