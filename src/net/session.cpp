#include "vmlocal/net/session.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <ctime>

#include "vmlocal/log/log.hpp"
#include "vmlocal/net/uv_util.hpp"
#include "vmlocal/transport/upstream.hpp"

namespace vmlocal::net {
namespace {

// v2ray's client waits this long for the app's first bytes so the request header can leave in
// the same segment as the first chunk; after it, the header goes alone so server-first
// protocols (SMTP, SSH) still start.
constexpr uint64_t kHeaderFlushMs = 100;
// After refusing a SOCKS request, keep reading (and discarding) this long so the reply is not
// destroyed by a reset from closing a socket with unread input.
constexpr uint64_t kLingerMs = 1000;

// A VMess server never explains a refusal (§11): it closes, or drains and closes.
constexpr std::string_view kNoResponse =
    "server closed the connection before responding: the server could not reach the target, or "
    "it rejected the request (wrong uuid or alter_id, or this clock is off by more than 2 "
    "minutes)";

uint64_t to_ms(std::chrono::milliseconds d) {
  return static_cast<uint64_t>(d.count());
}

uv_buf_t make_buf(const uint8_t* data, size_t len) {
  return uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data)),
                     static_cast<unsigned>(len));
}

socks5::ReplyCode reply_code_for(transport::FailureKind kind) {
  switch (kind) {
    case transport::FailureKind::kRefused:
      return socks5::ReplyCode::kConnectionRefused;
    case transport::FailureKind::kResolve:
    case transport::FailureKind::kUnreachable:
      return socks5::ReplyCode::kHostUnreachable;
    case transport::FailureKind::kTimeout:
      return socks5::ReplyCode::kTtlExpired;
    default:
      return socks5::ReplyCode::kGeneralFailure;
  }
}

std::string format_seconds(uint64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(ms) / 1000.0);
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lifetime

Session::Session(SessionContext& context) : context_(context) {
  uv_tcp_init(context_.loop, &app_);
  uv_timer_init(context_.loop, &timer_);
  app_.data = this;
  timer_.data = this;
  app_write_req_.data = this;
  reply_write_req_.data = this;
  app_shutdown_req_.data = this;
  open_handles_ = 2;
  started_ms_ = last_activity_ms_ = uv_now(context_.loop);

  next_ = context_.sessions;
  if (next_ != nullptr) next_->prev_ = this;
  context_.sessions = this;
  ++context_.session_count;
  ++context_.sessions_total;

  const config::Profile::Local& local = context_.profile->local;
  if (local.username.empty()) {
    handshake_.emplace();
  } else {
    handshake_.emplace(socks5::Credentials{local.username, local.password});
  }
}

Session::~Session() {
  // Every handle is closed, so libuv no longer points into the blocks.
  if (up_block_ != nullptr) context_.uplink_pool.release(up_block_);
  if (down_block_ != nullptr) context_.downlink_pool.release(down_block_);
}

int Session::accept(SessionContext& context, uv_stream_t* listener) {
  auto* session = new Session(context);
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&session->app_));
  if (rc != 0) {
    session->close(End::kQuiet, std::string("accept failed: ") + uv_strerror(rc));
    return rc;
  }
  session->peer_ = peer_name(&session->app_);
  uv_tcp_nodelay(&session->app_, 1);
  session->arm_timer(TimerPurpose::kHandshake, to_ms(context.profile->timeouts.handshake));
  uv_read_start(reinterpret_cast<uv_stream_t*>(&session->app_), on_app_alloc, on_app_read);
  return 0;
}

