// MuxConnection and MuxPool: one VMess connection (Cmd 0x03) carrying Mux.Cool sessions.
#include "vmlocal/outbound/mux_connection.hpp"

#include <algorithm>
#include <cstring>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/mux_session.hpp"
#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::outbound {
namespace {

// v2ray's client addresses its mux connection so; nothing of it goes on the wire (§14).
const TargetAddress kMuxTarget = TargetAddress::from_domain("v1.mux.cool", 9527);

}  // namespace

MuxConnection::MuxConnection(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                             MuxPool& pool, uint32_t concurrency)
    : context_(context),
      server_(std::move(server)),
      pool_(pool),
      concurrency_(std::max<uint32_t>(1, concurrency)),
      stage_(new uint8_t[kStageSize]) {}

MuxConnection::~MuxConnection() = default;

Result<bool> MuxConnection::start() {
  auto made =
      VmessStream::open(context_, server_, kMuxTarget,
                        static_cast<transport::StreamHandler&>(*this), vmess::Command::kMux);
  if (!made) {
    closing_ = true;
    return made.error();
  }
  vmess_ = std::move(*made);
  // Handles only once nothing can fail: a connection that did not start is simply destroyed.
  uv_timer_init(context_.loop, &idle_timer_);
  idle_timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&idle_timer_));
  vmess_->connect();
  return true;
}

std::string_view MuxConnection::connect_stage() const {
  return vmess_ ? vmess_->connect_stage() : std::string_view("Mux.Cool: connect");
}

bool MuxConnection::accepts_new() const {
  return !failed_ && !closing_ && !stopping_ && !stalled_ && sessions_.size() < concurrency_ &&
         opened_ < kMaxSessionsPerConnection;
}

void MuxConnection::attach(MuxSession& session) {
  const uint16_t id = next_id_++;
  ++opened_;
  sessions_[id] = &session;
  session.attached(*this, id);
  uv_timer_stop(&idle_timer_);
  if (connected_) session.connection_ready();
}

void MuxConnection::adopt(MuxSession& session, ByteView frames) {
  if (cut_ == &session) {
    // The rest of a frame the last write cut: it must come before anything else.
    control_.insert(control_.begin(), frames.begin(), frames.end());
    cut_ = nullptr;
  } else {
    control_.insert(control_.end(), frames.begin(), frames.end());
  }
}

void MuxConnection::send_end(uint16_t id, bool error) {
  queue_control_end(id, error);
}

void MuxConnection::queue_control_end(uint16_t id, bool error) {
  mux::FrameMeta meta;
  meta.session_id = id;
  meta.status = mux::Status::kEnd;
  meta.option = error ? mux::kOptionError : 0;
  std::array<uint8_t, mux::kMaxFrameHeader> header{};
  const size_t n = mux::encode_frame_header(meta, 0, header);
  control_.insert(control_.end(), header.begin(), header.begin() + static_cast<ptrdiff_t>(n));
  ended_by_us_[id] = true;
}

void MuxConnection::detach(MuxSession& session) {
  sessions_.erase(session.id());
  if (cut_ == &session) cut_ = nullptr;  // (never: a cut session adopts its rest first)
  write_queue_.erase(std::remove(write_queue_.begin(), write_queue_.end(), &session),
                     write_queue_.end());
  if (reading_into_ == &session) reading_into_ = nullptr;
  pump();
  maybe_idle();
}

void MuxConnection::want_write(MuxSession& session) {
  if (std::find(write_queue_.begin(), write_queue_.end(), &session) == write_queue_.end()) {
    write_queue_.push_back(&session);
  }
  pump();
}

// Copies what is owed into the stage: the rest of a frame cut by the previous write first, then
// the connection's own frames, then the sessions' in turn (round robin: a session that writes
// again goes to the back). The body is one byte stream, so frames never interleave: whatever
// the stage's end cuts short continues first in the next write.
size_t MuxConnection::fill_stage(size_t limit) {
  size_t n = 0;
  auto copy_session = [&](MuxSession* session) {
    const ByteView unsent = session->unsent();
    const size_t m = std::min(unsent.size(), limit - n);
    if (m > 0) std::memcpy(stage_.get() + n, unsent.data(), m);
    n += m;
    cut_ = m < unsent.size() ? session : nullptr;
    session->took(m);  // may write again (want_write) or close (detach, which adopts the cut)
  };
  if (cut_ != nullptr) {
    copy_session(cut_);
    if (cut_ != nullptr || n == limit) return n;
  }
  const size_t c = std::min(control_.size(), limit - n);
  if (c > 0) {
    std::memcpy(stage_.get() + n, control_.data(), c);
    control_.erase(control_.begin(), control_.begin() + static_cast<ptrdiff_t>(c));
    n += c;
  }
  if (!control_.empty()) return n;
  while (n < limit && !write_queue_.empty() && cut_ == nullptr) {
    MuxSession* session = write_queue_.front();
    write_queue_.pop_front();
    copy_session(session);
  }
  return n;
}

