// The gRPC "gun" tunnel's message framing, sans I/O: every message of the bidirectional
// stream is one protobuf `Hunk { bytes data = 1; }` in a gRPC length-prefixed message.
//
// Sources, byte by byte:
//  * The 5-byte prefix — Compressed-Flag (1 byte, 0 = not compressed) then Message-Length
//    (4 bytes, big-endian) — is gRPC's "Length-Prefixed-Message" (grpc/grpc,
//    doc/PROTOCOL-HTTP2.md, "Requests": Length-Prefixed-Message → Compressed-Flag
//    Message-Length Message).
//  * The message is `message Hunk { bytes data = 1; }` (Xray-core
//    transport/internet/grpc/encoding/stream.proto, the `Tun` method of `GRPCService`; v2fly's
//    transport/internet/grpc/encoding, from Qv2ray/gun, which both v2fly's gRPC transport doc
//    and Xray's credit). Encoded by the protobuf wire format (protobuf.dev, "Encoding"): field 1
//    with wire type 2 (LEN) is the tag byte 0x0A, then the length as a base-128 varint, then
//    the bytes.
//  * The path /<serviceName>/Tun (v2fly.org config/transport/grpc.html; xtls.github.io
//    config/transports/grpc.html: "普通模式的 Path 为 /${serviceName}/Tun") is in
//    config::grpc_path.
//
// The decoder works in place, like ws::FrameDecoder: bytes read into the handler's buffer stay
// there and only the prefixes, tags and lengths are cut out. It never buffers payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::transport::grpc {

// 5-byte prefix + tag + a varint of up to 5 bytes (a message is at most 2^32 - 1 bytes).
inline constexpr size_t kMaxHunkHeader = 5 + 1 + 5;
// The largest `data` one message may carry: the whole message must fit Message-Length.
inline constexpr uint64_t kMaxHunkData = 0xFFFFFFFFull - 1 - 5;

// Writes the prefix, tag and length for a Hunk carrying `data_len` bytes (0 < data_len <=
// kMaxHunkData) and returns its size; the data follows it on the wire as it is.
size_t encode_hunk_header(uint64_t data_len, std::array<uint8_t, kMaxHunkHeader>& out);

enum class DecodeStatus : uint8_t {
  kNeedMore,  // everything given was consumed; no data in it
  kData,      // `data` is Hunk payload (a view into the input)
  kError,     // error() says what; the stream is unusable
};

struct DecodeStep {
  DecodeStatus status = DecodeStatus::kNeedMore;
  size_t consumed = 0;  // bytes of the input used, data included
  ByteView data;
};

// Push-style: call next() with the unconsumed rest of the input until it returns kNeedMore.
// Accepted besides one data field per message (what every server sends): empty messages (a
// Hunk with no data) and unknown fields of wire types 0, 1, 2 and 5, which protobuf parsers
// skip. Refused: a compressed message (we never offer grpc-accept-encoding, so a server may
// not compress), field 1 with another wire type, a second data field in one message (protobuf
// would keep only the last, which a streaming decoder cannot know in advance), groups, and
// fields that run past the message.
class HunkDecoder {
 public:
  DecodeStep next(ByteView input);
  const std::string& error() const { return error_; }
  // True between messages: a stream that ends here ended cleanly.
  bool at_message_boundary() const { return state_ == State::kPrefix && have_ == 0; }

 private:
  enum class State : uint8_t { kPrefix, kTag, kLength, kData, kSkipVarint, kSkipBytes, kFailed };

  DecodeStep fail(std::string message, size_t consumed);
  // Bytes of the current message still to come.
  uint64_t message_left_ = 0;
  State state_ = State::kPrefix;
  std::array<uint8_t, 5> prefix_{};
  size_t have_ = 0;      // prefix bytes collected
  uint64_t varint_ = 0;  // the varint being read
  unsigned shift_ = 0;   // its next bit position
  uint64_t tag_ = 0;     // the current field's tag
  uint64_t field_left_ = 0;
  bool data_seen_ = false;  // a data field in this message already
  std::string error_;
};

}  // namespace vmlocal::transport::grpc
