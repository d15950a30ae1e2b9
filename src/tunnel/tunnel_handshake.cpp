// Tunnel: driving the inbound handshake, opening the outbound, and the app's answer.
#include <cstring>

#include "vmlocal/log/log.hpp"
#include "vmlocal/tunnel/tunnel.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::tunnel {
namespace {

// After refusing a request, keep reading (and discarding) this long so the reply is not
// destroyed by a reset from closing a socket with unread input.
constexpr uint64_t kLingerMs = 1000;

}  // namespace

void Tunnel::on_handshake_bytes(size_t n) {
  ByteView input(up_block_->data.data(), n);
  for (;;) {
    handshake::Step step = handshake_->feed(input);
    input = input.subspan(step.consumed);
    switch (step.action) {
      case handshake::Action::kNeedMore:
        release_read_block();  // the handshake keeps what it needs
        return;
      case handshake::Action::kSend:
        queue_reply(step.reply);
        if (phase_ == Phase::kClosing) return;
        continue;
      case handshake::Action::kRequest:
        target_ = handshake_->request().target;
        // Bytes after the request are the app's first payload: they wait in the block.
        early_offset_ = static_cast<size_t>(input.data() - up_block_->data.data());
        early_len_ = input.size();
        if (early_len_ == 0) release_read_block();
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&app_));
        if (handshake_->request().command == handshake::Request::Command::kUdpAssociate) {
          start_udp_association();
        } else {
          start_connect();
        }
        return;
      case handshake::Action::kFail:
        refuse_with(step.reply, std::string(step.reason));
        return;
    }
  }
}

void Tunnel::queue_reply(ByteView bytes) {
  if (bytes.empty()) return;  // a protocol whose success needs no reply (HTTP forwarding)
  if (replies_len_ + bytes.size() > replies_.size()) {
    close(End::kError, "internal: handshake reply buffer full");
    return;
  }
  std::memcpy(replies_.data() + replies_len_, bytes.data(), bytes.size());
  replies_len_ += bytes.size();
  flush_replies();
}

void Tunnel::flush_replies() {
  if (reply_write_pending_ || replies_sent_ == replies_len_ || phase_ == Phase::kClosing) return;
  // Bytes only ever get appended, so a queued write's memory stays put.
  reply_buf_ = uv::make_buf(replies_.data() + replies_sent_, replies_len_ - replies_sent_);
  replies_sent_ = replies_len_;
  int error = 0;
  switch (uv::write_now_or_queue(reinterpret_cast<uv_stream_t*>(&app_), &reply_write_req_,
                                 &reply_buf_, 1, on_reply_write, &error)) {
    case uv::WriteOutcome::kDone:
      replies_flushed();
      return;
    case uv::WriteOutcome::kQueued:
      reply_write_pending_ = true;
      return;
    case uv::WriteOutcome::kFailed:
      close(End::kQuiet, std::string("app write: ") + uv_strerror(error));
      return;
  }
}

void Tunnel::on_reply_write(uv_write_t* req, int status) {
  auto* self = static_cast<Tunnel*>(req->data);
  if (self->phase_ == Phase::kClosing) return;
  self->reply_write_pending_ = false;
  if (status != 0) {
    self->close(End::kQuiet, std::string("app write: ") + uv_strerror(status));
    return;
  }
  self->replies_flushed();
  self->flush_replies();
}

void Tunnel::replies_flushed() {
  if (phase_ != Phase::kLingering || replies_sent_ != replies_len_ || reply_write_pending_) return;
  // The refusal is on its way: end our side and wait for the app to go (or the linger timer).
  if (uv_shutdown(&app_shutdown_req_, reinterpret_cast<uv_stream_t*>(&app_), on_app_shutdown) !=
      0) {
    close(End::kQuiet, {});  // the app is gone already; the refusal was logged
  }
}

void Tunnel::refuse_with(ByteView reply, std::string reason, log::Level level) {
  if (outbound_) outbound_->close(false);
  if (reply.empty()) {
    close(End::kError, std::move(reason));
    return;
  }
  log::emit(level, protocol_, " ", peer_, target_ ? " -> " + target_->to_string() : std::string(),
            ": ", reason);
  phase_ = Phase::kLingering;
  arm_timer(TimerPurpose::kLinger, kLingerMs);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&app_), on_app_alloc, on_app_read);
  queue_reply(reply);
}

// The outbound could not be opened: the handshake's answer for the kind of failure.
void Tunnel::fail_request(ErrorKind kind, std::string reason) {
  const handshake::Reply reply = handshake_->failure_reply(kind);
  refuse_with(reply.bytes, reason + " (reply: " + std::string(reply.name) + ")",
              // The pool said why once; one line per refused tunnel would flood the log.
              kind == ErrorKind::kRefusedLogin ? log::Level::kDebug : log::Level::kWarn);
}

void Tunnel::start_connect() {
  phase_ = Phase::kConnecting;
  Result<std::unique_ptr<transport::Stream>> dialed =
      dialer_.dial(*target_, static_cast<transport::StreamHandler&>(*this));
  if (!dialed) {
    fail_request(dialed.error().kind, dialed.error().message);
    return;
  }
  outbound_ = std::move(*dialed);
  bytes_up_ += handshake_->carried_bytes();
  latch_.opened();
  arm_timer(TimerPurpose::kConnect, static_cast<uint64_t>(profile_->timeouts.connect.count()));
  outbound_->connect();
}

void Tunnel::on_stream_connected() {
  if (phase_ == Phase::kEstablished && awaiting_open_) {
    // The opening that carried the app's first bytes is done: the downlink may start.
    awaiting_open_ = false;
    last_activity_ms_ = uv_now(context_.loop);
    arm_timer(TimerPurpose::kIdle, static_cast<uint64_t>(profile_->timeouts.idle.count()));
    outbound_->read_start();
    if (uplink_done_ && !downlink_ended_) one_direction_ended();
    return;
  }
  if (phase_ != Phase::kConnecting) return;
  answer_app_and_start_uplink();
  if (phase_ != Phase::kEstablished) return;
  arm_timer(TimerPurpose::kIdle, static_cast<uint64_t>(profile_->timeouts.idle.count()));
  outbound_->read_start();
}

// The outbound wants the app's first bytes for its opening: answer the app now (the connect
// timer keeps running until on_stream_connected()).
void Tunnel::on_stream_writable() {
  if (phase_ != Phase::kConnecting) return;
  awaiting_open_ = true;
  answer_app_and_start_uplink();
}

void Tunnel::answer_app_and_start_uplink() {
  phase_ = Phase::kEstablished;
  last_activity_ms_ = uv_now(context_.loop);
  queue_reply(handshake_->success_reply().bytes);
  if (phase_ == Phase::kClosing) return;
  handshake_.reset();  // its last reply is copied into replies_
  if (early_len_ > 0) {
    const size_t offset = early_offset_, len = early_len_;
    early_len_ = 0;
    bytes_up_ += len;
    send_uplink(up_block_->data.data() + offset, len);
  } else {
    start_app_reads();
  }
}

void Tunnel::on_stream_failed(const transport::Failure& failure) {
  if (phase_ == Phase::kConnecting) {
    fail_request(failure.kind, failure.message);
  } else {
    close(End::kError, failure.message);
  }
}

}  // namespace vmlocal::tunnel
