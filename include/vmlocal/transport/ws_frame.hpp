// RFC 6455 framing, sans I/O: a frame header encoder, in-place masking, and a push-style frame
// decoder. No libuv, no sockets; WsStream (ws_stream.hpp) drives it.
//
// Why not wslay (Debian's libwslay-dev, 1.1.1): its only frame-level API, wslay_frame_send /
// wslay_frame_recv, moves every payload byte through its own 4 KiB buffers. Sending masks a byte
// at a time (with a `% 4` per byte) into a 4 KiB stack array and calls the send callback for
// each 4 KiB piece, so the caller must copy the piece again before an asynchronous write;
// receiving pulls bytes through a recv callback into a fixed 4 KiB ibuf and hands payload out
// of it, so bytes read into the pump's block would be copied in and out again. Its event API
// adds a malloc per message and an unbounded message queue. Here the payload is masked in place
// in the caller's buffers (the Stream write contract allows it) and written with one writev, and
// received payload stays in the handler's block: only frame headers are parsed out. The codec
// is ~200 lines with known-answer tests (tests/unit/ws_frame_test.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::transport::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline constexpr bool is_control(Opcode op) {
  return (static_cast<uint8_t>(op) & 0x8) != 0;
}

inline constexpr size_t kMaxHeaderSize = 14;       // 2 + 8 (64-bit length) + 4 (mask key)
inline constexpr size_t kMaxControlPayload = 125;  // RFC 6455 §5.5
inline constexpr size_t kMaxControlFrame = 2 + 4 + kMaxControlPayload;

// Close status codes used here (RFC 6455 §7.4.1).
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseUnsupportedData = 1003;
inline constexpr uint16_t kCloseNoStatus = 1005;  // never sent: "the close frame had no code"

using MaskKey = std::array<uint8_t, 4>;

// Writes a frame header (FIN set) for a payload of `payload_len` bytes into `out` and returns
// its size (2..14). With a mask key the MASK bit and the key are included; the payload must be
// masked separately with apply_mask.
size_t encode_header(Opcode opcode, uint64_t payload_len, const MaskKey* mask,
                     std::array<uint8_t, kMaxHeaderSize>& out);

// XORs `data` with the mask key, where data[0] is byte `offset` of the frame payload. Masking
// and unmasking are the same operation.
void apply_mask(MutableByteView data, const MaskKey& key, uint64_t offset);

// A whole control frame (header + masked payload) for sending; returns its size.
size_t encode_control(Opcode opcode, ByteView payload, const MaskKey& mask,
                      std::array<uint8_t, kMaxControlFrame>& out);
// A close frame's payload: the code (big-endian) and a UTF-8 reason, at most 125 bytes.
size_t encode_close_payload(uint16_t code, std::string_view reason,
                            std::array<uint8_t, kMaxControlPayload>& out);

// Which side the decoder is on. A client receives unmasked frames and must reject masked ones;
// a server receives masked frames (unmasked in place) and must reject unmasked ones (§5.1).
enum class Role : uint8_t { kClient, kServer };

enum class DecodeStatus : uint8_t {
  kNeedMore,  // every input byte was consumed; feed more
  kData,      // `data`: payload bytes of a data frame, a subspan of the input (unmasked)
  kControl,   // a whole control frame: `opcode`, `data` (the decoder's copy of its payload)
  kError,     // protocol violation: error() says which; the decoder stays failed
};

struct DecodeStep {
  DecodeStatus status = DecodeStatus::kNeedMore;
  size_t consumed = 0;  // input bytes used by this step (headers and payload)
  Opcode opcode = Opcode::kBinary;
  ByteView data;
  bool message_end = false;  // kData: the last payload byte of a FIN frame is in `data`
};

// Push-style: feed() the bytes as they arrive, call again with the rest until kNeedMore. Frame
// headers (even split across reads) and control payloads are buffered inside; data payload is
// returned in place. Fragmented messages are reassembled logically (continuation frames carry
// on the message's opcode); text messages are reported with opcode kText for the caller to
// decide.
class FrameDecoder {
 public:
  explicit FrameDecoder(Role role) : role_(role) {}

  DecodeStep next(MutableByteView input);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // The close code a failure calls for (1002 protocol error).
  uint16_t error_close_code() const { return kCloseProtocolError; }

 private:
  enum class State : uint8_t { kHeader, kPayload, kControlPayload };

  DecodeStep fail(std::string why);
  static DecodeStep need_more(size_t consumed);
  size_t header_size_needed() const;
  // Copies header bytes from input[pos...] into header_; false if the header is still short.
  bool gather_header(MutableByteView input, size_t& pos);
  // Each returns the protocol violation, "" when there is none.
  std::string parse_header();
  std::string parse_length(uint64_t& len, size_t& at) const;
  std::string begin_payload(uint64_t len);
  DecodeStep empty_data_frame(MutableByteView input, size_t pos);
  DecodeStep next_payload(MutableByteView input, size_t pos);
  DecodeStep next_control_payload(MutableByteView input, size_t pos);

  Role role_;
  State state_ = State::kHeader;
  std::array<uint8_t, kMaxHeaderSize> header_{};
  size_t header_len_ = 0;

  Opcode frame_opcode_ = Opcode::kBinary;  // opcode of the frame being read
  Opcode message_opcode_ = Opcode::kBinary;
  bool in_message_ = false;  // a fragmented data message is open (awaiting continuation)
  bool fin_ = false;
  bool masked_ = false;
  MaskKey mask_{};
  uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  uint64_t offset_ = 0;     // payload bytes of the current frame seen so far (for unmasking)

  std::array<uint8_t, kMaxControlPayload> control_{};
  size_t control_len_ = 0;

  std::string error_;
};

// A close frame payload -> code and reason; code kCloseNoStatus when empty. False if malformed
// (one byte, or a code that must not be sent).
bool parse_close_payload(ByteView payload, uint16_t& code, std::string& reason);

}  // namespace vmlocal::transport::ws
