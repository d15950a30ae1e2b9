#include <doctest/doctest.h>

#include <string>

#include "support/vectors.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/legacy_header.hpp"

using namespace vmlocal;
using vmlocal::test::hex;

namespace {

const Bytes& id_bytes_for(const vmess::Account& account, const std::string& name, Bytes& scratch) {
  // "main" or "alter[i]", as ids.json names them.
  if (name == "main") {
    scratch.assign(account.id.begin(), account.id.end());
  } else {
    REQUIRE(name.rfind("alter[", 0) == 0);
    const size_t index = std::stoul(name.substr(6));
    REQUIRE(index < account.alter_ids.size());
    scratch.assign(account.alter_ids[index].begin(), account.alter_ids[index].end());
  }
  return scratch;
}

}  // namespace

TEST_CASE("vmess account: every ids.json user, alter id and legacy auth") {
  const auto& users = test::load_vectors("ids.json").at("users");
  REQUIRE(users.size() >= 2);
  for (const auto& user : users) {
    const auto text = user.at("uuid").get<std::string>();
    CAPTURE(text);
    auto uuid = vmess::parse_uuid(text);
    REQUIRE(uuid.has_value());
    CHECK(to_hex(*uuid) == user.at("uuid_bytes").get<std::string>());

    const auto count = user.at("alter_id_count").get<uint16_t>();
    const auto account = vmess::Account::make(*uuid, count);
    CHECK(to_hex(account.id) == user.at("uuid_bytes").get<std::string>());
    CHECK(to_hex(account.cmd_key) == user.at("cmd_key").get<std::string>());
    REQUIRE(account.alter_ids.size() == count);
    for (const auto& alter : user.at("alter_ids")) {
      const auto index = alter.at("index").get<size_t>();
      CAPTURE(index);
      CHECK(to_hex(account.alter_ids.at(index)) == alter.at("uuid_bytes").get<std::string>());
      // An alter id's own cmdKey, as the file lists it (v2ray derives one per id).
      CHECK(to_hex(vmess::Account::make(account.alter_ids[index], 0).cmd_key) ==
            alter.at("cmd_key").get<std::string>());
      CHECK(vmess::parse_uuid(alter.at("uuid").get<std::string>()).value() ==
            account.alter_ids[index]);
    }

    for (const auto& auth : user.at("legacy_auth")) {
      const auto name = auth.at("id").get<std::string>();
      CAPTURE(name);
      Bytes scratch;
      const Bytes& id = id_bytes_for(account, name, scratch);
      CHECK(to_hex(id) == auth.at("id_bytes").get<std::string>());
      const auto t = auth.at("timestamp").get<int64_t>();
      CHECK(to_hex(vmess::legacy_auth(id, t)) == auth.at("auth").get<std::string>());
    }
  }
}

TEST_CASE("vmess account: alterId 0 has no alter ids and the same cmdKey") {
  auto uuid = vmess::parse_uuid("b831381d-6324-4d53-ad4f-8cda48b30811").value();
  auto zero = vmess::Account::make(uuid, 0);
  auto four = vmess::Account::make(uuid, 4);
  CHECK(zero.alter_ids.empty());
  CHECK(zero.cmd_key == four.cmd_key);
}

TEST_CASE("vmess account: parse_uuid accepts the canonical form in either case") {
  auto lower = vmess::parse_uuid("b831381d-6324-4d53-ad4f-8cda48b30811");
  auto upper = vmess::parse_uuid("B831381D-6324-4D53-AD4F-8CDA48B30811");
  auto mixed = vmess::parse_uuid("b831381D-6324-4d53-AD4f-8cda48B30811");
  REQUIRE(lower.has_value());
  REQUIRE(upper.has_value());
  REQUIRE(mixed.has_value());
  CHECK(to_hex(*lower) == "b831381d63244d53ad4f8cda48b30811");
  CHECK(*upper == *lower);
  CHECK(*mixed == *lower);
  CHECK(to_hex(vmess::parse_uuid("00000000-0000-0000-0000-000000000000").value()) ==
        std::string(32, '0'));
  CHECK(to_hex(vmess::parse_uuid("ffffffff-ffff-ffff-ffff-ffffffffffff").value()) ==
        std::string(32, 'f'));
}

