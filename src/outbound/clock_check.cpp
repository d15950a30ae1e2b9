#include "vmlocal/outbound/clock_check.hpp"

#include <strings.h>

#include <ctime>

#include "vmlocal/log/log.hpp"
#include "vmlocal/transport/upstream.hpp"
#include "vmlocal/util/http_date.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::outbound {

ClockCheck* ClockCheck::start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                              std::chrono::milliseconds timeout, Callback callback) {
  return new ClockCheck(context, std::move(server), timeout, std::move(callback));
}

ClockCheck::ClockCheck(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                       std::chrono::milliseconds timeout, Callback callback)
    : server_(std::move(server)), plain_(server_->settings), callback_(std::move(callback)) {
  plain_.transport = config::Transport::kTcp;
  const transport::WsOptions ws = transport::ws_options_for(server_->settings);
  // Shaped like the WebSocket upgrade the server sees from us anyway (its path, Host and the
  // profile's [server.ws] headers, e.g. a browser User-Agent), and naming nothing of ours: a
  // request that says "vmess-local" to the server's port would mark the port for a censor who
  // watches it.
  request_ = "GET " + ws.request.path + " HTTP/1.1\r\nHost: " + ws.request.host + "\r\n";
  for (const auto& [name, value] : ws.request.headers) {
    if (name.size() == 4 && strncasecmp(name.c_str(), "host", 4) == 0) continue;
    request_ += name + ": " + value + "\r\n";
  }
  request_ += "Connection: close\r\n\r\n";
  uv_timer_init(context.loop, &timer_);
  timer_.data = this;
  latch_.opened();
  // The timer also reports a result that is known at once, so never from inside start().
  uv_timer_start(
      &timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<ClockCheck*>(t->data);
        self->finish(ClockCheckResult{std::nullopt, 0, {}, "no HTTP answer in time"});
      },
      static_cast<uint64_t>(timeout.count()), 0);
  stream_ = transport::make_upstream(context.loop, static_cast<transport::StreamHandler&>(*this),
                                     plain_, server_->tls.get(), context.random);
  latch_.opened();
  stream_->connect();
}

void ClockCheck::on_stream_connected() {
  if (done_) return;
  request_buf_ = uv::make_buf(reinterpret_cast<const uint8_t*>(request_.data()), request_.size());
  if (stream_->write(&request_buf_, 1) == transport::Stream::WriteResult::kFailed) {
    on_stream_failed(stream_->failure());
    return;
  }
  stream_->read_start();
}

void ClockCheck::on_stream_failed(const transport::Failure& failure) {
  finish(ClockCheckResult{std::nullopt, 0, {}, failure.message});
}

MutableByteView ClockCheck::on_stream_buffer() {
  return MutableByteView(buffer_.data(), buffer_.size());
}

void ClockCheck::on_stream_read(size_t n) {
  if (done_) return;
  const auto step = reader_.feed(ByteView(buffer_.data(), n));
  if (step.status == http::ResponseHeadReader::Status::kNeedMore) return;
  ClockCheckResult result;
  result.local_unix = static_cast<int64_t>(std::time(nullptr));
  if (step.status == http::ResponseHeadReader::Status::kError) {
    result.error = reader_.error();
  } else {
    result.status_line = reader_.head().status_line;
    if (auto date = reader_.head().header("Date"))
      result.server_unix = http::parse_http_date(*date);
    if (!result.server_unix) result.error = "the HTTP answer has no valid Date";
  }
  finish(std::move(result));
}

void ClockCheck::on_stream_eof() {
  finish(ClockCheckResult{std::nullopt, 0, {}, "the server closed without an HTTP answer"});
}

void ClockCheck::finish(ClockCheckResult result) {
  if (done_) return;
  Callback callback = std::move(callback_);
  cancel();
  if (callback) callback(result);
}

void ClockCheck::cancel() {
  done_ = true;
  callback_ = nullptr;
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { static_cast<ClockCheck*>(h->data)->on_handle_closed(); });
  stream_->close(true);
}

void ClockCheck::on_handle_closed() {
  if (latch_.closed()) delete this;
}

void log_clock_change(const ServerContext& server) {
  const int64_t offset = server.state->clock_offset();
  const std::string name = server.settings.address + ":" + std::to_string(server.settings.port);
  if (offset == 0) {
    log::info("server ", name,
              ": its clock agrees with ours again (HTTP Date); VMess timestamps use our clock");
    return;
  }
  log::warn("server ", name, ": its clock is ", offset > 0 ? offset : -offset, " s ",
            offset > 0 ? "ahead of" : "behind",
            " ours (from its HTTP Date); VMess timestamps follow the server (clock_offset = "
            "\"auto\"). Fix this computer's clock if it is the one that is off");
}

}  // namespace vmlocal::outbound
