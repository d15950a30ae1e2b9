// Seals one direction's body into chunks (§9), in place: the payload is encrypted where it lies
// and only a small prefix (length, FNV) and suffix (tag, padding) are produced beside it, so the
// caller can hand [prefix][payload][suffix] to one vectored write with no copy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::crypto {
class Random;
}

namespace vmlocal::vmess {

enum class Transfer : uint8_t { kStream, kPacket };  // packet: one datagram per chunk (UDP)

class BodyWriter {
 public:
  static constexpr size_t kMaxPrefix = 6;        // BE16 length + BE32 FNV (legacy security)
  static constexpr size_t kMaxSuffix = 16 + 63;  // AEAD tag + global padding

  struct Frame {
    std::array<uint8_t, kMaxPrefix> prefix;
    std::array<uint8_t, kMaxSuffix> suffix;
    uint8_t prefix_len = 0;
    uint8_t suffix_len = 0;
  };

  // key/iv: K, N for the request body; RK, RN for a response body (tests and fake servers).
  // `padding_random` fills global padding and must outlive the writer. `continued_cfb` (legacy
  // security only): continue this CFB stream instead of a fresh one from key/iv (a test server
  // writing a legacy-header response body, §10.2).
  BodyWriter(SecurityType security, uint8_t options, Transfer transfer, ByteView key, ByteView iv,
             crypto::Random& padding_random,
             std::optional<crypto::Aes128Cfb> continued_cfb = std::nullopt);
  ~BodyWriter();
  BodyWriter(BodyWriter&&) noexcept;
  BodyWriter& operator=(BodyWriter&&) noexcept;

  // Largest payload one chunk may carry: v2ray's split (§9.8), or SIZE_MAX for raw modes
  // (no chunk stream), where the body is the bare (possibly CFB-encrypted) byte stream.
  size_t max_payload() const;
  // False for the raw modes: their end of body is the end of the transport stream.
  bool has_end_chunk() const;

  // Seals 1..max_payload() bytes in place. Must not be called with an empty payload (an empty
  // chunk means END).
  void seal(MutableByteView payload, Frame& frame);
  // The END chunk (§9.7). Only when has_end_chunk().
  void seal_end(Frame& frame);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace vmlocal::vmess