TEST_CASE("vmess account: parse_uuid rejects everything else") {
  const char* bad[] = {
      "",
      "b831381d-6324-4d53-ad4f-8cda48b3081",     // one digit short
      "b831381d-6324-4d53-ad4f-8cda48b308111",   // one digit long
      "b831381d63244d53ad4f8cda48b30811",        // no dashes (32 hex digits)
      "b831381d-63244d53-ad4f-8cda48b30811",     // a dash missing
      "b831381d-6324-4d53-ad4f-8cda48b3081-",    // dash in a digit position
      "b831381d6-324-4d53-ad4f-8cda48b30811",    // dash moved
      "b831381d-6324-4d53-ad4f_8cda48b30811",    // wrong separator
      "g831381d-6324-4d53-ad4f-8cda48b30811",    // non-hex
      "b831381d-6324-4d53-ad4f-8cda48b3081 ",    // trailing space in place of a digit
      " b831381d-6324-4d53-ad4f-8cda48b30811",   // leading space
      "{b831381d-6324-4d53-ad4f-8cda48b30811}",  // braces
      "{b831381d-6324-4d53-ad4f-8cda48b308}",    // braces, canonical length
      "urn:uuid:b831381d-6324-4d53-ad4f-8cda48b30811",
      "0xb831381d-6324-4d53-ad4f-8cda48b30811",
      "b831381d-6324-4d53-ad4f-8cda48b3081\xc3",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(vmess::parse_uuid(text).has_value());
  }
  // An embedded NUL is not a digit either.
  CHECK_FALSE(
      vmess::parse_uuid(std::string_view("b831381d-6324-4d53-ad4f-8cda48b3081\0", 36)).has_value());
}

TEST_CASE("vmess user id: the forms Xray's uuid.ParseString accepts") {
  auto id = [](std::string_view text) {
    auto uuid = vmess::parse_user_id(text);
    return uuid ? vmess::format_uuid(*uuid) : std::string("(none)");
  };
  // Dashed (either case) and without dashes: the same bytes.
  CHECK(id("B831381D-6324-4D53-AD4F-8CDA48B30811") == "b831381d-6324-4d53-ad4f-8cda48b30811");
  CHECK(id("b831381d63244d53ad4f8cda48b30811") == "b831381d-6324-4d53-ad4f-8cda48b30811");
  // 1..30 bytes: UUIDv5 in the all-zero namespace. Xray's documented example first; the rest
  // from Python's uuid.uuid5(uuid.UUID(int=0), text), an independent implementation.
  CHECK(id("example") == "feb54431-301b-52bb-a6dd-e1e93e81bb9e");
  CHECK(id("alice") == "ec61d669-fc85-586b-a097-822a49b51e7e");
  CHECK(id("1") == "11116e73-1c03-5de6-9130-5f9925ae8ab4");
  CHECK(id("123456789012345678901234567890") == "3d2e4120-1e1e-52f0-b92d-f67cfbfb1982");
  CHECK(
      id("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c") ==  // "пароль": bytes, not characters
      "656bdd3f-a339-5420-8c71-4b561ae81ec7");
  // Not a name: empty, 31 bytes, a UUID one digit short (35), 32 characters that are not hex.
  CHECK(id("") == "(none)");
  CHECK(id("1234567890123456789012345678901") == "(none)");
  CHECK(id("b831381d-6324-4d53-ad4f-8cda48b3081") == "(none)");
  CHECK(id("g831381d63244d53ad4f8cda48b30811") == "(none)");
  CHECK(id("g831381d-6324-4d53-ad4f-8cda48b30811") == "(none)");
}
