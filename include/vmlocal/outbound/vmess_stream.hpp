// A VMess client stream (vmess-protocol.md): itself a transport::Stream, over the upstream
// stack a server asks for (tcp -> tls -> ws). The tunnel writes plaintext and reads plaintext;
// this stream adds the request header, seals uplink chunks, opens the response header and the
// downlink chunks, and applies the END rules.
//
// Uplink: write() seals the caller's bytes in place (the tunnel's read block: no copy) and sends
// header + chunks in one write of several iovecs. The request header rides in front of the
// first write — data, END, or alone after 100 ms of app silence (v2ray's client does the same,
// so server-first protocols such as SMTP still start). shutdown() sends the END chunk (§9.7).
//
// Downlink: chunks are opened in place in a block of this stream's and handed to the handler as
// views (StreamHandler::on_stream_views), never copied. END, or a clean close at a chunk
// boundary, is on_stream_eof(); a close that may have cut data short is a failure (§10.4, §11).
//
// A warm stack (warm_pool.hpp) that turns out dead before the first response byte — closed by
// the server, or failing at the first write or read — is replaced once by a fresh dial with a
// fresh request, and the plaintext sent so far (kept until the first response byte, at most one
// write's worth) is sent again on it, so the app never sees it (vmess_redial.cpp).
//
// Lifetime: owned by the handler (the tunnel); on_stream_closed() comes once the stack below and
// the flush timer have closed, and the stream may be destroyed from it.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <vector>

#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/warm_pool.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/target_address.hpp"
#include "vmlocal/uv/close_latch.hpp"
#include "vmlocal/vmess/request_builder.hpp"

namespace vmlocal::outbound {

class VmessStream final : public transport::Stream, private transport::StreamHandler {
 public:
  // A request built for one target, before any traffic (open() = prepare() + create()).
  struct Prepared {
    TargetAddress target;
    vmess::ClientRequest request;
    int64_t clock_offset = 0;  // the ServerState offset its timestamp used
    vmess::Command command = vmess::Command::kTcp;
  };
  // Errors: kUnreachable when VMess cannot carry the target (e.g. a domain over 255 bytes), or,
  // for Command::kUdp, when the server's body has no chunks ("zero") and so cannot keep
  // datagrams apart (§13).
  // `command`: kTcp for a tunnel, kMux for a Mux.Cool connection (no target on the wire), kUdp
  // for packet mode (§13): each buffer given to write() is one datagram, sealed as one chunk (at
  // most max_write_size() bytes each, up to kMaxUplinkChunks buffers per write), and each view
  // handed to on_stream_views() is one datagram from the target.
  static Result<Prepared> prepare(OutboundContext& context, const ServerContext& server,
                                  const TargetAddress& target,
                                  vmess::Command command = vmess::Command::kTcp);
  // Cannot fail: for callers that must build the stream inside another layer's constructor
  // (the probe's TLS inside the tunnel). `report_outcome`: tell the server's ServerState whether
  // the server responded (tunnels do; the probe reports its own verdict). With `warm`, the
  // stack is a warm connection from that pool when it has one (warm_pool.hpp): connected
  // already, or with a head start; else one is built and dialled as usual.
  static std::unique_ptr<VmessStream> create(OutboundContext& context,
                                             std::shared_ptr<const ServerContext> server,
                                             Prepared prepared, transport::StreamHandler& handler,
                                             bool report_outcome = true, WarmPool* warm = nullptr);
  static Result<std::unique_ptr<VmessStream>> open(OutboundContext& context,
                                                   std::shared_ptr<const ServerContext> server,
                                                   const TargetAddress& target,
                                                   transport::StreamHandler& handler,
                                                   vmess::Command command = vmess::Command::kTcp,
                                                   WarmPool* warm = nullptr);
  ~VmessStream() override;
  VmessStream(const VmessStream&) = delete;
  VmessStream& operator=(const VmessStream&) = delete;

  void connect() override;
  void read_start() override;
  void read_stop() override;
  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  void close(bool reset) override;
  const transport::Failure& failure() const override { return failure_; }
  std::string_view connect_stage() const override { return inner_->connect_stage(); }
  std::string_view http_status_line() const override { return inner_->http_status_line(); }
  std::string_view http_date() const override { return inner_->http_date(); }
  size_t max_write_size() const override;
  void release_views() override;

