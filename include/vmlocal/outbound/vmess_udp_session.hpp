// One destination of a SOCKS5 UDP association, carried by its own VMess UDP tunnel (Cmd 2,
// packet mode: one datagram per chunk each way, vmess-protocol.md §13). A v2ray 4.34 server
// relays such a tunnel to exactly the destination named in its request, so every destination
// gets its own session; this per-destination form is what v2ray, Xray and sing-box servers all
// accept. A destination [route] sends direct gets a DirectUdpStream instead, which keeps the
// same packet-mode Stream contract, so this session carries it unchanged.
//
// Datagrams are copied into a queue bounded by the association's budget (shared by all of its
// sessions), sent once the tunnel is up, up to kMaxUplinkChunks per vectored write. Replies go
// to the handler one datagram per call. Nothing is retried: UDP may lose datagrams, and a
// datagram that does not fit one chunk is refused (kTooLarge), never split.
//
// Lifetime: open() returns a session that frees itself after close(), once its stream has
// closed; no handler callback comes after close(). When the tunnel ends by itself (server END,
// a failure) the handler hears on_udp_session_ended once, and must then call close().
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/error.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::outbound {

class VmessUdpSession;

// Datagrams waiting in all sessions of one association, and the most allowed.
struct UdpQueueBudget {
  size_t queued = 0;
  size_t max = 256;
};

class UdpSessionHandler {
 public:
  // One datagram from the destination; `datagram` is valid during the call only.
  virtual void on_udp_reply(VmessUdpSession& session, ByteView datagram) = 0;
  // The tunnel ended (END from the server, or a failure: `reason` says which). Call close().
  virtual void on_udp_session_ended(VmessUdpSession& session, const std::string& reason) = 0;

 protected:
  ~UdpSessionHandler() = default;
};

class VmessUdpSession final : private transport::StreamHandler {
 public:
  // Dials and starts connecting. Errors: as UdpDialer::dial_udp (nothing was sent).
  static Result<VmessUdpSession*> open(UdpDialer& dialer, const TargetAddress& target,
                                       UdpSessionHandler& handler, UdpQueueBudget& budget);
  VmessUdpSession(const VmessUdpSession&) = delete;
  VmessUdpSession& operator=(const VmessUdpSession&) = delete;

  enum class SendResult : uint8_t {
    kQueued,     // sent, or waiting for the tunnel
    kTooLarge,   // over max_datagram(): one chunk could not hold it
    kQueueFull,  // the association's budget is spent
    kEmpty,      // a zero-length datagram: an empty chunk would mean END (§9.7), so never sent
  };
  SendResult send(ByteView datagram);

  // The largest datagram one packet chunk carries for this server's security (§13).
  size_t max_datagram() const { return stream_->max_write_size(); }
  const TargetAddress& target() const { return target_; }
  bool connected() const { return connected_; }
  // "direct" when [route] sent it to a local UDP socket (DirectUdpStream) rather than the server.
  std::string_view route() const { return stream_->route(); }
  uint64_t datagrams_up() const { return datagrams_up_; }
  uint64_t datagrams_down() const { return datagrams_down_; }
  // Queued before the tunnel was up and over the limit of the server it reached (a failover).
  uint64_t dropped_too_large() const { return dropped_too_large_; }

  // Ends the tunnel (the END chunk when nothing is in flight, then a graceful close) and frees
  // the session once the stream has closed. Idempotent.
  void close();

 private:
  VmessUdpSession(const TargetAddress& target, UdpSessionHandler& handler, UdpQueueBudget& budget);
  ~VmessUdpSession();

  void pump();
  void release_budget();
  void end(const std::string& reason);

  // StreamHandler.
  void on_stream_connected() override;
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  bool on_stream_views(uv_buf_t* views, size_t count) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;

  TargetAddress target_;
  UdpSessionHandler& handler_;
  UdpQueueBudget& budget_;
  std::unique_ptr<transport::Stream> stream_;
  std::deque<std::vector<uint8_t>> queue_;
  std::array<uv_buf_t, kMaxUplinkChunks> bufs_{};
  size_t in_flight_ = 0;  // datagrams at the front of queue_ in the pending write
  bool connected_ = false;
  bool ended_ = false;
  bool closing_ = false;
  uint64_t datagrams_up_ = 0;
  uint64_t datagrams_down_ = 0;
  uint64_t dropped_too_large_ = 0;
};

}  // namespace vmlocal::outbound
