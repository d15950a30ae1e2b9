#include "vmlocal/outbound/router.hpp"

#include <algorithm>
#include <string>

#include "vmlocal/outbound/direct_stream.hpp"
#include "vmlocal/outbound/direct_udp_stream.hpp"

namespace vmlocal::outbound {

Result<std::unique_ptr<transport::Stream>> Router::dial(const TargetAddress& target,
                                                        transport::StreamHandler& handler) {
  switch (rules_.decide(target)) {
    case route::Decision::kProxy:
      return proxy_.dial(target, handler);
    case route::Decision::kDirect:
      return std::unique_ptr<transport::Stream>(
          std::make_unique<DirectStream>(loop_, handler, target));
    case route::Decision::kBlock:
      return blocked(target);
  }
  return Error{ErrorKind::kOther, "internal: unknown route decision"};
}

Error Router::blocked(const TargetAddress& target) const {
  const bool listed = std::any_of(rules_.block.begin(), rules_.block.end(),
                                  [&](const route::Rule& rule) { return rule.matches(target); });
  return Error{ErrorKind::kBlocked,
               listed ? "refused: the target is in [route] block"
                      : "refused: a private target (loopback, LAN, link-local or .local) "
                        "and [route] private = \"block\""};
}

Result<std::unique_ptr<transport::Stream>> Router::dial_udp(const TargetAddress& target,
                                                            transport::StreamHandler& handler) {
  switch (rules_.decide(target)) {
    case route::Decision::kProxy:
      if (udp_proxy_ == nullptr) return Error{ErrorKind::kOther, "internal: no UDP outbound"};
      return udp_proxy_->dial_udp(target, handler);
    case route::Decision::kDirect:
      return std::unique_ptr<transport::Stream>(
          std::make_unique<DirectUdpStream>(loop_, handler, target));
    case route::Decision::kBlock:
      return blocked(target);
  }
  return Error{ErrorKind::kOther, "internal: unknown route decision"};
}

}  // namespace vmlocal::outbound
