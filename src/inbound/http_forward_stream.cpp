#include "vmlocal/inbound/http_forward_stream.hpp"

#include <algorithm>
#include <cstdio>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/handshake/http_proxy_handshake.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::inbound {
namespace {

// Which end closed is not known: a VMess server closes the same way when its routing drops the
// target, and reports it as an end or as kNoResponse depending on timing.
std::string closed_before_response(const TargetAddress& target) {
  return "the connection to " + target.to_string() +
         " closed before any response (the server dropped the request, or the origin closed it)";
}

// What the tunnel may read at once while no leg is up (a leg's own limit applies otherwise).
constexpr size_t kFallbackWriteSize = 16 * 1024;

std::string_view text_of(const uv_buf_t& buf) {
  return {buf.base, buf.len};
}

}  // namespace

// One outbound stream to one origin; forwards its callbacks to the adapter with itself.
struct HttpForwardStream::Leg final : transport::StreamHandler {
  Leg(HttpForwardStream& o, TargetAddress t) : owner(o), target(std::move(t)) {}
  void on_stream_connected() override { owner.leg_connected(this); }
  void on_stream_failed(const transport::Failure& f) override { owner.leg_failed(this, f); }
  MutableByteView on_stream_buffer() override { return owner.leg_buffer(this); }
  void on_stream_read(size_t n) override { owner.leg_read(this, n); }
  bool on_stream_views(uv_buf_t* views, size_t count) override {
    return owner.leg_views(this, views, count);
  }
  void on_stream_eof() override { owner.leg_eof(this); }
  void on_stream_write_done() override { owner.leg_write_done(this); }
  void on_stream_closed() override { owner.leg_closed(this); }

  HttpForwardStream& owner;
  TargetAddress target;
  std::unique_ptr<transport::Stream> stream;
  bool connected = false;
  bool dead = false;     // closed by the other end: the next request opens a new leg
  bool closing = false;  // close() was called on it
};

Result<std::unique_ptr<transport::Stream>> HttpForwardStream::open(
    uv_loop_t* loop, outbound::Dialer& dialer, const TargetAddress& target,
    std::string_view first_head, uint64_t connect_timeout_ms, transport::StreamHandler& handler) {
  std::unique_ptr<HttpForwardStream> self(
      new HttpForwardStream(loop, dialer, connect_timeout_ms, handler));
  auto leg = std::make_unique<Leg>(*self, target);
  Result<std::unique_ptr<transport::Stream>> dialed = dialer.dial(target, *leg);
  if (!dialed) return dialed.error();
  leg->stream = std::move(*dialed);
  self->leg_ = leg.get();
  self->legs_.push_back(std::move(leg));
  self->origin_ = target;
  self->head_ = std::string(first_head);
  // The timers exist only once the stream does: a failed open leaves nothing for libuv.
  uv_timer_init(loop, &self->defer_timer_);
  uv_timer_init(loop, &self->connect_timer_);
  self->defer_timer_.data = self.get();
  self->connect_timer_.data = self.get();
  return std::unique_ptr<transport::Stream>(std::move(self));
}

HttpForwardStream::HttpForwardStream(uv_loop_t* loop, outbound::Dialer& dialer,
                                     uint64_t connect_timeout_ms, transport::StreamHandler& handler)
    : loop_(loop), dialer_(dialer), connect_timeout_ms_(connect_timeout_ms), handler_(handler) {}

HttpForwardStream::~HttpForwardStream() {
  if (!head_.empty()) crypto::secure_wipe(head_.data(), head_.size());
}

// ---------------------------------------------------------------------------------------------
// The Stream the tunnel sees

void HttpForwardStream::connect() {
  leg_->stream->connect();
}

void HttpForwardStream::read_start() {
  reading_ = true;
  if (leg_ != nullptr && leg_->connected && !views_held_) leg_->stream->read_start();
}

void HttpForwardStream::read_stop() {
  reading_ = false;
  if (leg_ != nullptr && leg_->connected) leg_->stream->read_stop();
}

