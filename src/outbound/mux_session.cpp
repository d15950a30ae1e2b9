// MuxSession: one tunnel's sub-stream of a Mux.Cool connection (see the header).
#include "vmlocal/outbound/mux_session.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/mux_connection.hpp"

namespace vmlocal::outbound {

MuxSession::MuxSession(uv_loop_t* loop, MuxPool& pool, std::shared_ptr<const ServerContext> server,
                       const TargetAddress& target, transport::StreamHandler& handler,
                       mux::Network network)
    : loop_(loop),
      pool_(pool),
      server_(std::move(server)),
      target_(target),
      handler_(handler),
      network_(network),
      out_(new uint8_t[kOutCapacity]) {
  uv_timer_init(loop_, &defer_timer_);
  defer_timer_.data = this;
}

MuxSession::~MuxSession() {
  // Only from the handler's on_stream_closed(), after the timer's close callback.
  assert(timer_closing_);
}

std::string_view MuxSession::connect_stage() const {
  return connection_ != nullptr ? connection_->connect_stage() : "Mux.Cool: connect";
}

void MuxSession::connect() {
  phase_ = Phase::kConnecting;
  Result<MuxConnection*> connection = pool_.connection_for(server_);
  if (!connection) {
    fail(connection.error());
    return;
  }
  (*connection)->attach(*this);
}

void MuxSession::attached(MuxConnection& connection, uint16_t id) {
  connection_ = &connection;
  id_ = id;
  if (phase_ == Phase::kIdle) phase_ = Phase::kConnecting;  // (connect() has set it already)
}

void MuxSession::connection_ready() {
  if (phase_ != Phase::kConnecting) return;
  phase_ = Phase::kOpen;
  // New goes at once, without data: a server-first target (SMTP, SSH) must be dialled before
  // the app has anything to say. v2ray's client waits up to 100 ms for data to ride along; the
  // few bytes this costs buy no round trip either way.
  mux::FrameMeta meta;
  meta.session_id = id_;
  meta.status = mux::Status::kNew;
  meta.network = network_;
  meta.target = target_;
  append_frame(meta, {});
  new_sent_ = true;
  report_connected_ = true;
  defer();  // may run inside the tunnel's connect()
  connection_->want_write(*this);
}

void MuxSession::connection_failed(const transport::Failure& failure) {
  connection_ = nullptr;
  if (phase_ == Phase::kClosing || phase_ == Phase::kFailed) return;
  if (server_ended_) return;  // the download is complete; the tunnel finishes on its own
  fail(failure);
}

void MuxSession::append_frame(const mux::FrameMeta& meta, ByteView data) {
  if (out_taken_ == out_len_) out_len_ = out_taken_ = 0;  // all copied out: start over
  std::array<uint8_t, mux::kMaxFrameHeader> header{};
  const size_t n = mux::encode_frame_header(meta, static_cast<uint16_t>(data.size()), header);
  assert(out_len_ + n + data.size() <= kOutCapacity);
  std::memcpy(out_.get() + out_len_, header.data(), n);
  out_len_ += n;
  if (!data.empty()) std::memcpy(out_.get() + out_len_, data.data(), data.size());
  out_len_ += data.size();
}

transport::Stream::WriteResult MuxSession::write(uv_buf_t* bufs, size_t count) {
  assert(!app_write_pending_);
  if (phase_ != Phase::kOpen || connection_ == nullptr) {
    if (failure_.message.empty()) {
      failure_ = {ErrorKind::kReset, "Mux.Cool: the session is no longer open"};
    }
    return WriteResult::kFailed;
  }
  if (server_ended_) {
    // The server forgot the session with its End (v2ray's server removes it): bytes sent now
    // would be dropped there, so say so instead of losing them quietly.
    failure_ = {ErrorKind::kReset,
                "Mux.Cool: the server ended this session; it cannot take more bytes from the app"};
    return WriteResult::kFailed;
  }
  if (network_ == mux::Network::kUdp) {
    append_datagrams(bufs, count);
  } else {
    const mux::FrameMeta meta = keep_meta();
    for (size_t i = 0; i < count; ++i) {
      ByteView data(reinterpret_cast<const uint8_t*>(bufs[i].base), bufs[i].len);
      while (!data.empty()) {
        const size_t n = std::min(data.size(), mux::kTcpFrameData);
        append_frame(meta, data.first(n));
        data = data.subspan(n);
      }
    }
  }
  connection_->want_write(*this);
  if (out_taken_ == out_len_) return WriteResult::kDone;
  app_write_pending_ = true;
  return WriteResult::kPending;
}

mux::FrameMeta MuxSession::keep_meta() const {
  mux::FrameMeta meta;
  meta.session_id = id_;
  meta.status = mux::Status::kKeep;
  meta.option = mux::kOptionData;
  return meta;
}

// Packet mode: one Keep frame per datagram, never split (mux/datagram.hpp). The caller keeps to
// max_write_size(); one that does not fit is still never sent (it would end the connection for
// every tunnel on it), only counted.
void MuxSession::append_datagrams(uv_buf_t* bufs, size_t count) {
  assert(count <= kMaxUplinkChunks);
  const mux::FrameMeta meta = keep_meta();
  for (size_t i = 0; i < count && i < kMaxUplinkChunks; ++i) {
    if (!mux::datagram_fits(bufs[i].len)) {
      ++uplink_drops_;
      continue;
    }
    append_frame(meta, ByteView(reinterpret_cast<const uint8_t*>(bufs[i].base), bufs[i].len));
  }
}

transport::Stream::WriteResult MuxSession::shutdown() {
  // Mux.Cool cannot carry a half-close: v2ray's server, given End, closes the session both ways
  // and the rest of the download is lost (seen against 4.34: "session N ends > io: read/write
  // on closed pipe"). So the app's end is not passed on; End goes when the tunnel closes. A
  // target that waits for the app's FIN before it answers is cut by the tunnel's
  // downlink_only timeout instead (conf/example.toml says so next to [server.mux]).
  app_ended_ = true;
  return WriteResult::kDone;
}

void MuxSession::took(size_t n) {
  out_taken_ += n;
  assert(out_taken_ <= out_len_);
  if (app_write_pending_ && out_taken_ == out_len_) {
    app_write_pending_ = false;
    handler_.on_stream_write_done();
  }
}

// ---------------------------------------------------------------------------------------------
// Downlink

void MuxSession::on_frame_data(ByteView data, bool last) {
  if (phase_ != Phase::kOpen) return;
  if (network_ == mux::Network::kUdp) {
    on_datagram_piece(data, last);
    return;
  }
  down_.emplace_back(data.begin(), data.end());
  down_bytes_ += data.size();
  deliver();
}

// Packet mode: a reply is queued whole, one datagram per view, or dropped when the app has left
// kUdpDownlinkBudget unread, so the shared connection never waits for this app (UDP may lose).
void MuxSession::on_datagram_piece(ByteView data, bool last) {
  const std::optional<ByteView> datagram = assembler_.add(data, last);
  if (!datagram || datagram->empty()) return;
  if (down_bytes_ + datagram->size() > kUdpDownlinkBudget) {
    ++downlink_drops_;
    return;
  }
  down_.emplace_back(datagram->begin(), datagram->end());
  down_bytes_ += datagram->size();
  deliver();
}

void MuxSession::on_end(bool error) {
  if (phase_ == Phase::kClosing || phase_ == Phase::kFailed) return;
  if (error) {
    fail({ErrorKind::kReset, "Mux.Cool: the server aborted this session (End with the error bit)"});
    return;
  }
  server_ended_ = true;
  deliver();
}

void MuxSession::read_start() {
  reading_ = true;
  defer();  // what is buffered goes on a later loop iteration (stream.hpp's rule)
}

void MuxSession::read_stop() {
  reading_ = false;
}

void MuxSession::deliver() {
  if (phase_ != Phase::kOpen || !reading_ || views_lent_ > 0) return;
  while (!down_.empty()) {
    size_t n = 0;
    for (auto it = down_.begin(); it != down_.end() && n < views_.size(); ++it) {
      views_[n++] =
          uv_buf_init(reinterpret_cast<char*>(it->data()), static_cast<unsigned int>(it->size()));
    }
    views_lent_ = n;
    const bool consumed = handler_.on_stream_views(views_.data(), n);
    if (phase_ != Phase::kOpen) return;  // the handler closed us
    if (!consumed) return;               // release_views() comes when the app took them
    release_views();
    return;  // release_views() delivered the rest
  }
  if (server_ended_ && !eof_reported_) {
    eof_reported_ = true;
    handler_.on_stream_eof();
  }
}

void MuxSession::release_views() {
  if (views_lent_ == 0) return;
  for (size_t i = 0; i < views_lent_; ++i) {
    down_bytes_ -= down_.front().size();
    down_.pop_front();
  }
  views_lent_ = 0;
  if (connection_ != nullptr && down_bytes_ < kDownlinkBudget / 2) connection_->downlink_drained();
  deliver();
}

// ---------------------------------------------------------------------------------------------
// Failure and close

void MuxSession::fail(transport::Failure failure) {
  if (phase_ == Phase::kClosing || phase_ == Phase::kFailed) return;
  phase_ = Phase::kFailed;
  failure_ = std::move(failure);
  report_failed_ = true;
  defer();
}

void MuxSession::defer() {
  if (!timer_closing_) uv_timer_start(&defer_timer_, on_defer, 0, 0);
}

void MuxSession::on_defer(uv_timer_t* timer) {
  static_cast<MuxSession*>(timer->data)->run_deferred();
}

void MuxSession::run_deferred() {
  if (report_failed_) {
    report_failed_ = false;
    handler_.on_stream_failed(failure_);
    return;
  }
  if (report_connected_ && phase_ == Phase::kOpen) {
    report_connected_ = false;
    handler_.on_stream_connected();
    if (phase_ != Phase::kOpen) return;
  }
  deliver();
}

void MuxSession::detach(bool reset) {
  if (connection_ == nullptr) return;
  MuxConnection* connection = connection_;
  connection_ = nullptr;
  // Graceful: the frames not yet taken still go, then End. Reset: they are dropped and End
  // carries the error bit — except the rest of a frame the server is in the middle of, since
  // the body is one byte stream. No End once the server has ended the session (it forgot it).
  if ((!reset || connection->is_cut(*this)) && out_taken_ < out_len_) {
    connection->adopt(*this, ByteView(out_.get() + out_taken_, out_len_ - out_taken_));
    out_taken_ = out_len_;
  }
  if (new_sent_ && !server_ended_) connection->send_end(id_, reset);
  connection->detach(*this);
}

void MuxSession::close(bool reset) {
  if (phase_ == Phase::kClosing) return;
  phase_ = Phase::kClosing;
  if (downlink_drops_ + uplink_drops_ > 0) {
    log::debug("Mux.Cool UDP sub-stream ", id_, " to ", target_.to_string(), ": dropped ",
               downlink_drops_, " replies (the app left ", kUdpDownlinkBudget / 1024,
               " KiB unread) and ", uplink_drops_, " datagrams that do not fit one frame");
  }
  app_write_pending_ = false;
  detach(reset);
  timer_closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&defer_timer_), on_timer_closed);
}

void MuxSession::on_timer_closed(uv_handle_t* handle) {
  auto* self = static_cast<MuxSession*>(handle->data);
  self->handler_.on_stream_closed();  // may delete self
}

}  // namespace vmlocal::outbound
