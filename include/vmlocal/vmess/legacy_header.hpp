// The legacy (non-AEAD) request header (§5):
//   HMAC-MD5(id, BE64(T)) || AES-128-CFB(key = cmdKey, IV = MD5(BE64(T) x 4)) of the instruction
#pragma once

#include <cstdint>

#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::vmess {

// The 16 authentication bytes: HMAC-MD5(key = id, message = BE64(T)). `id` is the main UUID or
// an alter ID, as raw bytes.
crypto::Digest16 legacy_auth(ByteView id, int64_t timestamp);

// MD5(BE64(T) || BE64(T) || BE64(T) || BE64(T)): the instruction's CFB IV. Not secret (T is not).
crypto::Digest16 legacy_header_iv(int64_t timestamp);

// Appends auth || CFB(instruction) to `out`. `cmd_key` is always the main ID's.
void seal_legacy_header(ByteView id, ByteView cmd_key, int64_t timestamp, ByteView instruction,
                        Bytes& out);

}  // namespace vmlocal::vmess