transport::Stream::WriteResult HttpForwardStream::write(uv_buf_t* bufs, size_t count) {
  bufs_ = bufs;
  buf_count_ = count;
  buf_index_ = 0;
  buf_offset_ = 0;
  switch (pump()) {
    case Pump::kDone:
      buf_count_ = 0;
      return WriteResult::kDone;
    case Pump::kPaused:
      tunnel_write_pending_ = true;
      return WriteResult::kPending;
    case Pump::kFailed:
      buf_count_ = 0;
      return WriteResult::kFailed;
  }
  return WriteResult::kFailed;
}

transport::Stream::WriteResult HttpForwardStream::shutdown() {
  app_ended_ = true;
  buf_count_ = 0;
  if (leg_ != nullptr && leg_->connected && !leg_->dead && wait_ == Wait::kNone &&
      up_ != Up::kDiscard) {
    // The origin sees the end of the request stream; responses still owed come back.
    const WriteResult result = leg_->stream->shutdown();
    if (result == WriteResult::kPending) {
      wait_ = Wait::kLegWrite;
      tunnel_write_pending_ = true;
    } else if (result == WriteResult::kFailed) {
      failure_ = leg_->stream->failure();
    }
    return result;
  }
  if (methods_.empty() && !local_pending_) {
    eof_pending_ = true;
    schedule();
  }
  return WriteResult::kDone;
}

void HttpForwardStream::close(bool reset) {
  if (!closing_) {
    closing_ = true;
    uv_timer_stop(&defer_timer_);
    uv_timer_stop(&connect_timer_);
    auto closed = [](uv_handle_t* h) {
      auto* self = static_cast<HttpForwardStream*>(h->data);
      --self->open_handles_;
      self->handle_closed();
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&defer_timer_), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&connect_timer_), closed);
  }
  // A leg may report closed from inside close(): walk a copy.
  std::vector<Leg*> legs;
  for (const auto& leg : legs_)
    legs.push_back(leg.get());
  for (Leg* leg : legs) {
    leg->closing = true;
    leg->stream->close(reset);
  }
}

std::string_view HttpForwardStream::route() const {
  return leg_ != nullptr ? leg_->stream->route() : std::string_view();
}

std::string_view HttpForwardStream::connect_stage() const {
  return leg_ != nullptr ? leg_->stream->connect_stage() : std::string_view("connect");
}

size_t HttpForwardStream::max_write_size() const {
  return leg_ != nullptr ? leg_->stream->max_write_size() : kFallbackWriteSize;
}

void HttpForwardStream::release_views() {
  if (local_held_) {
    local_held_ = false;
    eof_pending_ = true;
    schedule();
    return;
  }
  if (!views_held_) return;
  views_held_ = false;
  schedule();
  if (leg_ != nullptr) leg_->stream->release_views();
}

// ---------------------------------------------------------------------------------------------
// Uplink

