// One tunnel's sub-stream inside a Mux.Cool connection (docs/vmess-protocol.md §14): what the
// tunnel sees as its outbound Stream when [server.mux] is on. Bytes up are framed (New once,
// then Keep frames of at most 8 KiB, End when the app's side ends) and handed to the shared
// MuxConnection; bytes down arrive as the server's Keep frames and wait in a bounded buffer
// (kDownlinkBudget) until the app takes them. End goes when the tunnel closes, not when the
// app's side ends: Mux.Cool servers drop the download on End (see shutdown()).
//
// Mux.Cool has no per-session flow control: when one session's buffer is full the whole
// connection stops reading (head-of-line blocking, as in v2ray) and new tunnels go to another
// connection (MuxPool). An End from the server ends the downlink; End with the error bit, or the
// connection failing, fails the session. Lifetime: owned by the tunnel; on_stream_closed() comes
// once nothing of it is in flight below.
//
// A UDP sub-stream (network kUdp: one destination of a SOCKS5 UDP association) is this same
// class in packet mode rather than a class of its own, since everything but the data framing
// is shared (attach, New, End, failure, close). It keeps the packet-mode Stream contract of
// direct_udp_stream.hpp: each buffer given to write() is one datagram and goes as one Keep frame
// (mux/datagram.hpp), at most kMaxUdpFrameData bytes (max_write_size(): the caller refuses a
// bigger one, since v2ray's server would end the whole connection on it); each view handed to
// on_stream_views() is one datagram, reassembled from the pieces the frame reader gives. UDP
// may lose datagrams, so a UDP sub-stream never stalls the shared connection for a slow app:
// it holds at most kUdpDownlinkBudget bytes and drops (counts) what comes over that.
#pragma once

#include <uv.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "vmlocal/mux/datagram.hpp"
#include "vmlocal/mux/frame.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::outbound {

class MuxConnection;
class MuxPool;

class MuxSession final : public transport::Stream {
 public:
  // Bytes of downlink held for an app that does not read; over this the connection stops
  // reading. 512 KiB keeps a fast download going while the app catches up.
  static constexpr size_t kDownlinkBudget = 512 * 1024;
  // App bytes per write(): eight 8 KiB frames.
  static constexpr size_t kMaxWrite = 8 * mux::kTcpFrameData;
  // UDP: bytes of replies held for an app that does not read; over this a reply is dropped.
  // Well under half of kDownlinkBudget, so a UDP sub-stream never holds the connection.
  static constexpr size_t kUdpDownlinkBudget = 64 * 1024;

  MuxSession(uv_loop_t* loop, MuxPool& pool, std::shared_ptr<const ServerContext> server,
             const TargetAddress& target, transport::StreamHandler& handler,
             mux::Network network = mux::Network::kTcp);
  ~MuxSession() override;
  MuxSession(const MuxSession&) = delete;
  MuxSession& operator=(const MuxSession&) = delete;

  void connect() override;
  void read_start() override;
  void read_stop() override;
  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  void close(bool reset) override;
  const transport::Failure& failure() const override { return failure_; }
  std::string_view connect_stage() const override;
  size_t max_write_size() const override {
    return network_ == mux::Network::kUdp ? mux::kMaxUdpFrameData : kMaxWrite;
  }
  void release_views() override;
  std::string_view route() const override { return "mux"; }

  // --- from MuxConnection -------------------------------------------------------------------
  void attached(MuxConnection& connection, uint16_t id);
  void connection_ready();  // the VMess connection is up
  void connection_failed(const transport::Failure& failure);
  // A piece of a Keep frame's data; `last`: the frame's data is complete.
  void on_frame_data(ByteView data, bool last);
  void on_end(bool error);  // the server's End
  // Our framed bytes not yet taken; the connection copies them into its write and calls took().
  ByteView unsent() const { return {out_.get() + out_taken_, out_len_ - out_taken_}; }
  void took(size_t n);
  size_t buffered() const { return down_bytes_; }

 public:
  uint16_t id() const { return id_; }
  mux::Network network() const { return network_; }
  // UDP: replies dropped because the app left kUdpDownlinkBudget unread; datagrams write() was
  // given that cannot go as one frame (empty or over kMaxUdpFrameData) and were dropped.
  uint64_t downlink_drops() const { return downlink_drops_; }
  uint64_t uplink_drops() const { return uplink_drops_; }

 private:
  enum class Phase : uint8_t { kIdle, kConnecting, kOpen, kFailed, kClosing };

  static void on_defer(uv_timer_t* timer);
  static void on_timer_closed(uv_handle_t* handle);

  void append_frame(const mux::FrameMeta& meta, ByteView data);
  mux::FrameMeta keep_meta() const;  // a Keep frame of this session, with data
  void append_datagrams(uv_buf_t* bufs, size_t count);
  void on_datagram_piece(ByteView data, bool last);
  void defer();
  void run_deferred();
  void deliver();
  void fail(transport::Failure failure);
  void detach(bool reset);

  uv_loop_t* loop_;
  MuxPool& pool_;
  std::shared_ptr<const ServerContext> server_;
  TargetAddress target_;
  transport::StreamHandler& handler_;
  mux::Network network_;
  MuxConnection* connection_ = nullptr;
  uint16_t id_ = 0;
  Phase phase_ = Phase::kIdle;
  transport::Failure failure_;

  uv_timer_t defer_timer_{};
  bool timer_closing_ = false;
  bool report_connected_ = false;
  bool report_failed_ = false;

  // Uplink frames until the connection copies them: New + one write's frames + End fit, for a
  // TCP write or a UDP one (kMaxUplinkChunks datagrams, each with its 8-byte Keep header).
  static constexpr size_t kOutCapacity =
      mux::kMaxFrameHeader +
      std::max(kMaxWrite + (kMaxWrite / mux::kTcpFrameData + 1) * 8,
               kMaxUplinkChunks*(mux::kMaxUdpFrameData + 8)) +
      16;
  std::unique_ptr<uint8_t[]> out_;
  size_t out_len_ = 0;              // bytes framed
  size_t out_taken_ = 0;            // of those, copied into the connection's write
  bool app_write_pending_ = false;  // write()/shutdown() said kPending: report when taken
  bool new_sent_ = false;
  bool app_ended_ = false;  // shutdown() was called (not passed on: see shutdown())

  // Downlink pieces waiting for the app, and the views lent out.
  std::deque<std::vector<uint8_t>> down_;
  size_t down_bytes_ = 0;
  std::array<uv_buf_t, 16> views_{};
  size_t views_lent_ = 0;
  bool reading_ = false;
  bool server_ended_ = false;
  bool eof_reported_ = false;

  // UDP only.
  mux::DatagramAssembler assembler_;
  uint64_t downlink_drops_ = 0;
  uint64_t uplink_drops_ = 0;
};

}  // namespace vmlocal::outbound
