// Opens the downlink: the response header (§10), then the response body chunks (§9), push-style
// and in place. The caller keeps a buffer of not-yet-consumed bytes and presents it again, with
// more bytes appended, after kNeedMore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

class ResponseReader {
 public:
  enum class Status : uint8_t {
    kNeedMore,  // nothing more can be decoded from the bytes given; `consumed` may still be > 0
    kData,      // `data` is plaintext inside the input; `consumed` covers its whole chunk
    kEnd,       // END chunk seen: the body is complete
    kError,     // the stream is broken (error() says why); stop using this reader
  };

  struct Step {
    Status status = Status::kNeedMore;
    size_t consumed = 0;        // bytes from the front of the input that are finished with
    MutableByteView data = {};  // kData only
  };

  // response_key/iv: RK, RN (§7). expected_v: the check byte sent in the instruction.
  ResponseReader(HeaderMode header_mode, SecurityType security, uint8_t options, Transfer transfer,
                 ByteView response_key, ByteView response_iv, uint8_t expected_v);
  ~ResponseReader();
  ResponseReader(ResponseReader&&) noexcept;
  ResponseReader& operator=(ResponseReader&&) noexcept;

  // Decodes from the front of `input`, decrypting in place. Bytes before `consumed` must not be
  // presented again; bytes after it must be, unchanged.
  Step next(MutableByteView input);

  // True once the response header has been opened and its check byte verified.
  bool header_done() const;
  // True when the transport may end here without losing data: after the header, at a chunk
  // boundary (§10.4), or anywhere in a raw (unchunked) body.
  bool eof_is_clean() const;
  // After kError: a fixed, secret-free description such as "response check byte mismatch".
  std::string_view error() const;

  // Largest number of unconsumed bytes the reader may need to see at once (sizes the buffer).
  static constexpr size_t kMaxPending = 2 + 65535;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace vmlocal::vmess
