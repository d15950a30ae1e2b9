// The security byte a request carries on the wire, for every profile security and header mode,
// decoded the way a server does. Servers differ in what they survive: sing-box's VMess server
// panics on 2 ("auto") or 6 ("zero"), so only 3, 4 and 5 may ever leave.
#include <doctest/doctest.h>

#include <ctime>

#include "support/vmess_test_server.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/vmess/request_builder.hpp"

using namespace vmlocal;

TEST_CASE("outbound request: the wire security byte is 3, 4 or 5 for every profile security") {
  struct Case {
    vmess::Security profile;
    vmess::SecurityType expected;  // kAuto: aes-128-gcm or chacha20-poly1305, by CPU
  };
  const Case cases[] = {
      {vmess::Security::kAuto, vmess::SecurityType::kAuto},
      {vmess::Security::kAes128Gcm, vmess::SecurityType::kAes128Gcm},
      {vmess::Security::kChacha20Poly1305, vmess::SecurityType::kChacha20Poly1305},
      {vmess::Security::kNone, vmess::SecurityType::kNone},
      {vmess::Security::kZero, vmess::SecurityType::kNone},
  };
  crypto::SystemRandom random;
  for (const uint16_t alter_id : {uint16_t{0}, uint16_t{4}}) {
    for (const Case& c : cases) {
      CAPTURE(alter_id);
      CAPTURE(vmess::security_name(c.profile));
      config::Profile::Server server;
      server.address = "127.0.0.1";
      server.port = 443;
      random.fill(server.uuid);
      server.alter_id = alter_id;
      server.security = c.profile;
      Result<std::shared_ptr<const outbound::ServerContext>> made =
          outbound::ServerContext::make(server);
      REQUIRE(made.ok());
      const outbound::ServerContext& context = **made;

      const TargetAddress target = TargetAddress::from_domain("example.test", 443);
      const auto now = static_cast<int64_t>(std::time(nullptr));
      vmess::BuildResult built = vmess::build_request(
          context.account, context.request_params(target),
          vmess::RequestSecrets::draw(random, context.account, context.header_mode), now, random);
      REQUIRE(built.request.has_value());

      test::RequestHeaderDecode decoded =
          test::decode_request_header(built.request->header, context.account, now);
      REQUIRE(decoded.status == test::DecodeStatus::kDone);
      CHECK(decoded.header->header_mode ==
            (alter_id > 0 ? vmess::HeaderMode::kLegacy : vmess::HeaderMode::kAead));
      const auto byte = static_cast<uint8_t>(decoded.header->instruction.security);
      CHECK(byte >= 3);
      CHECK(byte <= 5);
      if (c.expected == vmess::SecurityType::kAuto) {
        CHECK((byte == 3 || byte == 4));
      } else {
        CHECK(byte == static_cast<uint8_t>(c.expected));
      }
    }
  }
}
