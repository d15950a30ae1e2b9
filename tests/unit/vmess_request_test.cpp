#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "support/scripted_random.hpp"
#include "support/vectors.hpp"
#include "support/vmess_server_side.hpp"
#include "support/vmess_test_server.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/aead_header.hpp"
#include "vmlocal/vmess/auth_id.hpp"
#include "vmlocal/vmess/instruction.hpp"
#include "vmlocal/vmess/legacy_header.hpp"
#include "vmlocal/vmess/request_builder.hpp"
#include "vmlocal/vmess/response_keys.hpp"

using namespace vmlocal;
using nlohmann::json;
using vmlocal::test::hex;

namespace {

std::string str(const json& node) {
  return node.get<std::string>();
}

template <typename Array>
Array to_array(const Bytes& bytes) {
  Array out{};
  REQUIRE(bytes.size() == out.size());
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

const json& request_cases() {
  const auto& cases = test::load_vectors("request_headers.json").at("cases");
  REQUIRE(cases.size() == 9);
  return cases;
}

vmess::Account account_of(const json& c) {
  auto uuid = vmess::parse_uuid(str(c.at("uuid")));
  REQUIRE(uuid.has_value());
  return vmess::Account::make(*uuid, c.at("alter_id_count").get<uint16_t>());
}

// "main" -> -1, "alter[i]" -> i.
int alter_index_of(const json& c) {
  const auto used = str(c.at("auth_id_used"));
  if (used == "main") return -1;
  REQUIRE(used.rfind("alter[", 0) == 0);
  return std::stoi(used.substr(6));
}

TargetAddress target_of(const json& r) {
  const auto port = r.at("port").get<uint16_t>();
  const Bytes field = hex(r.at("address_field"));
  switch (r.at("address_type").get<int>()) {
    case 1:
      return TargetAddress::ipv4(to_array<std::array<uint8_t, 4>>(field), port);
    case 2:
      REQUIRE(field.at(0) + 1u == field.size());
      return TargetAddress::from_domain(std::string(field.begin() + 1, field.end()), port);
    case 3:
      return TargetAddress::ipv6(to_array<std::array<uint8_t, 16>>(field), port);
  }
  FAIL("unknown address type in vectors");
  return {};
}

vmess::RequestParams params_of(const json& c) {
  const json& r = c.at("request");
  vmess::RequestParams p;
  p.header_mode =
      str(c.at("header_mode")) == "aead" ? vmess::HeaderMode::kAead : vmess::HeaderMode::kLegacy;
  p.security = static_cast<vmess::SecurityType>(r.at("security").get<int>());
  p.options = r.at("option").get<uint8_t>();
  p.command = static_cast<vmess::Command>(r.at("command").get<int>());
  if (p.command != vmess::Command::kMux) p.target = target_of(r);
  return p;
}

vmess::RequestSecrets secrets_of(const json& c) {
  const json& r = c.at("request");
  vmess::RequestSecrets s;
  s.body_key = to_array<crypto::Key16>(hex(r.at("body_key")));
  s.body_iv = to_array<crypto::Key16>(hex(r.at("body_iv")));
  s.response_v = r.at("response_v").get<uint8_t>();
  s.padding_len = r.at("padding_len").get<uint8_t>();
  const Bytes padding = hex(r.at("padding"));
  REQUIRE(padding.size() == s.padding_len);
  std::copy(padding.begin(), padding.end(), s.padding.begin());
  if (c.contains("aead")) {
    s.auth_id_random = to_array<vmess::AuthIdRandom>(hex(c.at("aead").at("auth_id_random")));
    s.connection_nonce = to_array<vmess::ConnectionNonce>(hex(c.at("aead").at("connection_nonce")));
  }
  s.jitter = c.at("jitter").get<int>();
  s.alter_index = alter_index_of(c);
  return s;
}

vmess::Instruction instruction_of(const vmess::RequestParams& p, const vmess::RequestSecrets& s) {
  vmess::Instruction ins;
  ins.body_iv = s.body_iv;
  ins.body_key = s.body_key;
  ins.response_v = s.response_v;
  ins.options = p.options;
  ins.padding_len = s.padding_len;
  ins.security = p.security;
  ins.command = p.command;
  ins.target = p.target;
  ins.padding = s.padding;
  return ins;
}

void check_same_instruction(const vmess::Instruction& got, const vmess::Instruction& want) {
  CHECK(got.body_iv == want.body_iv);
  CHECK(got.body_key == want.body_key);
  CHECK(got.response_v == want.response_v);
  CHECK(got.options == want.options);
  CHECK(got.padding_len == want.padding_len);
  CHECK(got.security == want.security);
  CHECK(got.command == want.command);
  if (want.command != vmess::Command::kMux) CHECK(got.target == want.target);
  CHECK(
      std::equal(got.padding.begin(), got.padding.begin() + got.padding_len, want.padding.begin()));
}

vmess::Account test_account(uint16_t alter_ids) {
  return vmess::Account::make(vmess::parse_uuid("b831381d-6324-4d53-ad4f-8cda48b30811").value(),
                              alter_ids);
}

constexpr int64_t kClock = 1700000000;

}  // namespace

TEST_CASE("vmess request: instruction bytes of every request_headers.json case") {
  for (const auto& c : request_cases()) {
    CAPTURE(str(c.at("name")));
    const auto params = params_of(c);
    const auto secrets = secrets_of(c);
    const auto ins = instruction_of(params, secrets);
    REQUIRE_FALSE(vmess::instruction_problem(ins).has_value());
    const auto bytes = vmess::encode_instruction(ins);
    CHECK(to_hex(bytes.view()) == str(c.at("instruction")));
    CHECK(bytes.view()[35] == c.at("request").at("padding_security_byte").get<int>());
    CHECK(to_hex(bytes.view().last(4)) == str(c.at("request").at("checksum")));

    const auto decoded = test::decode_instruction(bytes.view());
    REQUIRE(decoded.status == test::DecodeStatus::kDone);
    CHECK(decoded.size == bytes.size);
    check_same_instruction(decoded.instruction, ins);
    // Every proper prefix needs more.
    for (size_t n = 0; n < bytes.size; ++n) {
      CHECK(test::decode_instruction(bytes.view().first(n)).status ==
            test::DecodeStatus::kNeedMore);
    }
  }
}

TEST_CASE("vmess request: header pieces of every request_headers.json case") {
  for (const auto& c : request_cases()) {
    CAPTURE(str(c.at("name")));
    const auto account = account_of(c);
    CHECK(to_hex(account.cmd_key) == str(c.at("cmd_key")));
    const auto params = params_of(c);
    const auto secrets = secrets_of(c);
    const Bytes instruction = hex(c.at("instruction"));
    const auto t = c.at("timestamp").get<int64_t>();
    CHECK(t == c.at("clock").get<int64_t>() + secrets.jitter);

    if (params.header_mode == vmess::HeaderMode::kLegacy) {
      const json& l = c.at("legacy");
      const vmess::Uuid& id = secrets.alter_index < 0
                                  ? account.id
                                  : account.alter_ids.at(static_cast<size_t>(secrets.alter_index));
      CHECK(id == vmess::parse_uuid(str(l.at("auth_uuid"))).value());
      CHECK(to_hex(vmess::legacy_auth(id, t)) == str(l.at("auth")));
      CHECK(str(l.at("header_key")) == to_hex(account.cmd_key));
      CHECK(to_hex(vmess::legacy_header_iv(t)) == str(l.at("header_iv")));
      Bytes wire;
      vmess::seal_legacy_header(id, account.cmd_key, t, instruction, wire);
      CHECK(to_hex(ByteView(wire).subspan(16)) == str(l.at("encrypted_instruction")));
      CHECK(to_hex(wire) == str(c.at("wire")));
    } else {
      const json& a = c.at("aead");
      CHECK(to_hex(vmess::auth_id_plaintext(t, secrets.auth_id_random)) ==
            str(a.at("auth_id_plaintext")));
      const auto auth_id = vmess::make_auth_id(account.cmd_key, t, secrets.auth_id_random);
      CHECK(to_hex(auth_id) == str(a.at("auth_id")));
      const auto keys =
          vmess::derive_aead_header_keys(account.cmd_key, auth_id, secrets.connection_nonce);
      CHECK(to_hex(keys.length_key) == str(a.at("length_key")));
      CHECK(to_hex(keys.length_nonce) == str(a.at("length_nonce")));
      CHECK(to_hex(keys.payload_key) == str(a.at("payload_key")));
      CHECK(to_hex(keys.payload_nonce) == str(a.at("payload_nonce")));
      Bytes wire;
      vmess::seal_aead_header(account.cmd_key, auth_id, secrets.connection_nonce, instruction,
                              wire);
      CHECK(to_hex(ByteView(wire).subspan(16, 18)) == str(a.at("encrypted_length")));
      CHECK(to_hex(ByteView(wire).subspan(42)) == str(a.at("encrypted_instruction")));
      CHECK(to_hex(wire) == str(c.at("wire")));
    }

    const auto response =
        vmess::derive_response_keys(params.header_mode, secrets.body_key, secrets.body_iv);
    CHECK(to_hex(response.key) == str(c.at("response_body_key")));
    CHECK(to_hex(response.iv) == str(c.at("response_body_iv")));
  }
}

TEST_CASE("vmess request: build_request reproduces every wire byte for byte") {
  for (const auto& c : request_cases()) {
    CAPTURE(str(c.at("name")));
    const auto account = account_of(c);
    test::ScriptedRandom padding_random;  // the header itself draws nothing
    const auto result = vmess::build_request(account, params_of(c), secrets_of(c),
                                             c.at("clock").get<int64_t>(), padding_random);
    REQUIRE_MESSAGE(result.request.has_value(), result.error);
    CHECK(result.error.empty());
    CHECK(to_hex(result.request->header) == str(c.at("wire")));
    CHECK_FALSE(result.request->downlink.header_done());
  }
}

TEST_CASE("vmess request: the test server decodes every vector wire") {
  for (const auto& c : request_cases()) {
    CAPTURE(str(c.at("name")));
    const auto account = account_of(c);
    const Bytes wire = hex(c.at("wire"));
    const auto clock = c.at("clock").get<int64_t>();
    const auto decoded = test::decode_request_header(wire, account, clock);
    REQUIRE_MESSAGE(decoded.status == test::DecodeStatus::kDone, decoded.error);
    const auto& h = *decoded.header;
    CHECK(h.size == wire.size());
    CHECK(h.timestamp == c.at("timestamp").get<int64_t>());
    CHECK((h.header_mode == vmess::HeaderMode::kAead) == (str(c.at("header_mode")) == "aead"));
    if (h.header_mode == vmess::HeaderMode::kLegacy) CHECK(h.alter_index == alter_index_of(c));
    check_same_instruction(h.instruction, instruction_of(params_of(c), secrets_of(c)));
    CHECK(to_hex(h.response.key) == str(c.at("response_body_key")));
    CHECK(to_hex(h.response.iv) == str(c.at("response_body_iv")));
  }
}

TEST_CASE("vmess request: targets VMess cannot carry are errors, not crashes") {
  const auto account = test_account(0);
  vmess::RequestSecrets secrets;
  test::ScriptedRandom padding_random;
  auto build = [&](std::string domain) {
    vmess::RequestParams params;
    params.target = TargetAddress::from_domain(std::move(domain), 443);
    return vmess::build_request(account, params, secrets, kClock, padding_random);
  };

  const std::string bad[] = {
      "",
      std::string(256, 'a'),
      "exa mple.com",
      "b\xc3\xbc"
      "cher.de",  // UTF-8: must arrive as punycode
      "*.example.com",
      "example.com:80",
      std::string("nul\0byte", 8),
      "[::1]",
  };
  for (const auto& domain : bad) {
    CAPTURE(domain);
    const auto result = build(domain);
    CHECK_FALSE(result.request.has_value());
    CHECK(result.error.find("domain") != std::string::npos);
  }
  CHECK(build("").error == "domain is empty");
  CHECK(build(std::string(256, 'a')).error == "domain is longer than 255 bytes");
  CHECK(build("a b").error == "domain has characters VMess cannot carry (only A-Z a-z 0-9 . - _)");

  // The edges that are fine: 1 and 255 bytes, every allowed character, a digit-first name.
  for (const std::string& good : {std::string("a"), std::string(255, 'z'),
                                  std::string("A-Z_a.z-09"), std::string("1.2.3.4")}) {
    CAPTURE(good);
    const auto result = build(good);
    CHECK(result.request.has_value());
    CHECK(result.error.empty());
  }
  // A 255-byte domain with 15 padding bytes is the largest instruction there is.
  secrets.padding_len = 15;
  const auto biggest = build(std::string(255, 'z'));
  REQUIRE(biggest.request.has_value());
  CHECK(biggest.request->header.size() == vmess::kAeadHeaderOverhead + vmess::kMaxInstructionSize);

  // A Mux request ignores the target entirely.
  vmess::RequestParams mux;
  mux.command = vmess::Command::kMux;
  mux.target = TargetAddress::from_domain("not valid!", 1);
  CHECK(vmess::build_request(account, mux, secrets, kClock, padding_random).request.has_value());
}

TEST_CASE("vmess request: build_request refuses what would break or crash the server") {
  auto account = test_account(2);
  test::ScriptedRandom padding_random;
  vmess::RequestParams base;
  base.target = TargetAddress::ipv4({127, 0, 0, 1}, 80);
  vmess::RequestSecrets secrets;

  auto error_of = [&](const vmess::RequestParams& p, const vmess::RequestSecrets& s) {
    auto result = vmess::build_request(account, p, s, kClock, padding_random);
    CHECK(result.request.has_value() == result.error.empty());
    return result.error;
  };
  CHECK(error_of(base, secrets).empty());

  auto p = base;
  p.options =
      vmess::option::kChunkStream | vmess::option::kGlobalPadding;  // 0x09: crashes a 4.34 server
  CHECK(error_of(p, secrets).find("crashes") != std::string::npos);
  p.options = 0x1D;  // AuthenticatedLength does not exist in 4.34
  CHECK_FALSE(error_of(p, secrets).empty());
  p.options = 0x0F;  // ConnectionReuse: never read, never sent
  CHECK_FALSE(error_of(p, secrets).empty());
  p = base;
  p.security = vmess::SecurityType::kAuto;
  CHECK(error_of(p, secrets) == "security type cannot be sent");
  p.security = static_cast<vmess::SecurityType>(6);
  CHECK(error_of(p, secrets) == "security type cannot be sent");

  auto s = secrets;
  s.padding_len = 16;
  CHECK(error_of(base, s) == "padding length above 15");

  p = base;
  p.header_mode = vmess::HeaderMode::kLegacy;
  s = secrets;
  s.alter_index = 2;  // two alter ids: 0 and 1
  CHECK(error_of(p, s) == "alter id index out of range");
  s.alter_index = -2;
  CHECK(error_of(p, s) == "alter id index out of range");
  s.alter_index = 1;
  CHECK(error_of(p, s).empty());
  s.jitter = 31;
  CHECK(error_of(p, s) == "legacy timestamp jitter outside -30..30");
  s.jitter = -31;
  CHECK(error_of(p, s) == "legacy timestamp jitter outside -30..30");
  s.jitter = -30;  // the reference client's range still builds (the vectors use it)
  CHECK(error_of(p, s).empty());
  s.jitter = 30;
  CHECK(error_of(p, s).empty());
}

TEST_CASE("vmess request: RequestSecrets::draw from a script") {
  // K, N, V, then uniform(16) for P (4 bytes, big-endian), the P padding bytes, then per mode:
  // AEAD R and C; legacy uniform(31) for the jitter and uniform(#alter ids) for the index.
  Bytes script =
      hex("000102030405060708090a0b0c0d0e0f"  // K
          "101112131415161718191a1b1c1d1e1f"  // N
          "5a"                                // V
          "0000000f"                          // P = 15
          "404142434445464748494a4b4c4d4e"    // padding
          "0000001e"                          // jitter index 30 -> +30
          "00000003");                        // alter index 3
  const auto account = test_account(4);
  test::ScriptedRandom legacy_random(script);
  auto s = vmess::RequestSecrets::draw(legacy_random, account, vmess::HeaderMode::kLegacy);
  CHECK(legacy_random.remaining() == 0);
  CHECK(to_hex(s.body_key) == "000102030405060708090a0b0c0d0e0f");
  CHECK(to_hex(s.body_iv) == "101112131415161718191a1b1c1d1e1f");
  CHECK(s.response_v == 0x5a);
  CHECK(s.padding_len == 15);
  CHECK(to_hex(s.padding) == "404142434445464748494a4b4c4d4e");
  CHECK(s.jitter == 30);
  CHECK(s.alter_index == 3);

  test::ScriptedRandom low(Bytes(16 + 16 + 1 + 4 + 4 + 4, 0));
  s = vmess::RequestSecrets::draw(low, account, vmess::HeaderMode::kLegacy);
  CHECK(low.remaining() == 0);
  CHECK(s.padding_len == 0);
  CHECK(s.jitter == 0);
  CHECK(s.alter_index == 0);

  // No alter ids: the main id, and no draw for it.
  test::ScriptedRandom main_only(Bytes(16 + 16 + 1 + 4 + 4, 0));
  s = vmess::RequestSecrets::draw(main_only, test_account(0), vmess::HeaderMode::kLegacy);
  CHECK(main_only.remaining() == 0);
  CHECK(s.alter_index == -1);

  Bytes aead_script =
      hex("000102030405060708090a0b0c0d0e0f"
          "101112131415161718191a1b1c1d1e1f"
          "5a"
          "00000013"  // 19 % 16 = 3
          "aabbcc"
          "01020304"            // R
          "c0c1c2c3c4c5c6c7");  // C
  test::ScriptedRandom aead_random(aead_script);
  s = vmess::RequestSecrets::draw(aead_random, account, vmess::HeaderMode::kAead);
  CHECK(aead_random.remaining() == 0);
  CHECK(s.padding_len == 3);
  CHECK(to_hex(ByteView(s.padding).first(3)) == "aabbcc");
  CHECK(to_hex(s.auth_id_random) == "01020304");
  CHECK(to_hex(s.connection_nonce) == "c0c1c2c3c4c5c6c7");
  CHECK(s.jitter == 0);
  CHECK(s.alter_index == -1);
}

TEST_CASE("vmess request: RequestSecrets::draw ranges over many system draws") {
  crypto::SystemRandom random;
  const auto account = test_account(4);
  std::set<int> paddings, jitters, indexes;
  std::set<Bytes> keys;
  for (int i = 0; i < 3000; ++i) {
    auto s = vmess::RequestSecrets::draw(random, account, vmess::HeaderMode::kLegacy);
    REQUIRE(s.padding_len <= 15);
    // [now, now + 30 s]: never in the past, which sing-box's server may refuse.
    REQUIRE(s.jitter >= 0);
    REQUIRE(s.jitter <= 30);
    REQUIRE(s.alter_index >= 0);
    REQUIRE(s.alter_index < 4);
    paddings.insert(s.padding_len);
    jitters.insert(s.jitter);
    indexes.insert(s.alter_index);
    keys.insert(Bytes(s.body_key.begin(), s.body_key.end()));
  }
  // Every value is reachable (missing one in 3000 draws has odds below 1e-12).
  CHECK(paddings.size() == 16);
  CHECK(jitters.size() == 31);
  CHECK(indexes.size() == 4);
  CHECK(keys.size() == 3000);

  for (int i = 0; i < 100; ++i) {
    auto s = vmess::RequestSecrets::draw(random, account, vmess::HeaderMode::kAead);
    REQUIRE(s.padding_len <= 15);
    CHECK(s.jitter == 0);
    CHECK(s.alter_index == -1);
  }
}

TEST_CASE("vmess request: the test server round-trips build_request output") {
  crypto::SystemRandom random;
  struct Mode {
    vmess::HeaderMode header_mode;
    uint16_t alter_ids;
  };
  const Mode modes[] = {{vmess::HeaderMode::kAead, 0},
                        {vmess::HeaderMode::kAead, 4},
                        {vmess::HeaderMode::kLegacy, 0},
                        {vmess::HeaderMode::kLegacy, 4}};
  const TargetAddress targets[] = {
      TargetAddress::ipv4({10, 1, 2, 3}, 8080),
      TargetAddress::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, 53),
      TargetAddress::from_domain("www.example.org", 443),
  };
  for (const auto& mode : modes) {
    for (const auto& target : targets) {
      for (auto command : {vmess::Command::kTcp, vmess::Command::kUdp, vmess::Command::kMux}) {
        const auto account = test_account(mode.alter_ids);
        vmess::RequestParams params;
        params.header_mode = mode.header_mode;
        params.command = command;
        params.target = target;
        const auto secrets = vmess::RequestSecrets::draw(random, account, mode.header_mode);
        auto built = vmess::build_request(account, params, secrets, kClock, random);
        REQUIRE(built.request.has_value());
        Bytes wire = built.request->header;
        const size_t header_size = wire.size();
        wire.insert(wire.end(), {0xde, 0xad});  // the body follows directly

        // A server clock up to 90 s off still accepts it (legacy adds up to 30 s of jitter).
        for (int64_t skew : {0, 90, -90}) {
          CAPTURE(skew);
          const auto decoded = test::decode_request_header(wire, account, kClock + skew);
          REQUIRE_MESSAGE(decoded.status == test::DecodeStatus::kDone, decoded.error);
          const auto& h = *decoded.header;
          CHECK(h.header_mode == mode.header_mode);
          CHECK(h.size == header_size);
          CHECK(h.alter_index ==
                (mode.header_mode == vmess::HeaderMode::kLegacy ? secrets.alter_index : -1));
          CHECK(h.timestamp ==
                kClock + (mode.header_mode == vmess::HeaderMode::kLegacy ? secrets.jitter : 0));
          check_same_instruction(h.instruction, instruction_of(params, secrets));
        }
        // Truncated: the server waits for more.
        CHECK(test::decode_request_header(ByteView(wire).first(header_size - 1), account, kClock)
                  .status == test::DecodeStatus::kNeedMore);
      }
    }
  }
}