HttpForwardStream::Pump HttpForwardStream::pump() {
  for (;;) {
    if (wait_ != Wait::kNone) return Pump::kPaused;
    // The unread part of the tunnel's write.
    while (buf_index_ < buf_count_ && buf_offset_ == bufs_[buf_index_].len) {
      ++buf_index_;
      buf_offset_ = 0;
    }
    char* data = buf_index_ < buf_count_ ? bufs_[buf_index_].base + buf_offset_ : nullptr;
    const size_t len = buf_index_ < buf_count_ ? bufs_[buf_index_].len - buf_offset_ : 0;
    switch (up_) {
      case Up::kDiscard:
        buf_index_ = buf_count_;
        return Pump::kDone;
      case Up::kRaw: {
        if (len == 0) return Pump::kDone;
        buf_offset_ += len;
        if (Pump p = write_to_leg(data, len); p != Pump::kDone) return p;
        continue;
      }
      case Up::kBody: {
        if (request_body_.done()) {
          up_ = Up::kHead;
          continue;
        }
        if (len == 0) return Pump::kDone;
        // Scanned before the leg seals the bytes in place.
        Result<size_t> n = request_body_.feed(ByteView(reinterpret_cast<uint8_t*>(data), len));
        if (!n) {
          fail(ErrorKind::kProtocol, "app's request body: " + n.error().message);
          return Pump::kFailed;
        }
        buf_offset_ += *n;
        if (Pump p = write_to_leg(data, *n); p != Pump::kDone) return p;
        continue;
      }
      case Up::kHead: {
        const size_t before = head_.size();
        size_t end = http1::find_head_end(head_);
        if (end == std::string::npos && len > 0) {
          const size_t take = std::min(len, http1::kMaxHeadSize - before);
          head_.append(data, take);
          const size_t from = before > 3 ? before - 3 : 0;
          end = http1::find_head_end(std::string_view(head_).substr(from));
          if (end != std::string::npos) {
            end += from;
            head_.resize(end);
            buf_offset_ += end - before;
          } else {
            buf_offset_ += take;
          }
        }
        if (end == std::string::npos) {
          if (head_.size() >= http1::kMaxHeadSize) {
            answer_locally(
                431, "Request Header Fields Too Large",
                "request head longer than " + std::to_string(http1::kMaxHeadSize) + " bytes");
            continue;
          }
          if (len == 0) return Pump::kDone;
          continue;
        }
        if (Pump p = on_request_head(); p != Pump::kDone) return p;
        continue;
      }
    }
  }
}

HttpForwardStream::Pump HttpForwardStream::on_request_head() {
  std::string head = std::move(head_);
  head_.clear();
  auto wipe = [&head] { crypto::secure_wipe(head.data(), head.size()); };  // may hold credentials
  Result<http1::RequestHead> parsed = http1::parse_request_head(head);
  if (!parsed) {
    wipe();
    if (parsed.error().message == http1::kTooManyFields) {
      answer_locally(431, "Request Header Fields Too Large", parsed.error().message);
    } else {
      answer_locally(400, "Bad Request", parsed.error().message);
    }
    return Pump::kDone;
  }
  if (http1::iequals(parsed->method, "CONNECT")) {
    wipe();
    answer_locally(400, "Bad Request",
                   "CONNECT on a connection that already forwards plain requests; open a new "
                   "connection for it");
    return Pump::kDone;
  }
  Result<http1::AbsoluteTarget> target = http1::parse_absolute_form(parsed->target);
  Result<http1::Framing> framing = http1::request_framing(*parsed);
  if (!target || !framing) {
    wipe();
    answer_locally(400, "Bad Request", !target ? target.error().message : framing.error().message);
    return Pump::kDone;
  }
  if (http1::forwarded_field_count(*parsed) > http1::kMaxHeaderCount) {
    wipe();
    answer_locally(431, "Request Header Fields Too Large",
                   "the forwarded request would carry more than " +
                       std::to_string(http1::kMaxHeaderCount) + " header fields");
    return Pump::kDone;
  }
  out_head_ = http1::rewrite_request_head(*parsed, *target);
  methods_.emplace_back(parsed->method);
  request_body_ = http1::BodyScanner(*framing);
  up_ = http1::wants_upgrade(*parsed) ? Up::kRaw : Up::kBody;
  wipe();
  TargetAddress where = http_proxy::target_from_host(target->host, target->port);
  if (leg_ != nullptr && !leg_->dead && leg_->connected && leg_->target == where) {
    return write_to_leg(out_head_.data(), out_head_.size());
  }
  // Another origin (or the origin closed): a new leg, once every earlier response has ended.
  next_target_ = std::move(where);
  if (methods_.size() > 1 || views_held_) {
    wait_ = Wait::kResponses;
    return Pump::kPaused;
  }
  open_leg();
  return wait_ == Wait::kNone ? Pump::kDone : Pump::kPaused;
}

HttpForwardStream::Pump HttpForwardStream::write_to_leg(char* data, size_t len) {
  if (len == 0) return Pump::kDone;
  out_buf_ = uv::make_buf(reinterpret_cast<uint8_t*>(data), len);
  switch (leg_->stream->write(&out_buf_, 1)) {
    case WriteResult::kDone:
      return Pump::kDone;
    case WriteResult::kPending:
      wait_ = Wait::kLegWrite;
      return Pump::kPaused;
    case WriteResult::kFailed:
      failure_ = leg_->stream->failure();
      return Pump::kFailed;
  }
  return Pump::kFailed;
}

