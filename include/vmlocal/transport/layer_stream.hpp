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

namespace vmlocal::transport {

// Builds the stream below a layer, with the layer as its handler.
using MakeInner = std::function<std::unique_ptr<Stream>(StreamHandler& handler)>;

class LayerStream : public Stream, protected StreamHandler {
 public:
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  void connect() override;
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
  void maybe_report_closed();

  uv_idle_t resume_{};
  bool resume_scheduled_ = false;
  bool closing_ = false;
  bool failed_ = false;
  bool inner_closed_ = false;
  bool idle_closed_ = false;
  bool close_reported_ = false;
};

}  // namespace vmlocal::transport
