// ListenEndpoint: the numeric "IPv4:port" / "[IPv6]:port" form a profile's local.listen uses.
#include "vmlocal/config/profile.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include "diagnostic_text.hpp"

namespace vmlocal::config {
namespace {

constexpr std::string_view kExpected =
    R"((expected "IPv4:port" or "[IPv6]:port", e.g. "127.0.0.1:1080" or "[::1]:1080"))";

// The address in its canonical text form (inet_ntop), or "" when `text` is not one.
// Canonical text makes "[0:0::1]:1080" and "[::1]:1080" compare equal.
std::string canonical_ip(int family, std::string_view text) {
  // inet_pton stops at a NUL: "127.0.0.1\0junk" (TOML's "\u0000") must not pass as 127.0.0.1.
  if (text.find('\0') != std::string_view::npos) return {};
  std::string nul_terminated(text);
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(family, nul_terminated.c_str(), bytes.data()) != 1) return {};
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, bytes.data(), out, sizeof out) == nullptr) return {};
  return out;
}

struct HostPort {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;  // "[host]:port"
};

// Each of these returns the problem with `shown` (the quoted input), "" when there is none.

std::string split_host_port(std::string_view text, const std::string& shown, HostPort& out) {
  std::string_view rest;  // ":port", or what stands in its place
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos)
      return shown + R"( is missing "]" )" + std::string(kExpected);
    out.host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    out.bracketed = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return shown + " has no port " + std::string(kExpected);
    out.host = text.substr(0, colon);
    rest = text.substr(colon);
    if (out.host.find(':') != std::string_view::npos) {
      return shown +
             R"( looks like an IPv6 address without brackets; write it as "[address]:port", e.g. "[::1]:1080")";
    }
  }
  if (rest.empty() || rest.front() != ':' || rest.size() == 1) {
    return shown + " has no port " + std::string(kExpected);
  }
  out.port = rest.substr(1);
  return {};
}

std::string parse_port(std::string_view port_text, const std::string& shown, uint16_t& out) {
  uint32_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  // Only all-digit text is shown unquoted; anything after the digits is "not a number" below.
  if ((ec == std::errc::result_out_of_range || (ec == std::errc() && port > 65535)) &&
      end == port_text.data() + port_text.size()) {
    return shown + ": port must be 1..65535, got " + std::string(port_text);
  }
  if (ec != std::errc() || end != port_text.data() + port_text.size()) {
    return shown + ": port " + quote(port_text) + " is not a number " + std::string(kExpected);
  }
  if (port == 0) {
    // Port 0 would bind a random port nobody can find to configure their apps.
    return shown + ": port must be 1..65535, got 0";
  }
  out = static_cast<uint16_t>(port);
  return {};
}

std::string parse_host(const HostPort& parts, const std::string& shown, std::string& out) {
  const std::string_view host = parts.host;
  if (parts.bracketed) {
    out = canonical_ip(AF_INET6, host);
    if (out.empty()) {
      if (!canonical_ip(AF_INET, host).empty()) {
        return shown + R"(: only IPv6 addresses go in brackets; write IPv4 as "1.2.3.4:port")";
      }
      return shown + ": " + quote(host) + " is not an IPv6 address " + std::string(kExpected);
    }
  } else {
    out = canonical_ip(AF_INET, host);
    if (out.empty()) {
      // Names would need a resolver at start-up and could bind somewhere unexpected.
      return shown + ": " + quote(host) +
             R"( is not an IPv4 address; listen addresses must be numeric, e.g. "127.0.0.1:1080")";
    }
  }
  return {};
}

}  // namespace

bool ListenEndpoint::is_loopback() const {
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET, host.c_str(), bytes.data()) == 1) return bytes[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), bytes.data()) != 1) return false;
  static constexpr std::array<unsigned char, 16> kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0,
                                                               0, 0, 0, 0, 0, 0, 0, 1};
  if (bytes == kLoopback6) return true;
  // ::ffff:127.x.y.z is IPv4 loopback reached through an IPv6 socket.
  static constexpr std::array<unsigned char, 12> kMappedPrefix = {0, 0, 0, 0, 0,    0,
                                                                  0, 0, 0, 0, 0xff, 0xff};
  return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin()) && bytes[12] == 127;
}

std::string ListenEndpoint::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::variant<ListenEndpoint, std::string> parse_listen_endpoint(std::string_view text) {
  const std::string shown = quote(text);
  if (text.empty()) return "empty address " + std::string(kExpected);
  HostPort parts;
  ListenEndpoint endpoint;
  std::string problem = split_host_port(text, shown, parts);
  if (problem.empty()) problem = parse_port(parts.port, shown, endpoint.port);
  if (problem.empty()) problem = parse_host(parts, shown, endpoint.host);
  if (!problem.empty()) return problem;
  return endpoint;
}

}  // namespace vmlocal::config
