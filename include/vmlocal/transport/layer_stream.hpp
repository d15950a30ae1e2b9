// The plumbing every layered upstream stream (TLS, WebSocket, HTTP/2, HTTPUpgrade) shares: it
// owns the stream below and is that stream's handler, defers work to the next loop iteration
// (so no handler callback runs inside a call the handler made), holds downlink bytes and the
// end until the handler reads, reports one failure, and reports closed only once the stream
// below and its own libuv handles are all closed.
//
// A graceful close first hands the stream below everything the layer still holds and its
// closing message (flush_for_close), waiting for writes below to complete when it must — at
// most kCloseDrainMs, then the stream below is reset — and only then closes the stream below
// gracefully, which sends what it was handed before its socket closes.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/uv/close_latch.hpp"

namespace vmlocal::transport {

// Builds the stream below a layer, with the layer as its handler.
using MakeInner = std::function<std::unique_ptr<Stream>(StreamHandler& handler)>;

class LayerStream : public Stream, protected StreamHandler {
 public:
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  void connect() override;
  // Handler-facing reads, the same for every layer: data the layer already holds is delivered
  // from a later loop iteration (see Stream); otherwise reads below follow wants_inner_reads().
  void read_start() final;
  void read_stop() final;
  // Idempotent. Graceful (and not failed), or a reset while reply_owed(): flush_for_close()
  // until it says everything went below (bounded, see above), then closes the inner stream
  // gracefully. Otherwise closes the inner stream at once with the same `reset`.
  // on_stream_closed() follows once every handle and the inner stream are closed (always
  // asynchronously).
  void close(bool reset) final;
  const Failure& failure() const override { return failure_; }

 protected:
  LayerStream(uv_loop_t* loop, StreamHandler& handler, const MakeInner& make_inner);
  ~LayerStream() override;

  // Called on a graceful close, and again after each write below completes while it waits:
  // hands the stream below what the layer still holds (a write the caller started, queued
  // control messages) followed by its closing message (TLS close_notify, WebSocket Close), once.
  // True when nothing waits for a write below any more.
  virtual bool flush_for_close() { return true; }
  // A reply the peer is owed even when the caller resets (the answer to a WebSocket Close): a
  // reset then closes gracefully, so the reply goes out before the socket closes.
  virtual bool reply_owed() const { return false; }
  // A layer calls this from on_stream_write_done() while closing.
  void on_close_write_done();
  bool draining() const { return draining_; }
  // Deferred work scheduled with schedule_resume().
  virtual void on_resume() = 0;

  // True once the handler may read (the layer's own handshake is done).
  virtual bool ready_for_reads() const = 0;
  // Data or an end the layer already holds for the handler. Default: held bytes or a pending
  // end (below).
  virtual bool has_pending_delivery() const { return holds_bytes() || end_pending_; }
  // Whether the layer wants bytes from below now (for its handshake, or room for the handler's
  // reads). Never asked while closing or failed.
  virtual bool wants_inner_reads() const = 0;
  // Starts or stops reads below to match wants_inner_reads().
  void update_inner_reading();
  // The stream below stopped reading by itself (EOF).
  void note_inner_reads_stopped() { inner_reading_ = false; }
  bool reading() const { return reading_; }

  // Downlink bytes the layer received but the handler has not had yet (read past the layer's
  // handshake, or beyond the handler's buffer); resume_delivery() hands them on.
  void hold(const uint8_t* data, size_t n) { held_.insert(held_.end(), data, data + n); }
  bool holds_bytes() const { return held_offset_ < held_.size(); }
  // The end of the downlink, told to the handler once: now when it reads and no bytes are
  // held, else (end_pending()) by resume_delivery() or the layer once that is so.
  void report_eof();
  bool eof_reported() const { return eof_reported_; }
  bool end_pending() const { return end_pending_; }
  // An on_resume() for a layer that holds bytes: a handler's buffer-full of them per loop
  // iteration, each handed on by deliver_held(), then the pending end, then reads below as
  // wants_inner_reads() says.
  void resume_delivery();
  // Hands on `n` held bytes just copied to `base` (the handler's buffer). Default: they are
  // payload (handler_.on_stream_read).
  virtual void deliver_held(uint8_t* base, size_t n);

  void schedule_resume();
  void cancel_resume();
  // Records the failure and tells the handler, once; ignored while closing.
  void fail(FailureKind kind, std::string message);
  bool closing() const { return closing_; }
  bool failed() const { return failed_; }

  // StreamHandler defaults for the inner stream.
  void on_stream_failed(const Failure& failure) override;
  void on_stream_closed() override;

  uv_loop_t* loop_;
  StreamHandler& handler_;
  std::unique_ptr<Stream> inner_;
  Failure failure_;

 private:
  static void on_idle(uv_idle_t* idle);
  static void on_idle_closed(uv_handle_t* handle);
  static void on_drain_timeout(uv_timer_t* timer);
  static void on_drain_timer_closed(uv_handle_t* handle);
  void on_child_closed();
  // Ends the wait of a graceful close and closes the inner stream (with a reset when asked).
  void end_drain(bool reset);

  Bytes held_;
  size_t held_offset_ = 0;  // held_[0, held_offset_) went to the handler
  bool end_pending_ = false;
  bool eof_reported_ = false;
  uv_idle_t resume_{};
  bool resume_scheduled_ = false;
  bool reading_ = false;        // the handler wants reads
  bool inner_reading_ = false;  // reads below are started
  bool closing_ = false;
  bool failed_ = false;
  bool draining_ = false;     // a graceful close waits for a write below
  uv_timer_t drain_timer_{};  // initialized only when a graceful close has to wait
  uv::CloseLatch latch_;      // the idle handle, the drain timer once used, and the inner stream
};

}  // namespace vmlocal::transport