void HttpForwardStream::open_leg() {
  if (leg_ != nullptr && !leg_->closing) {
    leg_->closing = true;
    Leg* old = leg_;
    leg_ = nullptr;
    old->stream->close(false);  // its responses are complete; may report closed at once
  }
  leg_ = nullptr;
  down_ = Down::kHead;
  response_head_.clear();
  close_delimited_ = false;
  auto leg = std::make_unique<Leg>(*this, *next_target_);
  Result<std::unique_ptr<transport::Stream>> dialed = dialer_.dial(*next_target_, *leg);
  if (!dialed) {
    methods_.pop_back();
    answer_locally(502, "Bad Gateway", dialed.error().message);
    return;
  }
  leg->stream = std::move(*dialed);
  // The tunnel's summary names the first origin only: say where a keep-alive connection moves.
  if (origin_ && !(*origin_ == *next_target_)) {
    const std::string_view route = leg->stream->route();
    log::info("http forwarding: the app's next request on this connection goes to ",
              next_target_->to_string(), route.empty() ? "" : " (", route,
              route.empty() ? "" : ")");
  }
  origin_ = *next_target_;
  leg_ = leg.get();
  legs_.push_back(std::move(leg));
  wait_ = Wait::kConnecting;
  uv_timer_start(&connect_timer_, on_connect_timeout, connect_timeout_ms_, 0);
  leg_->stream->connect();  // may fail at once (leg_failed)
}

void HttpForwardStream::answer_locally(int status, std::string_view status_text,
                                       const std::string& reason) {
  log::warn("http forwarding: ", status, " ", status_text, ": ", reason);
  local_response_ = http1::make_response(status, status_text, "vmess-local: " + reason);
  local_pending_ = true;
  up_ = Up::kDiscard;  // what the app sends after it has no answer to wait for
  if (wait_ != Wait::kLegWrite) wait_ = Wait::kNone;
  schedule();
}

// ---------------------------------------------------------------------------------------------
// Legs

void HttpForwardStream::leg_connected(Leg* leg) {
  if (closing_ || leg != leg_) return;
  leg->connected = true;
  uv_timer_stop(&connect_timer_);
  if (reading_) leg->stream->read_start();
  if (!first_connected_) {
    first_connected_ = true;
    // The first request head (kept from the handshake) goes before the tunnel says a word.
    if (pump() == Pump::kFailed) {
      handler_.on_stream_failed(failure_);
      return;
    }
    handler_.on_stream_connected();
    return;
  }
  wait_ = Wait::kNone;
  if (write_to_leg(out_head_.data(), out_head_.size()) == Pump::kFailed) {
    handler_.on_stream_failed(failure_);
    return;
  }
  schedule();
}

void HttpForwardStream::leg_failed(Leg* leg, const transport::Failure& failure) {
  if (closing_ || leg != leg_) return;  // an old leg ending is no news
  if (first_connected_ && wait_ == Wait::kNone && methods_.size() == 1 && down_ == Down::kHead &&
      response_head_.empty()) {
    // Failed before a byte of the answer, as when the leg closes then (leg_eof): the app can
    // still get a proper 502 rather than a reset. A VMess server that drops the target closes
    // either way, and which one the stream reports depends on timing.
    leg->closing = true;
    leg_ = nullptr;
    leg->stream->close(true);
    methods_.pop_back();
    if (failure.kind == ErrorKind::kNoResponse) {
      answer_locally(502, "Bad Gateway", closed_before_response(leg->target));
    } else {
      answer_locally(failure.kind == ErrorKind::kTimeout ? 504 : 502,
                     failure.kind == ErrorKind::kTimeout ? "Gateway Timeout" : "Bad Gateway",
                     "the connection to " + leg->target.to_string() +
                         " failed before any response: " + failure.message);
    }
    return;
  }
  if (!first_connected_ || wait_ != Wait::kConnecting) {
    failure_ = failure;
    handler_.on_stream_failed(failure_);
    return;
  }
  uv_timer_stop(&connect_timer_);
  leg->closing = true;
  leg_ = nullptr;
  leg->stream->close(true);
  methods_.pop_back();
  wait_ = Wait::kNone;
  if (failure.kind == ErrorKind::kTimeout) {
    answer_locally(504, "Gateway Timeout", failure.message);
  } else {
    answer_locally(502, "Bad Gateway", failure.message);
  }
}

