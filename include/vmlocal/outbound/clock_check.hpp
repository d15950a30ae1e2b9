// The server's clock, from the Date header of a plain HTTP request to its port (over TLS when the
// profile has it): "GET <ws path>" without the upgrade headers, which a ws server (v2ray, Xray,
// sing-box, and any web server in front) answers at once with an HTTP error that carries Date.
// Needed because v2ray's WebSocket upgrade response (gorilla/websocket) has no Date header;
// behind a CDN or nginx it usually has, and VmessStream takes that one directly.
//
// Used by clock_offset = "auto" (fail_fast.hpp runs it at start for ws servers, and again when a
// probe is refused) and by the doctor. Lifetime as Probe: owns itself, the callback runs once and
// never from inside start(); cancel() before it means no callback.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/http_head.hpp"
#include "vmlocal/uv/close_latch.hpp"

namespace vmlocal::outbound {

struct ClockCheckResult {
  std::optional<int64_t> server_unix;  // the Date, when an HTTP answer carried one
  int64_t local_unix = 0;              // this clock when the answer arrived
  std::string status_line;             // of the answer, "" when none came
  std::string error;                   // why there is no Date
};

class ClockCheck final : private transport::StreamHandler {
 public:
  using Callback = std::function<void(const ClockCheckResult&)>;
  static ClockCheck* start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                           std::chrono::milliseconds timeout, Callback callback);
  void cancel();

  ClockCheck(const ClockCheck&) = delete;
  ClockCheck& operator=(const ClockCheck&) = delete;

 private:
  ClockCheck(OutboundContext& context, std::shared_ptr<const ServerContext> server,
             std::chrono::milliseconds timeout, Callback callback);
  ~ClockCheck() = default;
  void finish(ClockCheckResult result);
  void on_handle_closed();

  void on_stream_connected() override;
  void on_stream_failed(const transport::Failure& failure) override;
  MutableByteView on_stream_buffer() override;
  void on_stream_read(size_t n) override;
  void on_stream_eof() override;
  void on_stream_write_done() override {}
  void on_stream_closed() override { on_handle_closed(); }

  std::shared_ptr<const ServerContext> server_;
  config::Profile::Server plain_;  // the server's settings without the WebSocket layer
  Callback callback_;
  std::unique_ptr<transport::Stream> stream_;
  uv_timer_t timer_{};
  uv::CloseLatch latch_;
  std::string request_;
  uv_buf_t request_buf_{};
  std::array<uint8_t, 4096> buffer_{};
  http::ResponseHeadReader reader_;
  bool done_ = false;
  bool closing_ = false;
};

// The one log line when clock_offset = "auto" changes the offset a server's requests use.
void log_clock_change(const ServerContext& server);

}  // namespace vmlocal::outbound
