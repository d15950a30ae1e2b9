#include "vmlocal/mux/frame.hpp"

#include <algorithm>
#include <cstring>

namespace vmlocal::mux {
namespace {

// VMess address types (§4.3), which Mux.Cool reuses.
constexpr uint8_t kAddressIpv4 = 0x01;
constexpr uint8_t kAddressDomain = 0x02;
constexpr uint8_t kAddressIpv6 = 0x03;

}  // namespace

size_t encode_frame_header(const FrameMeta& meta, uint16_t data_len,
                           std::array<uint8_t, kMaxFrameHeader>& out) {
  uint8_t* p = out.data() + 2;  // MetaLen is filled in last
  put_be16(p, meta.session_id);
  p[2] = static_cast<uint8_t>(meta.status);
  p[3] = meta.option;
  p += 4;
  if (meta.status == Status::kNew) {
    *p++ = static_cast<uint8_t>(meta.network);
    put_be16(p, meta.target.port);
    p += 2;
    switch (meta.target.type) {
      case TargetAddress::Type::kIpv4:
        *p++ = kAddressIpv4;
        p = std::copy_n(meta.target.ip.begin(), 4, p);
        break;
      case TargetAddress::Type::kIpv6:
        *p++ = kAddressIpv6;
        p = std::copy_n(meta.target.ip.begin(), 16, p);
        break;
      case TargetAddress::Type::kDomain: {
        const size_t n = std::min<size_t>(meta.target.domain.size(), 255);
        *p++ = kAddressDomain;
        *p++ = static_cast<uint8_t>(n);
        std::memcpy(p, meta.target.domain.data(), n);
        p += n;
        break;
      }
    }
  }
  put_be16(out.data(), static_cast<uint16_t>(p - out.data() - 2));
  if ((meta.option & kOptionData) != 0) {
    put_be16(p, data_len);
    p += 2;
  }
  return static_cast<size_t>(p - out.data());
}

FrameReader::Step FrameReader::fail(std::string_view why, size_t consumed) {
  state_ = State::kFailed;
  error_ = why;
  return {Event::kError, consumed};
}

bool FrameReader::parse_meta() {
  const uint8_t* p = buffer_.data();
  meta_ = FrameMeta{};
  meta_.session_id = get_be16(p);
  meta_.status = static_cast<Status>(p[2]);
  meta_.option = p[3];
  if (meta_.status != Status::kNew) return true;  // v2ray ignores bytes after the first 4

  // Network(1) Port(2) AType(1) and at least one address byte.
  if (have_ < 8) {
    error_ = "a New frame's metadata is too short for a target";
    return false;
  }
  const uint8_t network = p[4];
  if (network != static_cast<uint8_t>(Network::kTcp) &&
      network != static_cast<uint8_t>(Network::kUdp)) {
    error_ = "a New frame names an unknown network (neither TCP nor UDP)";
    return false;
  }
  meta_.network = static_cast<Network>(network);
  const uint16_t port = get_be16(p + 5);
  const uint8_t type = p[7];
  const size_t rest = have_ - 8;
  const uint8_t* address = p + 8;
  switch (type) {
    case kAddressIpv4:
      if (rest < 4) break;
      meta_.target = TargetAddress::ipv4({address[0], address[1], address[2], address[3]}, port);
      return true;
    case kAddressIpv6:
      if (rest < 16) break;
      {
        std::array<uint8_t, 16> ip{};
        std::copy_n(address, 16, ip.begin());
        meta_.target = TargetAddress::ipv6(ip, port);
      }
      return true;
    case kAddressDomain: {
      const size_t n = address[0];
      if (n == 0 || rest < 1 + n) break;
      meta_.target = TargetAddress::from_domain(
          std::string(reinterpret_cast<const char*>(address + 1), n), port);
      return true;
    }
    default:
      error_ = "a New frame has an unknown address type";
      return false;
  }
  error_ = "a New frame's address is cut short";
  return false;
}

FrameReader::Step FrameReader::next(ByteView input) {
  size_t used = 0;
  for (;;) {
    switch (state_) {
      case State::kFailed:
        return {Event::kError, used};
      case State::kData: {
        if (used == input.size()) return {Event::kNeedMore, used};
        const size_t n = std::min(data_remaining_, input.size() - used);
        data_ = input.subspan(used, n);
        data_remaining_ -= n;
        used += n;
        if (data_remaining_ == 0) {
          state_ = State::kMetaLen;
          need_ = 2;
          have_ = 0;
        }
        return {Event::kData, used};
      }
      case State::kMetaLen:
      case State::kMeta:
      case State::kDataLen: {
        const size_t n = std::min(need_ - have_, input.size() - used);
        std::memcpy(buffer_.data() + have_, input.data() + used, n);
        have_ += n;
        used += n;
        if (have_ < need_) return {Event::kNeedMore, used};
        if (state_ == State::kMetaLen) {
          const size_t meta_len = get_be16(buffer_.data());
          if (meta_len > kMaxMetaLen) return fail("a frame's metadata is over 512 bytes", used);
          if (meta_len < 4) return fail("a frame's metadata is under 4 bytes", used);
          state_ = State::kMeta;
          need_ = meta_len;
          have_ = 0;
          continue;
        }
        if (state_ == State::kMeta) {
          if (!parse_meta()) return fail(error_, used);
          if ((meta_.option & kOptionData) != 0) {
            state_ = State::kDataLen;
            need_ = 2;
            have_ = 0;
            continue;
          }
          data_length_ = 0;
          data_remaining_ = 0;
          data_ = {};
          state_ = State::kMetaLen;
          need_ = 2;
          have_ = 0;
          return {Event::kFrame, used};
        }
        // kDataLen
        data_length_ = get_be16(buffer_.data());
        data_remaining_ = data_length_;
        data_ = {};
        if (data_length_ == 0) {
          state_ = State::kMetaLen;
          need_ = 2;
        } else {
          state_ = State::kData;
        }
        have_ = 0;
        return {Event::kFrame, used};
      }
    }
  }
}

}  // namespace vmlocal::mux
