#include "server_address.hpp"

#include <arpa/inet.h>

#include <array>

#include "diagnostic_text.hpp"
#include "vmlocal/vmess/account.hpp"

namespace vmlocal::config {
namespace {

constexpr size_t kMaxHostName = 253;  // RFC 1035, without the trailing dot
constexpr size_t kMaxLabel = 63;

bool is_host_name_char(char c) {
  // '_' is not in RFC 952 but real DNS names carry it, and resolvers pass it through.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool is_ip(int family, std::string_view text) {
  // inet_pton stops at a NUL: "::1\0anything" (TOML's "\u0000") must not pass as "::1".
  if (text.find('\0') != std::string_view::npos) return false;
  std::array<unsigned char, 16> bytes{};
  return inet_pton(family, std::string(text).c_str(), bytes.data()) == 1;
}

}  // namespace

std::string server_address_problem(std::string_view address) {
  if (address.empty()) return "must not be empty";
  const size_t scheme = address.find("://");
  if (scheme != std::string_view::npos) {
    return "must be a host name or IP address, not a link (got " +
           quote(address.substr(0, scheme + 3)) +
           "...); put the host in server.address and the rest in the other [server] keys";
  }
  // Accepting it would send the credential to the DNS resolver in clear text.
  if (vmess::parse_uuid(address)) return "looks like a UUID; it belongs in server.uuid";
  if (address.front() == '[') {
    return "is " + quote(address) + R"(; write IPv6 addresses without brackets, e.g. "::1", )" +
           "and the port in server.port";
  }
  const size_t colon = address.find(':');
  if (colon != std::string_view::npos) {
    if (is_ip(AF_INET6, address)) return {};
    if (address.find(':', colon + 1) == std::string_view::npos) {
      return "is " + quote(address) + "; write the port in server.port, not in the address";
    }
    return "is " + quote(address) + ", which is not a valid IPv6 address";
  }
  for (char c : address) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return "is " + quote(address) +
             "; write international domain names in their ASCII form (xn--...)";
    }
    if (!is_host_name_char(c)) {
      const std::string bad = c == ' ' ? "a space" : quote(std::string_view(&c, 1));
      return "is " + quote(address) + ", which contains " + bad +
             "; it must be just a host name or IP address";
    }
  }
  // All digits and dots: the user meant an IPv4 address, so hold it to that.
  if (address.find_first_not_of("0123456789.") == std::string_view::npos) {
    if (is_ip(AF_INET, address)) return {};
    return "is " + quote(address) + ", which is not a valid IPv4 address";
  }
  if (address.size() > kMaxHostName) {
    return "is longer than " + std::to_string(kMaxHostName) + " characters";
  }
  std::string_view rest = address;
  if (rest.back() == '.') rest.remove_suffix(1);  // a fully qualified "example.org." is fine
  while (true) {
    const size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel) {
      return "is " + quote(address) + ", which is not a valid host name";
    }
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return {};
}

}  // namespace vmlocal::config
