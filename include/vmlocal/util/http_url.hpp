// The probe URL (`[probe] url`): "http://host[:port]/path" or "https://...". Only what an HTTP/1.1
// GET through a tunnel needs: scheme, host (name or IP literal, IPv6 in brackets), port, and the
// request target. No user info, no fragment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace vmlocal::http {

struct Url {
  bool https = false;
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string target;  // "/path?query", at least "/"

  // "host:port" / "[v6]:port" without the port when it is the scheme's default: the Host header.
  std::string host_header() const;
};

// The URL, or what is wrong with it ("the probe URL must start with http:// or https://").
std::variant<Url, std::string> parse_url(std::string_view text);

}  // namespace vmlocal::http
