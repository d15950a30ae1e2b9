#include "vmlocal/outbound/vmess_udp_session.hpp"

#include <algorithm>

namespace vmlocal::outbound {

Result<VmessUdpSession*> VmessUdpSession::open(UdpDialer& dialer, const TargetAddress& target,
                                               UdpSessionHandler& handler, UdpQueueBudget& budget) {
  auto* session = new VmessUdpSession(target, handler, budget);
  auto dialed = dialer.dial_udp(target, static_cast<transport::StreamHandler&>(*session));
  if (!dialed) {
    delete session;  // no stream, so no handle to wait for
    return dialed.error();
  }
  session->stream_ = std::move(*dialed);
  session->stream_->connect();
  return session;
}

VmessUdpSession::VmessUdpSession(const TargetAddress& target, UdpSessionHandler& handler,
                                 UdpQueueBudget& budget)
    : target_(target), handler_(handler), budget_(budget) {}

VmessUdpSession::~VmessUdpSession() = default;

VmessUdpSession::SendResult VmessUdpSession::send(ByteView datagram) {
  if (datagram.empty()) return SendResult::kEmpty;
  if (datagram.size() > max_datagram()) return SendResult::kTooLarge;
  if (budget_.queued >= budget_.max || closing_ || ended_) return SendResult::kQueueFull;
  queue_.emplace_back(datagram.begin(), datagram.end());
  ++budget_.queued;
  pump();
  return SendResult::kQueued;
}

// Sends what is queued, as many datagrams per write as one seal block takes, until a write
// pends or the queue is empty.
void VmessUdpSession::pump() {
  while (connected_ && !closing_ && !ended_ && in_flight_ == 0 && !queue_.empty()) {
    const size_t n = std::min(queue_.size(), bufs_.size());
    for (size_t i = 0; i < n; ++i) {
      std::vector<uint8_t>& d = queue_[i];
      bufs_[i] = uv_buf_init(reinterpret_cast<char*>(d.data()), static_cast<unsigned>(d.size()));
    }
    in_flight_ = n;
    switch (stream_->write(bufs_.data(), n)) {
      case transport::Stream::WriteResult::kDone:
        on_stream_write_done();
        break;
      case transport::Stream::WriteResult::kPending:
        return;
      case transport::Stream::WriteResult::kFailed:
        in_flight_ = 0;
        end("upstream write: " + stream_->failure().message);
        return;
    }
  }
}

void VmessUdpSession::on_stream_write_done() {
  datagrams_up_ += in_flight_;
  budget_.queued -= in_flight_;
  for (; in_flight_ > 0; --in_flight_)
    queue_.pop_front();
  pump();
}

// The budget belongs to the association, which may be gone before the stream has closed: give
// the queue's share back now. The datagrams stay allocated until the session is freed, since a
// graceful close may still be writing the ones in flight.
void VmessUdpSession::release_budget() {
  budget_.queued -= queue_.size();
}

void VmessUdpSession::on_stream_connected() {
  if (closing_) return;
  connected_ = true;
  // The limit send() checked queued datagrams against was the first server's; failing over may
  // have landed on one with a smaller limit (2048 B per datagram over Mux.Cool, one packet chunk
  // for the security otherwise, §13). What no longer fits is dropped, never split.
  const size_t limit = max_datagram();
  const size_t before = queue_.size();
  std::erase_if(queue_, [limit](const std::vector<uint8_t>& d) { return d.size() > limit; });
  const size_t dropped = before - queue_.size();
  budget_.queued -= dropped;
  dropped_too_large_ += dropped;
  stream_->read_start();
  pump();
}

MutableByteView VmessUdpSession::on_stream_buffer() {
  return {};  // VmessStream hands its plaintext over as views
}

void VmessUdpSession::on_stream_read(size_t) {}

bool VmessUdpSession::on_stream_views(uv_buf_t* views, size_t count) {
  // Packet mode: each view is one whole datagram from the destination.
  for (size_t i = 0; i < count && !closing_; ++i) {
    ++datagrams_down_;
    handler_.on_udp_reply(*this,
                          ByteView(reinterpret_cast<const uint8_t*>(views[i].base), views[i].len));
  }
  return true;
}

void VmessUdpSession::on_stream_eof() {
  end("the server ended the UDP tunnel");
}

void VmessUdpSession::on_stream_failed(const transport::Failure& failure) {
  end(failure.message);
}

void VmessUdpSession::end(const std::string& reason) {
  if (ended_ || closing_) return;
  ended_ = true;
  handler_.on_udp_session_ended(*this, reason);
}

void VmessUdpSession::close() {
  if (closing_) return;
  closing_ = true;
  // The END chunk tells the server the flow is over (§13); it cannot share the seal block
  // with a write still in flight, and after a failure there is nobody to tell.
  if (connected_ && !ended_ && in_flight_ == 0) (void)stream_->shutdown();
  release_budget();
  stream_->close(ended_);
}

void VmessUdpSession::on_stream_closed() {
  delete this;
}

}  // namespace vmlocal::outbound
