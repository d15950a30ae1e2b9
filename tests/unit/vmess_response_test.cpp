#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "support/reader_feed.hpp"
#include "support/scripted_random.hpp"
#include "support/vectors.hpp"
#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"
#include "vmlocal/vmess/kdf.hpp"
#include "vmlocal/vmess/response_reader.hpp"

using namespace vmlocal;
using namespace vmlocal::vmess;
using nlohmann::json;
using vmlocal::test::feed;
using vmlocal::test::FeedResult;
using vmlocal::test::hex;
using vmlocal::test::Split;

namespace {

Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes text_bytes(const json& node) {
  const std::string s = node.get<std::string>();
  return Bytes(s.begin(), s.end());
}

// A server's AEAD response header (§10.2) around any plaintext, for shapes no vector has.
Bytes seal_aead_header(ByteView rk, ByteView rn, ByteView plain) {
  auto seal = [&](std::string_view key_label, std::string_view iv_label, Bytes data) {
    crypto::AeadCipher cipher(crypto::AeadAlgorithm::kAes128Gcm, kdf16(rk, {as_bytes(key_label)}));
    const auto nonce = kdf(rn, {as_bytes(iv_label)});
    uint8_t tag[16];
    cipher.seal(nonce.data(), data, tag);
    data.insert(data.end(), tag, tag + 16);
    return data;
  };
  Bytes length(2);
  put_be16(length.data(), static_cast<uint16_t>(plain.size()));
  Bytes out = seal(kdf_label::kResponseLengthKey, kdf_label::kResponseLengthIv, length);
  const Bytes header = seal(kdf_label::kResponseHeaderKey, kdf_label::kResponseHeaderIv,
                            Bytes(plain.begin(), plain.end()));
  out.insert(out.end(), header.begin(), header.end());
  return out;
}

Bytes sealed_body(SecurityType security, ByteView rk, ByteView rn, ByteView payload,
                  std::optional<crypto::Aes128Cfb> continued = std::nullopt) {
  test::ScriptedRandom padding(Bytes(200, 0));
  BodyWriter writer(security, option::kChunkStream, Transfer::kStream, rk, rn, padding,
                    std::move(continued));
  Bytes data(payload.begin(), payload.end());
  BodyWriter::Frame frame;
  writer.seal(data, frame);
  Bytes wire(frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  wire.insert(wire.end(), data.begin(), data.end());
  wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
  writer.seal_end(frame);
  wire.insert(wire.end(), frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
  return wire;
}

}  // namespace

TEST_CASE("unknown commands are skipped by CmdLen in both header modes") {
  const Bytes rk = hex("0d712dea46b6358a634362733f554587");
  const Bytes rn = hex("3c0f2b607b04f4fd8fd8f9cdf8ae9364");
  const uint8_t v = 0x42;
  const Bytes plain = {v, 0x00, 0x07, 0x03, 0xaa, 0xbb, 0xcc};  // command 7: unknown
  const Bytes payload = {'o', 'k'};

  SUBCASE("AEAD header, trailing bytes after the command ignored") {
    Bytes padded = plain;
    padded.push_back(0xee);
    for (auto security : {SecurityType::kAes128Gcm, SecurityType::kLegacy}) {
      // In AEAD mode a legacy-security body starts a fresh CFB stream.
      const Bytes wire =
          concat(seal_aead_header(rk, rn, padded), sealed_body(security, rk, rn, payload));
      for (Split split : test::kAllSplits) {
        ResponseReader reader(HeaderMode::kAead, security, option::kChunkStream, Transfer::kStream,
                              rk, rn, v);
        const FeedResult got = feed(reader, wire, split);
        CHECK_FALSE(got.failed);
        CHECK(got.ended);
        CHECK(got.joined() == payload);
      }
    }
  }
  SUBCASE("legacy header, the body continuing its CFB stream") {
    crypto::Aes128Cfb cfb(rk.data(), rn.data(), crypto::Aes128Cfb::Direction::kEncrypt);
    Bytes header = plain;
    cfb.apply(header);
    const Bytes wire =
        concat(header, sealed_body(SecurityType::kLegacy, rk, rn, payload, std::move(cfb)));
    for (Split split : test::kAllSplits) {
      ResponseReader reader(HeaderMode::kLegacy, SecurityType::kLegacy, option::kChunkStream,
                            Transfer::kStream, rk, rn, v);
      const FeedResult got = feed(reader, wire, split);
      CHECK_FALSE(got.failed);
      CHECK(got.ended);
      CHECK(got.joined() == payload);
    }
  }
  SUBCASE("an AEAD header too short for its command is refused") {
    const Bytes wire = seal_aead_header(rk, rn, ByteView(plain).first(6));
    ResponseReader reader(HeaderMode::kAead, SecurityType::kAes128Gcm, option::kChunkStream,
                          Transfer::kStream, rk, rn, v);
    const FeedResult got = feed(reader, wire, Split::kWhole);
    CHECK(got.failed);
    CHECK(got.error == "response header too short");
  }
  SUBCASE("an AEAD header shorter than V Opt Cmd CmdLen is refused") {
    const Bytes wire = seal_aead_header(rk, rn, ByteView(plain).first(3));
    ResponseReader reader(HeaderMode::kAead, SecurityType::kAes128Gcm, option::kChunkStream,
                          Transfer::kStream, rk, rn, v);
    CHECK(feed(reader, wire, Split::kByteByByte).error == "response header too short");
  }
}

TEST_CASE("responses.json: every header is opened, its command skipped, its body read") {
  const auto& cases = test::load_vectors("responses.json")["cases"];
  REQUIRE(cases.size() == 4);
  int with_command = 0;
  for (const auto& c : cases) {
    const std::string name = c["name"];
    CAPTURE(name);
    const HeaderMode mode = c["header_mode"] == "aead" ? HeaderMode::kAead : HeaderMode::kLegacy;
    const auto security = static_cast<SecurityType>(c["security"].get<int>());
    const auto options = static_cast<uint8_t>(c["option"].get<int>());
    const auto v = static_cast<uint8_t>(c["response_v"].get<int>());
    const Bytes rk = hex(c["response_body_key"]);
    const Bytes rn = hex(c["response_body_iv"]);
    const Bytes header = hex(c["header_wire"]);
    const Bytes body = hex(c["body_wire"]);
    Bytes expected;
    for (const auto& p : c["body_payloads"]) {
      const Bytes b = hex(p);
      expected.insert(expected.end(), b.begin(), b.end());
    }
    bool body_has_end = false;
    for (const auto& chunk : c["body_chunks"])
      body_has_end = body_has_end || chunk["end"].get<bool>();

    if (mode == HeaderMode::kAead) {
      // §10.2: keys from RK, nonces from RN — the reader derives the same values internally.
      const json& a = c["aead"];
      CHECK(to_hex(kdf16(rk, {as_bytes(kdf_label::kResponseLengthKey)})) == a["length_key"]);
      CHECK(to_hex(ByteView(kdf(rn, {as_bytes(kdf_label::kResponseLengthIv)})).first(12)) ==
            a["length_nonce"]);
      CHECK(to_hex(kdf16(rk, {as_bytes(kdf_label::kResponseHeaderKey)})) == a["payload_key"]);
      CHECK(to_hex(ByteView(kdf(rn, {as_bytes(kdf_label::kResponseHeaderIv)})).first(12)) ==
            a["payload_nonce"]);
    }
    if (!c["command"].is_null()) {
      ++with_command;
      CHECK(c["command"]["command_id"].get<int>() == kCommandSwitchAccount);
    }

    for (Split split : test::kAllSplits) {
      CAPTURE(test::split_name(split));
      ResponseReader reader(mode, security, options, Transfer::kStream, rk, rn, v);
      const FeedResult got = feed(reader, concat(header, body), split);
      CHECK_FALSE(got.failed);
      CHECK(got.ended == body_has_end);
      CHECK(got.unconsumed == 0);
      CHECK(to_hex(got.joined()) == to_hex(expected));
      CHECK(reader.eof_is_clean());
    }

    // The header alone, command included, is consumed before any body byte is needed.
    ResponseReader header_only(mode, security, options, Transfer::kStream, rk, rn, v);
    Bytes just_header = header;
    const ReadStep step = header_only.next(just_header);
    CHECK(step.status == ReadStatus::kNeedMore);
    CHECK(step.consumed == header.size());
    CHECK(header_only.header_done());
    CHECK(header_only.eof_is_clean());

    // One byte short of the header: nothing is finished yet.
    ResponseReader short_header(mode, security, options, Transfer::kStream, rk, rn, v);
    const FeedResult partial =
        feed(short_header, ByteView(header).first(header.size() - 1), Split::kByteByByte);
    CHECK_FALSE(partial.failed);
    CHECK_FALSE(short_header.header_done());
    CHECK_FALSE(short_header.eof_is_clean());
  }
  CHECK(with_command == 2);
}

TEST_CASE("responses.json: a wrong check byte is refused even behind a command") {
  for (const auto& c : test::load_vectors("responses.json")["cases"]) {
    const std::string name = c["name"];
    CAPTURE(name);
    ResponseReader reader(c["header_mode"] == "aead" ? HeaderMode::kAead : HeaderMode::kLegacy,
                          static_cast<SecurityType>(c["security"].get<int>()),
                          static_cast<uint8_t>(c["option"].get<int>()), Transfer::kStream,
                          hex(c["response_body_key"]), hex(c["response_body_iv"]),
                          static_cast<uint8_t>(c["response_v"].get<int>() + 1));
    const FeedResult got =
        feed(reader, concat(hex(c["header_wire"]), hex(c["body_wire"])), Split::kRandom);
    CHECK(got.failed);
    CHECK(got.error == "response check byte mismatch");
    CHECK(got.data.empty());
  }
}

TEST_CASE("transcript: server_to_client decodes, the request body re-seals byte for byte") {
  const json& t = test::load_vectors("transcript_tcp_aes128gcm.json");
  const json& rh = t["request_header"];
  const json& request = rh["request"];
  REQUIRE(t["security"] == "aes-128-gcm");
  const auto options = static_cast<uint8_t>(t["option"].get<int>());
  const Bytes k = hex(request["body_key"]);
  const Bytes n = hex(request["body_iv"]);
  const auto v = static_cast<uint8_t>(request["response_v"].get<int>());
  const Bytes rk = hex(rh["response_body_key"]);
  const Bytes rn = hex(rh["response_body_iv"]);
  REQUIRE(rh["header_mode"] == "aead");

  const Bytes server_to_client = hex(t["server_to_client"]);
  for (Split split : test::kAllSplits) {
    CAPTURE(test::split_name(split));
    ResponseReader reader(HeaderMode::kAead, SecurityType::kAes128Gcm, options, Transfer::kStream,
                          rk, rn, v);
    const FeedResult got = feed(reader, server_to_client, split);
    CHECK_FALSE(got.failed);
    CHECK(got.ended);
    CHECK(got.unconsumed == 0);
    const Bytes payload = got.joined();
    CHECK(std::string(payload.begin(), payload.end()) == t["response_payload"].get<std::string>());
  }

  // The uplink: same padding bytes as the recorded run, so the body bytes must match exactly.
  Bytes padding;
  for (const auto& chunk : t["request_chunks"]) {
    const Bytes p = hex(chunk["padding"]);
    padding.insert(padding.end(), p.begin(), p.end());
  }
  test::ScriptedRandom random(padding);
  BodyWriter writer(SecurityType::kAes128Gcm, options, Transfer::kStream, k, n, random);
  Bytes payload = text_bytes(t["request_payload"]);
  REQUIRE(payload.size() <= writer.max_payload());
  Bytes wire;
  BodyWriter::Frame frame;
  writer.seal(payload, frame);
  wire.insert(wire.end(), frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  wire.insert(wire.end(), payload.begin(), payload.end());
  wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
  writer.seal_end(frame);
  wire.insert(wire.end(), frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);

  const Bytes client_to_server = hex(t["client_to_server"]);
  const size_t header_len = t["request_header_len"].get<size_t>();
  CHECK(to_hex(wire) == to_hex(ByteView(client_to_server).subspan(header_len)));
  CHECK(random.remaining() == 0);
}
