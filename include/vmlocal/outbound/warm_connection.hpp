// One warm connection (warm_pool.hpp): an upstream stack that can change hands. While it waits
// in the pool it reports to the pool (connected, or dead); once taken it forwards everything to
// its new owner (a VmessStream), which then owns it like any stack. A stack's layers hold their
// handler by reference, so this forwarding wrapper is what lets a connected stack be handed
// over without the layers or the tunnel knowing.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include "vmlocal/transport/stream.hpp"

namespace vmlocal::outbound {

class WarmPool;

class WarmConnection final : public transport::Stream, private transport::StreamHandler {
 public:
  // Builds the stack through `make` (reporting to this); start() connects it.
  WarmConnection(
      WarmPool& pool, uint64_t born_ms,
      const std::function<std::unique_ptr<transport::Stream>(transport::StreamHandler&)>& make);
  void start() { inner_->connect(); }  // may report a failure at once
  ~WarmConnection() override = default;
  WarmConnection(const WarmConnection&) = delete;
  WarmConnection& operator=(const WarmConnection&) = delete;

  // From now on every callback goes to `owner`. Stops the pool's watch reads.
  void adopt(transport::StreamHandler& owner);
  bool connected() const { return connected_; }
  uint64_t born_ms() const { return born_ms_; }
  uint64_t connected_ms() const { return connected_ms_; }

  // Stream: forwarded to the stack. connect() is a no-op: the stack is already connecting or
  // connected (the owner learns which from connected()).
  void connect() override {}
  void read_start() override { inner_->read_start(); }
  void read_stop() override { inner_->read_stop(); }
  WriteResult write(uv_buf_t* bufs, size_t count) override { return inner_->write(bufs, count); }
  WriteResult shutdown() override { return inner_->shutdown(); }
  void close(bool reset) override;
  const transport::Failure& failure() const override { return inner_->failure(); }
  std::string_view connect_stage() const override { return inner_->connect_stage(); }
  std::string_view http_status_line() const override { return inner_->http_status_line(); }
  std::string_view http_date() const override { return inner_->http_date(); }
  size_t max_write_size() const override { return inner_->max_write_size(); }
  void release_views() override { inner_->release_views(); }

 private:
  friend class WarmPool;
  void on_stream_connected() override;
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;
  bool on_stream_views(uv_buf_t* views, size_t count) override;

  WarmPool* pool_;                             // while in the pool
  transport::StreamHandler* owner_ = nullptr;  // once taken
  std::unique_ptr<transport::Stream> inner_;
  uint64_t born_ms_;
  uint64_t connected_ms_ = 0;
  bool connected_ = false;
  bool closing_ = false;
  std::array<uint8_t, 64> scratch_{};  // the pool's watch reads: any byte means trouble
};

}  // namespace vmlocal::outbound
