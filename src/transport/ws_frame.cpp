#include "vmlocal/transport/ws_frame.hpp"

#include <algorithm>
#include <cstring>

namespace vmlocal::transport::ws {
namespace {

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsvBits = 0x70;
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLengthBits = 0x7F;
constexpr uint8_t kLength16 = 126;
constexpr uint8_t kLength64 = 127;

bool known_opcode(uint8_t op) {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

size_t encode_header(Opcode opcode, uint64_t payload_len, const MaskKey* mask,
                     std::array<uint8_t, kMaxHeaderSize>& out) {
  size_t n = 0;
  out[n++] = static_cast<uint8_t>(kFinBit | static_cast<uint8_t>(opcode));
  const uint8_t mask_bit = mask != nullptr ? kMaskBit : 0;
  if (payload_len < kLength16) {
    out[n++] = static_cast<uint8_t>(mask_bit | payload_len);
  } else if (payload_len <= 0xFFFF) {
    out[n++] = mask_bit | kLength16;
    put_be16(&out[n], static_cast<uint16_t>(payload_len));
    n += 2;
  } else {
    out[n++] = mask_bit | kLength64;
    put_be64(&out[n], payload_len);
    n += 8;
  }
  if (mask != nullptr) {
    std::memcpy(&out[n], mask->data(), 4);
    n += 4;
  }
  return n;
}

void apply_mask(MutableByteView data, const MaskKey& key, uint64_t offset) {
  uint8_t* p = data.data();
  size_t n = data.size();
  // Rotate the key so that k[0] applies to p[0], then XOR eight bytes at a time.
  uint8_t k[4];
  for (size_t i = 0; i < 4; ++i)
    k[i] = key[(offset + i) % 4];
  uint64_t k8 = 0;
  uint8_t k8_bytes[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
  std::memcpy(&k8, k8_bytes, 8);
  size_t i = 0;
  // 32 bytes per round: four independent 64-bit XORs keep the loop out of the way even where
  // the compiler does not vectorize it (-O2).
  for (; i + 32 <= n; i += 32) {
    uint64_t v[4];
    std::memcpy(v, p + i, 32);
    v[0] ^= k8;
    v[1] ^= k8;
    v[2] ^= k8;
    v[3] ^= k8;
    std::memcpy(p + i, v, 32);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k8;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i)
    p[i] ^= k[i % 4];
}

size_t encode_control(Opcode opcode, ByteView payload, const MaskKey& mask,
                      std::array<uint8_t, kMaxControlFrame>& out) {
  const size_t len = std::min(payload.size(), kMaxControlPayload);
  std::array<uint8_t, kMaxHeaderSize> header{};
  const size_t header_len = encode_header(opcode, len, &mask, header);
  std::memcpy(out.data(), header.data(), header_len);
  if (len > 0) std::memcpy(out.data() + header_len, payload.data(), len);
  apply_mask(MutableByteView(out.data() + header_len, len), mask, 0);
  return header_len + len;
}

size_t encode_close_payload(uint16_t code, std::string_view reason,
                            std::array<uint8_t, kMaxControlPayload>& out) {
  put_be16(out.data(), code);
  const size_t len = std::min(reason.size(), kMaxControlPayload - 2);
  if (len > 0) std::memcpy(out.data() + 2, reason.data(), len);
  return 2 + len;
}

bool parse_close_payload(ByteView payload, uint16_t& code, std::string& reason) {
  reason.clear();
  if (payload.empty()) {
    code = kCloseNoStatus;
    return true;
  }
  if (payload.size() == 1) return false;
  code = get_be16(payload.data());
  // §7.4: 1005, 1006 and 1015 are never sent; below 1000 and 1016..2999 are unassigned.
  const bool valid =
      (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
      (code >= 3000 && code <= 4999);
  if (!valid) return false;
  reason.assign(reinterpret_cast<const char*>(payload.data() + 2), payload.size() - 2);
  return true;
}

DecodeStep FrameDecoder::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  DecodeStep step;
  step.status = DecodeStatus::kError;
  return step;
}

size_t FrameDecoder::header_size_needed() const {
  if (header_len_ < 2) return 2;
  size_t n = 2;
  const uint8_t len7 = header_[1] & kLengthBits;
  if (len7 == kLength16) n += 2;
  if (len7 == kLength64) n += 8;
  if ((header_[1] & kMaskBit) != 0) n += 4;
  return n;
}

DecodeStep FrameDecoder::next(MutableByteView input) {
  if (failed()) return fail({});
  size_t pos = 0;
  if (state_ == State::kHeader) {
    if (!gather_header(input, pos)) return need_more(pos);
    std::string problem = parse_header();
    if (!problem.empty()) return fail(std::move(problem));
    // An empty data frame is reported at once: there is no payload to wait for.
    if (state_ == State::kPayload && remaining_ == 0) return empty_data_frame(input, pos);
  }
  if (state_ == State::kPayload) return next_payload(input, pos);
  return next_control_payload(input, pos);
}

DecodeStep FrameDecoder::need_more(size_t consumed) {
  DecodeStep step;
  step.consumed = consumed;
  return step;
}

bool FrameDecoder::gather_header(MutableByteView input, size_t& pos) {
  while (header_len_ < header_size_needed()) {
    if (pos == input.size()) return false;
    header_[header_len_++] = input[pos++];
  }
  header_len_ = 0;
  return true;
}

std::string FrameDecoder::parse_header() {
  const uint8_t b0 = header_[0];
  const uint8_t b1 = header_[1];
  fin_ = (b0 & kFinBit) != 0;
  if ((b0 & kRsvBits) != 0) return "frame with reserved bits set (no extension agreed)";
  const uint8_t op = b0 & kOpcodeBits;
  if (!known_opcode(op)) return "frame with unknown opcode " + std::to_string(op);
  frame_opcode_ = static_cast<Opcode>(op);
  masked_ = (b1 & kMaskBit) != 0;
  if (role_ == Role::kClient && masked_) return "the server sent a masked frame";
  if (role_ == Role::kServer && !masked_) return "the client sent an unmasked frame";

  uint64_t len = 0;
  size_t at = 2;
  std::string problem = parse_length(len, at);
  if (!problem.empty()) return problem;
  if (masked_) std::memcpy(mask_.data(), &header_[at], 4);
  remaining_ = len;
  offset_ = 0;
  return begin_payload(len);
}

std::string FrameDecoder::parse_length(uint64_t& len, size_t& at) const {
  const uint8_t len7 = header_[1] & kLengthBits;
  len = len7;
  if (len7 == kLength16) {
    len = get_be16(&header_[at]);
    at += 2;
    if (len < kLength16) return "frame length not minimally encoded";
  } else if (len7 == kLength64) {
    len = get_be64(&header_[at]);
    at += 8;
    if ((len >> 63) != 0) return "frame length has the most significant bit set";
    if (len <= 0xFFFF) return "frame length not minimally encoded";
  }
  return {};
}

std::string FrameDecoder::begin_payload(uint64_t len) {
  if (is_control(frame_opcode_)) {
    if (!fin_) return "fragmented control frame";
    if (len > kMaxControlPayload) return "control frame longer than 125 bytes";
    control_len_ = 0;
    state_ = State::kControlPayload;
    return {};
  }
  if (frame_opcode_ == Opcode::kContinuation) {
    if (!in_message_) return "continuation frame without a message to continue";
  } else {
    if (in_message_) return "new data frame inside a fragmented message";
    message_opcode_ = frame_opcode_;
  }
  in_message_ = !fin_;
  state_ = State::kPayload;
  return {};
}

DecodeStep FrameDecoder::empty_data_frame(MutableByteView input, size_t pos) {
  state_ = State::kHeader;
  DecodeStep step;
  step.status = DecodeStatus::kData;
  step.consumed = pos;
  step.opcode = message_opcode_;
  step.data = ByteView(input.data() + pos, 0);
  step.message_end = fin_;
  return step;
}

DecodeStep FrameDecoder::next_payload(MutableByteView input, size_t pos) {
  const size_t available = input.size() - pos;
  if (available == 0) return need_more(pos);
  const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, available));
  MutableByteView payload(input.data() + pos, n);
  if (masked_) apply_mask(payload, mask_, offset_);
  offset_ += n;
  remaining_ -= n;
  DecodeStep step;
  step.status = DecodeStatus::kData;
  step.consumed = pos + n;
  step.opcode = message_opcode_;
  step.data = payload;
  if (remaining_ == 0) {
    state_ = State::kHeader;
    step.message_end = fin_;
  }
  return step;
}

// A control payload is delivered whole, so one split across reads is collected in control_.
DecodeStep FrameDecoder::next_control_payload(MutableByteView input, size_t pos) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - pos));
  std::memcpy(control_.data() + control_len_, input.data() + pos, n);
  control_len_ += n;
  remaining_ -= n;
  pos += n;
  if (remaining_ > 0) return need_more(pos);
  if (masked_) apply_mask(MutableByteView(control_.data(), control_len_), mask_, 0);
  state_ = State::kHeader;
  DecodeStep step;
  step.status = DecodeStatus::kControl;
  step.consumed = pos;
  step.opcode = frame_opcode_;
  step.data = ByteView(control_.data(), control_len_);
  return step;
}

}  // namespace vmlocal::transport::ws
