#include "vmlocal/handshake/socks5_handshake.hpp"

#include <algorithm>
#include <utility>

#include "vmlocal/crypto/compare.hpp"
#include "vmlocal/crypto/secret.hpp"

namespace vmlocal::socks5 {
namespace {

// Offsets of the request fields (RFC 1928 §4).
constexpr size_t kRequestCmd = 1;
constexpr size_t kRequestAtyp = 3;
constexpr size_t kDomainLength = kAddressHeaderSize;  // first byte after ATYP

std::string_view as_text(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Control bytes (NUL, CR, LF, ...) are no part of any host name, and would end up in log lines.
bool is_acceptable_domain(ByteView name) {
  return std::none_of(name.begin(), name.end(), [](uint8_t c) { return c < 0x20 || c == 0x7f; });
}

}  // namespace

static_assert(kMaxAuthRequestSize >= kMaxGreetingSize && kMaxAuthRequestSize >= kMaxRequestSize,
              "buf_ must hold the longest handshake message");

HandshakeParser::HandshakeParser(std::optional<Credentials> required, bool udp_associate)
    : required_(required), udp_associate_(udp_associate) {}

HandshakeParser::~HandshakeParser() {
  // A connection dropped mid-authentication leaves part of a password here.
  crypto::secure_wipe(buf_.data(), buf_.size());
}

Step HandshakeParser::feed(ByteView input) {
  if (phase_ == Phase::kDone) return {Action::kRequest, 0, {}, {}};
  if (phase_ == Phase::kFailed) return {Action::kFail, input.size(), {}, reason_};

  size_t taken = 0;
  for (;;) {
    const size_t need = scan();
    if (phase_ == Phase::kFailed) return failure_step(taken);
    if (need == size_) {
      Step step = finish();
      step.consumed = taken;
      return step;
    }
    if (taken == input.size()) return {Action::kNeedMore, taken, {}, {}};
    // Never take more than the current message needs: what follows it belongs to the next
    // message, or is app payload.
    const size_t n = std::min(need - size_, input.size() - taken);
    std::copy_n(input.begin() + static_cast<std::ptrdiff_t>(taken), n,
                buf_.begin() + static_cast<std::ptrdiff_t>(size_));
    size_ += n;
    taken += n;
  }
}

size_t HandshakeParser::scan() {
  switch (phase_) {
    case Phase::kGreeting:
      return scan_greeting();
    case Phase::kAuth:
      return scan_auth();
    case Phase::kRequest:
      return scan_request();
    case Phase::kDone:
    case Phase::kFailed:
      break;
  }
  return size_;
}

Step HandshakeParser::finish() {
  switch (phase_) {
    case Phase::kGreeting:
      return finish_greeting();
    case Phase::kAuth:
      return finish_auth();
    case Phase::kRequest:
      return finish_request();
    case Phase::kDone:
    case Phase::kFailed:
      break;
  }
  return {};
}

// VER NMETHODS METHODS...
size_t HandshakeParser::scan_greeting() {
  if (size_ < 1) return 1;
  // Not SOCKS5 (SOCKS4, HTTP, TLS...): a SOCKS5 answer would mean nothing to the app.
  if (buf_[0] != kVersion) return fail_silently("bad SOCKS version " + std::to_string(buf_[0]));
  if (size_ < 2) return 2;
  // An empty method list is well-formed SOCKS5 in which no method is acceptable: the RFC's answer
  // to that is 0xFF, which tells the app why better than a bare close.
  if (buf_[1] == 0) return fail_with_method_reply("empty authentication method list");
  return 2 + size_t{buf_[1]};
}

Step HandshakeParser::finish_greeting() {
  const Method wanted = required_ ? Method::kUsernamePassword : Method::kNoAuth;
  const ByteView methods = ByteView(buf_).subspan(2, size_ - 2);
  const bool offered =
      std::find(methods.begin(), methods.end(), static_cast<uint8_t>(wanted)) != methods.end();
  if (!offered) {
    fail_with_method_reply(required_ ? "app did not offer username/password authentication"
                                     : "no acceptable authentication method");
    return failure_step(0);
  }
  method_reply_ = {kVersion, static_cast<uint8_t>(wanted)};
  phase_ = required_ ? Phase::kAuth : Phase::kRequest;
  size_ = 0;
  return {Action::kSend, 0, method_reply_, {}};
}

// VER ULEN UNAME PLEN PASSWD
size_t HandshakeParser::scan_auth() {
  if (size_ < 1) return 1;
  if (buf_[0] != kAuthVersion) {
    return fail_silently("bad username/password version " + std::to_string(buf_[0]));
  }
  if (size_ < 2) return 2;
  const size_t ulen = buf_[1];
  if (ulen == 0) return fail_with_auth_status("empty username");
  const size_t plen_at = 2 + ulen;
  if (size_ <= plen_at) return plen_at + 1;
  const size_t plen = buf_[plen_at];
  if (plen == 0) return fail_with_auth_status("empty password");
  return plen_at + 1 + plen;
}

Step HandshakeParser::finish_auth() {
  const size_t ulen = buf_[1];
  const ByteView username = ByteView(buf_).subspan(2, ulen);
  const ByteView password = ByteView(buf_).subspan(3 + ulen, size_ - 3 - ulen);
  // Both comparisons always run, so the time does not tell which field was wrong.
  const bool username_ok = crypto::constant_time_equal(username, as_bytes(required_->username));
  const bool password_ok = crypto::constant_time_equal(password, as_bytes(required_->password));
  crypto::secure_wipe(buf_.data(), size_);
  size_ = 0;
  if (!(username_ok && password_ok)) {
    fail_with_auth_status("wrong username or password");
    return failure_step(0);
  }
  auth_reply_ = {kAuthVersion, static_cast<uint8_t>(AuthStatus::kSuccess)};
  phase_ = Phase::kRequest;
  return {Action::kSend, 0, auth_reply_, {}};
}

// VER CMD RSV ATYP DST.ADDR DST.PORT. RSV is not checked: RFC 1928 gives it no meaning and
// common servers ignore it.
size_t HandshakeParser::scan_request() {
  if (size_ < 1) return 1;
  // The app is no longer speaking SOCKS5: like a bad greeting, close without a reply.
  if (buf_[0] != kVersion) {
    return fail_silently("bad SOCKS version " + std::to_string(buf_[0]) + " in request");
  }
  if (size_ < 2) return 2;
  switch (static_cast<Command>(buf_[kRequestCmd])) {
    case Command::kConnect:
      break;
    case Command::kBind:
      return fail_with_reply(ReplyCode::kCommandNotSupported, "unsupported command BIND");
    case Command::kUdpAssociate:
      if (udp_associate_) break;
      return fail_with_reply(ReplyCode::kCommandNotSupported,
                             "unsupported command UDP ASSOCIATE (UDP is off in this profile: "
                             "`vmess-local check` says why)");
    default:
      return fail_with_reply(ReplyCode::kCommandNotSupported,
                             "unknown command " + std::to_string(buf_[kRequestCmd]));
  }
  if (size_ < kAddressHeaderSize) return kAddressHeaderSize;
  switch (static_cast<AddressType>(buf_[kRequestAtyp])) {
    case AddressType::kIpv4:
      return kAddressHeaderSize + kIpv4Size + kPortSize;
    case AddressType::kIpv6:
      return kAddressHeaderSize + kIpv6Size + kPortSize;
    case AddressType::kDomain:
      if (size_ <= kDomainLength) return kDomainLength + 1;
      if (buf_[kDomainLength] == 0) {
        return fail_with_reply(ReplyCode::kGeneralFailure, "empty domain name");
      }
      return kDomainLength + 1 + buf_[kDomainLength] + kPortSize;
  }
  return fail_with_reply(ReplyCode::kAddressTypeNotSupported,
                         "unknown address type " + std::to_string(buf_[kRequestAtyp]));
}

Step HandshakeParser::finish_request() {
  const uint8_t* address = buf_.data() + kAddressHeaderSize;
  const uint16_t port = get_be16(buf_.data() + size_ - kPortSize);
  switch (static_cast<AddressType>(buf_[kRequestAtyp])) {
    case AddressType::kIpv4: {
      std::array<uint8_t, kIpv4Size> ip{};
      std::copy_n(address, kIpv4Size, ip.begin());
      request_.target = TargetAddress::ipv4(ip, port);
      break;
    }
    case AddressType::kIpv6: {
      std::array<uint8_t, kIpv6Size> ip{};
      std::copy_n(address, kIpv6Size, ip.begin());
      request_.target = TargetAddress::ipv6(ip, port);
      break;
    }
    case AddressType::kDomain: {
      const ByteView name(address + 1, address[0]);
      if (!is_acceptable_domain(name)) {
        fail_with_reply(ReplyCode::kGeneralFailure, "control character in domain name");
        return failure_step(0);
      }
      request_.target = TargetAddress::from_domain(std::string(as_text(name)), port);
      break;
    }
  }
  request_.command = static_cast<Command>(buf_[kRequestCmd]) == Command::kUdpAssociate
                         ? handshake::Request::Command::kUdpAssociate
                         : handshake::Request::Command::kConnect;
  phase_ = Phase::kDone;
  size_ = 0;
  return {Action::kRequest, 0, {}, {}};
}

size_t HandshakeParser::fail_silently(std::string reason) {
  phase_ = Phase::kFailed;
  reason_ = std::move(reason);
  fail_reply_ = {};
  return 0;
}

size_t HandshakeParser::fail_with_method_reply(std::string reason) {
  method_reply_ = {kVersion, static_cast<uint8_t>(Method::kNoAcceptable)};
  fail_silently(std::move(reason));
  fail_reply_ = method_reply_;
  return 0;
}

size_t HandshakeParser::fail_with_auth_status(std::string reason) {
  // RFC 1929: after a failure status the server must close; the app learns why it was refused.
  auth_reply_ = {kAuthVersion, static_cast<uint8_t>(AuthStatus::kFailure)};
  fail_silently(std::move(reason));
  fail_reply_ = auth_reply_;
  return 0;
}

size_t HandshakeParser::fail_with_reply(ReplyCode code, std::string reason) {
  request_reply_ = encode_reply(code);
  fail_silently(std::move(reason));
  fail_reply_ = request_reply_.bytes();
  return 0;
}

Step HandshakeParser::failure_step(size_t consumed) const {
  return {Action::kFail, consumed, fail_reply_, reason_};
}

handshake::Reply HandshakeParser::success_reply() {
  final_reply_ = encode_reply(ReplyCode::kSucceeded);
  return {final_reply_.bytes(), reply_code_name(ReplyCode::kSucceeded)};
}

handshake::Reply HandshakeParser::success_reply_bound(const TargetAddress& bound) {
  final_reply_ = encode_reply(ReplyCode::kSucceeded, bound);
  return {final_reply_.bytes(), reply_code_name(ReplyCode::kSucceeded)};
}

handshake::Reply HandshakeParser::failure_reply(ErrorKind kind) {
  const ReplyCode code = reply_code_for(kind);
  final_reply_ = encode_reply(code);
  return {final_reply_.bytes(), reply_code_name(code)};
}

ReplyCode reply_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kRefused:
      return ReplyCode::kConnectionRefused;
    case ErrorKind::kResolve:
    case ErrorKind::kUnreachable:
      return ReplyCode::kHostUnreachable;
    case ErrorKind::kTimeout:
      return ReplyCode::kTtlExpired;
    case ErrorKind::kBlocked:
      return ReplyCode::kNotAllowedByRuleset;
    default:
      return ReplyCode::kGeneralFailure;
  }
}

}  // namespace vmlocal::socks5
