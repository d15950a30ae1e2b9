// One VMess connection carrying Mux.Cool sessions (docs/vmess-protocol.md §14): the request
// says Cmd 0x03 and no target; inside the sealed body, frames of many sessions interleave.
// Owned by the MuxPool; sessions point at it while attached and are told when it fails.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "vmlocal/mux/frame.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/transport/stream.hpp"

namespace vmlocal::outbound {

class MuxPool;
class MuxSession;
class VmessStream;

class MuxConnection final : private transport::StreamHandler {
 public:
  // Sessions one connection carries at most over its life: v2ray's client retires a connection
  // after a while too, and ids stay unambiguous (an id is not reused on one connection).
  static constexpr uint32_t kMaxSessionsPerConnection = 60000;
  // A connection with no session closes after this.
  static constexpr uint64_t kIdleCloseMs = 16'000;

  MuxConnection(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                MuxPool& pool, uint32_t concurrency);
  ~MuxConnection();
  MuxConnection(const MuxConnection&) = delete;
  MuxConnection& operator=(const MuxConnection&) = delete;

  // Builds the VMess request and dials. Errors: as VmessStream::open.
  Result<bool> start();
  const ServerContext* server() const { return server_.get(); }
  // Whether a new session may go here: up or connecting, not full, not stalled by a slow reader.
  bool accepts_new() const;
  bool connected() const { return connected_; }
  std::string_view connect_stage() const;

  void attach(MuxSession& session);
  // A closing session leaves: first its framed bytes not yet sent (copied here), then its End
  // (with the error bit for an abort); later frames for its id are discarded.
  void adopt(MuxSession& session, ByteView frames);
  // Whether the last write ended inside one of this session's frames: its rest must still go.
  bool is_cut(const MuxSession& session) const { return cut_ == &session; }
  void send_end(uint16_t id, bool error);
  void detach(MuxSession& session);
  // The session has framed bytes (MuxSession::unsent()) to go.
  void want_write(MuxSession& session);
  void downlink_drained();  // a session's buffer went below half its budget
  // The proxy is stopping: close when the last session leaves (now, if none).
  void stop();

 private:
  void on_stream_connected() override;
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  bool on_stream_views(uv_buf_t* views, size_t count) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;

  static void on_idle(uv_timer_t* timer);

  void pump();
  void write_finished();
  void feed(ByteView plaintext);
  void fail_all(const transport::Failure& failure);
  void close_stream(bool reset);
  void maybe_idle();
  void check_stall();
  void queue_control_end(uint16_t id, bool error);
  size_t fill_stage(size_t limit);

  OutboundContext& context_;
  std::shared_ptr<const ServerContext> server_;
  MuxPool& pool_;
  uint32_t concurrency_;
  std::unique_ptr<VmessStream> vmess_;

  std::unordered_map<uint16_t, MuxSession*> sessions_;
  std::deque<MuxSession*> write_queue_;
  MuxSession* cut_ = nullptr;  // its frame was cut by the end of the last write: it goes first
  uint16_t next_id_ = 1;
  uint32_t opened_ = 0;
  mux::FrameReader reader_;
  MuxSession* reading_into_ = nullptr;  // the session the current frame's data goes to
  bool discard_data_ = false;

  // One write below at a time, from this staging buffer: the sessions' frames are copied in, so
  // no session's memory is in flight and a session may go away whenever its tunnel closes.
  static constexpr size_t kStageSize = 256 * 1024;
  std::unique_ptr<uint8_t[]> stage_;
  uv_buf_t stage_buf_{};
  // Frames the connection owes on behalf of sessions that left: their last bytes and End.
  std::vector<uint8_t> control_;
  // Ids we ended whose server End has not come: their frames are dropped without a reply.
  std::unordered_map<uint16_t, bool> ended_by_us_;
  bool writing_ = false;
  bool pumping_ = false;

  uv_timer_t idle_timer_{};
  bool connected_ = false;
  bool failed_ = false;
  bool stalled_ = false;
  bool stopping_ = false;
  bool closing_ = false;
  bool timer_closed_ = false;
  bool stream_closed_ = false;
};

// The Mux.Cool connections of one event loop, for every server: a new session goes on a
// connection to its server that accepts_new(), else on a new one.
class MuxPool {
 public:
  explicit MuxPool(OutboundContext& context) : context_(context) {}
  ~MuxPool();
  MuxPool(const MuxPool&) = delete;
  MuxPool& operator=(const MuxPool&) = delete;

  // A session to `target` through `server`'s mux; it attaches to a connection on connect().
  // `network` kUdp: a UDP sub-stream in packet mode (mux_session.hpp), for one destination of
  // a SOCKS5 UDP association. Errors: a domain target not 1..255 bytes.
  Result<std::unique_ptr<transport::Stream>> open(std::shared_ptr<const ServerContext> server,
                                                  const TargetAddress& target,
                                                  transport::StreamHandler& handler,
                                                  mux::Network network = mux::Network::kTcp);
  // The connection for a session that is connecting now. Errors: the request could not be built.
  Result<MuxConnection*> connection_for(const std::shared_ptr<const ServerContext>& server);
  void stop();
  void remove(MuxConnection* connection);  // from the connection's last callback
  size_t connection_count() const { return connections_.size(); }
  uv_loop_t* loop() const { return context_.loop; }

 private:
  OutboundContext& context_;
  std::vector<std::unique_ptr<MuxConnection>> connections_;
  bool stopping_ = false;
};

}  // namespace vmlocal::outbound