void Session::close(End end, std::string reason) {
  if (phase_ == Phase::kClosing) return;
  const Phase was = phase_;
  phase_ = Phase::kClosing;

  const uint64_t elapsed = uv_now(context_.loop) - started_ms_;
  if (target_ && (was == Phase::kEstablished || end == End::kShutdown)) {
    log::emit(end == End::kError ? log::Level::kWarn : log::Level::kInfo, "tunnel ", peer_, " -> ",
              target_->to_string(), ": up ", bytes_up_, " B, down ", bytes_down_, " B, ",
              format_seconds(elapsed), ", ", reason);
  } else if (end == End::kQuiet) {
    if (!reason.empty()) log::debug("socks5 ", peer_, ": ", reason);
  } else {
    log::warn("socks5 ", peer_, target_ ? " -> " + target_->to_string() : std::string(), ": ",
              reason);
  }

  // Unlink so shutdown walks only live sessions.
  if (prev_ != nullptr) prev_->next_ = next_;
  if (next_ != nullptr) next_->prev_ = prev_;
  if (context_.sessions == this) context_.sessions = next_;
  --context_.session_count;

  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  // An error after data flowed must not look like a clean end of stream to the app: reset.
  bool reset =
      end == End::kError && was == Phase::kEstablished && uv_tcp_close_reset(&app_, on_closed) == 0;
  if (!reset) uv_close(reinterpret_cast<uv_handle_t*>(&app_), on_closed);
  if (upstream_) upstream_->close(end == End::kError);
}

void Session::on_closed(uv_handle_t* handle) {
  static_cast<Session*>(handle->data)->on_handle_closed();
}

void Session::on_stream_closed() {
  on_handle_closed();
}

void Session::on_handle_closed() {
  // The last close callback frees the session; nothing touches it afterwards.
  if (--open_handles_ == 0) delete this;
}

void Session::arm_timer(TimerPurpose purpose, uint64_t timeout_ms) {
  timer_purpose_ = purpose;
  uv_timer_start(&timer_, on_timer, timeout_ms, 0);
}

void Session::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<Session*>(timer->data);
  const config::Profile::Timeouts& timeouts = self->context_.profile->timeouts;
  switch (self->timer_purpose_) {
    case TimerPurpose::kHandshake:
      self->close(End::kError,
                  "SOCKS handshake timed out after " + format_seconds(to_ms(timeouts.handshake)));
      return;
    case TimerPurpose::kConnect:
      self->fail_handshake(socks5::ReplyCode::kTtlExpired,
                           "upstream connect timed out after " +
                               format_seconds(to_ms(timeouts.connect)) + " (" +
                               std::string(self->upstream_->connect_stage()) + " timeout)");
      return;
    case TimerPurpose::kHeaderFlush:
      // The app has said nothing yet: send the header alone so the server reaches the target.
      if (!self->up_write_pending_ && self->put_header_once(&self->header_buf_) > 0) {
        if (!self->write_upstream(&self->header_buf_, 1)) return;
      }
      self->arm_timer(TimerPurpose::kIdle, to_ms(timeouts.idle));
      return;
    case TimerPurpose::kIdle: {
      const uint64_t idle = to_ms(timeouts.idle);
      const uint64_t quiet = uv_now(self->context_.loop) - self->last_activity_ms_;
      if (quiet >= idle) {
        self->close(End::kError, "idle for " + format_seconds(quiet));
      } else {
        self->arm_timer(TimerPurpose::kIdle, idle - quiet);
      }
      return;
    }
    case TimerPurpose::kLinger:
      self->close(End::kQuiet, {});  // the refusal was logged when it happened
      return;
    case TimerPurpose::kNone:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// SOCKS5 handshake

void Session::on_handshake_bytes(size_t offset, size_t n) {
  ByteView input(up_block_->data.data() + offset, n);
  for (;;) {
    socks5::Step step = handshake_->feed(input);
    input = input.subspan(step.consumed);
    switch (step.action) {
      case socks5::Action::kNeedMore:
        release_uplink_block();  // the parser keeps what it needs
        return;
      case socks5::Action::kSend:
        queue_reply(step.reply);
        if (phase_ == Phase::kClosing) return;
        continue;
      case socks5::Action::kRequest:
        target_ = handshake_->target();
        handshake_.reset();
        // Bytes after the request are the app's first payload: they wait in the block.
        early_offset_ = static_cast<size_t>(input.data() - up_block_->data.data());
        early_len_ = input.size();
        if (early_len_ == 0) release_uplink_block();
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&app_));
        start_connect();
        return;
      case socks5::Action::kFail:
        refuse_with(step.reply, std::string(step.reason));
        return;
    }
  }
}

