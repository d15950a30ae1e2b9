// A WebSocket client (RFC 6455) over any inner stream (TCP, or TLS for wss): the HTTP/1.1
// upgrade, then one binary frame per write() and the payload of every received data frame
// handed on as a plain byte stream.
//
// Copies: a write masks the caller's bytes in place and sends [header][caller's buffers] in one
// inner write; received bytes go straight into the handler's lent buffer, and only frame
// headers are cut out (payload after a header moves left by the header sizes seen so far).
//
// Closing: WebSocket has no half-close, and a Close frame makes a conforming peer (or a CDN in
// between) stop sending, so shutdown() puts nothing on the wire: the VMess END chunk tells the
// server the uplink is done, as v2ray's own client does. A graceful close() finishes the frame
// being written, then sends Close (1000) before the connection closes. A Close from the server
// is answered (the same code, §5.5.1) before it is reported as EOF, and the answer goes out
// even if the handler then resets: after the server's Close there is nothing left to abort.
// Pings are answered with a pong between data frames.
//
// Early data (options.max_early_data > 0): the upgrade request is sent on the first write()
// rather than when the stream below connects, carrying that write's first bytes; the write
// completes once the 101 has come and the rest of it went as a frame.
#pragma once

#include <uv.h>

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/transport/layer_stream.hpp"
#include "vmlocal/transport/ws_frame.hpp"
#include "vmlocal/transport/ws_handshake.hpp"

namespace vmlocal::transport {

struct WsOptions {
  ws::UpgradeRequest request;  // Host, path, extra headers
  // Early data (ws_handshake.hpp, with_early_data): > 0 makes the upgrade wait for the first
  // write, whose first max_early_data bytes ride in the request (the rest follows as a frame
  // after the 101); the handler hears on_stream_writable() once the stack below is up.
  size_t max_early_data = 0;
  std::string early_data_header;  // "": appended to the path (v2fly); else this header
};

class WsStream final : public LayerStream {
 public:
  WsStream(uv_loop_t* loop, StreamHandler& handler, WsOptions options, crypto::Random& random,
           const MakeInner& make_inner);
  ~WsStream() override;

  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  std::string_view connect_stage() const override;

  std::string_view http_status_line() const override { return status_line_; }
  std::string_view http_date() const override { return date_; }

  // The close code and reason the server sent, once it did (kCloseNoStatus: none given).
  uint16_t peer_close_code() const { return peer_close_code_; }

 private:
  struct Handshake;

  // StreamHandler (the inner stream).
  void on_stream_connected() override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;

  bool flush_for_close() override;
  bool reply_owed() const override { return close_received_ && !failed(); }
  void on_resume() override { resume_delivery(); }
  void deliver_held(uint8_t* base, size_t n) override;

  void on_upgrade_bytes(size_t n);
  // Sends the upgrade request; false when the write below failed (failure_ says why).
  bool send_upgrade(const ws::UpgradeRequest& request, std::string offered_protocol);
  WriteResult write_early(uv_buf_t* bufs, size_t count);
  // After the 101: the rest of the write that carried early data goes as a frame.
  void finish_early_write();
  // Decodes n bytes at `base` (the handler's buffer) and hands the payload on.
  void process(uint8_t* base, size_t n);
  void on_control(ws::Opcode opcode, ByteView payload);
  void queue_control(ws::Opcode opcode, ByteView payload);
  // Appends the queued control frames to iov_ and marks them sent.
  void take_queued_control();
  void send_queued_control();
  // Writes the queued control frames below; false when the write failed.
  bool write_control();
  WriteResult send_data(uv_buf_t* bufs, size_t count);
  bool ready_for_reads() const override { return connected_; }
  bool wants_inner_reads() const override;
  ws::MaskKey draw_mask();

  WsOptions options_;
  crypto::Random& random_;
  std::unique_ptr<Handshake> handshake_;  // only during the upgrade
  std::string status_line_;               // of the upgrade response, once read
  std::string date_;                      // its Date header

  ws::FrameDecoder decoder_{ws::Role::kClient};
  uint8_t* lent_ = nullptr;  // the handler's buffer, lent to the inner stream

  std::vector<uv_buf_t> iov_;  // [pong][close][data header][caller's buffers...]
  std::array<uint8_t, ws::kMaxHeaderSize> data_header_{};
  // Control frames waiting to go out: one pong (the answer to the latest ping) and one close.
  // Two pong buffers: a ping may arrive while the previous pong is still being written.
  std::array<std::array<uint8_t, ws::kMaxControlFrame>, 2> pong_frames_{};
  size_t pong_slot_ = 0;  // the buffer the next pong is encoded into
  size_t pong_len_ = 0;
  std::array<uint8_t, ws::kMaxControlFrame> close_frame_{};
  size_t close_len_ = 0;
  uv_buf_t* queued_bufs_ = nullptr;  // the caller's write, waiting behind a control frame
  size_t queued_count_ = 0;
  bool user_write_queued_ = false;
  bool user_write_pending_ = false;
  bool inner_write_pending_ = false;

  bool awaiting_first_write_ = false;  // early data: the upgrade waits for write()
  bool early_write_ = false;           // the handler's write rides in the upgrade
  bool inner_connected_ = false;
  bool connected_ = false;
  bool inner_eof_ = false;
  bool shut_down_ = false;
  bool close_sent_ = false;
  bool close_received_ = false;
  uint16_t peer_close_code_ = 0;
};

}  // namespace vmlocal::transport
