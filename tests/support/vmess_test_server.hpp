// The server half of the VMess handshake, for tests: decodes request headers as a v2ray 4.34
// inbound does (AEAD first, then legacy auth values) and writes response headers. Pure functions,
// so fault-injection tests can corrupt any byte on either side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "support/vmess_server_side.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/constants.hpp"
#include "vmlocal/vmess/instruction.hpp"
#include "vmlocal/vmess/response_keys.hpp"

namespace vmlocal::test {

struct DecodedRequestHeader {
  vmess::HeaderMode header_mode = vmess::HeaderMode::kAead;
  size_t size = 0;                 // bytes the header took: the request body starts here
  int64_t timestamp = 0;           // T the header carried
  int alter_index = -1;            // legacy: the alter id that authenticated, -1 for the main id
  vmess::Instruction instruction;  // K, N, V, options, security, command, target, padding
  vmess::ResponseKeys response;    // RK, RN for this header mode (§7)
};

struct RequestHeaderDecode {
  DecodeStatus status = DecodeStatus::kNeedMore;
  std::optional<DecodedRequestHeader> header;  // kDone only
  std::string error;                           // kError only
};

// Decodes the request header at the front of `input` (call again with more bytes after
// kNeedMore). AEAD: the AuthID must open with the account's cmdKey within ±120 s of `now_unix`.
// Legacy: the 16 auth bytes must equal HMAC-MD5 of the main or an alter id for some second in
// now ± 120 s. Replays are not tracked.
RequestHeaderDecode decode_request_header(ByteView input, const vmess::Account& account,
                                          int64_t now_unix);

struct EncodedResponseHeader {
  Bytes wire;
  // Legacy header mode only: the CFB stream positioned right after the header. A legacy-security
  // response body continues it (§10.2): pass it to BodyWriter as `continued_cfb`.
  std::optional<crypto::Aes128Cfb> cfb;
};

// V || Opt(0) || Cmd || CmdLen || command_data, protected for `header_mode` (§10.2): AEAD-sealed
// length and header, or AES-128-CFB under RK, RN. command_data: at most 255 bytes.
EncodedResponseHeader encode_response_header(vmess::HeaderMode header_mode, ByteView response_key,
                                             ByteView response_iv, uint8_t response_v,
                                             uint8_t command_id = 0, ByteView command_data = {});

// The same protection applied to arbitrary plaintext, for malformed headers in fault tests.
EncodedResponseHeader protect_response_header(vmess::HeaderMode header_mode, ByteView response_key,
                                              ByteView response_iv, ByteView plaintext);

}  // namespace vmlocal::test
