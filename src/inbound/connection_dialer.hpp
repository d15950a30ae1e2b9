// The dialer each accepted connection gets (owned by its tunnel): the server pool, or, when the
// app turned out to speak plain HTTP proxy requests, the forwarding adapter in front of it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>

#include "vmlocal/handshake/sniff_handshake.hpp"
#include "vmlocal/inbound/http_forward_stream.hpp"
#include "vmlocal/outbound/dialer.hpp"

namespace vmlocal::inbound {

class ConnectionDialer final : public outbound::Dialer {
 public:
  // `handshake` is the connection's own, owned by the same tunnel; the tunnel dials once, while
  // the handshake is alive, and the pointer is dropped then.
  ConnectionDialer(uv_loop_t* loop, outbound::Dialer& servers,
                   const handshake::SniffHandshake& handshake, uint64_t connect_timeout_ms)
      : loop_(loop),
        servers_(servers),
        handshake_(&handshake),
        connect_timeout_ms_(connect_timeout_ms) {}

  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override {
    const handshake::SniffHandshake* handshake = handshake_;
    handshake_ = nullptr;
    if (handshake != nullptr) {
      if (const http_proxy::HandshakeParser* http = handshake->http_forwarding()) {
        return HttpForwardStream::open(loop_, servers_, target, http->head(), connect_timeout_ms_,
                                       handler);
      }
    }
    return servers_.dial(target, handler);
  }

 private:
  uv_loop_t* loop_;
  outbound::Dialer& servers_;
  const handshake::SniffHandshake* handshake_;
  uint64_t connect_timeout_ms_;
};

}  // namespace vmlocal::inbound
