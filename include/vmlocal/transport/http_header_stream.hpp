// The tcp transport's "http" header (v2ray's tcpSettings.header.type = "http") as a layer over
// any inner stream (TCP, or TLS): the request head goes in front of the first write, in the
// same inner write, and the server's response head is cut from the front of the downlink. The
// protocol bytes and their sources are in http_header.hpp. Like v2ray's client, the layer
// reports connected as soon as the stream below is: the server answers only once it has
// something to send, so there is nothing to wait for.
//
// Copies: none on the uplink (the head is one more buffer in the vectored write); on the
// downlink, bytes that arrive in the same read as the end of the head move to the front of the
// handler's buffer, once.
#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/transport/http_header.hpp"
#include "vmlocal/transport/layer_stream.hpp"

namespace vmlocal::transport {

class HttpHeaderStream final : public LayerStream {
 public:
  HttpHeaderStream(uv_loop_t* loop, StreamHandler& handler,
                   const http_header::RequestOptions& options, crypto::Random& random,
                   const MakeInner& make_inner);

  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  std::string_view connect_stage() const override;

 private:
  // StreamHandler (the inner stream).
  void on_stream_connected() override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;

  void on_resume() override { update_inner_reading(); }
  bool ready_for_reads() const override { return connected_; }
  bool has_pending_delivery() const override { return false; }
  bool wants_inner_reads() const override { return connected_ && reading() && !inner_eof_; }

  std::string request_head_;  // until it has been written
  bool head_sent_ = false;
  std::vector<uv_buf_t> iov_;  // [request head][caller's buffers...] for the first write
  bool write_pending_ = false;

  http_header::ResponseHeadReader reader_;
  bool response_head_done_ = false;
  bool body_seen_ = false;  // a byte after the response head arrived
  uint8_t* lent_ = nullptr;
  bool connected_ = false;
  bool inner_eof_ = false;
};

}  // namespace vmlocal::transport
