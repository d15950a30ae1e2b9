// The VMess probe: one HTTP/1.1 GET through one server (a ServerContext) to a URL — plain for
// http:, TLS inside the tunnel for https: (a TlsStream over the VmessStream, verified against the
// URL's host with the system store) — and the status line and headers of the answer, with the
// time to it. The doctor, the fail-fast check (fail_fast.hpp) and health checks use it.
//
// The result says what failed and at which stage. The distinction that matters most:
// `refused` — the connection to the server was up (TCP, TLS, WebSocket) and the server never
// sent a VMess response, closing without one or keeping silent past `timeout`. A VMess server
// never explains a refusal (vmess-protocol.md §11): that is a wrong uuid/alter_id, a clock more
// than 120 s off, or a probe URL the server cannot reach.
//
// Lifetime: start() returns a probe that owns itself. The callback runs once, never from inside
// start(); the probe then closes and frees itself. cancel() before the callback: no callback,
// and the probe frees itself once its handles closed. The loop must run until then.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/transport/tls_context.hpp"
#include "vmlocal/util/error.hpp"
#include "vmlocal/util/http_head.hpp"
#include "vmlocal/util/http_url.hpp"
#include "vmlocal/uv/close_latch.hpp"

namespace vmlocal::outbound {

class VmessStream;

struct ProbeOptions {
  http::Url url;
  // Reaching the server (DNS, TCP, TLS, WebSocket): [timeouts] connect.
  std::chrono::milliseconds connect_timeout{10'000};
  // The answer, counted from when the connection to the server is up: [probe] timeout.
  std::chrono::milliseconds timeout{5'000};
};

enum class ProbeStage : uint8_t {
  kServer,    // reaching the server: DNS, TCP, TLS, WebSocket (message names which)
  kResponse,  // the VMess response: the server refused us (see `refused`)
  kUrl,       // past the server: TLS to the URL's host, or the HTTP answer
  kDone,      // answered
};

struct ProbeResult {
  bool ok = false;  // an HTTP answer came (any status)
  ProbeStage stage = ProbeStage::kServer;
  Error error;              // when !ok: the kind and a message naming the layer
  bool refused = false;     // connected, no VMess response (closed, or silent past the timeout)
  bool responded = false;   // the server sent a VMess response: it accepted the login
  http::ResponseHead head;  // when ok
  // From start() to the answer's head (ok), or to the failure.
  std::chrono::milliseconds elapsed{0};
  // From start() to the connection to the server being up; 0 when it never was.
  std::chrono::milliseconds connect_time{0};
  // The WebSocket upgrade's answer (ws transports), kept for the clock offset estimate.
  std::string upgrade_status_line;
  std::string upgrade_date;
};

class Probe final : private transport::StreamHandler {
 public:
  using Callback = std::function<void(const ProbeResult&)>;

  static Probe* start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                      ProbeOptions options, Callback callback);
  void cancel();

  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

 private:
  Probe(OutboundContext& context, std::shared_ptr<const ServerContext> server, ProbeOptions options,
        Callback callback);
  ~Probe();

  void begin();
  void finish(ProbeResult result);
  void fail(ProbeStage stage, Error error);
  void on_tick();
  void send_request();
  void feed(ByteView bytes);
  std::chrono::milliseconds since_start() const;
  void on_handle_closed();

  // StreamHandler (the top stream).
  void on_stream_connected() override;
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  bool on_stream_views(uv_buf_t* views, size_t count) override;
  void on_stream_eof() override;
  void on_stream_write_done() override;
  void on_stream_closed() override;

  OutboundContext& context_;
  std::shared_ptr<const ServerContext> server_;
  ProbeOptions options_;
  Callback callback_;
  std::unique_ptr<transport::TlsContext> url_tls_;  // https: verifies the URL's host
  std::unique_ptr<transport::Stream> stream_;
  VmessStream* vmess_ = nullptr;  // the tunnel, under the TLS layer for https
  uv_timer_t tick_{};
  uv::CloseLatch latch_;
  uint64_t started_ms_ = 0;
  uint64_t server_up_ms_ = 0;  // when the connection to the server was seen up
  std::string request_;
  uv_buf_t request_buf_{};
  std::array<uint8_t, 4096> buffer_{};
  http::ResponseHeadReader reader_;
  std::optional<Error> pending_start_error_;
  bool done_ = false;
  bool closing_ = false;
};

}  // namespace vmlocal::outbound
