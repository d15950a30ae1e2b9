// WarmConnection: the pool's watch while it waits, then a plain forwarder for its owner.
#include "vmlocal/outbound/warm_connection.hpp"

#include "vmlocal/outbound/warm_pool.hpp"

namespace vmlocal::outbound {

WarmConnection::WarmConnection(
    WarmPool& pool, uint64_t born_ms,
    const std::function<std::unique_ptr<transport::Stream>(transport::StreamHandler&)>& make)
    : pool_(&pool), born_ms_(born_ms) {
  inner_ = make(static_cast<transport::StreamHandler&>(*this));
}

void WarmConnection::adopt(transport::StreamHandler& owner) {
  if (connected_) inner_->read_stop();
  pool_ = nullptr;
  owner_ = &owner;
}

void WarmConnection::close(bool reset) {
  if (closing_) {
    inner_->close(reset);  // a reset may cut a graceful close short
    return;
  }
  closing_ = true;
  inner_->close(reset);
}

void WarmConnection::on_stream_connected() {
  connected_ = true;
  if (owner_ != nullptr) {
    owner_->on_stream_connected();
    return;
  }
  // Watch for the server closing it while it waits: reads that should never bring a byte.
  inner_->read_start();
  pool_->on_ready(*this);
}

void WarmConnection::on_stream_failed(const transport::Failure& failure) {
  if (owner_ != nullptr) {
    owner_->on_stream_failed(failure);
    return;
  }
  if (!closing_) pool_->on_dead(*this, !connected_);
}

MutableByteView WarmConnection::on_stream_buffer() {
  if (owner_ != nullptr) return owner_->on_stream_buffer();
  return MutableByteView(scratch_.data(), scratch_.size());
}

void WarmConnection::on_stream_read(size_t n) {
  if (owner_ != nullptr) {
    owner_->on_stream_read(n);
    return;
  }
  // A VMess server never speaks first: whatever this is, the connection is not fit for a tunnel.
  if (!closing_) pool_->on_dead(*this, false);
}

void WarmConnection::on_stream_eof() {
  if (owner_ != nullptr) {
    owner_->on_stream_eof();
    return;
  }
  if (!closing_) pool_->on_dead(*this, false);
}

void WarmConnection::on_stream_write_done() {
  if (owner_ != nullptr) owner_->on_stream_write_done();
}

bool WarmConnection::on_stream_views(uv_buf_t* views, size_t count) {
  if (owner_ != nullptr) return owner_->on_stream_views(views, count);
  if (!closing_) pool_->on_dead(*this, false);
  return true;
}

void WarmConnection::on_stream_closed() {
  if (owner_ != nullptr) {
    owner_->on_stream_closed();  // may destroy this: nothing after it
    return;
  }
  pool_->on_closed(*this);  // freed later, never from inside the stack's own callback
}

}  // namespace vmlocal::outbound
