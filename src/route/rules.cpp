#include "vmlocal/route/rules.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace vmlocal::route {
namespace {

using Ip = std::array<uint8_t, 16>;

constexpr Ip kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

Ip mapped(const uint8_t* v4) {
  Ip ip = kMappedPrefix;
  std::copy_n(v4, 4, ip.begin() + 12);
  return ip;
}

bool prefix_equal(const Ip& a, const Ip& b, unsigned bits) {
  const unsigned bytes = bits / 8;
  if (!std::equal(a.begin(), a.begin() + bytes, b.begin())) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

std::optional<Ip> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::copy(text.begin(), text.end(), buf);
  uint8_t bytes[16] = {};
  if (inet_pton(AF_INET, buf, bytes) == 1) return mapped(bytes);
  Ip ip{};
  if (inet_pton(AF_INET6, buf, ip.data()) == 1) return ip;
  return std::nullopt;
}

// The target's address as 16 bytes, when it is one (an IP literal written as a domain too).
std::optional<Ip> address_of(const TargetAddress& target) {
  switch (target.type) {
    case TargetAddress::Type::kIpv4:
      return mapped(target.ip.data());
    case TargetAddress::Type::kIpv6:
      return target.ip;
    case TargetAddress::Type::kDomain: {
      std::string_view name = target.domain;
      if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
        name = name.substr(1, name.size() - 2);
      }
      return parse_ip(name);
    }
  }
  return std::nullopt;
}

// A domain as compared: lower case, without the trailing dot of a fully qualified name.
std::string normalized_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool name_under(std::string_view name, std::string_view suffix) {
  if (name == suffix) return true;
  return name.size() > suffix.size() && name.ends_with(suffix) &&
         name[name.size() - suffix.size() - 1] == '.';
}

struct Range {
  Ip network;
  unsigned bits;  // over the 128-bit form
};

Range v4(uint8_t a, uint8_t b, unsigned bits) {
  const uint8_t bytes[4] = {a, b, 0, 0};
  return {mapped(bytes), 96 + bits};
}

Range v6(uint8_t a, uint8_t b, unsigned bits) {
  Ip ip{};
  ip[0] = a;
  ip[1] = b;
  return {ip, bits};
}

Range v6_loopback() {
  Ip ip{};
  ip[15] = 1;
  return {ip, 128};
}

const std::array<Range, 10>& private_ranges() {
  static const std::array<Range, 10> ranges = {
      v4(0, 0, 8),         // "this network" (0.0.0.0 reaches the local host on Linux)
      v4(10, 0, 8),        // RFC 1918
      v4(127, 0, 8),       // loopback
      v4(169, 254, 16),    // link-local
      v4(172, 16, 12),     // RFC 1918
      v4(192, 168, 16),    // RFC 1918
      v6_loopback(),       // ::1
      {Ip{}, 128},         // :: (unspecified: the local host, like 0.0.0.0)
      v6(0xfe, 0x80, 10),  // link-local
      v6(0xfc, 0x00, 7),   // unique local (ULA)
  };
  return ranges;
}

constexpr std::array<std::string_view, 3> kPrivateSuffixes = {"localhost", "local", "home.arpa"};

}  // namespace

std::string_view decision_name(Decision decision) {
  switch (decision) {
    case Decision::kProxy:
      return "proxy";
    case Decision::kDirect:
      return "direct";
    case Decision::kBlock:
      return "block";
  }
  return "?";
}

bool Rule::matches(const TargetAddress& target) const {
  if (kind == Kind::kCidr) {
    const std::optional<Ip> ip = address_of(target);
    return ip && prefix_equal(*ip, network, prefix_bits);
  }
  if (target.type != TargetAddress::Type::kDomain) return false;
  return name_under(normalized_name(target.domain), suffix);
}

ParsedRule parse_rule(std::string_view text) {
  ParsedRule out;
  if (text.empty()) {
    out.error = "empty";
    return out;
  }
  const size_t slash = text.find('/');
  std::optional<Ip> ip = parse_ip(text.substr(0, slash));
  if (ip) {
    const bool is_v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    const unsigned max_bits = is_v4 ? 32 : 128;
    unsigned bits = max_bits;
    if (slash != std::string_view::npos) {
      const std::string_view digits = text.substr(slash + 1);
      if (digits.empty() || digits.size() > 3 ||
          !std::all_of(digits.begin(), digits.end(),
                       [](unsigned char c) { return std::isdigit(c) != 0; })) {
        out.error = "the prefix length after '/' must be a number";
        return out;
      }
      bits = static_cast<unsigned>(std::stoul(std::string(digits)));
      if (bits > max_bits) {
        out.error = "prefix length " + std::to_string(bits) + " is over " +
                    std::to_string(max_bits) +
                    (is_v4 ? " for an IPv4 range" : " for an IPv6 range");
        return out;
      }
    }
    Rule rule;
    rule.kind = Rule::Kind::kCidr;
    rule.prefix_bits = static_cast<uint8_t>(is_v4 ? bits + 96 : bits);
    // Keep only the network part, so "10.1.2.3/8" and "10.0.0.0/8" are the same rule.
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned covered =
          std::min(8u, rule.prefix_bits > i * 8 ? rule.prefix_bits - i * 8 : 0u);
      const auto mask = static_cast<uint8_t>(covered == 0 ? 0 : 0xff << (8 - covered));
      rule.network[i] = static_cast<uint8_t>((*ip)[i] & mask);
    }
    out.rule = rule;
    return out;
  }
  std::string_view name = text;
  if (name.front() == '.') name.remove_prefix(1);
  if (name.starts_with("*.")) name.remove_prefix(2);
  std::string suffix = normalized_name(name);
  const bool valid = !suffix.empty() && suffix.size() <= 253 && suffix.front() != '.' &&
                     suffix.find("..") == std::string::npos &&
                     std::all_of(suffix.begin(), suffix.end(), [](unsigned char c) {
                       return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_';
                     });
  if (!valid) {
    out.error = "not a domain suffix like \"example.org\" or an address range like \"10.0.0.0/8\"";
    return out;
  }
  Rule rule;
  rule.kind = Rule::Kind::kDomainSuffix;
  rule.suffix = std::move(suffix);
  out.rule = std::move(rule);
  return out;
}

bool is_private(const TargetAddress& target) {
  if (const std::optional<Ip> ip = address_of(target)) {
    const Ip& address = *ip;
    return std::any_of(private_ranges().begin(), private_ranges().end(), [&](const Range& range) {
      return prefix_equal(address, range.network, range.bits);
    });
  }
  const std::string name = normalized_name(target.domain);
  return std::any_of(kPrivateSuffixes.begin(), kPrivateSuffixes.end(),
                     [&](std::string_view suffix) { return name_under(name, suffix); });
}

Decision Rules::decide(const TargetAddress& target) const {
  const auto matches = [&](const Rule& rule) { return rule.matches(target); };
  if (std::any_of(block.begin(), block.end(), matches)) return Decision::kBlock;
  if (std::any_of(direct.begin(), direct.end(), matches)) return Decision::kDirect;
  if (is_private(target)) return private_targets;
  return Decision::kProxy;
}

}  // namespace vmlocal::route