void HttpForwardStream::on_connect_timeout(uv_timer_t* timer) {
  auto* self = static_cast<HttpForwardStream*>(timer->data);
  if (self->leg_ == nullptr) return;
  char text[96];
  std::snprintf(text, sizeof text, "upstream connect timed out after %.3f s (%s timeout)",
                static_cast<double>(self->connect_timeout_ms_) / 1000.0,
                std::string(self->leg_->stream->connect_stage()).c_str());
  self->leg_failed(self->leg_, transport::Failure{ErrorKind::kTimeout, text});
}

bool HttpForwardStream::leg_views(Leg* leg, uv_buf_t* views, size_t count) {
  if (closing_ || leg != leg_) return true;
  for (size_t i = 0; i < count; ++i) {
    const std::string_view text = text_of(views[i]);
    if (!scan_response(as_bytes(text))) {
      handler_.on_stream_failed(failure_);
      return true;
    }
  }
  if (handler_.on_stream_views(views, count)) return true;
  views_held_ = true;
  return false;
}

MutableByteView HttpForwardStream::leg_buffer(Leg* /*leg*/) {
  last_buffer_ = handler_.on_stream_buffer();
  return last_buffer_;
}

void HttpForwardStream::leg_read(Leg* leg, size_t n) {
  if (closing_ || leg != leg_) return;
  if (!scan_response(last_buffer_.first(n))) {
    handler_.on_stream_failed(failure_);
    return;
  }
  handler_.on_stream_read(n);
}

void HttpForwardStream::leg_eof(Leg* leg) {
  if (closing_ || leg != leg_) return;
  if (down_ == Down::kRaw || (down_ == Down::kBody && close_delimited_)) {
    // The close ends the response, so it ends the app's connection too.
    methods_.clear();
    up_ = Up::kDiscard;
    handler_.on_stream_eof();
    return;
  }
  if (methods_.empty()) {
    // The origin closed an idle connection: the next request opens a new leg.
    leg->dead = true;
    if (app_ended_) handler_.on_stream_eof();
    return;
  }
  leg->dead = true;
  if (methods_.size() == 1 && down_ == Down::kHead && response_head_.empty()) {
    // Not a byte of the answer yet: the app can still get a proper one. Which end closed is not
    // known here — a VMess server closes the same way when its routing drops the target.
    methods_.pop_back();
    answer_locally(502, "Bad Gateway", closed_before_response(leg->target));
    return;
  }
  fail(ErrorKind::kReset,
       "the connection to the origin closed before its response was complete (the origin or "
       "the server closed it)");
  handler_.on_stream_failed(failure_);
}

void HttpForwardStream::leg_write_done(Leg* leg) {
  if (closing_ || leg != leg_) return;
  if (wait_ == Wait::kLegWrite) wait_ = Wait::kNone;
  schedule();
}

void HttpForwardStream::leg_closed(Leg* leg) {
  if (leg == leg_) leg_ = nullptr;
  legs_.remove_if([leg](const std::unique_ptr<Leg>& l) { return l.get() == leg; });
  handle_closed();
}

void HttpForwardStream::handle_closed() {
  if (closing_ && legs_.empty() && open_handles_ == 0) handler_.on_stream_closed();
}

// ---------------------------------------------------------------------------------------------
// Downlink framing

