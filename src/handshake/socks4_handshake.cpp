#include "vmlocal/handshake/socks4_handshake.hpp"

#include <algorithm>

namespace vmlocal::socks4 {

using handshake::Action;
using handshake::Step;

HandshakeParser::HandshakeParser(bool auth_required) : auth_required_(auth_required) {}

Step HandshakeParser::feed(ByteView input) {
  if (phase_ == Phase::kDone) return {Action::kRequest, 0, {}, {}};
  if (phase_ == Phase::kFailed) return {Action::kFail, input.size(), {}, reason_};
  size_t i = 0;
  while (i < input.size()) {
    const uint8_t c = input[i];
    switch (phase_) {
      case Phase::kFixed:
        fixed_[fixed_size_++] = c;
        ++i;
        // Errors show at the first byte that proves them.
        if (fixed_size_ == 1 && c != kVersion) return fail(i, "not a SOCKS4 request");
        if (fixed_size_ == 2 && c != kConnect) {
          return fail(
              i, c == kBind ? "unsupported command BIND" : "unknown command " + std::to_string(c));
        }
        if (fixed_size_ == kFixedSize) {
          // 0.0.0.x, x != 0: SOCKS4a, the name follows the user id.
          is_4a_ = fixed_[4] == 0 && fixed_[5] == 0 && fixed_[6] == 0 && fixed_[7] != 0;
          phase_ = Phase::kUserId;
        }
        continue;
      case Phase::kUserId:
        ++i;
        if (c == 0) {
          if (!is_4a_) return finish(i);
          phase_ = Phase::kDomain;
        } else if (++user_id_size_ > kMaxUserIdLength) {
          return fail(i, "user id longer than 255 bytes");
        }
        continue;
      case Phase::kDomain:
        ++i;
        if (c == 0) {
          if (domain_.empty()) return fail(i, "empty domain name");
          return finish(i);
        }
        if (c < 0x20 || c == 0x7f) return fail(i, "control character in domain name");
        if (domain_.size() == kMaxDomainLength) return fail(i, "domain name longer than 255 bytes");
        domain_.push_back(static_cast<char>(c));
        continue;
      case Phase::kDone:
      case Phase::kFailed:
        break;
    }
  }
  return {Action::kNeedMore, i, {}, {}};
}

Step HandshakeParser::finish(size_t consumed) {
  const uint16_t port = get_be16(fixed_.data() + 2);
  if (is_4a_) {
    request_.target = TargetAddress::from_domain(domain_, port);
  } else {
    request_.target = TargetAddress::ipv4({fixed_[4], fixed_[5], fixed_[6], fixed_[7]}, port);
  }
  if (auth_required_) {
    return fail(consumed,
                "SOCKS4 cannot carry a password and [local] username/password is set: "
                "point the app at SOCKS5 or the HTTP proxy with the credentials");
  }
  phase_ = Phase::kDone;
  return {Action::kRequest, consumed, {}, {}};
}

Step HandshakeParser::fail(size_t consumed, std::string reason) {
  phase_ = Phase::kFailed;
  reason_ = std::move(reason);
  reply_ = {kReplyVersion, kRejected, 0, 0, 0, 0, 0, 0};
  return {Action::kFail, consumed, reply_, reason_};
}

handshake::Reply HandshakeParser::success_reply() {
  // DSTPORT and DSTIP are ignored by clients for CONNECT; zeros, as most servers send.
  reply_ = {kReplyVersion, kGranted, 0, 0, 0, 0, 0, 0};
  return {reply_, "request granted"};
}

handshake::Reply HandshakeParser::failure_reply(ErrorKind /*kind*/) {
  reply_ = {kReplyVersion, kRejected, 0, 0, 0, 0, 0, 0};
  return {reply_, "request rejected or failed"};
}

}  // namespace vmlocal::socks4
