// The gRPC "gun" Hunk framing against vectors written from the documents: gRPC's
// Length-Prefixed-Message (grpc/grpc doc/PROTOCOL-HTTP2.md), `message Hunk { bytes data = 1; }`
// (Xray-core transport/internet/grpc/encoding/stream.proto) and the protobuf wire format
// (protobuf.dev "Encoding": tag = field << 3 | wire type, base-128 varints, e.g. 300 = AC 02).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmlocal/transport/grpc_frame.hpp"

using namespace vmlocal;
using namespace vmlocal::transport::grpc;

namespace {

Bytes header(uint64_t len) {
  std::array<uint8_t, kMaxHunkHeader> out{};
  const size_t n = encode_hunk_header(len, out);
  return Bytes(out.begin(), out.begin() + static_cast<ptrdiff_t>(n));
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Result {
  Bytes data;
  bool error = false;
  std::string message;
};

// Feeds `input` in pieces of `piece` bytes (0: all at once) and collects the data.
Result decode(const Bytes& input, size_t piece = 0) {
  HunkDecoder decoder;
  Result r;
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t n = piece == 0 ? input.size() - pos : std::min(piece, input.size() - pos);
    ByteView rest(input.data() + pos, n);
    pos += n;
    while (!rest.empty()) {
      const DecodeStep step = decoder.next(rest);
      REQUIRE(step.consumed <= rest.size());
      rest = rest.subspan(step.consumed);
      if (step.status == DecodeStatus::kError) {
        r.error = true;
        r.message = decoder.error();
        return r;
      }
      if (step.status == DecodeStatus::kNeedMore) {
        CHECK(rest.empty());
        break;
      }
      r.data.insert(r.data.end(), step.data.begin(), step.data.end());
    }
  }
  if (!decoder.at_message_boundary()) r.message = "not at a message boundary";
  return r;
}

}  // namespace

TEST_CASE("grpc frame: the Hunk header, byte for byte") {
  // "abc": Hunk = 0A 03 'a' 'b' 'c' (5 bytes); prefix: not compressed, length 5.
  CHECK(header(3) == Bytes{0x00, 0x00, 0x00, 0x00, 0x05, 0x0A, 0x03});
  // Varint boundaries: 127 = 7F; 128 = 80 01; 300 = AC 02 (the protobuf docs' example);
  // 16384 = 80 80 01. Message-Length is 1 (tag) + varint + data.
  CHECK(header(127) == Bytes{0x00, 0x00, 0x00, 0x00, 0x81, 0x0A, 0x7F});
  CHECK(header(128) == Bytes{0x00, 0x00, 0x00, 0x00, 0x83, 0x0A, 0x80, 0x01});
  CHECK(header(300) == Bytes{0x00, 0x00, 0x00, 0x01, 0x2F, 0x0A, 0xAC, 0x02});
  CHECK(header(16384) == Bytes{0x00, 0x00, 0x00, 0x40, 0x04, 0x0A, 0x80, 0x80, 0x01});
  // The largest: 5 varint bytes, and a Message-Length of 0xFFFFFFFF.
  CHECK(header(kMaxHunkData) ==
        Bytes{0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0A, 0xF9, 0xFF, 0xFF, 0xFF, 0x0F});
}

TEST_CASE("grpc frame: decoding whole, split at every byte, and several messages at once") {
  Bytes big(70'000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<uint8_t>(i * 31 + 7);
  const Bytes stream = cat({header(3), text("abc"), header(big.size()), big,
                            Bytes{0x00, 0x00, 0x00, 0x00, 0x00},  // an empty Hunk
                            header(1), text("z")});
  const Bytes expected = cat({text("abc"), big, text("z")});
  for (size_t piece : {0, 1, 2, 5, 7, 4096}) {
    CAPTURE(piece);
    const Result r = decode(stream, piece);
    CHECK_FALSE(r.error);
    CHECK(r.message.empty());
    CHECK(r.data == expected);
  }
}

TEST_CASE("grpc frame: unknown fields are skipped, as protobuf parsers do") {
  // Field 2 varint 150 (10 96 01), field 3 fixed64, field 4 LEN "xy", field 5 fixed32, then data.
  const Bytes message = cat({Bytes{0x10, 0x96, 0x01}, Bytes{0x19, 1, 2, 3, 4, 5, 6, 7, 8},
                             Bytes{0x22, 0x02, 'x', 'y'}, Bytes{0x2D, 1, 2, 3, 4},
                             Bytes{0x0A, 0x02, 'o', 'k'}, Bytes{0x10, 0x01}});
  const Bytes framed =
      cat({Bytes{0x00, 0x00, 0x00, 0x00, static_cast<uint8_t>(message.size())}, message});
  for (size_t piece : {0, 1}) {
    const Result r = decode(framed, piece);
    CHECK_FALSE(r.error);
    CHECK(r.data == text("ok"));
  }
  // A Hunk of unknown fields only carries nothing.
  const Result none = decode(Bytes{0x00, 0x00, 0x00, 0x00, 0x02, 0x10, 0x01});
  CHECK_FALSE(none.error);
  CHECK(none.data.empty());
}

TEST_CASE("grpc frame: what is refused") {
  auto error_of = [](const Bytes& input) {
    const Result r = decode(input);
    CHECK(r.error);
    return r.message;
  };
  CHECK(error_of(Bytes{0x01, 0x00, 0x00, 0x00, 0x05, 0x0A, 0x03, 'a', 'b', 'c'}) ==
        "gRPC: the server sent a compressed message, which was never negotiated");
  CHECK(error_of(Bytes{0x02, 0x00, 0x00, 0x00, 0x00}) ==
        "gRPC: bad Compressed-Flag 2 (not a gRPC message stream)");
  // Field 1 as a varint.
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x01}) ==
        "gRPC: Hunk.data is not length-delimited");
  // A data length past the message's end.
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x03, 0x0A, 0x05, 'a'}) ==
        "gRPC: a protobuf field runs past its message");
  // A varint field whose value lies past the message's end (the message is only its tag).
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x01, 0x10, 0x00}) ==
        "gRPC: a protobuf field runs past its message");
  // A varint cut by the message's end.
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x02, 0x10, 0x80, 0x00, 0x00, 0x00, 0x00}) ==
        "gRPC: a protobuf field runs past its message");
  // Two data fields in one message.
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x06, 0x0A, 0x01, 'a', 0x0A, 0x01, 'b'}) ==
        "gRPC: two data fields in one Hunk");
  // A group (wire type 3) and field number 0.
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x01, 0x13}) ==
        "gRPC: a protobuf group or bad wire type 3 in a Hunk");
  CHECK(error_of(Bytes{0x00, 0x00, 0x00, 0x00, 0x01, 0x02}) ==
        "gRPC: a protobuf field numbered 0 in a Hunk");
  // Once failed, it stays failed.
  HunkDecoder d;
  const Bytes bad{0x01, 0, 0, 0, 0};
  CHECK(d.next(ByteView(bad.data(), bad.size())).status == DecodeStatus::kError);
  const Bytes good = cat({header(1), text("a")});
  CHECK(d.next(ByteView(good.data(), good.size())).status == DecodeStatus::kError);
  // A stream cut inside a message is not at a boundary.
  CHECK(decode(cat({header(3), text("ab")})).message == "not at a message boundary");
}
