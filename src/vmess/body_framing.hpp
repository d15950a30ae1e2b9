// Private to body_writer.cpp and body_reader.cpp: how (security, options, transfer) map to one
// framing (§9.1), and the per-direction state both ends of a body share (BodyCiphers).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>

#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/crypto/shake128.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess::detail {

enum class Framing : uint8_t {
  kAead,          // gcm / chacha chunks (§9.3)
  kLegacyChunks,  // FNV chunks under one CFB stream (§9.5)
  kNoneStream,    // length + payload, never padded (§9.6)
  kNonePacket,    // length + payload + padding (§9.3 with a null cipher)
  kRawNone,       // no chunk stream: the bare payload
  kRawLegacy,     // no chunk stream: CFB of the payload
};

struct FramingParams {
  Framing framing = Framing::kRawNone;
  bool masking = false;    // a SHAKE stream exists and masks every length
  bool padding = false;    // a padding word is drawn before each mask word
  bool end_chunk = false;  // an END chunk closes the body (Opt 0x01)
  size_t overhead = 0;     // bytes of L that are neither payload nor padding
  size_t max_payload = 0;  // the writer's split (§9.8, §13)
};

inline FramingParams resolve_framing(SecurityType security, uint8_t options, Transfer transfer) {
  FramingParams p;
  const bool chunked = (options & option::kChunkStream) != 0;
  switch (security) {
    case SecurityType::kAes128Gcm:
    case SecurityType::kChacha20Poly1305:
      // v2ray frames the AEAD securities in chunks even without 0x01; only END depends on it.
      p.framing = Framing::kAead;
      p.overhead = kAeadTagSize;
      break;
    case SecurityType::kLegacy:
      p.framing = chunked ? Framing::kLegacyChunks : Framing::kRawLegacy;
      p.overhead = body::kFnvSize;
      break;
    case SecurityType::kNone:
      p.framing = !chunked                        ? Framing::kRawNone
                  : transfer == Transfer::kPacket ? Framing::kNonePacket
                                                  : Framing::kNoneStream;
      break;
    default:
      throw std::invalid_argument("body security must be gcm, chacha20, none or legacy");
  }
  if (p.framing == Framing::kRawNone || p.framing == Framing::kRawLegacy) {
    p.overhead = 0;
    p.max_payload = SIZE_MAX;
    return p;
  }
  p.end_chunk = chunked;
  p.masking = (options & option::kChunkMasking) != 0;
  // 0x08 without 0x04 has no SHAKE stream to draw from (it crashes the 4.34 server), and v2ray's
  // none-stream writer has no padding at all.
  p.padding =
      p.masking && (options & option::kGlobalPadding) != 0 && p.framing != Framing::kNoneStream;
  if (p.framing == Framing::kNoneStream) {
    p.max_payload = body::kNoneStreamMaxPayload;
  } else {
    // v2ray's 2048-byte chunk buffer less the length field, the overhead and the padding room:
    // its stream writer reserves the modulus, and a datagram must fit even the largest draw.
    const size_t reserve = !p.padding                      ? 0
                           : transfer == Transfer::kPacket ? body::kPacketPaddingReserve
                                                           : body::kStreamPaddingReserve;
    p.max_payload = body::kChunkBufferSize - body::kLengthSize - p.overhead - reserve;
  }
  return p;
}

// §9.4: the padding word (if any) is drawn before the mask word, for every chunk including END.
struct ChunkDraw {
  uint16_t padding = 0;
  uint16_t mask = 0;
};

inline ChunkDraw draw_chunk(std::optional<crypto::Shake128>& shake, bool padding) {
  ChunkDraw d;
  if (!shake) return d;
  if (padding) d.padding = static_cast<uint16_t>(shake->next_be16() % body::kPaddingModulus);
  d.mask = shake->next_be16();
  return d;
}

// §8: chacha20-poly1305 takes a 32-byte key stretched from the 16-byte body key by MD5.
inline std::optional<crypto::AeadCipher> make_aead(SecurityType security, ByteView key) {
  if (security == SecurityType::kAes128Gcm) {
    return crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, key);
  }
  crypto::Key32 stretched;
  auto first = crypto::md5({key});
  auto second = crypto::md5({first});
  std::copy(first.begin(), first.end(), stretched.begin());
  std::copy(second.begin(), second.end(), stretched.begin() + first.size());
  crypto::secure_wipe(first.data(), first.size());
  crypto::secure_wipe(second.data(), second.size());
  return crypto::AeadCipher(crypto::AeadAlgorithm::kChacha20Poly1305, stretched);
}

// §9.3: BE16(counter) || IV[2:12]. Only the first two bytes change per chunk.
class ChunkNonce {
 public:
  explicit ChunkNonce(ByteView iv) {
    std::copy_n(iv.begin() + 2, kAeadNonceSize - 2, bytes_.begin() + 2);
  }
  // The nonce for the current counter, then advance it; the 16-bit counter wraps like v2ray's.
  const uint8_t* next() {
    put_be16(bytes_.data(), counter_++);
    return bytes_.data();
  }

 private:
  crypto::SecretArray<kAeadNonceSize> bytes_{};  // IV bytes are as secret as the key
  uint16_t counter_ = 0;
};

// Returns `iv` once both sizes are checked, so constructors can validate in their init lists.
inline ByteView checked_iv(ByteView key, ByteView iv) {
  if (key.size() != 16 || iv.size() != 16) {
    throw std::invalid_argument("body key and IV must be 16 bytes");
  }
  return iv;
}

// The framing and the ciphers one direction of a body needs, the same for its writer and its
// reader; only the CFB direction differs. `continued_cfb` (legacy security only) replaces a fresh
// CFB stream from key/iv: a legacy-header response body continues the header's stream (§10.2).
struct BodyCiphers {
  BodyCiphers(SecurityType security, uint8_t options, Transfer transfer, ByteView key, ByteView iv,
              crypto::Aes128Cfb::Direction direction,
              std::optional<crypto::Aes128Cfb> continued_cfb)
      : params(resolve_framing(security, options, transfer)), nonce(checked_iv(key, iv)) {
    if (params.framing == Framing::kAead) aead = make_aead(security, key);
    if (params.masking) shake.emplace(iv);
    if (params.framing == Framing::kLegacyChunks || params.framing == Framing::kRawLegacy) {
      if (continued_cfb) {
        cfb = std::move(continued_cfb);
      } else {
        cfb.emplace(key.data(), iv.data(), direction);
      }
    }
  }

  FramingParams params;
  ChunkNonce nonce;
  std::optional<crypto::AeadCipher> aead;
  std::optional<crypto::Shake128> shake;
  std::optional<crypto::Aes128Cfb> cfb;
};

}  // namespace vmlocal::vmess::detail
