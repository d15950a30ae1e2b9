// Mux.Cool frames: many sub-streams (sessions) inside one VMess connection whose request says
// Cmd 0x03. Pure code: a frame header encoder and a push-style frame reader. The bytes are
// exactly v2ray 4.34's (common/mux/frame.go, writer.go; docs/vmess-protocol.md §14), checked
// against vectors made by running that code (tests/vectors/mux_frames.json).
//
//   MetaLen(2) SessionID(2) Status(1) Option(1) [New only: Network(1) Port(2) AType(1) Addr]
//   then, if Option & kOptionData: DataLen(2) Data
//
// All integers are big-endian. MetaLen counts the bytes after itself up to the end of the
// address (4 for a frame that is not New). AType uses the VMess numbering (1 IPv4, 2 domain,
// 3 IPv6), port first, as in §4.3.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::mux {

enum class Status : uint8_t {
  kNew = 0x01,        // opens a session; carries the target
  kKeep = 0x02,       // data for an open session
  kEnd = 0x03,        // closes the session (with kOptionError: aborts it)
  kKeepAlive = 0x04,  // ignored by the peer; its data, if any, is discarded
};

inline constexpr uint8_t kOptionData = 0x01;
inline constexpr uint8_t kOptionError = 0x02;

enum class Network : uint8_t { kTcp = 0x01, kUdp = 0x02 };

struct FrameMeta {
  uint16_t session_id = 0;
  Status status = Status::kKeep;
  uint8_t option = 0;
  Network network = Network::kTcp;  // kNew only
  TargetAddress target;             // kNew only
};

// v2ray's reader refuses a MetaLen over 512 (frame.go Unmarshal).
inline constexpr size_t kMaxMetaLen = 512;
// The longest header encode_frame_header writes: MetaLen, the fixed 4, Network, Port, AType,
// a 255-byte domain with its length byte, DataLen.
inline constexpr size_t kMaxFrameHeader = 2 + 4 + 1 + 2 + 1 + 1 + 255 + 2;
// v2ray's writer splits TCP data at 8 KiB per frame (writer.go); any size up to 65535 is valid.
inline constexpr size_t kTcpFrameData = 8 * 1024;
// v2ray's server refuses UDP frames carrying more than this (§14).
inline constexpr size_t kMaxUdpFrameData = 2048;

// Writes the frame header for `meta` into `out` and returns its length. When meta.option has
// kOptionData, DataLen = data_len follows (the caller sends the data after it); otherwise
// data_len must be 0. A kNew frame's domain must be 1..255 bytes.
size_t encode_frame_header(const FrameMeta& meta, uint16_t data_len,
                           std::array<uint8_t, kMaxFrameHeader>& out);

// Reads frames from the decrypted body, bytes in as they arrive; data comes out as views into
// the caller's input (no copy), so a frame's data may come in several pieces.
class FrameReader {
 public:
  enum class Event : uint8_t {
    kNeedMore,  // every input byte was taken
    kFrame,     // a frame header: meta() and data_length() describe it
    kData,      // a piece of the current frame's data: data(); last_piece() when it is complete
    kError,     // malformed: error() says why; the connection cannot be resynchronised
  };
  struct Step {
    Event event = Event::kNeedMore;
    size_t consumed = 0;  // bytes taken from the front of the input given to next()
  };

  // Takes bytes from the front of `input` up to one event. Call again with the rest.
  Step next(ByteView input);

  const FrameMeta& meta() const { return meta_; }
  size_t data_length() const { return data_length_; }  // of the current frame; 0 without data
  ByteView data() const { return data_; }
  bool last_piece() const { return data_remaining_ == 0; }
  std::string_view error() const { return error_; }

 private:
  enum class State : uint8_t { kMetaLen, kMeta, kDataLen, kData, kFailed };

  Step fail(std::string_view why, size_t consumed);
  bool parse_meta();

  State state_ = State::kMetaLen;
  std::array<uint8_t, kMaxMetaLen> buffer_{};
  size_t have_ = 0;
  size_t need_ = 2;
  FrameMeta meta_;
  size_t data_length_ = 0;
  size_t data_remaining_ = 0;
  ByteView data_;
  std::string_view error_;
};

}  // namespace vmlocal::mux
