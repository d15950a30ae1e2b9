// The HTTPUpgrade transport (httpupgrade.hpp) as a layer over any inner stream (TCP, or TLS):
// the upgrade request when the stream below connects, the 101 checked, then raw bytes both
// ways. Connected is reported once the 101 has come. Bytes that came with the 101 are
// delivered on the first read_start(). shutdown() is the stream below's (a TCP FIN, a TLS 1.3
// close_notify), as over plain tcp: there is no framing to end.
#pragma once

#include <uv.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "vmlocal/transport/httpupgrade.hpp"
#include "vmlocal/transport/layer_stream.hpp"

namespace vmlocal::transport {

class HttpUpgradeStream final : public LayerStream {
 public:
  HttpUpgradeStream(uv_loop_t* loop, StreamHandler& handler, httpupgrade::Request request,
                    const MakeInner& make_inner);
  ~HttpUpgradeStream() override;

  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  std::string_view connect_stage() const override;

 private:
  struct Upgrade;  // the request and the response reader, only until the 101

  void on_stream_connected() override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;

  void on_resume() override { resume_delivery(); }
  bool ready_for_reads() const override { return connected_; }
  bool wants_inner_reads() const override;
  void on_upgrade_bytes(size_t n);

  httpupgrade::Request request_;
  std::unique_ptr<Upgrade> upgrade_;
  bool request_in_flight_ = false;   // the request's write below has not completed
  uv_buf_t* queued_bufs_ = nullptr;  // the handler's write, waiting behind the request
  size_t queued_count_ = 0;
  bool write_queued_ = false;
  uint8_t* lent_ = nullptr;
  bool inner_connected_ = false;
  bool connected_ = false;
  bool inner_eof_ = false;
};

}  // namespace vmlocal::transport