TEST_CASE("vmess request: the test server rejects a wrong UUID and a skewed clock") {
  crypto::SystemRandom random;
  const auto account = test_account(4);
  const auto stranger =
      vmess::Account::make(vmess::parse_uuid("a3482e88-686a-4a58-8126-99c9df64b7bf").value(), 4);
  for (auto mode : {vmess::HeaderMode::kAead, vmess::HeaderMode::kLegacy}) {
    vmess::RequestParams params;
    params.header_mode = mode;
    params.target = TargetAddress::from_domain("example.com", 80);
    auto secrets = vmess::RequestSecrets::draw(random, account, mode);
    secrets.jitter = 0;
    auto built = vmess::build_request(account, params, secrets, kClock, random);
    REQUIRE(built.request.has_value());
    const Bytes& wire = built.request->header;

    auto wrong_user = test::decode_request_header(wire, stranger, kClock);
    CHECK(wrong_user.status == test::DecodeStatus::kError);
    CHECK(wrong_user.error == "no user matches the authentication bytes");
    CHECK(test::decode_request_header(wire, account, kClock + 121).status ==
          test::DecodeStatus::kError);
    CHECK(test::decode_request_header(wire, account, kClock - 121).status ==
          test::DecodeStatus::kError);
    CHECK(test::decode_request_header(wire, account, kClock + 120).status ==
          test::DecodeStatus::kDone);

    // A flipped bit in the encrypted instruction: AEAD fails its tag, legacy its checksum.
    Bytes tampered = wire;
    tampered[tampered.size() - 5] ^= 0x01;
    auto broken = test::decode_request_header(tampered, account, kClock);
    CHECK(broken.status == test::DecodeStatus::kError);
    CHECK_FALSE(broken.error.empty());
  }
}
