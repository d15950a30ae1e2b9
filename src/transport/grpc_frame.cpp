#include "vmlocal/transport/grpc_frame.hpp"

#include <algorithm>
#include <cassert>

namespace vmlocal::transport::grpc {
namespace {

constexpr uint8_t kDataTag = 0x0A;  // field 1, wire type 2 (LEN)
constexpr unsigned kMaxVarintShift = 63;

size_t put_varint(uint64_t value, uint8_t* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<uint8_t>(value);
  return n;
}

}  // namespace

size_t encode_hunk_header(uint64_t data_len, std::array<uint8_t, kMaxHunkHeader>& out) {
  assert(data_len > 0 && data_len <= kMaxHunkData);
  std::array<uint8_t, 10> varint{};
  const size_t varint_len = put_varint(data_len, varint.data());
  const uint64_t message_len = 1 + varint_len + data_len;
  out[0] = 0;  // Compressed-Flag: not compressed
  out[1] = static_cast<uint8_t>(message_len >> 24);
  out[2] = static_cast<uint8_t>(message_len >> 16);
  out[3] = static_cast<uint8_t>(message_len >> 8);
  out[4] = static_cast<uint8_t>(message_len);
  out[5] = kDataTag;
  std::copy_n(varint.begin(), varint_len, out.begin() + 6);
  return 6 + varint_len;
}

DecodeStep HunkDecoder::fail(std::string message, size_t consumed) {
  state_ = State::kFailed;
  error_ = std::move(message);
  return DecodeStep{DecodeStatus::kError, consumed, {}};
}

DecodeStep HunkDecoder::next(ByteView input) {
  size_t pos = 0;
  // Where the current field ends: at the end of the message, the next message begins.
  auto after_field = [this] {
    state_ = message_left_ == 0 ? State::kPrefix : State::kTag;
    varint_ = 0;
    shift_ = 0;
  };
  while (pos < input.size()) {
    switch (state_) {
      case State::kFailed:
        return DecodeStep{DecodeStatus::kError, 0, {}};
      case State::kPrefix: {
        prefix_[have_++] = input[pos++];
        if (have_ < prefix_.size()) break;
        have_ = 0;
        if (prefix_[0] == 1) {
          return fail("gRPC: the server sent a compressed message, which was never negotiated",
                      pos);
        }
        if (prefix_[0] != 0) {
          return fail("gRPC: bad Compressed-Flag " + std::to_string(prefix_[0]) +
                          " (not a gRPC message stream)",
                      pos);
        }
        message_left_ = (uint64_t{prefix_[1]} << 24) | (uint64_t{prefix_[2]} << 16) |
                        (uint64_t{prefix_[3]} << 8) | prefix_[4];
        data_seen_ = false;
        after_field();  // an empty message (a Hunk without data) stays here
        break;
      }
      case State::kTag:
      case State::kLength:
      case State::kSkipVarint: {
        if (message_left_ == 0) return fail("gRPC: a protobuf field runs past its message", pos);
        const uint8_t byte = input[pos++];
        --message_left_;
        if (shift_ > kMaxVarintShift) return fail("gRPC: a protobuf varint is too long", pos);
        varint_ |= uint64_t{static_cast<uint8_t>(byte & 0x7F)} << shift_;
        shift_ += 7;
        if ((byte & 0x80) != 0) break;
        const uint64_t value = varint_;
        varint_ = 0;
        shift_ = 0;
        if (state_ == State::kSkipVarint) {
          after_field();
          break;
        }
        if (state_ == State::kTag) {
          tag_ = value;
          const uint64_t field = value >> 3;
          const uint64_t wire_type = value & 7;
          if (field == 0) return fail("gRPC: a protobuf field numbered 0 in a Hunk", pos);
          if (field == 1) {
            if (wire_type != 2) return fail("gRPC: Hunk.data is not length-delimited", pos);
            if (data_seen_) return fail("gRPC: two data fields in one Hunk", pos);
            state_ = State::kLength;
            break;
          }
          switch (wire_type) {
            case 0:
              state_ = State::kSkipVarint;
              break;
            case 1:
            case 5:
              field_left_ = wire_type == 1 ? 8 : 4;
              if (field_left_ > message_left_) {
                return fail("gRPC: a protobuf field runs past its message", pos);
              }
              state_ = State::kSkipBytes;
              break;
            case 2:
              state_ = State::kLength;
              break;
            default:
              return fail("gRPC: a protobuf group or bad wire type " + std::to_string(wire_type) +
                              " in a Hunk",
                          pos);
          }
          break;
        }
        // kLength
        if (value > message_left_) return fail("gRPC: a protobuf field runs past its message", pos);
        field_left_ = value;
        const bool data = (tag_ >> 3) == 1;
        if (data) data_seen_ = true;
        if (field_left_ == 0) {
          after_field();
        } else {
          state_ = data ? State::kData : State::kSkipBytes;
        }
        break;
      }
      case State::kData: {
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(field_left_, static_cast<uint64_t>(input.size() - pos)));
        const ByteView data(input.data() + pos, n);
        pos += n;
        field_left_ -= n;
        message_left_ -= n;
        if (field_left_ == 0) after_field();
        return DecodeStep{DecodeStatus::kData, pos, data};
      }
      case State::kSkipBytes: {
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(field_left_, static_cast<uint64_t>(input.size() - pos)));
        pos += n;
        field_left_ -= n;
        message_left_ -= n;
        if (field_left_ == 0) after_field();
        break;
      }
    }
  }
  if (state_ == State::kFailed) return DecodeStep{DecodeStatus::kError, pos, {}};
  return DecodeStep{DecodeStatus::kNeedMore, pos, {}};
}

}  // namespace vmlocal::transport::grpc
