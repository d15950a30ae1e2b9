#include "vmlocal/handshake/socks5_udp_header.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace vmlocal::socks5 {
namespace {

constexpr size_t kFragOffset = 2;
constexpr size_t kAtypOffset = 3;

}  // namespace

UdpDatagram parse_udp_datagram(ByteView datagram) {
  UdpDatagram out;
  if (datagram.size() < kUdpHeaderFixedSize) return out;  // kTruncated
  if (datagram[0] != 0 || datagram[1] != 0) {
    out.status = UdpParseStatus::kReservedNotZero;
    return out;
  }
  const uint8_t* address = datagram.data() + kUdpHeaderFixedSize;
  size_t address_size = 0;
  switch (static_cast<AddressType>(datagram[kAtypOffset])) {
    case AddressType::kIpv4:
      address_size = kIpv4Size;
      break;
    case AddressType::kIpv6:
      address_size = kIpv6Size;
      break;
    case AddressType::kDomain:
      if (datagram.size() < kUdpHeaderFixedSize + 1) return out;
      if (address[0] == 0) {
        out.status = UdpParseStatus::kEmptyDomain;
        return out;
      }
      address_size = 1 + size_t{address[0]};
      break;
    default:
      out.status = UdpParseStatus::kBadAddressType;
      return out;
  }
  const size_t header_size = kUdpHeaderFixedSize + address_size + kPortSize;
  if (datagram.size() < header_size) return out;  // kTruncated
  const uint16_t port = get_be16(address + address_size);
  switch (static_cast<AddressType>(datagram[kAtypOffset])) {
    case AddressType::kIpv4: {
      std::array<uint8_t, kIpv4Size> ip{};
      std::copy_n(address, kIpv4Size, ip.begin());
      out.target = TargetAddress::ipv4(ip, port);
      break;
    }
    case AddressType::kIpv6: {
      std::array<uint8_t, kIpv6Size> ip{};
      std::copy_n(address, kIpv6Size, ip.begin());
      out.target = TargetAddress::ipv6(ip, port);
      break;
    }
    case AddressType::kDomain: {
      const ByteView name(address + 1, address[0]);
      if (std::any_of(name.begin(), name.end(), [](uint8_t c) { return c < 0x20 || c == 0x7f; })) {
        out.status = UdpParseStatus::kControlCharInDomain;
        return out;
      }
      out.target = TargetAddress::from_domain(
          std::string(reinterpret_cast<const char*>(name.data()), name.size()), port);
      break;
    }
  }
  out.status = UdpParseStatus::kOk;
  out.frag = datagram[kFragOffset];
  out.header_size = header_size;
  out.payload = datagram.subspan(header_size);
  return out;
}

size_t udp_header_size(const TargetAddress& source) {
  switch (source.type) {
    case TargetAddress::Type::kIpv4:
      return kUdpHeaderFixedSize + kIpv4Size + kPortSize;
    case TargetAddress::Type::kIpv6:
      return kUdpHeaderFixedSize + kIpv6Size + kPortSize;
    case TargetAddress::Type::kDomain:
      if (source.domain.empty() || source.domain.size() > kMaxDomainLength) return 0;
      return kUdpHeaderFixedSize + 1 + source.domain.size() + kPortSize;
  }
  return 0;
}

size_t encode_udp_header(const TargetAddress& source, uint8_t* out) {
  const size_t size = udp_header_size(source);
  if (size == 0) return 0;
  uint8_t* p = out;
  *p++ = 0;  // RSV
  *p++ = 0;
  *p++ = 0;  // FRAG: always a whole datagram
  switch (source.type) {
    case TargetAddress::Type::kIpv4:
      *p++ = static_cast<uint8_t>(AddressType::kIpv4);
      p = std::copy_n(source.ip.begin(), kIpv4Size, p);
      break;
    case TargetAddress::Type::kIpv6:
      *p++ = static_cast<uint8_t>(AddressType::kIpv6);
      p = std::copy_n(source.ip.begin(), kIpv6Size, p);
      break;
    case TargetAddress::Type::kDomain:
      *p++ = static_cast<uint8_t>(AddressType::kDomain);
      *p++ = static_cast<uint8_t>(source.domain.size());
      p = std::copy_n(reinterpret_cast<const uint8_t*>(source.domain.data()), source.domain.size(),
                      p);
      break;
  }
  put_be16(p, source.port);
  return size;
}

std::string_view udp_parse_status_name(UdpParseStatus status) {
  switch (status) {
    case UdpParseStatus::kOk:
      return "ok";
    case UdpParseStatus::kTruncated:
      return "truncated header";
    case UdpParseStatus::kReservedNotZero:
      return "RSV is not zero";
    case UdpParseStatus::kBadAddressType:
      return "unknown address type";
    case UdpParseStatus::kEmptyDomain:
      return "empty domain name";
    case UdpParseStatus::kControlCharInDomain:
      return "control character in domain name";
  }
  return "unknown";
}

}  // namespace vmlocal::socks5
