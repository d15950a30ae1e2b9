#include "vmlocal/handshake/http_proxy_handshake.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/crypto/compare.hpp"
#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/handshake/http1.hpp"

namespace vmlocal::http_proxy {

using handshake::Action;
using handshake::Step;

namespace {

constexpr std::string_view kRealmField = "Proxy-Authenticate: Basic realm=\"vmess-local\"\r\n";

// Log-safe: a reason may quote part of a request line, never a header value.
std::string clip(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64))
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace

TargetAddress target_from_host(const std::string& host, uint16_t port) {
  std::array<uint8_t, 4> v4{};
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET, host.c_str(), v4.data()) == 1) return TargetAddress::ipv4(v4, port);
  if (inet_pton(AF_INET6, host.c_str(), v6.data()) == 1) return TargetAddress::ipv6(v6, port);
  return TargetAddress::from_domain(host, port);
}

HandshakeParser::HandshakeParser(std::optional<Credentials> required) : required_(required) {}

HandshakeParser::~HandshakeParser() {
  // The head may hold Proxy-Authorization.
  if (!head_.empty()) crypto::secure_wipe(head_.data(), head_.size());
}

Step HandshakeParser::feed(ByteView input) {
  if (phase_ == Phase::kDone) return {Action::kRequest, 0, {}, {}};
  if (phase_ == Phase::kFailed) return {Action::kFail, input.size(), {}, reason_};
  const size_t before = head_.size();
  const size_t room = http1::kMaxHeadSize - before;
  const size_t take = std::min(room, input.size());
  head_.append(reinterpret_cast<const char*>(input.data()), take);
  // Search only where the new bytes can complete the blank line.
  const size_t from = before > 3 ? before - 3 : 0;
  size_t end = http1::find_head_end(std::string_view(head_).substr(from));
  if (end != std::string_view::npos) {
    end += from;
    const size_t consumed = end - before;
    head_.resize(end);
    return finish(consumed);
  }
  if (head_.size() >= http1::kMaxHeadSize) {
    return fail(take, 431, "Request Header Fields Too Large",
                "request head longer than " + std::to_string(http1::kMaxHeadSize) + " bytes");
  }
  return {Action::kNeedMore, take, {}, {}};
}

Step HandshakeParser::finish(size_t consumed) {
  Result<http1::RequestHead> parsed = http1::parse_request_head(head_);
  if (!parsed && parsed.error().message == http1::kTooManyFields) {
    return fail(consumed, 431, "Request Header Fields Too Large", parsed.error().message);
  }
  if (!parsed) return fail(consumed, 400, "Bad Request", parsed.error().message);
  const http1::RequestHead& head = *parsed;
  if (required_ && !authorized(http1::header_value(head.headers, "proxy-authorization"))) {
    const bool sent = !http1::header_value(head.headers, "proxy-authorization").empty();
    return fail(consumed, 407, "Proxy Authentication Required",
                sent ? "wrong proxy credentials" : "no proxy credentials (Proxy-Authorization)",
                kRealmField);
  }
  if (http1::iequals(head.method, "CONNECT")) {
    Result<http1::Authority> authority = http1::parse_authority(head.target, true);
    if (!authority) {
      return fail(consumed, 400, "Bad Request",
                  "CONNECT target \"" + clip(head.target) + "\": " + authority.error().message);
    }
    request_.target = target_from_host(authority->host, authority->port);
  } else {
    if (!head.target.empty() && head.target.front() == '/') {
      return fail(consumed, 400, "Bad Request",
                  "origin-form request \"" + clip(head.target) +
                      "\": this port is a proxy; set it as the app's HTTP proxy rather than "
                      "opening it as a web page");
    }
    Result<http1::AbsoluteTarget> target = http1::parse_absolute_form(head.target);
    if (!target) {
      return fail(consumed, 400, "Bad Request",
                  "request target \"" + clip(head.target) + "\": " + target.error().message);
    }
    if (Result<http1::Framing> framing = http1::request_framing(head); !framing) {
      return fail(consumed, 400, "Bad Request", framing.error().message);
    }
    if (http1::forwarded_field_count(head) > http1::kMaxHeaderCount) {
      return fail(consumed, 431, "Request Header Fields Too Large",
                  "the forwarded request would carry more than " +
                      std::to_string(http1::kMaxHeaderCount) + " header fields");
    }
    request_.target = target_from_host(target->host, target->port);
    forwarding_ = true;
  }
  phase_ = Phase::kDone;
  if (!forwarding_) {
    crypto::secure_wipe(head_.data(), head_.size());
    head_.clear();
  }
  return {Action::kRequest, consumed, {}, {}};
}

bool HandshakeParser::authorized(std::string_view value) const {
  constexpr std::string_view kBasic = "basic ";
  if (value.size() <= kBasic.size() || !http1::iequals(value.substr(0, kBasic.size()), kBasic)) {
    return false;
  }
  std::optional<Bytes> decoded = crypto::base64_decode(value.substr(kBasic.size()));
  if (!decoded) return false;
  const auto colon = std::find(decoded->begin(), decoded->end(), uint8_t{':'});
  bool ok = false;
  if (colon != decoded->end()) {
    const ByteView user(decoded->data(), static_cast<size_t>(colon - decoded->begin()));
    const ByteView pass(&*colon + 1, static_cast<size_t>(decoded->end() - colon - 1));
    // Both comparisons always run, so the time does not tell which field was wrong.
    const bool user_ok = crypto::constant_time_equal(user, as_bytes(required_->username));
    const bool pass_ok = crypto::constant_time_equal(pass, as_bytes(required_->password));
    ok = user_ok && pass_ok;
  }
  crypto::secure_wipe(decoded->data(), decoded->size());
  return ok;
}

Step HandshakeParser::fail(size_t consumed, int status, std::string_view status_text,
                           std::string reason, std::string_view extra_fields) {
  phase_ = Phase::kFailed;
  reply_ = http1::make_response(status, status_text, "vmess-local: " + reason, extra_fields);
  reason_ = std::to_string(status) + " " + std::string(status_text) + ": " + reason;
  crypto::secure_wipe(head_.data(), head_.size());
  head_.clear();
  return {Action::kFail, consumed, as_bytes(reply_), reason_};
}

handshake::Reply HandshakeParser::success_reply() {
  if (forwarding_) {
    reply_.clear();
    return {{}, "forwarding"};
  }
  reply_ = "HTTP/1.1 200 Connection established\r\n\r\n";
  return {as_bytes(reply_), "200 Connection established"};
}

handshake::Reply HandshakeParser::failure_reply(ErrorKind kind) {
  if (kind == ErrorKind::kTimeout) {
    reply_ = http1::make_response(504, "Gateway Timeout",
                                  "vmess-local: the upstream did not answer in time");
    return {as_bytes(reply_), "504 Gateway Timeout"};
  }
  reply_ = http1::make_response(502, "Bad Gateway",
                                "vmess-local: could not reach the target through the server (" +
                                    std::string(error_kind_name(kind)) + ")");
  return {as_bytes(reply_), "502 Bad Gateway"};
}

}  // namespace vmlocal::http_proxy