  // For the probe: the stack below is up (TCP, TLS, WebSocket); the server sent its response.
  bool transport_connected() const { return connected_; }
  bool responded() const { return request_.downlink.header_done(); }

 private:
  VmessStream(OutboundContext& context, std::shared_ptr<const ServerContext> server,
              Prepared prepared, transport::StreamHandler& handler, bool report_outcome,
              WarmPool* warm);

  // With clock_offset = "auto": reads the server's Date from the upgrade response, and rebuilds
  // the (unsent) request when the offset to apply changed.
  void apply_server_clock();
  // Tells the ServerState, once, whether the server responded.
  void report_outcome(bool responded);

  // Redial of a dead warm stack (vmess_redial.cpp).
  void keep_for_replay(const uv_buf_t* bufs, size_t count);
  void response_started();
  bool redial_instead_of_failing();
  void redial();
  void replay();
  void after_replay_write();

  // Handler of the stack below.
  void on_stream_connected() override;
  void on_stream_writable() override;
  void start_flush_timer();
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;

  // Uplink (vmess_uplink.cpp).
  size_t put_header_once(uv_buf_t* bufs);
  size_t seal_into(SealBlock& block, size_t count, uv_buf_t* bufs, size_t n);
  WriteResult submit(size_t out);
  WriteResult send(uv_buf_t* bufs, size_t count);
  void write_finished();
  void send_header_alone();
  static void on_flush_timer(uv_timer_t* timer);

  // Downlink (vmess_downlink.cpp).
  void open_chunks();
  // After the handler is done with the views: keep the partial chunk, go on.
  void views_consumed();
  void release_open_block();
  void downlink_ended();

  // Records the failure once and tells the handler (unless closing).
  void fail(ErrorKind kind, std::string message);
  void on_child_closed();

  OutboundContext& context_;
  std::shared_ptr<const ServerContext> server_;  // pinned: account and TLS context outlive us
  TargetAddress target_;
  vmess::Command command_ = vmess::Command::kTcp;
  vmess::ClientRequest request_;
  int64_t clock_offset_ = 0;
  transport::StreamHandler& handler_;
  bool report_outcome_ = true;
  bool outcome_reported_ = false;
  std::unique_ptr<transport::Stream> inner_;
  uv_timer_t flush_timer_{};
  uv::CloseLatch latch_;
  transport::Failure failure_;

  bool connected_ = false;
  bool flush_timer_started_ = false;
  bool closing_ = false;
  bool warm_ = false;                // the stack came from a warm pool
  bool announce_connected_ = false;  // a connected warm stack: tell the handler on the next turn

  // Redial of a dead warm stack.
  std::vector<uint8_t> replay_;  // plaintext sent so far, while a redial is possible
  bool replay_possible_ = false;
  bool replay_end_ = false;            // END was sent too
  bool redial_due_ = false;            // the flush timer redials on the next turn
  bool redialing_ = false;             // the fresh stack is connecting
  bool replay_write_pending_ = false;  // our write of header + replay
  bool end_after_replay_pending_ = false;
  std::vector<uv_buf_t> deferred_bufs_;         // a handler write made while redialing
  std::unique_ptr<transport::Stream> retired_;  // the dead stack, closing
  bool failed_ = false;

  // Uplink.
  SealBlock* seal_ = nullptr;  // held while a write is pending
  uv_buf_t header_buf_{};      // the header sent alone
  bool header_sent_ = false;
  bool header_alone_pending_ = false;  // our own write of the header alone is pending
  size_t deferred_count_ = 0;          // the handler's sealed write, waiting for the header alone
  bool handler_write_pending_ = false;
  bool end_in_write_ = false;  // the pending handler write carries END: shut down after it
  bool end_sent_ = false;

  // Downlink.
  OpenBlock* open_ = nullptr;
  size_t open_len_ = 0;       // valid bytes at the front of open_->data
  size_t open_consumed_ = 0;  // of those, bytes the reader is finished with
  bool reading_wanted_ = false;
  bool views_held_ = false;
  bool need_more_ = false;  // the last pass stopped on an incomplete chunk
  bool ended_ = false;
  uint64_t bytes_down_ = 0;
};

}  // namespace vmlocal::outbound
