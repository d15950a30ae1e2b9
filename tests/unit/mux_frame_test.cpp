// Mux.Cool frames against vectors made by v2ray 4.34's own common/mux writer
// (tests/vectors/mux_frames.json; the generator is mux_frames_gen.go.txt next to it): our
// encoder, driven the way v2ray's Writer drives its own, gives the same bytes, and our reader
// gets the same sessions, targets and payloads back, whole, byte by byte, and split anywhere.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/vectors.hpp"
#include "vmlocal/mux/frame.hpp"

using namespace vmlocal;
using vmlocal::test::hex;
using vmlocal::test::load_vectors;

namespace {

TargetAddress parse_target(const std::string& text, bool* ok) {
  *ok = true;
  const size_t colon = text.rfind(':');
  std::string host = text.substr(0, colon);
  const auto port = static_cast<uint16_t>(std::stoi(text.substr(colon + 1)));
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "127.0.0.1") return TargetAddress::ipv4({127, 0, 0, 1}, port);
  if (host == "2001:db8::1") {
    return TargetAddress::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, port);
  }
  return TargetAddress::from_domain(host, port);
}

void append_frame(Bytes& out, const mux::FrameMeta& meta, ByteView data) {
  std::array<uint8_t, mux::kMaxFrameHeader> header{};
  const size_t n = mux::encode_frame_header(meta, static_cast<uint16_t>(data.size()), header);
  out.insert(out.end(), header.begin(), header.begin() + static_cast<ptrdiff_t>(n));
  out.insert(out.end(), data.begin(), data.end());
}

// What v2ray's mux.Writer writes for these payloads (writer.go): the first frame is New, later
// ones Keep; an empty payload is a frame without data; stream data splits at 8 KiB, packet
// data is one frame per datagram; then End (with the error bit when aborted).
Bytes encode_like_v2ray(const nlohmann::json& v) {
  Bytes out;
  mux::FrameMeta meta;
  meta.session_id = v["session_id"].get<uint16_t>();
  const bool udp = v["network"] == "udp";
  meta.network = udp ? mux::Network::kUdp : mux::Network::kTcp;
  bool ok = true;
  if (!v["response"].get<bool>()) meta.target = parse_target(v["target"], &ok);
  bool followup = v["response"].get<bool>();
  for (const auto& p : v["payloads"]) {
    const Bytes payload = hex(p);
    auto next_status = [&] {
      const mux::Status s = followup ? mux::Status::kKeep : mux::Status::kNew;
      followup = true;
      return s;
    };
    if (payload.empty()) {
      meta.status = next_status();
      meta.option = 0;
      append_frame(out, meta, {});
      continue;
    }
    const size_t step = udp ? payload.size() : mux::kTcpFrameData;
    for (size_t at = 0; at < payload.size(); at += step) {
      meta.status = next_status();
      meta.option = mux::kOptionData;
      append_frame(out, meta, ByteView(payload).subspan(at, std::min(step, payload.size() - at)));
    }
  }
  if (v["close"] == "end" || v["close"] == "error") {
    meta.status = mux::Status::kEnd;
    meta.option = v["close"] == "error" ? mux::kOptionError : 0;
    append_frame(out, meta, {});
  }
  return out;
}

struct Frame {
  mux::FrameMeta meta;
  Bytes data;
  size_t declared = 0;
};

// Feeds `bytes` in pieces of `piece` bytes (0: whole) and collects the frames.
std::vector<Frame> read_all(const Bytes& bytes, size_t piece, std::string* error = nullptr) {
  mux::FrameReader reader;
  std::vector<Frame> frames;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t n = piece == 0 ? bytes.size() - at : std::min(piece, bytes.size() - at);
    ByteView input(bytes.data() + at, n);
    at += n;
    while (true) {
      const mux::FrameReader::Step step = reader.next(input);
      input = input.subspan(step.consumed);
      if (step.event == mux::FrameReader::Event::kNeedMore) break;
      if (step.event == mux::FrameReader::Event::kError) {
        if (error != nullptr) *error = std::string(reader.error());
        return frames;
      }
      if (step.event == mux::FrameReader::Event::kFrame) {
        frames.push_back({reader.meta(), {}, reader.data_length()});
      } else {
        REQUIRE(!frames.empty());
        frames.back().data.insert(frames.back().data.end(), reader.data().begin(),
                                  reader.data().end());
        CHECK(reader.last_piece() == (frames.back().data.size() == frames.back().declared));
      }
      if (input.empty()) break;
    }
  }
  return frames;
}

}  // namespace

