// Tunnel: lifetime, timers, close and the summary line.
#include "vmlocal/tunnel/tunnel.hpp"

#include <cstdio>

#include "vmlocal/log/log.hpp"
#include "vmlocal/uv/sockaddr.hpp"

namespace vmlocal::tunnel {
namespace {

uint64_t to_ms(std::chrono::milliseconds d) {
  return static_cast<uint64_t>(d.count());
}

std::string format_seconds(uint64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(ms) / 1000.0);
  return text;
}

}  // namespace

void LoopContext::close_all(const std::string& reason) {
  while (tunnels != nullptr)
    tunnels->close(Tunnel::End::kShutdown, reason);
}

Tunnel::Tunnel(LoopContext& context, std::shared_ptr<const config::Profile> profile,
               std::unique_ptr<handshake::InboundHandshake> handshake, outbound::Dialer& dialer,
               std::unique_ptr<outbound::Dialer> own_dialer)
    : context_(context),
      profile_(std::move(profile)),
      own_dialer_(std::move(own_dialer)),
      dialer_(dialer),
      handshake_(std::move(handshake)),
      protocol_(handshake_->protocol()) {
  uv_tcp_init(context_.loop, &app_);
  uv_timer_init(context_.loop, &timer_);
  app_.data = this;
  timer_.data = this;
  app_write_req_.data = this;
  reply_write_req_.data = this;
  app_shutdown_req_.data = this;
  latch_.opened(2);
  started_ms_ = last_activity_ms_ = uv_now(context_.loop);

  next_ = context_.tunnels;
  if (next_ != nullptr) next_->prev_ = this;
  context_.tunnels = this;
  ++context_.tunnel_count;
}

Tunnel::~Tunnel() {
  // Every handle is closed, so libuv no longer points into the blocks.
  if (up_block_ != nullptr) context_.read_pool.release(up_block_);
  if (down_block_ != nullptr) context_.read_pool.release(down_block_);
}

int Tunnel::accept(LoopContext& context, std::shared_ptr<const config::Profile> profile,
                   std::unique_ptr<handshake::InboundHandshake> handshake, outbound::Dialer& dialer,
                   uv_stream_t* listener) {
  auto* tunnel = new Tunnel(context, std::move(profile), std::move(handshake), dialer, nullptr);
  return tunnel->start(listener);
}

int Tunnel::accept(LoopContext& context, std::shared_ptr<const config::Profile> profile,
                   std::unique_ptr<handshake::InboundHandshake> handshake,
                   std::unique_ptr<outbound::Dialer> own_dialer, uv_stream_t* listener) {
  outbound::Dialer& dialer = *own_dialer;
  auto* tunnel =
      new Tunnel(context, std::move(profile), std::move(handshake), dialer, std::move(own_dialer));
  return tunnel->start(listener);
}

int Tunnel::start(uv_stream_t* listener) {
  Tunnel* tunnel = this;
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tunnel->app_));
  if (rc != 0) {
    tunnel->close(End::kQuiet, std::string("accept failed: ") + uv_strerror(rc));
    return rc;
  }
  tunnel->peer_ = uv::peer_name(&tunnel->app_);
  uv_tcp_nodelay(&tunnel->app_, 1);
  tunnel->arm_timer(TimerPurpose::kHandshake, to_ms(tunnel->profile_->timeouts.handshake));
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tunnel->app_), on_app_alloc, on_app_read);
  return 0;
}

void Tunnel::close(End end, std::string reason) {
  if (phase_ == Phase::kClosing) return;
  const Phase was = phase_;
  phase_ = Phase::kClosing;
  log_close(end, was, reason);

  // Unlink so a stop walks only live tunnels.
  if (prev_ != nullptr) prev_->next_ = next_;
  if (next_ != nullptr) next_->prev_ = prev_;
  if (context_.tunnels == this) context_.tunnels = next_;
  --context_.tunnel_count;

  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  // An error after data flowed must not look like a clean end of stream to the app: reset.
  bool reset =
      end == End::kError && was == Phase::kEstablished && uv_tcp_close_reset(&app_, on_closed) == 0;
  if (!reset) uv_close(reinterpret_cast<uv_handle_t*>(&app_), on_closed);
  if (outbound_) outbound_->close(end == End::kError);
  association_.reset();  // the TCP connection's end is the association's (RFC 1928 §7)
}

void Tunnel::log_close(End end, Phase was, const std::string& reason) const {
  const uint64_t elapsed = uv_now(context_.loop) - started_ms_;
  if (target_ && (was == Phase::kEstablished || end == End::kShutdown)) {
    const std::string_view route = outbound_ ? outbound_->route() : std::string_view();
    log::emit(end == End::kError ? log::Level::kWarn : log::Level::kInfo, "tunnel ", peer_, " -> ",
              target_->to_string(), route.empty() ? "" : " (", route, route.empty() ? "" : ")",
              ": up ", bytes_up_, " B, down ", bytes_down_, " B, ", format_seconds(elapsed), ", ",
              reason);
  } else if (end == End::kQuiet) {
    if (!reason.empty()) log::debug(protocol_, " ", peer_, ": ", reason);
  } else {
    log::warn(protocol_, " ", peer_, target_ ? " -> " + target_->to_string() : std::string(), ": ",
              reason);
  }
}

