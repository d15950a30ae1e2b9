#include "vmlocal/transport/layer_stream.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace vmlocal::transport {

LayerStream::LayerStream(uv_loop_t* loop, StreamHandler& handler, const MakeInner& make_inner)
    : loop_(loop), handler_(handler) {
  uv_idle_init(loop_, &resume_);
  resume_.data = this;
  inner_ = make_inner(static_cast<StreamHandler&>(*this));
  latch_.opened(2);  // the idle handle and the inner stream
}

LayerStream::~LayerStream() {
  // libuv still points at resume_ until its close callback ran.
  assert(!closing_ || latch_.open() == 0);
}

void LayerStream::connect() {
  inner_->connect();
}

void LayerStream::read_start() {
  if (!ready_for_reads() || closing_ || failed_) return;
  reading_ = true;
  if (has_pending_delivery()) {
    schedule_resume();  // delivered on the next loop iteration, never from inside this call
  } else {
    update_inner_reading();
  }
}

void LayerStream::read_stop() {
  reading_ = false;
  cancel_resume();
  update_inner_reading();
}

void LayerStream::update_inner_reading() {
  const bool want = !closing_ && !failed_ && wants_inner_reads();
  if (want == inner_reading_) return;
  inner_reading_ = want;
  if (want) {
    inner_->read_start();
  } else {
    inner_->read_stop();
  }
}

void LayerStream::close(bool reset) {
  if (closing_) {
    if (reset && draining_) end_drain(true);  // cut the graceful close short
    return;
  }
  const bool graceful = !failed_ && (!reset || reply_owed());
  closing_ = true;
  resume_scheduled_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_), on_idle_closed);
  if (graceful && !flush_for_close()) {
    // A write below is pending and more must follow it: on_close_write_done() continues.
    draining_ = true;
    uv_timer_init(loop_, &drain_timer_);
    drain_timer_.data = this;
    latch_.opened();
    uv_timer_start(&drain_timer_, on_drain_timeout, kCloseDrainMs, 0);
    return;
  }
  // May report closed synchronously; our own report waits for the idle handle's callback.
  inner_->close(graceful ? false : reset);
}

void LayerStream::on_close_write_done() {
  if (draining_ && flush_for_close()) end_drain(false);
}

void LayerStream::end_drain(bool reset) {
  if (!draining_) return;
  draining_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), on_drain_timer_closed);
  inner_->close(reset);
}

void LayerStream::on_drain_timeout(uv_timer_t* timer) {
  static_cast<LayerStream*>(timer->data)->end_drain(true);
}

void LayerStream::on_drain_timer_closed(uv_handle_t* handle) {
  static_cast<LayerStream*>(handle->data)->on_child_closed();
}

void LayerStream::schedule_resume() {
  if (closing_ || resume_scheduled_) return;
  resume_scheduled_ = true;
  uv_idle_start(&resume_, on_idle);
}

void LayerStream::cancel_resume() {
  if (!resume_scheduled_ || closing_) return;
  resume_scheduled_ = false;
  uv_idle_stop(&resume_);
}

void LayerStream::on_idle(uv_idle_t* idle) {
  auto* self = static_cast<LayerStream*>(idle->data);
  uv_idle_stop(idle);
  if (!self->resume_scheduled_ || self->closing_) return;
  self->resume_scheduled_ = false;
  self->on_resume();
}

void LayerStream::report_eof() {
  if (eof_reported_) return;
  if (!reading_ || holds_bytes()) {
    end_pending_ = true;
    return;
  }
  end_pending_ = false;
  eof_reported_ = true;
  update_inner_reading();
  handler_.on_stream_eof();
}

void LayerStream::resume_delivery() {
  if (!reading_) return;
  if (holds_bytes()) {
    const MutableByteView space = handler_.on_stream_buffer();
    const size_t n = std::min(space.size(), held_.size() - held_offset_);
    std::memcpy(space.data(), held_.data() + held_offset_, n);
    held_offset_ += n;
    if (held_offset_ == held_.size()) {
      held_.clear();
      held_.shrink_to_fit();
      held_offset_ = 0;
    }
    deliver_held(space.data(), n);
    if (closing_ || failed_) return;
    if (holds_bytes() && reading_) {
      schedule_resume();
      return;
    }
  }
  if (end_pending_ && reading_) {
    report_eof();
    return;
  }
  update_inner_reading();
}

void LayerStream::deliver_held(uint8_t*, size_t n) {
  handler_.on_stream_read(n);
}

void LayerStream::fail(FailureKind kind, std::string message) {
  if (closing_ || failed_) return;
  failed_ = true;
  cancel_resume();
  failure_ = Failure{kind, std::move(message)};
  handler_.on_stream_failed(failure_);
}

void LayerStream::on_stream_failed(const Failure& failure) {
  if (draining_) {
    end_drain(true);  // the write a graceful close waits for will not complete
    return;
  }
  fail(failure.kind, failure.message);
}

void LayerStream::on_stream_closed() {
  on_child_closed();
}

void LayerStream::on_idle_closed(uv_handle_t* handle) {
  static_cast<LayerStream*>(handle->data)->on_child_closed();
}

void LayerStream::on_child_closed() {
  if (latch_.closed()) handler_.on_stream_closed();  // may destroy this: nothing after it
}

}  // namespace vmlocal::transport
