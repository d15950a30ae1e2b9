// How the tunnel asks for an outbound stream without knowing what is behind it: the VMess
// server pool in the product, a scripted fake in the tunnel's unit tests.
#pragma once

#include <memory>

#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/error.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::outbound {

class Dialer {
 public:
  virtual ~Dialer() = default;
  // A stream to `target` reporting to `handler`, not yet connected (the caller calls connect()).
  // An error here means nothing was sent: e.g. a target the protocol cannot carry (kUnreachable).
  virtual Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                          transport::StreamHandler& handler) = 0;
};

// How a UDP association asks for a VMess UDP tunnel to one destination (Cmd 2, packet mode,
// vmess-protocol.md §13): the server pool in the product, a scripted fake in tests.
class UdpDialer {
 public:
  virtual ~UdpDialer() = default;
  // Not yet connected (the caller calls connect()). Errors as Dialer::dial, and kUnreachable
  // when the server's body format cannot carry datagrams.
  virtual Result<std::unique_ptr<transport::Stream>> dial_udp(
      const TargetAddress& target, transport::StreamHandler& handler) = 0;
};

}  // namespace vmlocal::outbound
