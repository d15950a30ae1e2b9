// The HTTP proxy's forwarding of plain (absolute-form) requests, RFC 9112 §3.2.2 and RFC 9110
// §7.6: an adapter the tunnel sees as its outbound stream, sitting between the tunnel and the
// real outbound streams ("legs", one per origin in turn), so the tunnel stays protocol-free.
//
// Uplink (app -> origin): each request head is parsed (http1), rewritten to origin-form with
// the hop-by-hop fields removed, and its body relayed byte for byte as far as its framing
// (Content-Length or chunked) says. A request to the same host:port goes on the same leg
// (pipelining included); a request to another origin waits until every response on the
// current leg is complete, then the leg is closed and a new one opened, so two requests' bytes
// never mix on a leg.
// Downlink (origin -> app): responses are relayed untouched, but followed through their framing
// (Content-Length, chunked, close-delimited, 1xx, bodiless HEAD/204/304) so the adapter knows
// when each ends. A close-delimited response ends the app's connection too; a 101 to an Upgrade
// request turns the connection into a plain relay both ways.
// A later request that is malformed gets 400 (431 for a head over the limit), one whose origin
// cannot be reached 502 (504 on a timeout), after the responses before it; then the app's
// connection ends.
//
// Lifetime: owned by the tunnel like any outbound stream; on_stream_closed() once every leg
// and both timers have closed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "vmlocal/handshake/http1.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::inbound {

class HttpForwardStream final : public transport::Stream {
 public:
  // Dials the first leg to `target` (an error: nothing was sent, the tunnel answers 502).
  // `first_head` is the first request head as the app sent it; `connect_timeout_ms` bounds
  // each later leg's connect (the tunnel times the first).
  static Result<std::unique_ptr<transport::Stream>> open(uv_loop_t* loop, outbound::Dialer& dialer,
                                                         const TargetAddress& target,
                                                         std::string_view first_head,
                                                         uint64_t connect_timeout_ms,
                                                         transport::StreamHandler& handler);
  ~HttpForwardStream() override;

  void connect() override;
  void read_start() override;
  void read_stop() override;
  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  void close(bool reset) override;
  const transport::Failure& failure() const override { return failure_; }
  std::string_view connect_stage() const override;
  std::string_view route() const override;  // the current leg's ("direct" or the server)
  size_t max_write_size() const override;
  void release_views() override;

 private:
  struct Leg;
  enum class Pump : uint8_t { kDone, kPaused, kFailed };
  enum class Up : uint8_t { kHead, kBody, kRaw, kDiscard };
  enum class Down : uint8_t { kHead, kBody, kRaw };
  enum class Wait : uint8_t { kNone, kLegWrite, kResponses, kConnecting, kEnded };

  HttpForwardStream(uv_loop_t* loop, outbound::Dialer& dialer, uint64_t connect_timeout_ms,
                    transport::StreamHandler& handler);

  // Uplink.
  Pump pump();
  Pump on_request_head();
  Pump write_to_leg(char* data, size_t len);
  void resume_uplink();
  void open_leg();
  // A local error response for the app once the responses before it have gone; then the end.
  void answer_locally(int status, std::string_view status_text, const std::string& reason);

  // Leg callbacks.
  void leg_connected(Leg* leg);
  void leg_failed(Leg* leg, const transport::Failure& failure);
  bool leg_views(Leg* leg, uv_buf_t* views, size_t count);
  MutableByteView leg_buffer(Leg* leg);
  void leg_read(Leg* leg, size_t n);
  void leg_eof(Leg* leg);
  void leg_write_done(Leg* leg);
  void leg_closed(Leg* leg);

  // Downlink framing; false on a malformed or unexpected response (failure_ says why).
  bool scan_response(ByteView bytes);
  void response_complete();
  void schedule();
  static void on_defer(uv_timer_t* timer);
  static void on_connect_timeout(uv_timer_t* timer);
  void fail(ErrorKind kind, std::string message);
  void handle_closed();

  uv_loop_t* loop_;
  outbound::Dialer& dialer_;
  uint64_t connect_timeout_ms_;
  transport::StreamHandler& handler_;
  transport::Failure failure_;
  std::list<std::unique_ptr<Leg>> legs_;  // the current leg is back(); older ones are closing
  Leg* leg_ = nullptr;                    // the current leg, or null between legs
  uv_timer_t defer_timer_{};
  uv_timer_t connect_timer_{};
  int open_handles_ = 2;  // the timers; legs are counted by legs_
  bool closing_ = false;
  bool first_connected_ = false;
  bool reading_ = false;

  // Uplink state. The tunnel's write being relayed: bufs_[buf_index_] from buf_offset_ on.
  Up up_ = Up::kHead;
  Wait wait_ = Wait::kNone;
  uv_buf_t* bufs_ = nullptr;
  size_t buf_count_ = 0;
  size_t buf_index_ = 0;
  size_t buf_offset_ = 0;
  bool tunnel_write_pending_ = false;
  bool app_ended_ = false;  // shutdown() came
  std::string head_;        // the request head being collected
  std::string out_head_;    // the rewritten head on its way (sealed in place by the leg)
  uv_buf_t out_buf_{};
  http1::BodyScanner request_body_;
  std::optional<TargetAddress> next_target_;  // the origin the waiting head goes to
  std::optional<TargetAddress> origin_;       // the last leg's, for the line when it changes
  std::deque<std::string> methods_;           // requests sent whose responses have not ended

  // Downlink state.
  Down down_ = Down::kHead;
  std::string response_head_;
  http1::BodyScanner response_body_;
  bool close_delimited_ = false;  // the app's connection ends with this response
  bool views_held_ = false;       // the tunnel holds a leg's views
  MutableByteView last_buffer_;   // legs that read into the tunnel's buffer: where
  std::string local_response_;    // 400/431/502/504 to send once the responses before it went
  bool local_pending_ = false;
  bool local_held_ = false;  // the tunnel holds our local response's view
  uv_buf_t local_buf_{};
  bool eof_pending_ = false;  // tell the tunnel the downlink ended (from the defer timer)
};

}  // namespace vmlocal::inbound
