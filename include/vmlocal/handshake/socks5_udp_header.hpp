// The header in front of every datagram between a SOCKS5 client and its UDP relay (RFC 1928 §7):
//
//   +-----+------+------+----------+----------+----------+
//   | RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//   +-----+------+------+----------+----------+----------+
//   |  2  |  1   |  1   | Variable |    2     | Variable |
//
// ATYP as in a request (1 IPv4, 3 domain with a length byte, 4 IPv6); the port is big-endian.
// The same header, naming the source, goes in front of each reply datagram. Pure: bytes in,
// bytes out. Fragmentation (FRAG != 0) is parsed but not reassembled: RFC 1928 makes it
// optional, and no common client sends fragments, so the relay drops them (and counts them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmlocal/handshake/socks5_constants.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::socks5 {

// RSV(2) FRAG(1) ATYP(1) + the longest address (domain: length byte + 255) + port.
inline constexpr size_t kUdpHeaderFixedSize = 4;
inline constexpr size_t kMaxUdpHeaderSize = kUdpHeaderFixedSize + 1 + kMaxDomainLength + kPortSize;

enum class UdpParseStatus : uint8_t {
  kOk,
  kTruncated,           // the datagram ends inside the header
  kReservedNotZero,     // RSV is not X'0000'
  kBadAddressType,      // ATYP is none of 1, 3, 4
  kEmptyDomain,         // a domain of length 0
  kControlCharInDomain  // NUL, CR, LF, ...: no part of a host name, and unsafe in log lines
};

struct UdpDatagram {
  UdpParseStatus status = UdpParseStatus::kTruncated;
  uint8_t frag = 0;        // kOk: 0 for a whole datagram; anything else is a fragment
  TargetAddress target;    // kOk: DST.ADDR:DST.PORT (a domain is kept unresolved)
  size_t header_size = 0;  // kOk: DATA starts here
  ByteView payload = {};   // kOk: DATA, possibly empty
};

// Parses the header at the front of one whole datagram.
UdpDatagram parse_udp_datagram(ByteView datagram);

// Writes the header naming `source` (FRAG 0) at `out`, which must hold kMaxUdpHeaderSize bytes.
// Returns its size, or 0 when `source` cannot be encoded (a domain outside 1..255 bytes).
size_t encode_udp_header(const TargetAddress& source, uint8_t* out);

// The size encode_udp_header writes for `source` (0 when it cannot be encoded).
size_t udp_header_size(const TargetAddress& source);

// "truncated header", ...: for log lines.
std::string_view udp_parse_status_name(UdpParseStatus status);

}  // namespace vmlocal::socks5