bool HttpForwardStream::scan_response(ByteView bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (down_ == Down::kRaw) return true;
    if (methods_.empty()) {
      fail(ErrorKind::kProtocol, "the origin sent bytes with no request outstanding");
      return false;
    }
    if (down_ == Down::kHead) {
      const size_t before = response_head_.size();
      const size_t take = std::min(bytes.size() - i, http1::kMaxHeadSize - before);
      response_head_.append(reinterpret_cast<const char*>(bytes.data() + i), take);
      const size_t from = before > 3 ? before - 3 : 0;
      size_t end = http1::find_head_end(std::string_view(response_head_).substr(from));
      if (end == std::string::npos) {
        if (response_head_.size() >= http1::kMaxHeadSize) {
          fail(ErrorKind::kProtocol, "the origin's response head is over the limit");
          return false;
        }
        return true;
      }
      end += from;
      i += end - before;
      response_head_.resize(end);
      Result<http1::ResponseHead> head = http1::parse_response_head(response_head_);
      if (!head) {
        fail(ErrorKind::kProtocol, "the origin's response: " + head.error().message);
        return false;
      }
      response_head_.clear();
      if (head->status == 101) {
        down_ = Down::kRaw;
        continue;
      }
      if (head->status < 200) continue;  // 1xx: the final response follows
      Result<http1::Framing> framing = http1::response_framing(*head, methods_.front());
      if (!framing) {
        fail(ErrorKind::kProtocol, "the origin's response: " + framing.error().message);
        return false;
      }
      close_delimited_ = framing->kind == http1::Framing::Kind::kUntilClose;
      response_body_ = http1::BodyScanner(*framing);
      down_ = Down::kBody;
      if (response_body_.done()) response_complete();
      continue;
    }
    Result<size_t> n = response_body_.feed(bytes.subspan(i));
    if (!n) {
      fail(ErrorKind::kProtocol, "the origin's response body: " + n.error().message);
      return false;
    }
    i += *n;
    if (response_body_.done()) response_complete();
  }
  return true;
}

void HttpForwardStream::response_complete() {
  methods_.pop_front();
  down_ = Down::kHead;
  if (app_ended_ && methods_.empty() && wait_ == Wait::kNone) eof_pending_ = true;
  schedule();
}

// ---------------------------------------------------------------------------------------------
// Continuations: everything that may call the tunnel back runs from this timer, never from
// inside a call the tunnel made (transport/stream.hpp).

void HttpForwardStream::schedule() {
  if (!closing_) uv_timer_start(&defer_timer_, on_defer, 0, 0);
}

void HttpForwardStream::on_defer(uv_timer_t* timer) {
  auto* self = static_cast<HttpForwardStream*>(timer->data);
  if (self->closing_) return;
  if (self->local_pending_ && self->methods_.empty() && !self->views_held_ &&
      self->wait_ != Wait::kLegWrite) {
    self->local_pending_ = false;
    self->local_buf_ = uv::make_buf(reinterpret_cast<uint8_t*>(self->local_response_.data()),
                                    self->local_response_.size());
    if (!self->handler_.on_stream_views(&self->local_buf_, 1)) {
      self->local_held_ = true;
      return;
    }
    self->eof_pending_ = true;
  }
  if (self->eof_pending_ && !self->local_pending_) {
    self->eof_pending_ = false;
    self->handler_.on_stream_eof();
    if (self->closing_) return;
  }
  if (self->wait_ == Wait::kResponses && self->methods_.size() == 1 && !self->views_held_) {
    self->open_leg();
  }
  if (self->wait_ != Wait::kNone) return;
  switch (self->pump()) {
    case Pump::kDone:
      if (self->tunnel_write_pending_) {
        self->tunnel_write_pending_ = false;
        self->buf_count_ = 0;
        self->handler_.on_stream_write_done();
      }
      return;
    case Pump::kPaused:
      return;
    case Pump::kFailed:
      self->handler_.on_stream_failed(self->failure_);
      return;
  }
}

void HttpForwardStream::fail(ErrorKind kind, std::string message) {
  failure_ = transport::Failure{kind, std::move(message)};
}

}  // namespace vmlocal::inbound
