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

DecodedInstruction decode_instruction(ByteView plaintext) {
  DecodedInstruction out;
  auto fail = [&out](std::string_view why) {
    out.status = DecodeStatus::kError;
    out.error = why;
    return std::move(out);
  };
  if (plaintext.size() < kInstructionFixedSize) return out;  // need more
  const uint8_t* p = plaintext.data();
  Instruction& ins = out.instruction;
  std::copy_n(p + offset::kIv, 16, ins.body_iv.begin());
  std::copy_n(p + offset::kKey, 16, ins.body_key.begin());
  ins.response_v = p[offset::kV];
  ins.options = p[offset::kOptions];
  ins.padding_len = p[offset::kPaddingSecurity] >> 4;
  uint8_t security = p[offset::kPaddingSecurity] & 0x0f;
  if (security == 0) security = static_cast<uint8_t>(SecurityType::kLegacy);  // as 4.34 does
  ins.security = static_cast<SecurityType>(security);
  uint8_t command = p[offset::kCommand];
  if (command < static_cast<uint8_t>(Command::kTcp) ||
      command > static_cast<uint8_t>(Command::kMux))
    return fail("unknown command");
  ins.command = static_cast<Command>(command);

  size_t n = kInstructionFixedSize;
  auto need = [&](size_t more) { return plaintext.size() < n + more; };
  if (carries_address(ins.command)) {
    if (need(3)) return out;
    ins.target.port = get_be16(p + n);
    n += 2;
    switch (p[n++]) {
      case address_type::kIpv4:
        if (need(4)) return out;
        ins.target.type = TargetAddress::Type::kIpv4;
        std::copy_n(p + n, 4, ins.target.ip.begin());
        n += 4;
        break;
      case address_type::kIpv6:
        if (need(16)) return out;
        ins.target.type = TargetAddress::Type::kIpv6;
        std::copy_n(p + n, 16, ins.target.ip.begin());
        n += 16;
        break;
      case address_type::kDomain: {
        if (need(1)) return out;
        size_t len = p[n++];
        if (need(len)) return out;
        ins.target.type = TargetAddress::Type::kDomain;
        ins.target.domain.assign(reinterpret_cast<const char*>(p + n), len);
        n += len;
        break;
      }
      default:
        return fail("unknown address type");
    }
  }
  if (need(ins.padding_len + kInstructionChecksumSize)) return out;
  std::copy_n(p + n, ins.padding_len, ins.padding.begin());
  n += ins.padding_len;
  // The server checks the checksum before it looks at the address or the security.
  if (crypto::fnv1a32({p, n}) != get_be32(p + n)) return fail("instruction checksum mismatch");
  out.size = n + kInstructionChecksumSize;

  if (carries_address(ins.command) && ins.target.type == TargetAddress::Type::kDomain) {
    if (auto problem = domain_problem(ins.target.domain)) return fail(*problem);
  }
  if (!is_wire_security(ins.security)) return fail("unknown security type");
  out.status = DecodeStatus::kDone;
  return out;
}

}  // namespace vmlocal::vmess