void Tunnel::on_closed(uv_handle_t* handle) {
  static_cast<Tunnel*>(handle->data)->on_handle_closed();
}

void Tunnel::on_stream_closed() {
  on_handle_closed();
}

void Tunnel::on_handle_closed() {
  // The last close callback frees the tunnel; nothing touches it afterwards.
  if (latch_.closed()) delete this;
}

void Tunnel::arm_timer(TimerPurpose purpose, uint64_t timeout_ms) {
  timer_purpose_ = purpose;
  uv_timer_start(&timer_, on_timer, timeout_ms, 0);
}

void Tunnel::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<Tunnel*>(timer->data);
  const config::Profile::Timeouts& timeouts = self->profile_->timeouts;
  switch (self->timer_purpose_) {
    case TimerPurpose::kHandshake:
      self->close(End::kError,
                  "handshake timed out after " + format_seconds(to_ms(timeouts.handshake)));
      return;
    case TimerPurpose::kConnect:
      if (self->awaiting_open_) {
        // The app was answered already (on_stream_writable): all that is left is a reset.
        self->close(End::kError, "upstream connect timed out after " +
                                     format_seconds(to_ms(timeouts.connect)) + " (" +
                                     std::string(self->outbound_->connect_stage()) + " timeout)");
        return;
      }
      self->fail_request(ErrorKind::kTimeout, "upstream connect timed out after " +
                                                  format_seconds(to_ms(timeouts.connect)) + " (" +
                                                  std::string(self->outbound_->connect_stage()) +
                                                  " timeout)");
      return;
    case TimerPurpose::kIdle:
      self->on_idle_timer();
      return;
    case TimerPurpose::kLinger:
      self->close(End::kQuiet, {});  // the refusal was logged when it happened
      return;
    case TimerPurpose::kNone:
      return;
  }
}

void Tunnel::on_idle_timer() {
  const config::Profile::Timeouts& timeouts = profile_->timeouts;
  // v2ray's policy: once one direction has ended, the other may stay quiet only briefly.
  const bool downlink_only = uplink_done_ && !downlink_ended_;
  const bool uplink_only = downlink_ended_ && !uplink_done_;
  const uint64_t limit = to_ms(downlink_only ? timeouts.downlink_only
                               : uplink_only ? timeouts.uplink_only
                                             : timeouts.idle);
  const uint64_t quiet = uv_now(context_.loop) - last_activity_ms_;
  // A write still on its way means a slow reader, not a finished peer: the short limits never
  // cut it (the bytes it holds would be lost behind a clean end). Only the idle limit does.
  const bool writing = up_write_pending_ || down_write_pending_;
  if (quiet < limit || ((downlink_only || uplink_only) && writing)) {
    arm_timer(TimerPurpose::kIdle, quiet < limit ? limit - quiet : limit);
  } else if (downlink_only && bytes_down_ == 0 && outbound_ && outbound_->route() == "direct") {
    // The same, without a VMess server to suspect: [route] sent this one straight out.
    close(End::kClean, "the target sent nothing at all (direct: no server involved); closed " +
                           format_seconds(quiet) +
                           " after the app finished sending (timeouts.downlink_only)");
  } else if (downlink_only && bytes_down_ == 0) {
    // Not a finished download: nothing ever came. Say so, with the causes it may have, rather
    // than let the timeout's name suggest the timeout was the problem.
    close(End::kClean,
          "the server sent nothing at all (it took the request and never answered: a target "
          "that did not answer, or a server that refuses us or whose clock is off); closed " +
              format_seconds(quiet) + " after the app finished sending (timeouts.downlink_only)");
  } else if (downlink_only) {
    // The app has finished and the server went quiet without END (sing-box's server never
    // passes END on): the same ending as a close without END after ours (§10.4).
    close(End::kClean, "done: the server sent nothing more for " + format_seconds(quiet) +
                           " after the app finished sending (timeouts.downlink_only)");
  } else if (uplink_only) {
    // The usual end of a download whose app keeps its connection open (and of every Mux.Cool
    // download: the app's end is not passed on there).
    close(End::kClean, "done: the app sent nothing more for " + format_seconds(quiet) +
                           " after the server finished sending (timeouts.uplink_only)");
  } else {
    close(End::kError, "idle for " + format_seconds(quiet));
  }
}

void Tunnel::one_direction_ended() {
  if (awaiting_open_) return;  // the connect timer runs; on_stream_connected() comes back here
  // As v2ray's activity timer: the new, shorter limit counts from now.
  last_activity_ms_ = uv_now(context_.loop);
  on_idle_timer();
}

}  // namespace vmlocal::tunnel