void Session::queue_reply(ByteView bytes) {
  if (replies_len_ + bytes.size() > replies_.size()) {
    close(End::kError, "internal: SOCKS reply buffer full");
    return;
  }
  std::memcpy(replies_.data() + replies_len_, bytes.data(), bytes.size());
  replies_len_ += bytes.size();
  flush_replies();
}

void Session::flush_replies() {
  if (reply_write_pending_ || replies_sent_ == replies_len_ || phase_ == Phase::kClosing) return;
  // Bytes only ever get appended, so a queued write's memory stays put.
  reply_buf_ = make_buf(replies_.data() + replies_sent_, replies_len_ - replies_sent_);
  replies_sent_ = replies_len_;
  int error = 0;
  switch (write_now_or_queue(reinterpret_cast<uv_stream_t*>(&app_), &reply_write_req_, &reply_buf_,
                             1, on_reply_write, &error)) {
    case WriteOutcome::kDone:
      replies_flushed();
      return;
    case WriteOutcome::kQueued:
      reply_write_pending_ = true;
      return;
    case WriteOutcome::kFailed:
      close(End::kQuiet, std::string("app write: ") + uv_strerror(error));
      return;
  }
}

void Session::on_reply_write(uv_write_t* req, int status) {
  auto* self = static_cast<Session*>(req->data);
  if (self->phase_ == Phase::kClosing) return;
  self->reply_write_pending_ = false;
  if (status != 0) {
    self->close(End::kQuiet, std::string("app write: ") + uv_strerror(status));
    return;
  }
  self->replies_flushed();
  self->flush_replies();
}

void Session::replies_flushed() {
  if (phase_ != Phase::kLingering || replies_sent_ != replies_len_ || reply_write_pending_) return;
  // The refusal is on its way: end our side and wait for the app to go (or the linger timer).
  uv_shutdown(&app_shutdown_req_, reinterpret_cast<uv_stream_t*>(&app_), on_app_shutdown);
}

void Session::refuse_with(ByteView reply, std::string reason) {
  if (upstream_) upstream_->close(false);
  if (reply.empty()) {
    close(End::kError, std::move(reason));
    return;
  }
  log::warn("socks5 ", peer_, target_ ? " -> " + target_->to_string() : std::string(), ": ",
            reason);
  phase_ = Phase::kLingering;
  arm_timer(TimerPurpose::kLinger, kLingerMs);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&app_), on_app_alloc, on_app_read);
  queue_reply(reply);
}

void Session::fail_handshake(socks5::ReplyCode code, std::string reason) {
  socks5::Reply reply = socks5::encode_reply(code);
  refuse_with(reply.bytes(),
              reason + " (reply: " + std::string(socks5::reply_code_name(code)) + ")");
}

void Session::start_connect() {
  phase_ = Phase::kConnecting;
  const config::Profile& profile = *context_.profile;

  // Build the request before connecting, so a target VMess cannot carry fails without traffic.
  vmess::RequestParams params;
  params.header_mode = context_.header_mode;
  params.security = context_.body_format.security;
  params.options = context_.body_format.options;
  params.command = vmess::Command::kTcp;
  params.target = *target_;
  vmess::RequestSecrets secrets =
      vmess::RequestSecrets::draw(*context_.random, *context_.account, context_.header_mode);
  vmess::BuildResult built =
      vmess::build_request(*context_.account, params, secrets,
                           static_cast<int64_t>(std::time(nullptr)), *context_.random);
  if (!built.request) {
    fail_handshake(socks5::ReplyCode::kHostUnreachable, "target rejected: " + built.error);
    return;
  }
  request_.emplace(std::move(*built.request));

  arm_timer(TimerPurpose::kConnect, to_ms(profile.timeouts.connect));
  upstream_ = transport::make_upstream(context_.loop, static_cast<transport::StreamHandler&>(*this),
                                       profile.server, context_.tls.get(), *context_.random);
  ++open_handles_;
  upstream_->connect();
}

