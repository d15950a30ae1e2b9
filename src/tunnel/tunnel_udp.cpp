// Tunnel, UDP ASSOCIATE: the TCP connection becomes the association's control connection.
#include <sys/socket.h>

#include "vmlocal/log/log.hpp"
#include "vmlocal/tunnel/tunnel.hpp"

namespace vmlocal::tunnel {

void Tunnel::start_udp_association() {
  // The app may not send anything after the request on this connection; any early bytes are
  // dropped like every later one.
  early_len_ = 0;
  release_read_block();
  sockaddr_storage peer{}, local{};
  int peer_len = sizeof peer, local_len = sizeof local;
  if (context_.udp == nullptr ||
      uv_tcp_getpeername(&app_, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      uv_tcp_getsockname(&app_, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    fail_request(ErrorKind::kOther, "UDP ASSOCIATE: no UDP relay for this connection");
    return;
  }
  Result<UdpAssociated> associated = context_.udp->associate(
      *target_, *reinterpret_cast<const sockaddr*>(&peer), *reinterpret_cast<sockaddr*>(&local));
  if (!associated) {
    fail_request(associated.error().kind, "UDP ASSOCIATE: " + associated.error().message);
    return;
  }
  association_ = std::move(associated->lease);
  phase_ = Phase::kEstablished;
  queue_reply(handshake_->success_reply_bound(associated->relay).bytes);
  if (phase_ == Phase::kClosing) return;
  handshake_.reset();
  // No idle limit: the association lasts as long as the app keeps this connection, and each of
  // its destinations has its own idle timeout in the relay.
  uv_timer_stop(&timer_);
  timer_purpose_ = TimerPurpose::kNone;
  log::debug("socks5 ", peer_, ": UDP associated, relay ", associated->relay.to_string());
  uv_read_start(reinterpret_cast<uv_stream_t*>(&app_), on_app_alloc, on_control_read);
}

void Tunnel::on_control_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<Tunnel*>(stream->data);
  self->release_read_block();
  if (nread >= 0 || self->phase_ == Phase::kClosing) return;
  if (nread == UV_EOF) {
    self->close(End::kClean, "UDP association ended: the app closed its TCP connection");
  } else {
    self->close(End::kError, std::string("UDP association ended: app read: ") +
                                 uv_strerror(static_cast<int>(nread)));
  }
}

}  // namespace vmlocal::tunnel
