// The server's side of the VMess request header, which the client never runs: open an AuthID
// (§6.2), open a sealed AEAD header (§6.3) and decode an instruction (§4), each with the rules of
// a v2ray 4.34 inbound. vmess_test_server builds on these; unit and fuzz tests call them directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/auth_id.hpp"
#include "vmlocal/vmess/instruction.hpp"

namespace vmlocal::test {

struct OpenedAuthId {
  int64_t timestamp = 0;
  vmess::AuthIdRandom random{};
};

// The server's check, replay filter aside: decrypts with this cmdKey and accepts when the CRC
// matches, T >= 0 and |T - now| <= 120 s.
std::optional<OpenedAuthId> open_auth_id(ByteView cmd_key, const vmess::AuthId& auth_id,
                                         int64_t now_unix);

enum class AeadHeaderStatus : uint8_t { kNeedMore, kOpened, kNoMatch, kBroken };

struct OpenedAeadHeader {
  AeadHeaderStatus status = AeadHeaderStatus::kNeedMore;
  size_t size = 0;         // kOpened: bytes the sealed header took
  OpenedAuthId auth;       // kOpened, kBroken: what the AuthID carried
  Bytes payload;           // kOpened: the plaintext (the caller wipes it if it is secret)
  std::string_view error;  // kNoMatch, kBroken: fixed text
};

// kNoMatch when the AuthID does not open with this cmdKey at `now_unix`, kBroken when it does
// but the length or payload fails to open, kNeedMore until the whole sealed header is present.
// Replays are not tracked.
OpenedAeadHeader open_aead_header(ByteView cmd_key, ByteView input, int64_t now_unix);

enum class DecodeStatus : uint8_t { kNeedMore, kDone, kError };

struct DecodedInstruction {
  DecodeStatus status = DecodeStatus::kNeedMore;
  size_t size = 0;  // kDone: how many input bytes the instruction took
  vmess::Instruction instruction;
  std::string_view error;  // kError: fixed text
};

// Decodes the instruction at the front of `plaintext` as the 4.34 server does: checksum,
// address rules, security 2 and >= 6 refused, 0 taken as legacy. Version and reserved byte are
// not checked (neither does the server).
DecodedInstruction decode_instruction(ByteView plaintext);

}  // namespace vmlocal::test
