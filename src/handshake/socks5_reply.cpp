#include "vmlocal/handshake/socks5_reply.hpp"

#include <algorithm>

namespace vmlocal::socks5 {

Reply encode_reply(ReplyCode code, const TargetAddress& bound) {
  Reply reply;
  uint8_t* p = reply.data_.data();
  *p++ = kVersion;
  *p++ = static_cast<uint8_t>(code);
  *p++ = 0x00;  // RSV

  const bool domain_fits = !bound.domain.empty() && bound.domain.size() <= kMaxDomainLength;
  switch (bound.type) {
    case TargetAddress::Type::kIpv6:
      *p++ = static_cast<uint8_t>(AddressType::kIpv6);
      p = std::copy_n(bound.ip.begin(), kIpv6Size, p);
      break;
    case TargetAddress::Type::kDomain:
      if (domain_fits) {
        *p++ = static_cast<uint8_t>(AddressType::kDomain);
        *p++ = static_cast<uint8_t>(bound.domain.size());
        p = std::copy_n(reinterpret_cast<const uint8_t*>(bound.domain.data()), bound.domain.size(),
                        p);
        break;
      }
      *p++ = static_cast<uint8_t>(AddressType::kIpv4);
      p = std::fill_n(p, kIpv4Size, uint8_t{0});
      break;
    case TargetAddress::Type::kIpv4:
      *p++ = static_cast<uint8_t>(AddressType::kIpv4);
      p = std::copy_n(bound.ip.begin(), kIpv4Size, p);
      break;
  }
  put_be16(p, bound.port);
  p += kPortSize;
  reply.size_ = static_cast<size_t>(p - reply.data_.data());
  return reply;
}

std::string_view reply_code_name(ReplyCode code) {
  switch (code) {
    case ReplyCode::kSucceeded:
      return "succeeded";
    case ReplyCode::kGeneralFailure:
      return "general failure";
    case ReplyCode::kNotAllowedByRuleset:
      return "not allowed by ruleset";
    case ReplyCode::kNetworkUnreachable:
      return "network unreachable";
    case ReplyCode::kHostUnreachable:
      return "host unreachable";
    case ReplyCode::kConnectionRefused:
      return "connection refused";
    case ReplyCode::kTtlExpired:
      return "TTL expired";
    case ReplyCode::kCommandNotSupported:
      return "command not supported";
    case ReplyCode::kAddressTypeNotSupported:
      return "address type not supported";
  }
  return "unknown";
}

}  // namespace vmlocal::socks5
