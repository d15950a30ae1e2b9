// The instruction (§4): the plaintext both request-header formats carry, and its encoding. The
// server's decoder is test support (tests/support/vmess_server_side.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

struct Instruction {
  crypto::Key16 body_iv{};   // N: written first on the wire
  crypto::Key16 body_key{};  // K
  uint8_t response_v = 0;    // V
  uint8_t options = 0;
  uint8_t padding_len = 0;  // P, 0..15
  SecurityType security = SecurityType::kAes128Gcm;
  Command command = Command::kTcp;
  TargetAddress target;                           // absent on the wire for Command::kMux
  std::array<uint8_t, kMaxPaddingLen> padding{};  // the first padding_len bytes are sent
};

// An encoded instruction. It holds K and N in the clear, so it wipes itself.
struct InstructionBytes {
  crypto::SecretArray<kMaxInstructionSize> data{};
  size_t size = 0;

  ByteView view() const { return {data.data(), size}; }
};

// Why `domain` cannot travel in an instruction (a fixed text), or nullopt when it can:
// 1..255 bytes of [A-Za-z0-9._-] (§4.3, what the 4.34 server's address parser accepts).
std::optional<std::string_view> domain_problem(std::string_view domain);

// Why `instruction` must not be sent (a fixed, secret-free text), or nullopt when it may:
// a bad domain, P > 15, security auto/unknown, or option bits that break or crash 4.34 (§4.1).
std::optional<std::string_view> instruction_problem(const Instruction& instruction);

// Ver, N, K, V, Opt, P<<4|Sec, Rsv, Cmd, port, address, padding, FNV-1a.
// Precondition: instruction_problem() is nullopt; otherwise throws std::invalid_argument.
InstructionBytes encode_instruction(const Instruction& instruction);

}  // namespace vmlocal::vmess
