#include "vmlocal/outbound/failover_stream.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/mux_connection.hpp"
#include "vmlocal/outbound/vmess_stream.hpp"

namespace vmlocal::outbound {

// One server's try: the VmessStream (or MuxSession) and the handler it reports to, which tells the
// owner which attempt spoke. Only the current attempt's data callbacks reach the tunnel; a given-up
// attempt has been closed, so its only callback left is on_stream_closed.
class FailoverStream::Attempt final : public transport::StreamHandler {
 public:
  Attempt(FailoverStream& owner, size_t server) : owner_(owner), server_(server) {}

  size_t server() const { return server_; }
  transport::Stream& stream() { return *stream_; }
  void set_stream(std::unique_ptr<transport::Stream> stream) { stream_ = std::move(stream); }
  bool closed() const { return closed_; }

  void on_stream_connected() override { owner_.attempt_connected(*this); }
  void on_stream_writable() override { owner_.attempt_writable(*this); }
  void on_stream_failed(const transport::Failure& failure) override {
    owner_.attempt_failed(*this, failure);
  }
  MutableByteView on_stream_buffer() override { return owner_.handler_.on_stream_buffer(); }
  void on_stream_read(size_t n) override { owner_.attempt_read(n); }
  void on_stream_eof() override { owner_.handler_.on_stream_eof(); }
  void on_stream_write_done() override { owner_.handler_.on_stream_write_done(); }
  void on_stream_closed() override {
    closed_ = true;
    owner_.attempt_closed(this);  // may destroy this
  }
  bool on_stream_views(uv_buf_t* views, size_t count) override {
    return owner_.attempt_views(views, count);
  }

