// The product's Dialer: each target goes through the VMess server, straight from this machine,
// or is refused, as the profile's [route] says (route/rules.hpp: private targets go direct by
// default). The tunnel only sees a Dialer; which way a tunnel went shows in its summary line
// through Stream::route().
#pragma once

#include <uv.h>

#include <memory>
#include <utility>

#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/route/rules.hpp"

namespace vmlocal::outbound {

class Router final : public Dialer, public UdpDialer {
 public:
  // `proxy` (the server pool) and `udp_proxy` (the same, for UDP; null: no UDP) must outlive
  // the router. The rules are a copy: a reload replaces them (set_rules) while connections that
  // dial later still hold this router.
  Router(uv_loop_t* loop, Dialer& proxy, route::Rules rules, UdpDialer* udp_proxy = nullptr)
      : loop_(loop), proxy_(proxy), rules_(std::move(rules)), udp_proxy_(udp_proxy) {}

  void set_rules(route::Rules rules) { rules_ = std::move(rules); }

  // Errors: ErrorKind::kBlocked for a refused target (the message names the rule); otherwise
  // whatever the chosen way reports. A direct stream resolves a name on this machine.
  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override;

  // One destination of a SOCKS5 UDP association. Proxied targets get a VMess UDP tunnel; direct
  // ones a UDP socket of this machine (DirectUdpStream); a blocked one kBlocked.
  Result<std::unique_ptr<transport::Stream>> dial_udp(const TargetAddress& target,
                                                      transport::StreamHandler& handler) override;

 private:
  Error blocked(const TargetAddress& target) const;

  uv_loop_t* loop_;
  Dialer& proxy_;
  route::Rules rules_;
  UdpDialer* udp_proxy_;
};

}  // namespace vmlocal::outbound
