// RFC 6455 framing: header encoding at every length boundary, masking, the push decoder on
// whole, split and fragmented input, control frames, and each protocol violation.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmlocal/transport/ws_frame.hpp"

using namespace vmlocal;
using namespace vmlocal::transport::ws;

namespace {

Bytes header_bytes(Opcode op, uint64_t len, const MaskKey* mask) {
  std::array<uint8_t, kMaxHeaderSize> out{};
  const size_t n = encode_header(op, len, mask, out);
  return Bytes(out.begin(), out.begin() + static_cast<ptrdiff_t>(n));
}

// A whole frame as a server (unmasked) or client (masked) would send it.
Bytes frame(Opcode op, const Bytes& payload, bool fin = true, const MaskKey* mask = nullptr) {
  Bytes out = header_bytes(op, payload.size(), mask);
  if (!fin) out[0] &= 0x7F;
  Bytes body = payload;
  if (mask != nullptr) apply_mask(body, *mask, 0);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>(i * 7 + 3);
  return b;
}

struct Decoded {
  Bytes data;  // concatenated data payload
  std::vector<Opcode> controls;
  std::vector<Bytes> control_payloads;
  int message_ends = 0;
  std::string error;
};

// Feeds `input` in pieces of `piece` bytes (0: all at once) and collects what comes out.
Decoded decode(Bytes input, size_t piece = 0, Role role = Role::kClient) {
  FrameDecoder decoder(role);
  Decoded out;
  size_t at = 0;
  while (at < input.size()) {
    const size_t n = piece == 0 ? input.size() - at : std::min(piece, input.size() - at);
    MutableByteView chunk(input.data() + at, n);
    size_t used = 0;
    while (used < n) {
      DecodeStep step = decoder.next(chunk.subspan(used));
      used += step.consumed;
      if (step.status == DecodeStatus::kNeedMore) {
        REQUIRE(used == n);
        break;
      }
      if (step.status == DecodeStatus::kError) {
        out.error = decoder.error();
        return out;
      }
      if (step.status == DecodeStatus::kData) {
        out.data.insert(out.data.end(), step.data.begin(), step.data.end());
        if (step.message_end) ++out.message_ends;
      } else {
        out.controls.push_back(step.opcode);
        out.control_payloads.emplace_back(step.data.begin(), step.data.end());
      }
    }
    at += n;
  }
  return out;
}

}  // namespace

TEST_CASE("ws frame: header encoding at each length boundary (RFC 6455 §5.2)") {
  CHECK(to_hex(header_bytes(Opcode::kBinary, 0, nullptr)) == "8200");
  CHECK(to_hex(header_bytes(Opcode::kBinary, 125, nullptr)) == "827d");
  CHECK(to_hex(header_bytes(Opcode::kBinary, 126, nullptr)) == "827e007e");
  CHECK(to_hex(header_bytes(Opcode::kBinary, 65535, nullptr)) == "827effff");
  CHECK(to_hex(header_bytes(Opcode::kBinary, 65536, nullptr)) == "827f0000000000010000");
  const MaskKey key = {0x37, 0xfa, 0x21, 0x3d};
  CHECK(to_hex(header_bytes(Opcode::kBinary, 5, &key)) == "828537fa213d");
  CHECK(to_hex(header_bytes(Opcode::kBinary, 70000, &key)) == "82ff000000000001117037fa213d");
  CHECK(to_hex(header_bytes(Opcode::kPing, 0, &key)) == "898037fa213d");
  CHECK(to_hex(header_bytes(Opcode::kClose, 2, nullptr)) == "8802");
}

TEST_CASE("ws frame: the RFC's masked \"Hello\" example and masking at any offset") {
  // RFC 6455 §5.7: a single-frame masked text message "Hello".
  const MaskKey key = {0x37, 0xfa, 0x21, 0x3d};
  Bytes hello = {'H', 'e', 'l', 'l', 'o'};
  Bytes f = frame(Opcode::kText, hello, true, &key);
  CHECK(to_hex(f) == "818537fa213d7f9f4d5158");

  // Masking in pieces at arbitrary offsets equals masking in one go; twice restores the data.
  Bytes data = pattern(1000);
  Bytes whole = data;
  apply_mask(whole, key, 0);
  Bytes pieces = data;
  size_t offset = 0;
  for (size_t len : {1u, 2u, 3u, 7u, 8u, 9u, 100u, 870u}) {
    apply_mask(MutableByteView(pieces.data() + offset, len), key, offset);
    offset += len;
  }
  CHECK(offset == 1000);
  CHECK(pieces == whole);
  apply_mask(whole, key, 0);
  CHECK(whole == data);
}