void Session::on_stream_connected() {
  if (phase_ != Phase::kConnecting) return;
  phase_ = Phase::kEstablished;
  last_activity_ms_ = uv_now(context_.loop);
  queue_reply(socks5::encode_reply(socks5::ReplyCode::kSucceeded).bytes());
  if (phase_ == Phase::kClosing) return;
  upstream_->read_start();
  if (early_len_ > 0) {
    const size_t offset = early_offset_, len = early_len_;
    early_len_ = 0;
    bytes_up_ += len;
    send_uplink(up_block_->data.data() + offset, len);
  } else {
    arm_timer(TimerPurpose::kHeaderFlush, kHeaderFlushMs);
    start_app_reads();
  }
}

void Session::on_stream_failed(const transport::Failure& failure) {
  if (phase_ == Phase::kConnecting) {
    fail_handshake(reply_code_for(failure.kind), "upstream " + failure.message);
  } else if (!request_->downlink.header_done()) {
    close(End::kError, std::string(kNoResponse) + " (upstream " + failure.message + ")");
  } else {
    close(End::kError, "upstream " + failure.message);
  }
}

// ---------------------------------------------------------------------------------------------
// App reads (handshake and uplink)

void Session::on_app_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Session*>(handle->data);
  if (self->up_block_ == nullptr) self->up_block_ = self->context_.uplink_pool.acquire();
  size_t size = kUplinkReadSize;
  if (self->phase_ == Phase::kEstablished) {
    // Never read more than the frame table can seal in one go.
    size = std::min(size, kMaxUplinkChunks * self->request_->uplink.max_payload());
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->up_block_->data.data()),
                     static_cast<unsigned>(size));
}

void Session::on_app_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<Session*>(stream->data);
  switch (self->phase_) {
    case Phase::kHandshake:
      if (nread > 0) {
        self->on_handshake_bytes(0, static_cast<size_t>(nread));
      } else if (nread == UV_EOF) {
        self->close(End::kQuiet, "app closed the connection during the SOCKS handshake");
      } else if (nread < 0) {
        self->close(End::kQuiet, std::string("app read: ") + uv_strerror(static_cast<int>(nread)));
      } else {
        self->release_uplink_block();
      }
      return;
    case Phase::kEstablished:
      if (nread > 0) {
        self->last_activity_ms_ = uv_now(self->context_.loop);
        self->bytes_up_ += static_cast<uint64_t>(nread);
        self->send_uplink(self->up_block_->data.data(), static_cast<size_t>(nread));
      } else if (nread == UV_EOF) {
        self->app_eof_ = true;
        uv_read_stop(stream);
        self->release_uplink_block();
        self->send_uplink_end();
      } else if (nread < 0) {
        self->close(End::kError, std::string("app read: ") + uv_strerror(static_cast<int>(nread)));
      } else if (!self->up_write_pending_) {
        self->release_uplink_block();
      }
      return;
    case Phase::kLingering:
      // Discard whatever the refused app still sends; leave when it goes.
      self->release_uplink_block();
      if (nread < 0) self->close(End::kQuiet, {});
      return;
    case Phase::kConnecting:
    case Phase::kClosing:
      self->release_uplink_block();
      return;
  }
}

void Session::start_app_reads() {
  if (phase_ != Phase::kEstablished || app_eof_ || up_write_pending_) return;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&app_), on_app_alloc, on_app_read);
}

// ---------------------------------------------------------------------------------------------
// Uplink: app -> upstream

// The request header rides in front of the first uplink write (data, END or the flush timer's
// header alone); from then on the idle timer runs. Returns the buffers it put at `bufs`: 0 or 1.
size_t Session::put_header_once(uv_buf_t* bufs) {
  if (header_sent_) return 0;
  header_sent_ = true;
  bufs[0] = make_buf(request_->header.data(), request_->header.size());
  arm_timer(TimerPurpose::kIdle, to_ms(context_.profile->timeouts.idle));
  return 1;
}

