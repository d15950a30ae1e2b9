// The plumbing every layered upstream stream (TLS, WebSocket) shares: it owns the stream below
// and is that stream's handler, defers work to the next loop iteration (so no handler callback
// runs inside a call the handler made), reports one failure, and reports closed only once the
// stream below and its own libuv handle are both closed.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "vmlocal/transport/stream.hpp"
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
  // Idempotent. Calls say_goodbye() first unless `reset`, then closes the handle and the inner
  // stream; on_stream_closed() follows once both are closed (always asynchronously).
  void close(bool reset) final;
  const Failure& failure() const override { return failure_; }

 protected:
  LayerStream(uv_loop_t* loop, StreamHandler& handler, const MakeInner& make_inner);
  ~LayerStream() override;

  // A best-effort closing message (TLS close_notify, WebSocket Close) on a graceful close.
  virtual void say_goodbye() {}
  // Deferred work scheduled with schedule_resume().
  virtual void on_resume() = 0;

  // True once the handler may read (the layer's own handshake is done).
  virtual bool ready_for_reads() const = 0;
  // Data or an end the layer already holds for the handler.
  virtual bool has_pending_delivery() const = 0;
  // Whether the layer wants bytes from below now (for its handshake, or room for the handler's
  // reads). Never asked while closing or failed.
  virtual bool wants_inner_reads() const = 0;
  // Starts or stops reads below to match wants_inner_reads().
  void update_inner_reading();
  // The stream below stopped reading by itself (EOF).
  void note_inner_reads_stopped() { inner_reading_ = false; }
  bool reading() const { return reading_; }

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
  void on_child_closed();

  uv_idle_t resume_{};
  bool resume_scheduled_ = false;
  bool reading_ = false;        // the handler wants reads
  bool inner_reading_ = false;  // reads below are started
  bool closing_ = false;
  bool failed_ = false;
  uv::CloseLatch latch_;  // the idle handle and the inner stream
};

}  // namespace vmlocal::transport
