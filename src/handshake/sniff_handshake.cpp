#include "vmlocal/handshake/sniff_handshake.hpp"

#include "vmlocal/handshake/socks4_handshake.hpp"

namespace vmlocal::handshake {
namespace {

constexpr uint8_t kTlsHandshakeRecord = 0x16;  // RFC 8446 §5.1 ContentType handshake

bool is_method_letter(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

std::string not_enabled(std::string_view what, std::string_view name) {
  return std::string(what) + " client refused: \"" + std::string(name) +
         "\" is not in [local] protocols (add it there to accept " + std::string(what) +
         " on this port)";
}

}  // namespace

SniffHandshake::SniffHandshake(Protocols enabled, std::optional<socks5::Credentials> credentials)
    : enabled_(enabled), credentials_(credentials) {}

std::string_view SniffHandshake::protocol() const {
  return chosen_ ? chosen_->protocol() : std::string_view("inbound");
}

size_t SniffHandshake::carried_bytes() const {
  const http_proxy::HandshakeParser* http = http_forwarding();
  return http == nullptr ? 0 : http->head().size();
}

const http_proxy::HandshakeParser* SniffHandshake::http_forwarding() const {
  return http_ != nullptr && http_->forwarding() ? http_ : nullptr;
}

Step SniffHandshake::feed(ByteView input) {
  if (failed_) return {Action::kFail, input.size(), {}, reason_};
  if (chosen_) return chosen_->feed(input);
  if (input.empty()) return {Action::kNeedMore, 0, {}, {}};
  const uint8_t first = input[0];
  if (first == socks5::kVersion) {
    if (!enabled_.socks5) return refuse(not_enabled("SOCKS5", "socks5"));
    chosen_ =
        std::make_unique<socks5::HandshakeParser>(credentials_, enabled_.socks5_udp_associate);
  } else if (first == socks4::kVersion) {
    if (!enabled_.socks4) return refuse(not_enabled("SOCKS4", "socks4"));
    chosen_ = std::make_unique<socks4::HandshakeParser>(credentials_.has_value());
  } else if (is_method_letter(first)) {
    if (!enabled_.http) return refuse(not_enabled("HTTP proxy", "http"));
    auto http = std::make_unique<http_proxy::HandshakeParser>(credentials_);
    http_ = http.get();
    chosen_ = std::move(http);
  } else if (first == kTlsHandshakeRecord) {
    return refuse(
        "an HTTPS/TLS client connected to the proxy port; point it at http://HOST:PORT (HTTP "
        "proxy) or socks5://HOST:PORT, not https://");
  } else {
    std::string hex;
    for (size_t i = 0; i < input.size() && i < 4; ++i)
      hex += (hex.empty() ? "" : " ") + to_hex(input.subspan(i, 1));
    return refuse("unknown protocol (first bytes " + hex +
                  "): this port speaks SOCKS5, SOCKS4/4a and HTTP proxy");
  }
  return chosen_->feed(input);
}

Step SniffHandshake::refuse(std::string reason) {
  failed_ = true;
  reason_ = std::move(reason);
  // No reply: the app spoke something we cannot answer in its own terms. All input is taken.
  return {Action::kFail, 0, {}, reason_};
}

}  // namespace vmlocal::handshake