void Session::send_uplink(uint8_t* data, size_t n) {
  vmess::BodyWriter& writer = request_->uplink;
  const size_t max_payload = writer.max_payload();
  auto& bufs = up_block_->bufs;
  auto& frames = up_block_->frames;
  size_t count = put_header_once(bufs.data());
  size_t frame = 0;
  for (size_t offset = 0; offset < n; ++frame) {
    assert(frame < kMaxUplinkChunks);
    const size_t len = std::min(max_payload, n - offset);
    vmess::BodyWriter::Frame& f = frames[frame];
    writer.seal(MutableByteView(data + offset, len), f);
    if (f.prefix_len > 0) bufs[count++] = make_buf(f.prefix.data(), f.prefix_len);
    bufs[count++] = make_buf(data + offset, len);
    if (f.suffix_len > 0) bufs[count++] = make_buf(f.suffix.data(), f.suffix_len);
    offset += len;
  }
  write_upstream(bufs.data(), count);
}

void Session::send_uplink_end() {
  if (up_write_pending_ || uplink_done_ || phase_ != Phase::kEstablished) return;
  end_sent_ = true;
  vmess::BodyWriter& writer = request_->uplink;
  if (up_block_ == nullptr) up_block_ = context_.uplink_pool.acquire();
  auto& bufs = up_block_->bufs;
  // The app may close without a byte: the request still goes out so the server sees a clean end.
  size_t count = put_header_once(bufs.data());
  if (writer.has_end_chunk()) {
    vmess::BodyWriter::Frame& f = up_block_->frames[0];
    writer.seal_end(f);
    if (f.prefix_len > 0) bufs[count++] = make_buf(f.prefix.data(), f.prefix_len);
    if (f.suffix_len > 0) bufs[count++] = make_buf(f.suffix.data(), f.suffix_len);
  }
  if (count == 0) {
    uplink_write_finished();
    return;
  }
  write_upstream(bufs.data(), count);
}

bool Session::write_upstream(uv_buf_t* bufs, size_t count) {
  switch (upstream_->write(bufs, count)) {
    case transport::Stream::WriteResult::kDone:
      uplink_write_finished();
      return phase_ != Phase::kClosing;
    case transport::Stream::WriteResult::kPending:
      up_write_pending_ = true;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&app_));
      return true;
    case transport::Stream::WriteResult::kFailed:
      break;
  }
  close(End::kError, "upstream " + upstream_->failure().message);
  return false;
}

void Session::on_stream_write_done() {
  up_write_pending_ = false;
  uplink_write_finished();
}

void Session::uplink_write_finished() {
  if (phase_ != Phase::kEstablished) return;
  if (header_sent_ && !request_->header.empty()) {
    request_->header.clear();
    request_->header.shrink_to_fit();
  }
  release_uplink_block();
  if (!app_eof_) {
    start_app_reads();
    return;
  }
  if (!end_sent_) {
    send_uplink_end();
    return;
  }
  if (!uplink_done_) {
    uplink_done_ = true;
    upstream_->shutdown();
    maybe_finish();
  }
}

