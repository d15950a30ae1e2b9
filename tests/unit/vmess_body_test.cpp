#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "support/reader_feed.hpp"
#include "support/scripted_random.hpp"
#include "support/vectors.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_reader.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"
#include "vmlocal/vmess/response_reader.hpp"

using namespace vmlocal;
using namespace vmlocal::vmess;
using nlohmann::json;
using vmlocal::test::feed;
using vmlocal::test::FeedResult;
using vmlocal::test::hex;
using vmlocal::test::Split;

namespace {

const json& bodies() {
  return test::load_vectors("bodies.json");
}

const json& find_case(const std::string& name) {
  for (const auto& c : bodies()["cases"]) {
    if (c["name"] == name) return c;
  }
  throw std::runtime_error("no bodies.json case " + name);
}

SecurityType security_of(const json& c) {
  return static_cast<SecurityType>(c["security"].get<int>());
}
uint8_t options_of(const json& c) {
  return static_cast<uint8_t>(c["option"].get<int>());
}
Transfer transfer_of(const json& c) {
  return c["transfer"] == "packet" ? Transfer::kPacket : Transfer::kStream;
}
HeaderMode header_mode_of(const json& c) {
  return c["header_mode"] == "aead" ? HeaderMode::kAead : HeaderMode::kLegacy;
}
uint8_t v_of(const json& c) {
  return static_cast<uint8_t>(c["response_v"].get<int>());
}

std::vector<Bytes> payloads_of(const json& body) {
  std::vector<Bytes> out;
  for (const auto& p : bodies()["payloads"][body["payloads"].get<std::string>()])
    out.push_back(hex(p));
  return out;
}

Bytes joined(const std::vector<Bytes>& parts) {
  Bytes all;
  for (const Bytes& p : parts)
    all.insert(all.end(), p.begin(), p.end());
  return all;
}

Bytes padding_script(const json& chunks) {
  Bytes script;
  for (const auto& chunk : chunks) {
    if (chunk.contains("padding")) {
      const Bytes p = hex(chunk["padding"]);
      script.insert(script.end(), p.begin(), p.end());
    }
  }
  return script;
}

void append_frame(Bytes& wire, const BodyWriter::Frame& frame, ByteView payload) {
  wire.insert(wire.end(), frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  wire.insert(wire.end(), payload.begin(), payload.end());
  wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
}

// Seals the writes as the application made them: a stream write is cut at max_payload(), a
// datagram is one chunk. Then END, where the framing has one.
Bytes seal_all(BodyWriter& writer, const std::vector<Bytes>& writes, Transfer transfer,
               size_t* chunk_count = nullptr) {
  Bytes wire;
  size_t chunks = 0;
  for (const Bytes& write : writes) {
    if (transfer == Transfer::kPacket) REQUIRE(write.size() <= writer.max_payload());
    for (size_t at = 0; at < write.size();) {
      const size_t n = std::min(writer.max_payload(), write.size() - at);
      Bytes payload(write.begin() + static_cast<std::ptrdiff_t>(at),
                    write.begin() + static_cast<std::ptrdiff_t>(at + n));
      BodyWriter::Frame frame;
      writer.seal(payload, frame);
      append_frame(wire, frame, payload);
      at += n;
      ++chunks;
    }
  }
  if (writer.has_end_chunk()) {
    BodyWriter::Frame frame;
    writer.seal_end(frame);
    append_frame(wire, frame, {});
    ++chunks;
  }
  if (chunk_count != nullptr) *chunk_count = chunks;
  return wire;
}

bool has_end(const json& c) {
  return c["chunked"].get<bool>() && (options_of(c) & option::kChunkStream) != 0;
}

bool continues_header_cfb(const json& c) {
  return header_mode_of(c) == HeaderMode::kLegacy && security_of(c) == SecurityType::kLegacy;
}

// What a server's response-body writer continues after a 4-byte legacy header {V,0,0,0}.
crypto::Aes128Cfb cfb_after_legacy_header(const json& c) {
  const Bytes rk = hex(c["response_body_key"]);
  const Bytes rn = hex(c["response_body_iv"]);
  crypto::Aes128Cfb cfb(rk.data(), rn.data(), crypto::Aes128Cfb::Direction::kEncrypt);
  Bytes header = {v_of(c), 0, 0, 0};
  cfb.apply(header);
  CHECK(to_hex(header) == c["response_header_wire"].get<std::string>());
  return cfb;
}

void check_decoded(const FeedResult& got, const std::vector<Bytes>& payloads, Transfer transfer,
                   bool end) {
  CHECK_FALSE(got.failed);
  CHECK(got.error.empty());
  CHECK(got.ended == end);
  CHECK(got.unconsumed == 0);
  if (transfer == Transfer::kPacket) {
    // One datagram per chunk, boundaries intact.
    REQUIRE(got.data.size() == payloads.size());
    for (size_t i = 0; i < payloads.size(); ++i)
      CHECK(to_hex(got.data[i]) == to_hex(payloads[i]));
  } else {
    CHECK(got.joined() == joined(payloads));
  }
}

Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

ResponseReader response_reader_for(const json& c, std::optional<uint8_t> v = std::nullopt) {
  return ResponseReader(header_mode_of(c), security_of(c), options_of(c), transfer_of(c),
                        hex(c["response_body_key"]), hex(c["response_body_iv"]),
                        v.value_or(v_of(c)));
}

BodyReader request_reader_for(const json& c) {
  return BodyReader(security_of(c), options_of(c), transfer_of(c), hex(c["request_body_key"]),
                    hex(c["request_body_iv"]));
}

}  // namespace

TEST_CASE("bodies.json: all 23 cases are present") {
  CHECK(bodies()["cases"].size() == 23);
}

TEST_CASE("request body: BodyWriter reproduces every bodies.json wire, BodyReader opens it") {
  for (const auto& c : bodies()["cases"]) {
    const std::string name = c["name"];
    CAPTURE(name);
    const json& body = c["request_body"];
    const std::vector<Bytes> payloads = payloads_of(body);
    const Bytes expected = hex(body["wire"]);

    test::ScriptedRandom padding(padding_script(body["chunks"]));
    BodyWriter writer(security_of(c), options_of(c), transfer_of(c), hex(c["request_body_key"]),
                      hex(c["request_body_iv"]), padding);
    CHECK(writer.has_end_chunk() == has_end(c));
    size_t chunks = 0;
    const Bytes wire = seal_all(writer, payloads, transfer_of(c), &chunks);
    CHECK(to_hex(wire) == to_hex(expected));
    if (c["chunked"].get<bool>()) CHECK(chunks == body["chunks"].size());
    CHECK(padding.remaining() == 0);

    for (Split split : test::kAllSplits) {
      CAPTURE(test::split_name(split));
      BodyReader reader = request_reader_for(c);
      const FeedResult got = feed(reader, expected, split);
      check_decoded(got, payloads, transfer_of(c), has_end(c));
      CHECK(reader.at_boundary());
    }
  }
}

TEST_CASE("response body: ResponseReader opens header and body, BodyWriter reproduces it") {
  for (const auto& c : bodies()["cases"]) {
    const std::string name = c["name"];
    CAPTURE(name);
    const json& body = c["response_body"];
    const std::vector<Bytes> payloads = payloads_of(body);
    const Bytes header_wire = hex(c["response_header_wire"]);
    const Bytes body_wire = hex(body["wire"]);

    for (Split split : test::kAllSplits) {
      CAPTURE(test::split_name(split));
      ResponseReader reader = response_reader_for(c);
      const FeedResult got = feed(reader, concat(header_wire, body_wire), split);
      check_decoded(got, payloads, transfer_of(c), has_end(c));
      CHECK(reader.header_done());
      CHECK(reader.eof_is_clean());
    }

    // The server side, as a test server would write it. A legacy-header legacy-security body
    // continues the CFB stream the header started (§10.2).
    test::ScriptedRandom padding(padding_script(body["chunks"]));
    std::optional<crypto::Aes128Cfb> continued;
    if (continues_header_cfb(c)) continued = cfb_after_legacy_header(c);
    BodyWriter writer(security_of(c), options_of(c), transfer_of(c), hex(c["response_body_key"]),
                      hex(c["response_body_iv"]), padding, std::move(continued));
    CHECK(to_hex(seal_all(writer, payloads, transfer_of(c))) == to_hex(body_wire));
    CHECK(padding.remaining() == 0);
  }
}

TEST_CASE("BodyWriter splits like v2ray and knows which framings end with END") {
  test::ScriptedRandom none;
  const Bytes key(16, 1);
  const Bytes iv(16, 2);
  struct Expect {
    SecurityType security;
    uint8_t options;
    Transfer transfer;
    size_t max_payload;
    bool end;
  };
  const Expect table[] = {
      {SecurityType::kAes128Gcm, 0x0d, Transfer::kStream, 1966, true},
      {SecurityType::kAes128Gcm, 0x05, Transfer::kStream, 2030, true},
      {SecurityType::kAes128Gcm, 0x01, Transfer::kStream, 2030, true},
      {SecurityType::kAes128Gcm, 0x00, Transfer::kStream, 2030, false},  // chunked, no END
      {SecurityType::kChacha20Poly1305, 0x0d, Transfer::kStream, 1966, true},
      {SecurityType::kLegacy, 0x01, Transfer::kStream, 2042, true},
      {SecurityType::kLegacy, 0x0d, Transfer::kStream, 1978, true},
      {SecurityType::kLegacy, 0x00, Transfer::kStream, SIZE_MAX, false},
      {SecurityType::kNone, 0x05, Transfer::kStream, 8192, true},
      {SecurityType::kNone, 0x0d, Transfer::kStream, 8192, true},
      {SecurityType::kNone, 0x00, Transfer::kStream, SIZE_MAX, false},
      // §13: a datagram must fit 2048 bytes even with the largest padding draw.
      {SecurityType::kAes128Gcm, 0x0d, Transfer::kPacket, 1967, true},
      {SecurityType::kChacha20Poly1305, 0x05, Transfer::kPacket, 2030, true},
      {SecurityType::kNone, 0x05, Transfer::kPacket, 2046, true},
      {SecurityType::kNone, 0x0d, Transfer::kPacket, 1983, true},
      {SecurityType::kLegacy, 0x01, Transfer::kPacket, 2042, true},
  };
  for (const Expect& e : table) {
    CAPTURE(static_cast<int>(e.security));
    CAPTURE(static_cast<int>(e.options));
    CAPTURE(static_cast<int>(e.transfer));
    BodyWriter writer(e.security, e.options, e.transfer, key, iv, none);
    CHECK(writer.max_payload() == e.max_payload);
    CHECK(writer.has_end_chunk() == e.end);
  }
  CHECK_THROWS_AS(BodyWriter(SecurityType::kAuto, 0x0d, Transfer::kStream, key, iv, none),
                  std::invalid_argument);
  CHECK_THROWS_AS(BodyReader(SecurityType::kAes128Gcm, 0x0d, Transfer::kStream, key, Bytes(12)),
                  std::invalid_argument);
  // seal() and seal_end() check their contract with assertions: they run inside libuv callbacks.
}

TEST_CASE("a flipped bit anywhere in a chunk is fatal") {
  SUBCASE("length field (masked gcm)") {
    const json& c = find_case("body_gcm_mask_pad");
    Bytes wire = hex(c["request_body"]["wire"]);
    const json& chunk = c["request_body"]["chunks"][1];
    wire[chunk["offset"].get<size_t>() + 1] ^= 0x01;
    BodyReader reader = request_reader_for(c);
    const FeedResult got = feed(reader, wire, Split::kWhole);
    CHECK(got.failed);
    CHECK(got.error == "chunk authentication failed");
    CHECK(got.data.size() == 1);  // chunk 0 was fine
    // A reader that failed stays failed.
    Bytes more(100, 0);
    CHECK(reader.next(more).status == ReadStatus::kError);
  }
  SUBCASE("length field below the overhead (unmasked gcm)") {
    const json& c = find_case("body_gcm_plain");
    Bytes wire = hex(c["request_body"]["wire"]);
    put_be16(wire.data(), 15);  // less than the 16-byte tag
    BodyReader reader = request_reader_for(c);
    const FeedResult got = feed(reader, wire, Split::kByteByByte);
    CHECK(got.failed);
    CHECK(got.error == "chunk length smaller than its overhead and padding");
  }
  SUBCASE("tag") {
    const json& c = find_case("body_chacha_mask_pad");
    Bytes wire = hex(c["request_body"]["wire"]);
    const json& chunk = c["request_body"]["chunks"][2];
    const size_t tag_at = chunk["offset"].get<size_t>() + 2 + chunk["payload_len"].get<size_t>();
    REQUIRE(to_hex(ByteView(wire).subspan(tag_at, 16)) == chunk["tag"].get<std::string>());
    wire[tag_at + 7] ^= 0x80;
    BodyReader reader = request_reader_for(c);
    const FeedResult got = feed(reader, wire, Split::kRandom);
    CHECK(got.failed);
    CHECK(got.error == "chunk authentication failed");
    CHECK(got.data.size() == 2);
  }
  SUBCASE("END chunk's tag: checked, unlike v2ray") {
    const json& c = find_case("body_gcm_mask_pad");
    Bytes wire = hex(c["request_body"]["wire"]);
    const json& end = c["request_body"]["chunks"].back();
    REQUIRE(end["end"].get<bool>());
    wire[end["offset"].get<size_t>() + 2] ^= 0x01;
    BodyReader reader = request_reader_for(c);
    const FeedResult got = feed(reader, wire, Split::kWhole);
    CHECK(got.failed);
    CHECK_FALSE(got.ended);
    CHECK(got.error == "chunk authentication failed");
  }
  SUBCASE("legacy payload byte (FNV)") {
    const json& c = find_case("body_legacy_plain_aeadhdr");
    Bytes wire = hex(c["request_body"]["wire"]);
    const json& chunk = c["request_body"]["chunks"][1];
    wire[chunk["offset"].get<size_t>() + 6 + 100] ^= 0x04;
    BodyReader reader = request_reader_for(c);
    const FeedResult got = feed(reader, wire, Split::kWhole);
    CHECK(got.failed);
    CHECK(got.error == "chunk authentication failed");
  }
}

TEST_CASE("the response header is authenticated and its check byte verified") {
  const json& aead = find_case("body_gcm_mask_pad");
  const Bytes aead_body = hex(aead["response_body"]["wire"]);
  const Bytes aead_header = hex(aead["response_header_wire"]);
  REQUIRE(aead_header.size() == 38);

  SUBCASE("sealed length") {
    Bytes header = aead_header;
    header[3] ^= 0x10;
    ResponseReader reader = response_reader_for(aead);
    const FeedResult got = feed(reader, concat(header, aead_body), Split::kByteByByte);
    CHECK(got.failed);
    CHECK(got.error == "response header length authentication failed");
    CHECK_FALSE(reader.header_done());
    CHECK_FALSE(reader.eof_is_clean());
  }
  SUBCASE("sealed length's tag") {
    Bytes header = aead_header;
    header[17] ^= 0x01;
    ResponseReader reader = response_reader_for(aead);
    CHECK(feed(reader, concat(header, aead_body), Split::kWhole).error ==
          "response header length authentication failed");
  }
  SUBCASE("sealed header") {
    Bytes header = aead_header;
    header[18] ^= 0x01;
    ResponseReader reader = response_reader_for(aead);
    const FeedResult got = feed(reader, concat(header, aead_body), Split::kRandom);
    CHECK(got.failed);
    CHECK(got.error == "response header authentication failed");
  }
  SUBCASE("check byte (AEAD header)") {
    ResponseReader reader = response_reader_for(aead, static_cast<uint8_t>(v_of(aead) ^ 1));
    const FeedResult got = feed(reader, concat(aead_header, aead_body), Split::kWhole);
    CHECK(got.failed);
    CHECK(got.error == "response check byte mismatch");
    CHECK_FALSE(reader.header_done());
  }
  SUBCASE("check byte (legacy header, CFB: a flipped bit flips V)") {
    const json& legacy = find_case("body_gcm_mask_pad_legacyhdr");
    Bytes header = hex(legacy["response_header_wire"]);
    header[0] ^= 0x01;
    ResponseReader reader = response_reader_for(legacy);
    const FeedResult got =
        feed(reader, concat(header, hex(legacy["response_body"]["wire"])), Split::kByteByByte);
    CHECK(got.failed);
    CHECK(got.error == "response check byte mismatch");
  }
}

TEST_CASE("transport EOF is clean only at a chunk boundary") {
  for (const std::string name : {"body_gcm_mask_pad", "body_legacy_mask_pad_legacyhdr",
                                 "body_none_mask", "body_udp_none_mask_pad", "body_chacha_plain"}) {
    CAPTURE(name);
    const json& c = find_case(name);
    const Bytes header = hex(c["response_header_wire"]);
    const Bytes body = hex(c["response_body"]["wire"]);
    const Bytes all = concat(header, body);

    {
      ResponseReader reader = response_reader_for(c);
      feed(reader, ByteView(header).first(header.size() - 1), Split::kWhole);
      CHECK_FALSE(reader.header_done());
      CHECK_FALSE(reader.eof_is_clean());
    }
    for (const auto& chunk : c["response_body"]["chunks"]) {
      const size_t boundary = header.size() + chunk["offset"].get<size_t>();
      CAPTURE(boundary);
      ResponseReader at_boundary = response_reader_for(c);
      const FeedResult got = feed(at_boundary, ByteView(all).first(boundary), Split::kRandom);
      CHECK_FALSE(got.failed);
      CHECK(at_boundary.header_done());
      CHECK(at_boundary.eof_is_clean());
      CHECK(got.joined().size() == chunk["payload_offset"].get<size_t>());

      // Truncated inside the length field and inside the chunk.
      for (size_t cut : {size_t{1}, size_t{3}, chunk["length"].get<size_t>() - 1}) {
        if (cut >= chunk["length"].get<size_t>()) continue;
        ResponseReader truncated = response_reader_for(c);
        const FeedResult partial =
            feed(truncated, ByteView(all).first(boundary + cut), Split::kByteByByte);
        CHECK_FALSE(partial.failed);
        CHECK_FALSE(partial.ended);
        CHECK_FALSE(truncated.eof_is_clean());
      }
    }
    ResponseReader whole = response_reader_for(c);
    CHECK(feed(whole, all, Split::kWhole).ended);
    CHECK(whole.eof_is_clean());
    // After END the reader keeps saying so and takes nothing more.
    Bytes extra(10, 0);
    const ReadStep again = whole.next(extra);
    CHECK(again.status == ReadStatus::kEnd);
    CHECK(again.consumed == 0);
  }
}

TEST_CASE("EOF right after kData is clean only if the caller holds nothing more") {
  const json& c = find_case("body_gcm_mask_pad");
  Bytes wire = hex(c["request_body"]["wire"]);
  BodyReader reader = request_reader_for(c);
  const ReadStep step = reader.next(wire);
  REQUIRE(step.status == ReadStatus::kData);
  REQUIRE(step.consumed < wire.size());
  CHECK_FALSE(reader.at_boundary());  // whole chunks are still waiting in the caller's buffer

  const Bytes fresh = hex(c["request_body"]["wire"]);  // `wire` was decrypted in place
  Bytes first_chunk(fresh.begin(), fresh.begin() + static_cast<std::ptrdiff_t>(step.consumed));
  BodyReader exact = request_reader_for(c);
  CHECK(exact.next(first_chunk).status == ReadStatus::kData);
  CHECK(exact.at_boundary());
}

TEST_CASE("a raw body is data as soon as it arrives, and EOF anywhere is clean") {
  const json& c = find_case("body_legacy_raw_legacyhdr");
  const Bytes all = concat(hex(c["response_header_wire"]), hex(c["response_body"]["wire"]));
  ResponseReader reader = response_reader_for(c);
  const FeedResult got = feed(reader, ByteView(all).first(4 + 1234), Split::kRandom);
  CHECK(reader.eof_is_clean());
  const Bytes expected = joined(payloads_of(c["response_body"]));
  CHECK(got.joined() == Bytes(expected.begin(), expected.begin() + 1234));
}

TEST_CASE("the 16-bit chunk counter wraps after 65,536 chunks, as in v2ray") {
  const Bytes key = hex("000102030405060708090a0b0c0d0e0f");
  const Bytes iv = hex("101112131415161718191a1b1c1d1e1f");
  for (auto security : {SecurityType::kAes128Gcm, SecurityType::kChacha20Poly1305}) {
    CAPTURE(static_cast<int>(security));
    test::ScriptedRandom no_padding;
    // No masking: equal payloads under equal nonces give identical chunks, so chunk 65,536
    // must repeat chunk 0 exactly.
    BodyWriter writer(security, option::kChunkStream, Transfer::kStream, key, iv, no_padding);
    BodyReader reader(security, option::kChunkStream, Transfer::kStream, key, iv);
    constexpr size_t kChunks = 65536 + 3;
    Bytes first;
    Bytes chunk;
    for (size_t i = 0; i < kChunks; ++i) {
      Bytes payload = {static_cast<uint8_t>('x')};
      BodyWriter::Frame frame;
      writer.seal(payload, frame);
      chunk.clear();
      append_frame(chunk, frame, payload);
      if (i == 0) first = chunk;
      if (i == 65536) CHECK(to_hex(chunk) == to_hex(first));
      const ReadStep step = reader.next(chunk);
      REQUIRE(step.status == ReadStatus::kData);
      REQUIRE(step.consumed == chunk.size());
      REQUIRE(step.data.size() == 1);
      REQUIRE(step.data[0] == 'x');
    }
    BodyWriter::Frame frame;
    writer.seal_end(frame);
    chunk.clear();
    append_frame(chunk, frame, {});
    CHECK(reader.next(chunk).status == ReadStatus::kEnd);
  }
}

TEST_CASE("masked, padded bodies round-trip in every framing") {
  const Bytes key(16, 0x33);
  const Bytes iv(16, 0x44);
  struct Mode {
    SecurityType security;
    uint8_t options;
    Transfer transfer;
  };
  const Mode modes[] = {
      {SecurityType::kAes128Gcm, 0x0d, Transfer::kStream},
      {SecurityType::kChacha20Poly1305, 0x0d, Transfer::kPacket},
      {SecurityType::kLegacy, 0x0d, Transfer::kStream},
      {SecurityType::kLegacy, 0x0d, Transfer::kPacket},
      {SecurityType::kNone, 0x0d, Transfer::kPacket},
      {SecurityType::kNone, 0x05, Transfer::kStream},
      {SecurityType::kAes128Gcm, 0x00, Transfer::kStream},
  };
  std::vector<Bytes> writes;
  for (size_t n : {size_t{1}, size_t{7}, size_t{1500}, size_t{1967}, size_t{2}}) {
    Bytes w(n);
    for (size_t i = 0; i < n; ++i)
      w[i] = static_cast<uint8_t>(i * 7 + n);
    writes.push_back(w);
  }
  for (const Mode& m : modes) {
    CAPTURE(static_cast<int>(m.security));
    CAPTURE(static_cast<int>(m.options));
    test::ScriptedRandom padding(Bytes(64 * 10, 0xee));
    BodyWriter writer(m.security, m.options, m.transfer, key, iv, padding);
    const Bytes wire = seal_all(writer, writes, m.transfer);
    for (Split split : test::kAllSplits) {
      CAPTURE(test::split_name(split));
      BodyReader reader(m.security, m.options, m.transfer, key, iv);
      check_decoded(feed(reader, wire, split), writes, m.transfer, writer.has_end_chunk());
    }
  }
}
