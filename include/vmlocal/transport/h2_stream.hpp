// One HTTP/2 stream (RFC 9113) over an inner stream (TLS with ALPN "h2"), carried as a plain
// byte stream: v2ray's "http" transport (h2), or, with `grpc` set, the gRPC "gun" tunnel whose
// DATA carries Hunk messages (grpc_frame.hpp). The framing, HPACK and flow control are
// libnghttp2's client session (Debian's libnghttp2), driven by memory: bytes read below go to
// nghttp2_session_mem_recv, and what nghttp2_session_mem_send produces is written below.
// One TCP+TLS connection per tunnel: nothing is shared between tunnels, so a tunnel's
// connection dies with it and no stream waits behind another's flow-control window.
//
// The request, as v2ray 4.34's client sends it (transport/internet/http/dialer.go, Go's
// http2.Transport underneath): PUT <path> with :authority one of the profile's hosts drawn per
// tunnel (v2ray's default "www.example.com" when none is given), accept-encoding: identity and
// Go's user-agent; for gRPC (grpc/grpc doc/PROTOCOL-HTTP2.md): POST /<service_name>/Tun,
// content-type: application/grpc, te: trailers. on_stream_connected() comes with the response
// headers (status 200; for gRPC also a gRPC content-type), as v2ray's client.Do returns then;
// any other status is a failure naming the path and host to check.
//
// Uplink: each write() is sent as DATA frames (for gRPC as one Hunk message, its 6-11 header
// bytes in front) within the server's flow-control windows: a write stays kPending until all
// of it went below, so a window that does not open holds the tunnel (backpressure). The bytes
// are not copied: nghttp2 writes only the 9-byte frame headers (NGHTTP2_DATA_FLAG_NO_COPY) and
// the caller's buffers are written between them. shutdown() sends END_STREAM after what is
// queued (the request's end; v2ray's server then sees EOF on the request body).
//
// Downlink: DATA payload is moved to the front of the handler's buffer in place (for gRPC only
// the Hunk data). The response's END_STREAM is EOF (for gRPC after trailers with grpc-status
// 0); RST_STREAM, grpc-status other than 0, or the connection closing before END_STREAM is a
// failure (kReset / kProtocol). A RST_STREAM(NO_ERROR) after the response ended is the server
// declining the rest of the request (RFC 9113 §8.1): the downlink is whole, further writes fail.
//
// Receive windows: the stream and the connection window are opened to kReceiveWindow (4 MiB,
// what Go's http2.Transport gives a stream) so the server is never held to the 64 KiB default
// (at 100 ms RTT that caps a tunnel at 640 KiB/s). Memory stays bounded all the same: while
// the handler does not read, this layer does not read below, so unread bytes wait in the
// kernel's socket buffers and at the server, not here. (WINDOW_UPDATEs for the uplink are then
// read once the handler reads again — the same coupling a TCP connection has.)
//
// Closing: a graceful close() sends what it holds, RST_STREAM(CANCEL) if the stream is still
// open, and GOAWAY(NO_ERROR) before the TLS layer closes.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vmlocal/transport/grpc_frame.hpp"
#include "vmlocal/transport/layer_stream.hpp"

struct nghttp2_session;

namespace vmlocal::transport {

struct H2Options {
  std::string authority;  // :authority
  std::string path;       // :path
  bool grpc = false;      // gRPC "gun" (POST, Hunk framing) instead of v2ray's h2 (PUT)
};

// Stream and connection receive window (see above).
inline constexpr int32_t kH2ReceiveWindow = 4 << 20;

class H2Stream final : public LayerStream {
 public:
  H2Stream(uv_loop_t* loop, StreamHandler& handler, H2Options options, const MakeInner& make_inner);
  ~H2Stream() override;

  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  std::string_view connect_stage() const override;

  // The request headers for `options`, in order, as (name, value) pairs (for the unit test and
  // the debug log).
  static std::vector<std::pair<std::string, std::string>> request_headers(const H2Options& options);

 private:
  struct Callbacks;  // nghttp2's callbacks (h2_stream.cpp)
  // A piece of the next write below: bytes in out_ (frames nghttp2 serialized) or a caller's.
  struct Slice {
    const uint8_t* external = nullptr;  // nullptr: out_[offset, offset + len)
    size_t offset = 0;
    size_t len = 0;
  };

  // StreamHandler (the inner stream).
  void on_stream_connected() override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;

  bool flush_for_close() override;
  void on_resume() override { resume_delivery(); }
  bool ready_for_reads() const override { return connected_; }
  bool wants_inner_reads() const override;

  bool start_session();
  // Feeds received bytes to nghttp2, then acts on what its callbacks recorded.
  void receive(uint8_t* base, size_t n, bool into_handler_buffer);
  // Hands received payload on: moved to the front of the handler's buffer, or kept.
  void deliver(const uint8_t* data, size_t n);
  // Serializes what nghttp2 has to send and writes it below unless a write is pending. False
  // when nghttp2 or the write below failed (failure_ says why).
  bool pump_output();
  void on_response_headers();
  void on_remote_end();
  // Appends bytes nghttp2 serialized to the batch.
  void append_own(const uint8_t* data, size_t len);
  void note_failure(FailureKind kind, std::string message);

  H2Options options_;
  nghttp2_session* session_ = nullptr;
  int32_t stream_id_ = -1;

  // Uplink: the caller's write (and the gRPC header in front of it) not yet framed.
  std::vector<uv_buf_t> source_;
  size_t source_index_ = 0;
  std::array<uint8_t, grpc::kMaxHunkHeader> hunk_header_{};
  bool source_active_ = false;   // a write's bytes are queued or in flight
  bool source_drained_ = false;  // ... and all of them are in the batch being written
  bool user_write_pending_ = false;
  bool shut_down_ = false;
  // The batch being written below.
  std::vector<uint8_t> out_;
  std::vector<Slice> slices_;
  std::vector<uv_buf_t> iov_;
  bool inner_write_pending_ = false;
  bool goaway_sent_ = false;

  // Downlink.
  std::array<uint8_t, 16 * 1024> scratch_{};  // reads while the handler's buffer is not used
  uint8_t* lent_ = nullptr;                   // the handler's buffer, lent below
  bool into_handler_ = false;                 // during receive(): payload goes to lent_
  size_t delivered_ = 0;                      // payload moved to lent_ in this receive()
  grpc::HunkDecoder decoder_;
  int status_ = 0;  // :status of the response
  std::string content_type_;
  std::string grpc_status_;  // from the trailers (or a trailers-only response)
  std::string grpc_message_;

  bool inner_connected_ = false;
  bool response_seen_ = false;  // set in a callback; connected_ follows after mem_recv
  bool connected_ = false;
  bool remote_ended_ = false;  // END_STREAM received
  bool stream_closed_ = false;
  bool inner_eof_ = false;
  bool pending_failure_ = false;  // recorded in a callback, reported after mem_recv
  Failure pending_;
};

}  // namespace vmlocal::transport