TEST_CASE("mux: the encoder writes v2ray 4.34's frames byte for byte") {
  const auto& vectors = load_vectors("mux_frames.json");
  REQUIRE(vectors.size() >= 8);
  for (const auto& v : vectors) {
    CAPTURE(v["name"].get<std::string>());
    if (v["name"] == "keepalive") {
      Bytes out;
      mux::FrameMeta meta;
      meta.status = mux::Status::kKeepAlive;
      append_frame(out, meta, {});
      CHECK(out == hex(v["bytes"]));
      continue;
    }
    CHECK(encode_like_v2ray(v) == hex(v["bytes"]));
  }
}

TEST_CASE("mux: the reader gets back sessions, targets and payloads, however the bytes arrive") {
  for (const auto& v : load_vectors("mux_frames.json")) {
    CAPTURE(v["name"].get<std::string>());
    const Bytes bytes = hex(v["bytes"]);
    const std::vector<Frame> whole = read_all(bytes, 0);
    REQUIRE(!whole.empty());
    for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
      const std::vector<Frame> split = read_all(bytes, piece);
      REQUIRE(split.size() == whole.size());
      for (size_t i = 0; i < split.size(); ++i)
        CHECK(split[i].data == whole[i].data);
    }
    if (v["name"] == "keepalive") {
      CHECK(whole[0].meta.status == mux::Status::kKeepAlive);
      continue;
    }
    Bytes payloads;
    for (const auto& p : v["payloads"]) {
      const Bytes b = hex(p);
      payloads.insert(payloads.end(), b.begin(), b.end());
    }
    Bytes got;
    for (const Frame& f : whole) {
      CHECK(f.meta.session_id == v["session_id"].get<uint16_t>());
      got.insert(got.end(), f.data.begin(), f.data.end());
    }
    CHECK(got == payloads);
    const bool response = v["response"].get<bool>();
    CHECK(whole.front().meta.status == (response ? mux::Status::kKeep : mux::Status::kNew));
    if (!response) {
      bool ok = false;
      CHECK(whole.front().meta.target == parse_target(v["target"], &ok));
      CHECK(whole.front().meta.network ==
            (v["network"] == "udp" ? mux::Network::kUdp : mux::Network::kTcp));
    }
    CHECK(whole.back().meta.status == mux::Status::kEnd);
    CHECK(((whole.back().meta.option & mux::kOptionError) != 0) == (v["close"] == "error"));
    if (v["network"] == "udp") {
      // One datagram per frame.
      size_t i = 0;
      for (const auto& p : v["payloads"])
        CHECK(whole[i++].data == hex(p));
    }
  }
}

TEST_CASE("mux: malformed frames are refused with a reason") {
  auto error_of = [](const Bytes& bytes) {
    std::string error;
    read_all(bytes, 0, &error);
    return error;
  };
  CHECK(error_of({0x02, 0x01}) == "a frame's metadata is over 512 bytes");
  CHECK(error_of({0x00, 0x03, 0, 1, 2}) == "a frame's metadata is under 4 bytes");
  // New with network 3.
  CHECK(error_of({0x00, 0x0c, 0, 1, 1, 0, 3, 0x1f, 0x90, 1, 127, 0, 0, 1}) ==
        "a New frame names an unknown network (neither TCP nor UDP)");
  CHECK(error_of({0x00, 0x0c, 0, 1, 1, 0, 1, 0x1f, 0x90, 9, 127, 0, 0, 1}) ==
        "a New frame has an unknown address type");
  CHECK(error_of({0x00, 0x0a, 0, 1, 1, 0, 1, 0x1f, 0x90, 1, 127, 0}) ==
        "a New frame's address is cut short");
  CHECK(error_of({0x00, 0x09, 0, 1, 1, 0, 1, 0x1f, 0x90, 2, 5, 'a'}) ==
        "a New frame's address is cut short");
  CHECK(error_of({0x00, 0x05, 0, 1, 1, 0, 1}) ==
        "a New frame's metadata is too short for a target");
  // A frame that is not New may carry extra metadata bytes: v2ray ignores them, so do we.
  const std::vector<Frame> frames =
      read_all({0x00, 0x06, 0, 7, 2, 1, 0xaa, 0xbb, 0, 2, 'h', 'i'}, 0);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].meta.session_id == 7);
  CHECK(frames[0].data == Bytes{'h', 'i'});
}
