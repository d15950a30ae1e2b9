// The reply to a request (RFC 1928 §6): the handshake's last message, sent by the session once
// it knows how the request ends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmlocal/handshake/socks5_constants.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::socks5 {

// An encoded reply in fixed storage: no allocation. The bytes live inside the object, so keep it
// alive (e.g. as a session member) until the write that sends it completes.
class Reply {
 public:
  ByteView bytes() const { return {data_.data(), size_}; }

 private:
  friend Reply encode_reply(ReplyCode code, const TargetAddress& bound);

  std::array<uint8_t, kMaxReplySize> data_{};
  size_t size_ = 0;
};

// VER REP RSV ATYP BND.ADDR BND.PORT. `bound` is what the app is told we bound: for success, the
// local address of the upstream socket; for failures the default, 0.0.0.0:0. A domain outside
// 1..255 bytes cannot be encoded and is sent as 0.0.0.0 with the given port.
Reply encode_reply(ReplyCode code, const TargetAddress& bound = TargetAddress{});

// "connection refused", "command not supported", ...: for log lines. Unknown codes: "unknown".
std::string_view reply_code_name(ReplyCode code);

}  // namespace vmlocal::socks5
