// Where a tunnel goes: through the VMess server, straight from this machine, or nowhere.
//
// Private targets (loopback, RFC 1918, link-local, ULA, `localhost`, `.local`) would otherwise
// be reached from the *server's* network: at best a surprise (the app wanted this machine's or
// this LAN's service), at worst a hole into the server operator's network. So by default they
// go direct. Pure code: a target and the rules in, a decision out.
//
// Sources: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 1122 §3.2.1.3 (127/8, 0/8), RFC 3927
// (169.254/16), RFC 4291 §2.5.3/§2.5.6 (::1, fe80::/10), RFC 4193 (fc00::/7), RFC 4291 §2.5.5.2
// (::ffff:a.b.c.d, classified by its IPv4 address), RFC 6761 §6.3 (`localhost` and names under
// it), RFC 6762 (`.local`, multicast DNS), RFC 8375 (`home.arpa`).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/util/target_address.hpp"

namespace vmlocal::route {

enum class Decision : uint8_t {
  kProxy,   // through the VMess server
  kDirect,  // this machine connects to the target itself
  kBlock,   // refused: the app gets "not allowed" (SOCKS5 0x02)
};

std::string_view decision_name(Decision decision);  // "proxy", "direct", "block"

// One entry of a `direct` or `block` list: an address range or a domain suffix.
struct Rule {
  enum class Kind : uint8_t { kCidr, kDomainSuffix };
  Kind kind = Kind::kDomainSuffix;
  // kCidr: the network in IPv6 form (IPv4 as ::ffff:a.b.c.d) and its prefix length over those
  // 128 bits, so one comparison serves both families.
  std::array<uint8_t, 16> network{};
  uint8_t prefix_bits = 0;
  // kDomainSuffix: lower case, no leading or trailing dot. Matches the name itself and every
  // name under it ("example.org" matches "example.org" and "a.example.org", not "badexample.org").
  std::string suffix;

  bool matches(const TargetAddress& target) const;
};

// Parses "10.0.0.0/8", "fd00::/8", "192.0.2.7" (a /32), "2001:db8::1" (a /128), "example.org",
// ".example.org" (same as "example.org"). Returns the reason on failure, e.g. "prefix length
// 33 is over 32 for an IPv4 range".
struct ParsedRule {
  std::optional<Rule> rule;
  std::string error;
};
ParsedRule parse_rule(std::string_view text);

// True for the private targets listed at the top. A domain that is an IP literal ("10.0.0.1",
// as some apps send it) is classified as that address. A public name that *resolves* to a
// private address is not seen: names are resolved by the server.
bool is_private(const TargetAddress& target);

struct Rules {
  Decision private_targets = Decision::kDirect;
  std::vector<Rule> direct;
  std::vector<Rule> block;

  // `block` first (an explicit refusal wins), then `direct`, then the private rule, else proxy.
  Decision decide(const TargetAddress& target) const;
};

}  // namespace vmlocal::route
