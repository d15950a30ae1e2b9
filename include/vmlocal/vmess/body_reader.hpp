// Opens one direction's body chunks (§9), push-style and in place. The caller keeps a buffer of
// not-yet-consumed bytes and presents it again, with more bytes appended, after kNeedMore.
// The client uses it (inside ResponseReader) for the response body; test servers use it for the
// request body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

enum class ReadStatus : uint8_t {
  kNeedMore,  // nothing more can be decoded from the bytes given; `consumed` may still be > 0
  kData,      // `data` is plaintext inside the input; `consumed` covers its whole chunk
  kEnd,       // END chunk seen: the body is complete
  kError,     // the stream is broken (error() says why); stop using this reader
};

struct ReadStep {
  ReadStatus status = ReadStatus::kNeedMore;
  size_t consumed = 0;        // bytes from the front of the input that are finished with
  MutableByteView data = {};  // kData only; lies inside the input's first `consumed` bytes
};

class BodyReader {
 public:
  // key/iv: K, N (request body) or RK, RN (response body). `continued_cfb` (legacy security
  // only): continue this CFB stream instead of starting a fresh one from key/iv — a legacy-header
  // response body continues the response header's stream (§10.2).
  BodyReader(SecurityType security, uint8_t options, Transfer transfer, ByteView key, ByteView iv,
             std::optional<crypto::Aes128Cfb> continued_cfb = std::nullopt);
  ~BodyReader();
  BodyReader(BodyReader&&) noexcept;
  BodyReader& operator=(BodyReader&&) noexcept;

  // Decodes from the front of `input`, decrypting in place. Bytes before `consumed` must not be
  // presented again; bytes after it must be, unchanged. Any chunk that fails authentication, and
  // any length the security cannot have, is kError (unlike v2ray, which skips small bad chunks).
  ReadStep next(MutableByteView input);

  // True when the transport may end here without losing data: at a chunk boundary, or anywhere
  // in a raw (unchunked) body.
  bool at_boundary() const;
  // After kError: a fixed, secret-free description such as "chunk authentication failed".
  std::string_view error() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace vmlocal::vmess
