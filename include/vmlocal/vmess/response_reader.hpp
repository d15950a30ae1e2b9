// Opens the downlink: the response header (§10) — check byte verified, command consumed and
// ignored — then the response body through a BodyReader. Same push-style contract as BodyReader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_reader.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

class ResponseReader {
 public:
  // response_key/iv: RK, RN (§7). expected_v: the check byte sent in the instruction.
  ResponseReader(HeaderMode header_mode, SecurityType security, uint8_t options, Transfer transfer,
                 ByteView response_key, ByteView response_iv, uint8_t expected_v);
  ~ResponseReader();
  ResponseReader(ResponseReader&&) noexcept;
  ResponseReader& operator=(ResponseReader&&) noexcept;

  ReadStep next(MutableByteView input);

  // True once the response header has been opened and its check byte verified.
  bool header_done() const;
  // True when the transport may end here without losing data: after the header, at a chunk
  // boundary (§10.4), or anywhere in a raw body.
  bool eof_is_clean() const;
  // After kError: a fixed, secret-free description such as "response check byte mismatch".
  std::string_view error() const;

  // Most unconsumed bytes the reader can need at once (a whole maximal chunk): sizes the buffer.
  static constexpr size_t kMaxPending = 65535;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace vmlocal::vmess