void Session::release_uplink_block() {
  if (up_block_ == nullptr || early_len_ > 0 || up_write_pending_) return;
  context_.uplink_pool.release(up_block_);
  up_block_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Downlink: upstream -> app

MutableByteView Session::on_stream_buffer() {
  if (down_block_ == nullptr) {
    down_block_ = context_.downlink_pool.acquire();
    down_len_ = down_consumed_ = 0;
  }
  return MutableByteView(down_block_->data.data() + down_len_, kDownlinkBufferSize - down_len_);
}

void Session::on_stream_read(size_t n) {
  if (phase_ != Phase::kEstablished) return;
  down_len_ += n;
  last_activity_ms_ = uv_now(context_.loop);
  pump_downlink();
}

void Session::pump_downlink() {
  if (down_block_ == nullptr) return;
  vmess::ResponseReader& reader = request_->downlink;
  uint8_t* data = down_block_->data.data();
  auto& bufs = down_block_->bufs;
  for (;;) {
    size_t count = 0;
    bool need_more = false;
    while (count < kMaxDownlinkSegments) {
      vmess::ReadStep step =
          reader.next(MutableByteView(data + down_consumed_, down_len_ - down_consumed_));
      down_consumed_ += step.consumed;
      if (step.status == vmess::ReadStatus::kData) {
        bufs[count++] = make_buf(step.data.data(), step.data.size());
        bytes_down_ += step.data.size();
        continue;
      }
      if (step.status == vmess::ReadStatus::kNeedMore) {
        need_more = true;
      } else if (step.status == vmess::ReadStatus::kEnd) {
        downlink_ended_ = true;
      } else {
        close(End::kError, "server sent a bad response: " + std::string(reader.error()));
        return;
      }
      break;
    }
    if (count > 0) {
      int error = 0;
      switch (write_now_or_queue(reinterpret_cast<uv_stream_t*>(&app_), &app_write_req_,
                                 bufs.data(), count, on_app_write, &error)) {
        case WriteOutcome::kDone:
          break;
        case WriteOutcome::kQueued:
          down_write_pending_ = true;
          upstream_->read_stop();
          return;
        case WriteOutcome::kFailed:
          close(End::kError, std::string("app write: ") + uv_strerror(error));
          return;
      }
    }
    // Everything decoded so far has been written: drop it, keep the partial chunk at the front.
    const size_t rest = down_len_ - down_consumed_;
    if (rest > 0 && down_consumed_ > 0) std::memmove(data, data + down_consumed_, rest);
    down_len_ = rest;
    down_consumed_ = 0;
    if (downlink_ended_) {
      finish_downlink();
      return;
    }
    if (need_more) break;
  }
  if (down_len_ == 0) release_downlink_block();
}

void Session::on_app_write(uv_write_t* req, int status) {
  auto* self = static_cast<Session*>(req->data);
  if (self->phase_ != Phase::kEstablished) return;
  self->down_write_pending_ = false;
  if (status != 0) {
    self->close(End::kError, std::string("app write: ") + uv_strerror(status));
    return;
  }
  self->pump_downlink();
  if (self->phase_ == Phase::kEstablished && !self->down_write_pending_ && !self->downlink_ended_) {
    self->upstream_->read_start();
  }
}

void Session::on_stream_eof() {
  if (phase_ != Phase::kEstablished || downlink_ended_) return;
  vmess::ResponseReader& reader = request_->downlink;
  if (reader.eof_is_clean()) {
    // A chunked response ends with END when the target finished. v2ray closes without it
    // when the target sent nothing, when a failure or its idle timer cuts the tunnel, and —
    // routinely — 1-2 s after our END when the target stays silent, since it never passes
    // the half-close on (§10.4, §11). While the app is still sending, a close without END
    // after data is therefore a failure: a plain FIN would pass a cut-off stream to the app
    // as a whole one.
    if (bytes_down_ > 0 && !end_sent_ && request_->uplink.has_end_chunk()) {
      close(End::kError,
            "server closed the connection without an END chunk: the response may be cut short");
      return;
    }
    downlink_ended_ = true;
    finish_downlink();
    return;
  }
  if (!reader.header_done()) {
    close(End::kError, std::string(kNoResponse));
  } else {
    close(End::kError, "server closed the connection in the middle of a chunk");
  }
}

void Session::finish_downlink() {
  upstream_->read_stop();
  release_downlink_block();
  uv_shutdown(&app_shutdown_req_, reinterpret_cast<uv_stream_t*>(&app_), on_app_shutdown);
}

void Session::on_app_shutdown(uv_shutdown_t* req, int /*status*/) {
  auto* self = static_cast<Session*>(req->data);
  if (self->phase_ != Phase::kEstablished) return;
  // A failed shutdown means the app is gone already; either way nothing more goes to it.
  self->downlink_done_ = true;
  self->maybe_finish();
}

void Session::release_downlink_block() {
  if (down_block_ == nullptr || down_len_ > 0 || down_write_pending_) return;
  context_.downlink_pool.release(down_block_);
  down_block_ = nullptr;
}

void Session::maybe_finish() {
  if (uplink_done_ && downlink_done_) close(End::kClean, "closed");
}

}  // namespace vmlocal::net