TEST_CASE("ws frame: decoding data frames of length 0, 125, 126, 65535 and 65536") {
  for (size_t len : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 200000u}) {
    CAPTURE(len);
    const Bytes payload = pattern(len);
    Bytes wire = frame(Opcode::kBinary, payload);
    for (size_t piece : {0u, 1u, 3u, 4096u}) {
      if (piece == 1 && len > 70000) continue;  // slow and adds nothing
      CAPTURE(piece);
      Decoded d = decode(wire, piece);
      CHECK(d.error.empty());
      CHECK(d.data == payload);
      CHECK(d.message_ends == 1);
    }
  }
}

TEST_CASE("ws frame: several frames in one read; payload is returned in place") {
  Bytes wire = frame(Opcode::kBinary, pattern(300));
  Bytes second = frame(Opcode::kBinary, {1, 2, 3});
  wire.insert(wire.end(), second.begin(), second.end());
  FrameDecoder decoder(Role::kClient);
  MutableByteView input(wire);
  DecodeStep a = decoder.next(input);
  REQUIRE(a.status == DecodeStatus::kData);
  CHECK(a.data.data() == wire.data() + 4);  // after the 4-byte header: no copy
  CHECK(a.data.size() == 300);
  CHECK(a.consumed == 304);
  DecodeStep b = decoder.next(input.subspan(a.consumed));
  REQUIRE(b.status == DecodeStatus::kData);
  CHECK(b.data.size() == 3);
  CHECK(b.consumed == 5);
  DecodeStep c = decoder.next(input.subspan(a.consumed + b.consumed));
  CHECK(c.status == DecodeStatus::kNeedMore);
}

TEST_CASE("ws frame: a fragmented message with a ping in the middle") {
  Bytes wire = frame(Opcode::kBinary, {1, 2, 3}, /*fin=*/false);
  Bytes ping = frame(Opcode::kPing, {'h', 'i'});
  Bytes cont1 = frame(Opcode::kContinuation, {4, 5}, false);
  Bytes cont2 = frame(Opcode::kContinuation, {6}, true);
  for (const Bytes* b : {&ping, &cont1, &cont2})
    wire.insert(wire.end(), b->begin(), b->end());
  for (size_t piece : {0u, 1u, 2u}) {
    Decoded d = decode(wire, piece);
    CHECK(d.error.empty());
    CHECK(d.data == Bytes{1, 2, 3, 4, 5, 6});
    CHECK(d.message_ends == 1);
    REQUIRE(d.controls.size() == 1);
    CHECK(d.controls[0] == Opcode::kPing);
    CHECK(d.control_payloads[0] == Bytes{'h', 'i'});
  }
}

TEST_CASE("ws frame: control frames: close with code and reason, pong, empty ping") {
  std::array<uint8_t, kMaxControlPayload> body{};
  const size_t len = encode_close_payload(1001, "going away", body);
  Bytes wire = frame(Opcode::kClose, Bytes(body.begin(), body.begin() + len));
  CHECK(to_hex(Bytes(wire.begin(), wire.begin() + 4)) == "880c03e9");
  Bytes pong = frame(Opcode::kPong, {});
  Bytes ping = frame(Opcode::kPing, {});
  wire.insert(wire.end(), pong.begin(), pong.end());
  wire.insert(wire.end(), ping.begin(), ping.end());
  Decoded d = decode(wire, 1);
  REQUIRE(d.controls.size() == 3);
  CHECK(d.controls[0] == Opcode::kClose);
  uint16_t code = 0;
  std::string reason;
  REQUIRE(parse_close_payload(d.control_payloads[0], code, reason));
  CHECK(code == 1001);
  CHECK(reason == "going away");
  CHECK(d.controls[1] == Opcode::kPong);
  CHECK(d.controls[2] == Opcode::kPing);
  CHECK(d.control_payloads[2].empty());

  CHECK(parse_close_payload({}, code, reason));
  CHECK(code == kCloseNoStatus);
  const uint8_t one_byte[] = {0x03};
  CHECK_FALSE(parse_close_payload(one_byte, code, reason));
  const uint8_t reserved[] = {0x03, 0xed};  // 1005 must never be sent
  CHECK_FALSE(parse_close_payload(reserved, code, reason));
  const uint8_t app[] = {0x0f, 0xa0};  // 4000: application-defined
  CHECK(parse_close_payload(app, code, reason));
  CHECK(code == 4000);
}