 private:
  FailoverStream& owner_;
  size_t server_;
  std::unique_ptr<transport::Stream> stream_;
  bool closed_ = false;
};

Result<std::unique_ptr<FailoverStream>> FailoverStream::open(
    OutboundContext& context, std::shared_ptr<const ServerSet> set, std::vector<size_t> order,
    const TargetAddress& target, transport::StreamHandler& handler, vmess::Command command) {
  assert(!order.empty());
  std::unique_ptr<FailoverStream> stream(
      new FailoverStream(context, std::move(set), std::move(order), target, handler, command));
  auto attempt = std::make_unique<Attempt>(*stream, stream->order_.front());
  auto opened = stream->open_attempt(*attempt);
  if (!opened) return opened.error();
  attempt->set_stream(std::move(*opened));
  stream->current_ = std::move(attempt);
  return stream;
}

FailoverStream::FailoverStream(OutboundContext& context, std::shared_ptr<const ServerSet> set,
                               std::vector<size_t> order, const TargetAddress& target,
                               transport::StreamHandler& handler, vmess::Command command)
    : context_(context),
      set_(std::move(set)),
      order_(std::move(order)),
      target_(target),
      command_(command),
      handler_(handler) {
  attempt_timer_.data = this;
}

FailoverStream::~FailoverStream() {
  if (connected_) {
    set_->health->counters(server()).tunnels_open.fetch_sub(1, std::memory_order_relaxed);
  }
}

size_t FailoverStream::server() const {
  return order_[next_];
}

Result<std::unique_ptr<transport::Stream>> FailoverStream::open_attempt(Attempt& attempt) {
  const std::shared_ptr<const ServerContext>& server = set_->servers[attempt.server()];
  if (set_->mux != nullptr && server->settings.mux.enabled) {
    // A UDP destination is a packet-mode sub-stream (mux_session.hpp), a TCP target a stream.
    return set_->mux->open(
        server, target_, attempt,
        command_ == vmess::Command::kUdp ? mux::Network::kUdp : mux::Network::kTcp);
  }
  // Each server's attempt takes that server's warm connection, if it has one ready.
  WarmPool* warm = set_->warm.empty() ? nullptr : set_->warm[attempt.server()];
  auto opened = VmessStream::open(context_, server, target_, attempt, command_, warm);
  if (!opened) return opened.error();
  return std::unique_ptr<transport::Stream>(std::move(*opened));
}

void FailoverStream::connect() {
  uv_timer_init(context_.loop, &attempt_timer_);
  timer_open_ = true;
  timer_started_ = true;
  start_current();
}

void FailoverStream::start_current() {
  arm_attempt_timer();
  current_->stream().connect();  // may fail at once: attempt_failed moves on from there
}

void FailoverStream::arm_attempt_timer() {
  if (!timer_open_) return;
  // The last server gets whatever the tunnel's connect timer leaves.
  if (next_ + 1 >= order_.size()) {
    uv_timer_stop(&attempt_timer_);
    return;
  }
  uv_timer_start(&attempt_timer_, on_attempt_timer,
                 static_cast<uint64_t>(set_->attempt_timeout.count()), 0);
}

void FailoverStream::on_attempt_timer(uv_timer_t* timer) {
  auto* self = static_cast<FailoverStream*>(timer->data);
  if (self->closing_ || self->connected_ || !self->current_) return;
  self->next_or_fail(transport::Failure{
      ErrorKind::kTimeout, "no answer within " +
                               std::to_string(self->set_->attempt_timeout.count()) + " ms (" +
                               std::string(self->current_->stream().connect_stage()) + ")"});
}

void FailoverStream::attempt_connected(Attempt& attempt) {
  if (&attempt != current_.get() || closing_ || connected_) return;
  connected_ = true;
  if (timer_open_) uv_timer_stop(&attempt_timer_);
  ServerHealth& health = *set_->health;
  health.record_success(attempt.server());
  ServerCounters& counters = health.counters(attempt.server());
  counters.tunnels_open.fetch_add(1, std::memory_order_relaxed);
  counters.tunnels_total.fetch_add(1, std::memory_order_relaxed);
  handler_.on_stream_connected();
}

// WebSocket early data: the app is answered now and its first bytes ride in the opening, so
// this attempt is the one; a later failure is not retried on another server.
void FailoverStream::attempt_writable(Attempt& attempt) {
  if (&attempt != current_.get() || closing_ || connected_) return;
  committed_ = true;
  if (timer_open_) uv_timer_stop(&attempt_timer_);
  handler_.on_stream_writable();
}

void FailoverStream::attempt_failed(Attempt& attempt, const transport::Failure& failure) {
  if (&attempt != current_.get() || closing_ || failed_) return;
  if (connected_ || committed_) {
    // The app has its answer: nothing is retried, the tunnel ends with this failure.
    set_->health->record_failure(attempt.server(), failure, false);
    fail(failure);
    return;
  }
  next_or_fail(failure);
}

void FailoverStream::next_or_fail(const transport::Failure& failure) {
  ServerHealth& health = *set_->health;
  const size_t failed_server = current_->server();
  health.record_failure(failed_server, failure, true);
  if (!tried_.empty()) tried_ += "; ";
  tried_ += "\"" + health.name(failed_server) + "\": " + failure.message;
  // Given up: reset at once, kept until its close callback.
  current_->stream().close(true);
  retired_.push_back(std::move(current_));
  transport::Failure last = failure;
  while (next_ + 1 < order_.size()) {
    ++next_;
    auto attempt = std::make_unique<Attempt>(*this, order_[next_]);
    auto opened = open_attempt(*attempt);
    if (!opened) {
      last = opened.error();
      tried_ += "; \"" + health.name(attempt->server()) + "\": " + last.message;
      continue;
    }
    log::debug("server \"", health.name(failed_server), "\" failed (", failure.message,
               "); trying \"", health.name(attempt->server()), "\"");
    attempt->set_stream(std::move(*opened));
    current_ = std::move(attempt);
    start_current();
    return;
  }
  // With one server its failure is the whole story; with several, every server's part of it.
  if (order_.size() > 1) {
    last.message = "every server failed: " + tried_;
  }
  fail(std::move(last));
}

void FailoverStream::fail(transport::Failure failure) {
  if (closing_ || failed_) return;
  failed_ = true;
  failure_ = std::move(failure);
  handler_.on_stream_failed(failure_);
}

void FailoverStream::read_start() {
  reading_ = true;
  if (current_ && connected_) current_->stream().read_start();
}

void FailoverStream::read_stop() {
  reading_ = false;
  if (current_ && connected_) current_->stream().read_stop();
}

bool FailoverStream::attempt_views(uv_buf_t* views, size_t count) {
  uint64_t bytes = 0;
  for (size_t i = 0; i < count; ++i)
    bytes += views[i].len;
  set_->health->counters(server()).bytes_down.fetch_add(bytes, std::memory_order_relaxed);
  return handler_.on_stream_views(views, count);
}

void FailoverStream::attempt_read(size_t n) {
  set_->health->counters(server()).bytes_down.fetch_add(n, std::memory_order_relaxed);
  handler_.on_stream_read(n);
}

transport::Stream::WriteResult FailoverStream::write(uv_buf_t* bufs, size_t count) {
  if (!current_) return WriteResult::kFailed;
  uint64_t bytes = 0;
  for (size_t i = 0; i < count; ++i)
    bytes += bufs[i].len;
  set_->health->counters(server()).bytes_up.fetch_add(bytes, std::memory_order_relaxed);
  const WriteResult result = current_->stream().write(bufs, count);
  if (result == WriteResult::kFailed) {
    set_->health->record_failure(server(), current_->stream().failure(), false);
  }
  return result;
}

transport::Stream::WriteResult FailoverStream::shutdown() {
  return current_ ? current_->stream().shutdown() : WriteResult::kDone;
}

void FailoverStream::release_views() {
  if (current_) current_->stream().release_views();
}

size_t FailoverStream::max_write_size() const {
  return current_ ? current_->stream().max_write_size() : SIZE_MAX;
}

const transport::Failure& FailoverStream::failure() const {
  if (!failed_ && current_) return current_->stream().failure();
  return failure_;
}

std::string_view FailoverStream::connect_stage() const {
  if (!current_) return "connect";
  if (order_.size() == 1) return current_->stream().connect_stage();
  stage_ = "server \"" + set_->health->name(server()) +
           "\": " + std::string(current_->stream().connect_stage());
  return stage_;
}

std::string_view FailoverStream::route() const {
  return current_ ? current_->stream().route() : std::string_view();
}

void FailoverStream::close(bool reset) {
  if (closing_) {
    if (reset && current_ && !current_->closed()) current_->stream().close(true);
    return;
  }
  closing_ = true;
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&attempt_timer_), [](uv_handle_t* handle) {
      auto* self = static_cast<FailoverStream*>(handle->data);
      self->timer_started_ = false;
      self->maybe_closed();
    });
  }
  if (current_) current_->stream().close(reset);
  maybe_closed();
}

void FailoverStream::attempt_closed(Attempt* attempt) {
  const auto retired = std::find_if(retired_.begin(), retired_.end(),
                                    [&](const auto& held) { return held.get() == attempt; });
  if (retired != retired_.end()) retired_.erase(retired);  // destroys the attempt
  maybe_closed();
}

void FailoverStream::maybe_closed() {
  if (!closing_ || close_reported_ || timer_started_ || !retired_.empty()) return;
  if (current_ && !current_->closed()) return;
  close_reported_ = true;
  handler_.on_stream_closed();  // may destroy this: nothing after it
}

}  // namespace vmlocal::outbound
