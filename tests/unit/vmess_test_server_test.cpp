// The test server is only as useful as it is right: its response headers are checked against
// v2ray's own bytes, and a whole session runs client -> test server -> client.
#include <doctest/doctest.h>

#include <string>

#include "support/scripted_random.hpp"
#include "support/vectors.hpp"
#include "support/vmess_test_server.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/body_reader.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/request_builder.hpp"
#include "vmlocal/vmess/response_reader.hpp"

using namespace vmlocal;
using vmlocal::test::hex;

namespace {

std::string str(const nlohmann::json& node) {
  return node.get<std::string>();
}

vmess::HeaderMode header_mode_of(const nlohmann::json& c) {
  return str(c.at("header_mode")) == "aead" ? vmess::HeaderMode::kAead : vmess::HeaderMode::kLegacy;
}

// Appends one sealed chunk (or, with an empty payload, the END chunk) to `wire`.
void write_chunk(vmess::BodyWriter& writer, ByteView payload, Bytes& wire) {
  vmess::BodyWriter::Frame frame{};
  Bytes data(payload.begin(), payload.end());
  if (data.empty()) {
    writer.seal_end(frame);
  } else {
    writer.seal(data, frame);
  }
  wire.insert(wire.end(), frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  wire.insert(wire.end(), data.begin(), data.end());
  wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
}

struct ReadAll {
  Bytes payload;
  bool ended = false;  // an END chunk was seen
  std::string error;
};

// Feeds all of `wire` to a push-style reader (BodyReader or ResponseReader).
template <typename Reader>
ReadAll read_all(Reader& reader, Bytes wire) {
  ReadAll out;
  size_t pos = 0;
  while (true) {
    auto step = reader.next(MutableByteView(wire).subspan(pos));
    if (step.status == vmess::ReadStatus::kData) {
      out.payload.insert(out.payload.end(), step.data.begin(), step.data.end());
    } else if (step.status == vmess::ReadStatus::kEnd) {
      out.ended = true;
      return out;
    } else if (step.status == vmess::ReadStatus::kError) {
      out.error = std::string(reader.error());
      return out;
    }
    pos += step.consumed;
    if (step.status == vmess::ReadStatus::kNeedMore && step.consumed == 0) return out;
  }
}

}  // namespace

TEST_CASE("vmess test server: response headers match every responses.json case") {
  const auto& cases = test::load_vectors("responses.json").at("cases");
  REQUIRE(cases.size() >= 4);
  for (const auto& c : cases) {
    CAPTURE(str(c.at("name")));
    const auto mode = header_mode_of(c);
    const Bytes rk = hex(c.at("response_body_key"));
    const Bytes rn = hex(c.at("response_body_iv"));
    const auto v = c.at("response_v").get<uint8_t>();
    const auto& command = c.at("command");
    auto encoded = command.is_null() ? test::encode_response_header(mode, rk, rn, v)
                                     : test::encode_response_header(
                                           mode, rk, rn, v, command.at("command_id").get<uint8_t>(),
                                           hex(command.at("data")));
    CHECK(to_hex(encoded.wire) == str(c.at("header_wire")));
    CHECK(encoded.cfb.has_value() == (mode == vmess::HeaderMode::kLegacy));

    // The same bytes through the raw entry point.
    auto raw = test::protect_response_header(mode, rk, rn, hex(c.at("header_plaintext")));
    CHECK(to_hex(raw.wire) == str(c.at("header_wire")));

    // A legacy-security body continues the header's CFB stream: the returned stream must sit
    // exactly after the header for the body to match v2ray's.
    const auto security = static_cast<vmess::SecurityType>(c.at("security").get<int>());
    const auto options = c.at("option").get<uint8_t>();
    if (security == vmess::SecurityType::kLegacy && mode == vmess::HeaderMode::kLegacy) {
      test::ScriptedRandom no_padding;
      vmess::BodyWriter writer(security, options, vmess::Transfer::kStream, rk, rn, no_padding,
                               std::move(encoded.cfb));
      Bytes body;
      for (const auto& payload : c.at("body_payloads"))
        write_chunk(writer, hex(payload), body);
      write_chunk(writer, {}, body);
      CHECK(to_hex(body) == str(c.at("body_wire")));
    }

    // The client's reader accepts the header and the body after it.
    vmess::ResponseReader reader(mode, security, options, vmess::Transfer::kStream, rk, rn, v);
    Bytes wire = hex(c.at("header_wire"));
    const Bytes body_wire = hex(c.at("body_wire"));
    wire.insert(wire.end(), body_wire.begin(), body_wire.end());
    const auto got = read_all(reader, wire);
    CHECK(got.error.empty());
    CHECK(got.ended);
    CHECK(to_hex(got.payload) == str(c.at("body_payloads").at(0)));
  }
}

TEST_CASE("vmess test server: a whole session, client to test server and back") {
  crypto::SystemRandom random;
  const auto account =
      vmess::Account::make(vmess::parse_uuid("b831381d-6324-4d53-ad4f-8cda48b30811").value(), 2);
  const int64_t now = 1700000000;
  struct Format {
    vmess::SecurityType security;
    uint8_t options;
  };
  const Format formats[] = {
      {vmess::SecurityType::kAes128Gcm, vmess::option::kForAeadSecurity},
      {vmess::SecurityType::kChacha20Poly1305, vmess::option::kForAeadSecurity},
      {vmess::SecurityType::kNone, vmess::option::kForNone},
      {vmess::SecurityType::kNone, vmess::option::kForZero},
      {vmess::SecurityType::kLegacy, vmess::option::kForLegacySecurity},
  };
  const Bytes request_payload = hex("474554202f20485454502f312e310d0a0d0a");  // GET / HTTP/1.1
  const Bytes response_payload = hex("485454502f312e3120323034204f4b0d0a0d0a");

  for (auto mode : {vmess::HeaderMode::kAead, vmess::HeaderMode::kLegacy}) {
    for (const auto& format : formats) {
      for (auto command : {vmess::Command::kTcp, vmess::Command::kUdp}) {
        CAPTURE(static_cast<int>(mode));
        CAPTURE(static_cast<int>(format.security));
        CAPTURE(static_cast<int>(format.options));
        CAPTURE(static_cast<int>(command));
        vmess::RequestParams params;
        params.header_mode = mode;
        params.security = format.security;
        params.options = format.options;
        params.command = command;
        params.target = TargetAddress::from_domain("example.com", 80);
        const auto secrets = vmess::RequestSecrets::draw(random, account, mode);
        auto built = vmess::build_request(account, params, secrets, now, random);
        REQUIRE(built.request.has_value());
        auto& client = *built.request;

        // Client -> server: header, one chunk, END (when the format has one).
        Bytes uplink = client.header;
        write_chunk(client.uplink, request_payload, uplink);
        if (client.uplink.has_end_chunk()) write_chunk(client.uplink, {}, uplink);

        const auto decoded = test::decode_request_header(uplink, account, now);
        REQUIRE_MESSAGE(decoded.status == test::DecodeStatus::kDone, decoded.error);
        const auto& h = *decoded.header;
        const auto transfer =
            command == vmess::Command::kUdp ? vmess::Transfer::kPacket : vmess::Transfer::kStream;
        vmess::BodyReader server_reader(h.instruction.security, h.instruction.options, transfer,
                                        h.instruction.body_key, h.instruction.body_iv);
        const auto up = read_all(server_reader, Bytes(uplink.begin() + h.size, uplink.end()));
        CHECK(up.error.empty());
        CHECK(up.payload == request_payload);
        CHECK(up.ended == client.uplink.has_end_chunk());

        // Server -> client: response header, one chunk, END.
        auto response = test::encode_response_header(h.header_mode, h.response.key, h.response.iv,
                                                     h.instruction.response_v);
        std::optional<crypto::Aes128Cfb> continued;
        if (h.header_mode == vmess::HeaderMode::kLegacy &&
            h.instruction.security == vmess::SecurityType::kLegacy) {
          continued = std::move(response.cfb);
        }
        vmess::BodyWriter server_writer(h.instruction.security, h.instruction.options, transfer,
                                        h.response.key, h.response.iv, random,
                                        std::move(continued));
        Bytes downlink = response.wire;
        write_chunk(server_writer, response_payload, downlink);
        if (server_writer.has_end_chunk()) write_chunk(server_writer, {}, downlink);

        const auto down = read_all(client.downlink, downlink);
        CHECK(down.error.empty());
        CHECK(client.downlink.header_done());
        CHECK(down.payload == response_payload);
        CHECK(down.ended == server_writer.has_end_chunk());
        CHECK(client.downlink.eof_is_clean());
      }
    }
  }
}

TEST_CASE("vmess test server: a wrong check byte fails the client's response reader") {
  const Bytes rk(16, 0x11), rn(16, 0x22);
  for (auto mode : {vmess::HeaderMode::kAead, vmess::HeaderMode::kLegacy}) {
    auto response = test::encode_response_header(mode, rk, rn, 0x5b);
    vmess::ResponseReader reader(mode, vmess::SecurityType::kAes128Gcm,
                                 vmess::option::kForAeadSecurity, vmess::Transfer::kStream, rk, rn,
                                 0x5a);
    const auto got = read_all(reader, response.wire);
    CHECK_FALSE(got.error.empty());
    CHECK_FALSE(reader.header_done());
  }
}