void MuxConnection::pump() {
  if (pumping_) return;
  pumping_ = true;
  while (connected_ && !writing_ && !failed_ && vmess_ != nullptr) {
    const size_t limit = std::min(kStageSize, vmess_->max_write_size());
    const size_t n = fill_stage(limit);
    if (n == 0) break;
    stage_buf_ = uv::make_buf(stage_.get(), n);
    const transport::Stream::WriteResult result = vmess_->write(&stage_buf_, 1);
    if (result == transport::Stream::WriteResult::kPending) {
      writing_ = true;
    } else if (result == transport::Stream::WriteResult::kFailed) {
      const transport::Failure failure = vmess_->failure();
      pumping_ = false;
      fail_all(failure);
      return;
    }
  }
  pumping_ = false;
}

void MuxConnection::on_stream_write_done() {
  writing_ = false;
  pump();
  maybe_idle();
}

void MuxConnection::on_stream_connected() {
  connected_ = true;
  vmess_->read_start();
  // A session's connection_ready() may make its tunnel write (and so pump) at once.
  std::vector<MuxSession*> waiting;
  waiting.reserve(sessions_.size());
  for (const auto& [id, session] : sessions_)
    waiting.push_back(session);
  std::sort(waiting.begin(), waiting.end(),
            [](const MuxSession* a, const MuxSession* b) { return a->id() < b->id(); });
  for (MuxSession* session : waiting) {
    if (sessions_.count(session->id()) != 0) session->connection_ready();
  }
  maybe_idle();
}

// ---------------------------------------------------------------------------------------------
// Downlink

MutableByteView MuxConnection::on_stream_buffer() {
  // VmessStream hands plaintext over as views; a stream that reads into ours gets the stage
  // (not in use for reads otherwise).
  return MutableByteView(stage_.get(), 16 * 1024);
}

void MuxConnection::on_stream_read(size_t n) {
  feed(ByteView(stage_.get(), n));
}

bool MuxConnection::on_stream_views(uv_buf_t* views, size_t count) {
  for (size_t i = 0; i < count && !failed_; ++i) {
    feed(ByteView(reinterpret_cast<const uint8_t*>(views[i].base), views[i].len));
  }
  return true;  // every byte was copied to its session (or dropped)
}

void MuxConnection::feed(ByteView input) {
  while (!failed_) {
    const mux::FrameReader::Step step = reader_.next(input);
    input = input.subspan(step.consumed);
    switch (step.event) {
      case mux::FrameReader::Event::kNeedMore:
        return;
      case mux::FrameReader::Event::kError:
        fail_all({ErrorKind::kProtocol, "Mux.Cool: " + std::string(reader_.error())});
        return;
      case mux::FrameReader::Event::kFrame: {
        const mux::FrameMeta& meta = reader_.meta();
        reading_into_ = nullptr;
        const auto found = sessions_.find(meta.session_id);
        MuxSession* session = found == sessions_.end() ? nullptr : found->second;
        switch (meta.status) {
          case mux::Status::kKeep:
            if (session != nullptr) {
              reading_into_ = session;
            } else if (ended_by_us_.count(meta.session_id) == 0 &&
                       (meta.option & mux::kOptionData) != 0) {
              // As v2ray's client does: data for a session we do not know is answered with End.
              queue_control_end(meta.session_id, false);
              pump();
            }
            break;
          case mux::Status::kEnd:
            ended_by_us_.erase(meta.session_id);
            if (session != nullptr) session->on_end((meta.option & mux::kOptionError) != 0);
            break;
          case mux::Status::kNew:        // a client never gets one; its data is dropped
          case mux::Status::kKeepAlive:  // nothing to do; its data, if any, is dropped
          default:
            break;
        }
        break;
      }
      case mux::FrameReader::Event::kData:
        if (reading_into_ != nullptr) {
          MuxSession* session = reading_into_;
          session->on_frame_data(reader_.data(), reader_.last_piece());  // may close it (detach)
          if (!stalled_ && sessions_.count(session->id()) != 0 &&
              session->buffered() > MuxSession::kDownlinkBudget) {
            // Mux.Cool has no per-session flow control (§14): hold the whole connection until
            // this app catches up; new tunnels go on another connection meanwhile.
            stalled_ = true;
            vmess_->read_stop();
          }
        }
        break;
    }
    if (input.empty()) return;
  }
}

