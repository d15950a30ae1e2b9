#include "vmlocal/vmess/instruction.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "vmlocal/crypto/checksum.hpp"

namespace vmlocal::vmess {
namespace {

namespace offset = instruction_offset;

bool is_domain_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool carries_address(Command command) {
  return command != Command::kMux;
}

// The server ignores unknown bits, but these combinations are never what a client means.
std::optional<std::string_view> options_problem(uint8_t options) {
  if ((options & option::kNeverSent) != 0) {
    return "option bits 0x02/0x10 must not be sent to a v2ray 4.34 server";
  }
  if ((options & option::kGlobalPadding) != 0 && (options & option::kChunkMasking) == 0) {
    return "global padding without chunk masking crashes a v2ray 4.34 server";
  }
  return std::nullopt;
}

bool is_wire_security(SecurityType security) {
  switch (security) {
    case SecurityType::kLegacy:
    case SecurityType::kAes128Gcm:
    case SecurityType::kChacha20Poly1305:
    case SecurityType::kNone:
      return true;
    case SecurityType::kAuto:
      break;
  }
  return false;
}

}  // namespace

std::optional<std::string_view> domain_problem(std::string_view domain) {
  if (domain.empty()) return "domain is empty";
  if (domain.size() > kMaxDomainLen) return "domain is longer than 255 bytes";
  if (!std::all_of(domain.begin(), domain.end(), is_domain_byte)) {
    return "domain has characters VMess cannot carry (only A-Z a-z 0-9 . - _)";
  }
  return std::nullopt;
}

std::optional<std::string_view> instruction_problem(const Instruction& instruction) {
  if (instruction.padding_len > kMaxPaddingLen) return "padding length above 15";
  if (!is_wire_security(instruction.security)) return "security type cannot be sent";
  switch (instruction.command) {
    case Command::kTcp:
    case Command::kUdp:
    case Command::kMux:
      break;
    default:
      return "unknown command";
  }
  if (auto problem = options_problem(instruction.options)) return problem;
  if (carries_address(instruction.command) &&
      instruction.target.type == TargetAddress::Type::kDomain) {
    return domain_problem(instruction.target.domain);
  }
  return std::nullopt;
}

InstructionBytes encode_instruction(const Instruction& instruction) {
  if (auto problem = instruction_problem(instruction)) {
    throw std::invalid_argument(std::string(*problem));
  }
  InstructionBytes out;
  uint8_t* p = out.data.data();
  p[offset::kVersion] = kInstructionVersion;
  std::copy(instruction.body_iv.begin(), instruction.body_iv.end(), p + offset::kIv);
  std::copy(instruction.body_key.begin(), instruction.body_key.end(), p + offset::kKey);
  p[offset::kV] = instruction.response_v;
  p[offset::kOptions] = instruction.options;
  p[offset::kPaddingSecurity] = static_cast<uint8_t>(instruction.padding_len << 4 |
                                                     static_cast<uint8_t>(instruction.security));
  p[offset::kReserved] = 0;
  p[offset::kCommand] = static_cast<uint8_t>(instruction.command);
  size_t n = kInstructionFixedSize;
  auto append = [&](const auto* bytes, size_t count) {
    std::copy_n(reinterpret_cast<const uint8_t*>(bytes), count, p + n);
    n += count;
  };

  if (carries_address(instruction.command)) {
    const TargetAddress& target = instruction.target;
    put_be16(p + n, target.port);  // port first: v2ray's port-then-address layout
    n += 2;
    switch (target.type) {
      case TargetAddress::Type::kIpv4:
        p[n++] = address_type::kIpv4;
        append(target.ip.data(), 4);
        break;
      case TargetAddress::Type::kIpv6:
        p[n++] = address_type::kIpv6;
        append(target.ip.data(), 16);
        break;
      case TargetAddress::Type::kDomain:
        p[n++] = address_type::kDomain;
        p[n++] = static_cast<uint8_t>(target.domain.size());  // 1..255, checked above
        append(target.domain.data(), target.domain.size());
        break;
    }
  }
  append(instruction.padding.data(), instruction.padding_len);
  put_be32(p + n, crypto::fnv1a32({p, n}));
  out.size = n + kInstructionChecksumSize;
  return out;
}

}  // namespace vmlocal::vmess