TEST_CASE("ws frame: encode_control masks a control frame for sending") {
  const MaskKey key = {1, 2, 3, 4};
  std::array<uint8_t, kMaxControlFrame> out{};
  const size_t n = encode_control(Opcode::kPong, Bytes{'a', 'b'}, key, out);
  CHECK(to_hex(Bytes(out.begin(), out.begin() + n)) ==
        "8a820102030460"
        "60");
  // A server decodes it back.
  Decoded d = decode(Bytes(out.begin(), out.begin() + n), 0, Role::kServer);
  REQUIRE(d.controls.size() == 1);
  CHECK(d.control_payloads[0] == Bytes{'a', 'b'});
}

TEST_CASE("ws frame: a server-role decoder unmasks client frames across pieces") {
  const MaskKey key = {0xde, 0xad, 0xbe, 0xef};
  const Bytes payload = pattern(70000);
  Bytes wire = frame(Opcode::kBinary, payload, true, &key);
  for (size_t piece : {0u, 5u, 4093u}) {
    Decoded d = decode(wire, piece, Role::kServer);
    CHECK(d.error.empty());
    CHECK(d.data == payload);
  }
}

TEST_CASE("ws frame: text messages are reported as text for the caller to refuse") {
  FrameDecoder decoder(Role::kClient);
  Bytes wire = frame(Opcode::kText, {'x'});
  DecodeStep step = decoder.next(wire);
  REQUIRE(step.status == DecodeStatus::kData);
  CHECK(step.opcode == Opcode::kText);
}

TEST_CASE("ws frame: protocol violations are errors, and stay errors") {
  auto error_of = [](Bytes wire, Role role = Role::kClient) { return decode(wire, 0, role).error; };
  const MaskKey key = {1, 2, 3, 4};
  CHECK(error_of(frame(Opcode::kBinary, {1}, true, &key)) == "the server sent a masked frame");
  CHECK(error_of(frame(Opcode::kBinary, {1}), Role::kServer) ==
        "the client sent an unmasked frame");
  CHECK(error_of({0xC2, 0x00}) == "frame with reserved bits set (no extension agreed)");
  CHECK(error_of({0x83, 0x00}) == "frame with unknown opcode 3");
  CHECK(error_of({0x8B, 0x00}) == "frame with unknown opcode 11");
  CHECK(error_of({0x09, 0x00}) == "fragmented control frame");
  CHECK(error_of({0x89, 0x7E, 0x00, 0x7E}) == "control frame longer than 125 bytes");
  CHECK(error_of({0x82, 0x7E, 0x00, 0x10}) == "frame length not minimally encoded");
  CHECK(error_of({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}) ==
        "frame length not minimally encoded");
  CHECK(error_of({0x82, 0x7F, 0x80, 0, 0, 0, 0, 1, 0, 0}) ==
        "frame length has the most significant bit set");
  CHECK(error_of({0x80, 0x00}) == "continuation frame without a message to continue");
  CHECK(error_of({0x02, 0x01, 0xAA, 0x82, 0x00}) == "new data frame inside a fragmented message");

  FrameDecoder decoder(Role::kClient);
  Bytes bad = {0x83, 0x00};
  CHECK(decoder.next(bad).status == DecodeStatus::kError);
  Bytes good = frame(Opcode::kBinary, {1});
  CHECK(decoder.next(good).status == DecodeStatus::kError);
  CHECK(decoder.failed());
}