void MuxConnection::downlink_drained() {
  if (!stalled_ || failed_) return;
  for (const auto& [id, session] : sessions_) {
    if (session->buffered() > MuxSession::kDownlinkBudget / 2) return;
  }
  stalled_ = false;
  vmess_->read_start();
}

void MuxConnection::on_stream_eof() {
  fail_all({ErrorKind::kReset, "Mux.Cool: the server ended the connection"});
}

void MuxConnection::on_stream_failed(const transport::Failure& failure) {
  fail_all(failure);
}

void MuxConnection::fail_all(const transport::Failure& failure) {
  if (failed_) return;
  failed_ = true;
  std::vector<MuxSession*> attached;
  for (const auto& [id, session] : sessions_)
    attached.push_back(session);
  sessions_.clear();
  write_queue_.clear();
  cut_ = nullptr;
  reading_into_ = nullptr;
  if (!attached.empty()) {
    log::debug("Mux.Cool connection to ", config::server_label(server_->settings), ": ",
               failure.message, " (", attached.size(), " session(s))");
  }
  for (MuxSession* session : attached)
    session->connection_failed(failure);
  close_stream(true);
}

// ---------------------------------------------------------------------------------------------
// Idle, stop, close

void MuxConnection::maybe_idle() {
  if (closing_ || failed_ || !sessions_.empty() || writing_ || !control_.empty()) return;
  if (stopping_ || !connected_) {
    close_stream(false);
    return;
  }
  uv_timer_start(&idle_timer_, on_idle, kIdleCloseMs, 0);
}

void MuxConnection::on_idle(uv_timer_t* timer) {
  auto* self = static_cast<MuxConnection*>(timer->data);
  if (self->sessions_.empty()) self->close_stream(false);
}

void MuxConnection::stop() {
  stopping_ = true;
  maybe_idle();
}

void MuxConnection::close_stream(bool reset) {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_timer_), [](uv_handle_t* handle) {
    auto* self = static_cast<MuxConnection*>(handle->data);
    self->timer_closed_ = true;
    if (self->stream_closed_) self->pool_.remove(self);
  });
  if (vmess_ != nullptr) {
    vmess_->close(reset);
  } else {
    stream_closed_ = true;
  }
}

void MuxConnection::on_stream_closed() {
  stream_closed_ = true;
  if (timer_closed_) pool_.remove(this);  // deletes this
}

// ---------------------------------------------------------------------------------------------
// MuxPool

MuxPool::~MuxPool() = default;

Result<std::unique_ptr<transport::Stream>> MuxPool::open(
    std::shared_ptr<const ServerContext> server, const TargetAddress& target,
    transport::StreamHandler& handler, mux::Network network) {
  if (target.type == TargetAddress::Type::kDomain &&
      (target.domain.empty() || target.domain.size() > 255)) {
    return Error{ErrorKind::kUnreachable, "target rejected: a domain must be 1..255 bytes"};
  }
  return std::unique_ptr<transport::Stream>(std::make_unique<MuxSession>(
      context_.loop, *this, std::move(server), target, handler, network));
}

Result<MuxConnection*> MuxPool::connection_for(const std::shared_ptr<const ServerContext>& server) {
  if (stopping_) return Error{ErrorKind::kStopping, "vmess-local is stopping"};
  for (const auto& connection : connections_) {
    if (connection->server() == server.get() && connection->accepts_new()) {
      return connection.get();
    }
  }
  auto connection =
      std::make_unique<MuxConnection>(context_, server, *this, server->settings.mux.concurrency);
  Result<bool> started = connection->start();
  if (!started) return started.error();  // nothing was opened: it goes with this scope
  connections_.push_back(std::move(connection));
  return connections_.back().get();
}

void MuxPool::stop() {
  stopping_ = true;
  // A connection may close (and be removed) from a later callback only: iterate a copy anyway.
  std::vector<MuxConnection*> all;
  for (const auto& connection : connections_)
    all.push_back(connection.get());
  for (MuxConnection* connection : all)
    connection->stop();
}

void MuxPool::remove(MuxConnection* connection) {
  const auto it = std::find_if(connections_.begin(), connections_.end(),
                               [&](const auto& c) { return c.get() == connection; });
  if (it != connections_.end()) connections_.erase(it);
}

}  // namespace vmlocal::outbound
