#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/vectors.hpp"
#include "vmlocal/crypto/compare.hpp"
#include "vmlocal/handshake/socks5_constants.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"
#include "vmlocal/handshake/socks5_reply.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"

using namespace vmlocal;
using namespace vmlocal::socks5;
using vmlocal::test::hex;

namespace {

constexpr std::string_view kUser = "alice";
constexpr std::string_view kPassword = "pw-Zq8#unique";  // distinctive, so a leak is findable
const Credentials kCredentials{kUser, kPassword};

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

Bytes text(std::string_view s) {
  return {s.begin(), s.end()};
}

// RFC 1929 request: VER ULEN UNAME PLEN PASSWD.
Bytes auth_request(std::string_view user, std::string_view password) {
  return cat({{kAuthVersion, static_cast<uint8_t>(user.size())},
              text(user),
              {static_cast<uint8_t>(password.size())},
              text(password)});
}

const Bytes kGreetingNoAuth = hex("050100");
const Bytes kGreetingUserPass = hex("05020002");  // offers no-auth and user/pass
const Bytes kMethodNoAuth = hex("0500");
const Bytes kMethodUserPass = hex("0502");
const Bytes kMethodNone = hex("05ff");
const Bytes kAuthOk = hex("0100");
const Bytes kAuthFailed = hex("0101");
const Bytes kRequestIpv4 = hex("050100017f0000010050");  // CONNECT 127.0.0.1:80
const Bytes kRequestIpv6 =
    hex("05010004"
        "00000000000000000000000000000001"
        "01bb");  // [::1]:443
const Bytes kRequestDomain = cat({hex("050100030b"), text("example.org"), hex("0050")});
const Bytes kPayload = text("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");

Bytes failure_reply(uint8_t code) {
  return cat({{kVersion, code},
              hex("000100000000"
                  "0000")});
}

// What a session sees when it drives the parser the documented way over a series of reads.
struct Outcome {
  Action final = Action::kNeedMore;
  Bytes sent;     // every reply, in order
  Bytes payload;  // input bytes left after kRequest
  std::string reason;
  TargetAddress target;

  bool operator==(const Outcome&) const = default;
};

Outcome drive(HandshakeParser& parser, const std::vector<ByteView>& reads) {
  Outcome out;
  for (ByteView in : reads) {
    if (out.final == Action::kRequest) {  // the session forwards later reads as payload
      out.payload.insert(out.payload.end(), in.begin(), in.end());
      continue;
    }
    for (bool more = true; more;) {
      Step step = parser.feed(in);
      REQUIRE(step.consumed <= in.size());
      in = in.subspan(step.consumed);
      out.final = step.action;
      switch (step.action) {
        case Action::kNeedMore:
          CHECK(in.empty());
          CHECK(step.reply.empty());
          more = false;
          break;
        case Action::kSend:
          CHECK(!step.reply.empty());
          out.sent.insert(out.sent.end(), step.reply.begin(), step.reply.end());
          break;
        case Action::kRequest:
          CHECK(step.reply.empty());
          out.target = parser.target();
          out.payload.assign(in.begin(), in.end());
          more = false;
          break;
        case Action::kFail:
          CHECK(!step.reason.empty());
          out.sent.insert(out.sent.end(), step.reply.begin(), step.reply.end());
          out.reason = step.reason;
          return out;
      }
    }
  }
  return out;
}

enum class Split { kWhole, kByteByByte };

Outcome run(std::optional<Credentials> credentials, const Bytes& input, Split split) {
  HandshakeParser parser(credentials);
  std::vector<ByteView> reads;
  if (split == Split::kWhole) {
    reads.push_back(input);
  } else {
    for (size_t i = 0; i < input.size(); ++i)
      reads.push_back(ByteView(input).subspan(i, 1));
  }
  return drive(parser, reads);
}

// Runs `input` whole, byte by byte and cut once at every position; all must agree.
Outcome run_every_split(std::optional<Credentials> credentials, const Bytes& input) {
  const Outcome whole = run(credentials, input, Split::kWhole);
  CHECK(run(credentials, input, Split::kByteByByte) == whole);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    HandshakeParser parser(credentials);
    const Outcome split = drive(parser, {ByteView(input).first(cut), ByteView(input).subspan(cut)});
    CHECK_MESSAGE(split == whole, "cut at " << cut);
  }
  return whole;
}

struct SuccessCase {
  const char* name;
  std::optional<Credentials> credentials;
  Bytes handshake;  // greeting [+ auth] + request
  Bytes replies;    // what the app must receive before the request completes
  TargetAddress target;
};

std::vector<SuccessCase> success_cases() {
  const auto v4 = TargetAddress::ipv4({127, 0, 0, 1}, 80);
  std::array<uint8_t, 16> loopback6{};
  loopback6[15] = 1;
  const auto v6 = TargetAddress::ipv6(loopback6, 443);
  const auto domain = TargetAddress::from_domain("example.org", 80);
  const Bytes auth = auth_request(kUser, kPassword);
  const Bytes up_replies = cat({kMethodUserPass, kAuthOk});
  return {
      {"no-auth IPv4", std::nullopt, cat({kGreetingNoAuth, kRequestIpv4}), kMethodNoAuth, v4},
      {"no-auth IPv6", std::nullopt, cat({kGreetingNoAuth, kRequestIpv6}), kMethodNoAuth, v6},
      {"no-auth domain", std::nullopt, cat({kGreetingNoAuth, kRequestDomain}), kMethodNoAuth,
       domain},
      {"no-auth among others", std::nullopt, cat({hex("050402800001"), kRequestIpv4}),
       kMethodNoAuth, v4},
      {"user/pass IPv4", kCredentials, cat({kGreetingUserPass, auth, kRequestIpv4}), up_replies,
       v4},
      {"user/pass IPv6", kCredentials, cat({kGreetingUserPass, auth, kRequestIpv6}), up_replies,
       v6},
      {"user/pass domain", kCredentials, cat({kGreetingUserPass, auth, kRequestDomain}), up_replies,
       domain},
      {"user/pass offered alone", kCredentials, cat({hex("050102"), auth, kRequestDomain}),
       up_replies, domain},
  };
}

struct FailureCase {
  const char* name;
  std::optional<Credentials> credentials;
  Bytes input;
  Bytes sent;  // every byte the app receives, the failure reply last
  std::string reason;
};

std::vector<FailureCase> failure_cases() {
  const Bytes& up = kGreetingUserPass;
  const Bytes auth = auth_request(kUser, kPassword);
  const Bytes up_ok = cat({kMethodUserPass, kAuthOk});
  return {
      {"SOCKS4 greeting", std::nullopt, hex("040100500a000001"), {}, "bad SOCKS version 4"},
      {"HTTP instead of SOCKS",
       std::nullopt,
       text("CONNECT x:80 HTTP/1.1\r\n"),
       {},
       "bad SOCKS version 67"},
      {"zero methods", std::nullopt, hex("0500"), kMethodNone, "empty authentication method list"},
      {"no acceptable method", std::nullopt, hex("05020102"), kMethodNone,
       "no acceptable authentication method"},
      {"auth required but not offered", kCredentials, hex("050100"), kMethodNone,
       "app did not offer username/password authentication"},
      {"wrong auth sub-version", kCredentials, cat({up, hex("05"), auth}), kMethodUserPass,
       "bad username/password version 5"},
      {"wrong password, same length", kCredentials, cat({up, auth_request(kUser, "pw-Zq8#uniquE")}),
       cat({kMethodUserPass, kAuthFailed}), "wrong username or password"},
      {"wrong password, longer", kCredentials, cat({up, auth_request(kUser, "pw-Zq8#unique!")}),
       cat({kMethodUserPass, kAuthFailed}), "wrong username or password"},
      {"wrong password, prefix", kCredentials, cat({up, auth_request(kUser, "pw-Zq8")}),
       cat({kMethodUserPass, kAuthFailed}), "wrong username or password"},
      {"wrong username, same length", kCredentials, cat({up, auth_request("alicE", kPassword)}),
       cat({kMethodUserPass, kAuthFailed}), "wrong username or password"},
      {"wrong username, different length", kCredentials,
       cat({up, auth_request("alice2", kPassword)}), cat({kMethodUserPass, kAuthFailed}),
       "wrong username or password"},
      {"username and password swapped", kCredentials, cat({up, auth_request(kPassword, kUser)}),
       cat({kMethodUserPass, kAuthFailed}), "wrong username or password"},
      {"empty username", kCredentials, cat({up, hex("0100"), hex("0d"), text(kPassword)}),
       cat({kMethodUserPass, kAuthFailed}), "empty username"},
      {"empty password", kCredentials, cat({up, hex("0105"), text(kUser), hex("00")}),
       cat({kMethodUserPass, kAuthFailed}), "empty password"},
      {"request version wrong", std::nullopt, cat({kGreetingNoAuth, hex("040100017f0000010050")}),
       kMethodNoAuth, "bad SOCKS version 4 in request"},
      {"request version wrong after auth", kCredentials,
       cat({up, auth, hex("000100017f0000010050")}), up_ok, "bad SOCKS version 0 in request"},
      {"BIND", std::nullopt, cat({kGreetingNoAuth, hex("050200017f0000010050")}),
       cat({kMethodNoAuth, failure_reply(0x07)}), "unsupported command BIND"},
      {"UDP ASSOCIATE", std::nullopt, cat({kGreetingNoAuth, hex("05030001000000000000")}),
       cat({kMethodNoAuth, failure_reply(0x07)}),
       "unsupported command UDP ASSOCIATE (UDP is off in this profile: `vmess-local check` says "
       "why)"},
      {"unknown command", std::nullopt, cat({kGreetingNoAuth, hex("050900017f0000010050")}),
       cat({kMethodNoAuth, failure_reply(0x07)}), "unknown command 9"},
      {"command 0", kCredentials, cat({up, auth, hex("050000017f0000010050")}),
       cat({up_ok, failure_reply(0x07)}), "unknown command 0"},
      {"unknown address type", std::nullopt, cat({kGreetingNoAuth, hex("050100027f0000010050")}),
       cat({kMethodNoAuth, failure_reply(0x08)}), "unknown address type 2"},
      {"zero-length domain", std::nullopt, cat({kGreetingNoAuth, hex("05010003000050")}),
       cat({kMethodNoAuth, failure_reply(0x01)}), "empty domain name"},
      {"newline in domain", std::nullopt,
       cat({kGreetingNoAuth, hex("0501000305"), text("a\nb.c"), hex("0050")}),
       cat({kMethodNoAuth, failure_reply(0x01)}), "control character in domain name"},
      {"NUL in domain", kCredentials,
       cat({up, auth, hex("0501000303"), text("a"), hex("00"), text("b"), hex("0050")}),
       cat({up_ok, failure_reply(0x01)}), "control character in domain name"},
  };
}

}  // namespace

TEST_CASE("socks5 constant_time_equal") {
  CHECK(crypto::constant_time_equal(as_bytes("secret"), as_bytes("secret")));
  CHECK_FALSE(crypto::constant_time_equal(as_bytes("secreT"), as_bytes("secret")));
  CHECK_FALSE(crypto::constant_time_equal(as_bytes("Secret"), as_bytes("secret")));
  CHECK_FALSE(crypto::constant_time_equal(as_bytes("secret!"), as_bytes("secret")));
  CHECK_FALSE(crypto::constant_time_equal(as_bytes("secre"), as_bytes("secret")));
  CHECK_FALSE(crypto::constant_time_equal(as_bytes(""), as_bytes("secret")));
  CHECK_FALSE(crypto::constant_time_equal(as_bytes("secret"), as_bytes("")));
  CHECK(crypto::constant_time_equal(ByteView{}, ByteView{}));
}

TEST_CASE("socks5 handshake succeeds whole, byte by byte and at every split") {
  for (const SuccessCase& c : success_cases()) {
    const std::string name = c.name;
    CAPTURE(name);
    const Outcome out = run_every_split(c.credentials, c.handshake);
    CHECK(out.final == Action::kRequest);
    CHECK(to_hex(out.sent) == to_hex(c.replies));
    CHECK(out.target == c.target);
    CHECK(out.payload.empty());
    CHECK(out.reason.empty());

    // With early app data in the same read, everything after the request is payload.
    const Outcome pipelined = run_every_split(c.credentials, cat({c.handshake, kPayload}));
    CHECK(pipelined.final == Action::kRequest);
    CHECK(to_hex(pipelined.sent) == to_hex(c.replies));
    CHECK(pipelined.target == c.target);
    CHECK(pipelined.payload == kPayload);
  }
}

TEST_CASE("socks5 pipelined read yields each reply, then the request, with exact counts") {
  const Bytes auth = auth_request(kUser, kPassword);
  const Bytes input = cat({kGreetingUserPass, auth, kRequestDomain, kPayload});
  HandshakeParser parser(kCredentials);
  ByteView in = input;

  Step step = parser.feed(in);
  CHECK(step.action == Action::kSend);
  CHECK(step.consumed == kGreetingUserPass.size());
  CHECK(to_hex(step.reply) == "0502");
  const ByteView method_reply = step.reply;
  in = in.subspan(step.consumed);

  step = parser.feed(in);
  CHECK(step.action == Action::kSend);
  CHECK(step.consumed == auth.size());
  CHECK(to_hex(step.reply) == "0100");
  const ByteView auth_reply = step.reply;
  in = in.subspan(step.consumed);

  step = parser.feed(in);
  CHECK(step.action == Action::kRequest);
  CHECK(step.consumed == kRequestDomain.size());
  CHECK(step.reply.empty());
  CHECK(step.reason.empty());
  CHECK(parser.target() == TargetAddress::from_domain("example.org", 80));
  in = in.subspan(step.consumed);
  CHECK(Bytes(in.begin(), in.end()) == kPayload);
  CHECK(input.size() - in.size() == kGreetingUserPass.size() + auth.size() + kRequestDomain.size());

  // Earlier replies stay valid, so a session may gather them into one write.
  CHECK(to_hex(method_reply) == "0502");
  CHECK(to_hex(auth_reply) == "0100");

  // Once done, the parser takes nothing more: later bytes are payload.
  step = parser.feed(in);
  CHECK(step.action == Action::kRequest);
  CHECK(step.consumed == 0);
  CHECK(parser.feed({}).action == Action::kRequest);
}

TEST_CASE("socks5 no-auth pipelined: greeting + request + payload in one read") {
  for (const Bytes& request : {kRequestIpv4, kRequestIpv6, kRequestDomain}) {
    const Bytes input = cat({kGreetingNoAuth, request, kPayload});
    HandshakeParser parser;
    Step step = parser.feed(input);
    CHECK(step.action == Action::kSend);
    CHECK(step.consumed == 3);
    CHECK(to_hex(step.reply) == "0500");
    step = parser.feed(ByteView(input).subspan(3));
    CHECK(step.action == Action::kRequest);
    CHECK(step.consumed == request.size());
    CHECK(input.size() - 3 - step.consumed == kPayload.size());
  }
}

TEST_CASE("socks5 handshake needs more until a message is complete") {
  HandshakeParser parser;
  CHECK(parser.feed({}).action == Action::kNeedMore);
  Step step = parser.feed(hex("05"));
  CHECK(step.action == Action::kNeedMore);
  CHECK(step.consumed == 1);
  step = parser.feed(hex("02"));
  CHECK(step.action == Action::kNeedMore);
  step = parser.feed(hex("02"));
  CHECK(step.action == Action::kNeedMore);
  step = parser.feed(hex("00"));
  CHECK(step.action == Action::kSend);
  CHECK(step.consumed == 1);
  CHECK(parser.feed({}).action == Action::kNeedMore);
  step = parser.feed(hex("0501000300"));  // a zero domain length fails at once
  CHECK(step.action == Action::kFail);
}

TEST_CASE("socks5 handshake limits: 255 methods, 255-byte credentials and domain") {
  Bytes greeting = {kVersion, 255};
  for (int m = 0; m < 255; ++m)
    greeting.push_back(static_cast<uint8_t>(m == 254 ? 0x02 : 0x80));
  const std::string user(255, 'u');
  const std::string password(255, 'p');
  const std::string domain(255, 'd');
  const Bytes request = cat({hex("05010003ff"), text(domain), hex("ffff")});  // port 65535, RSV 0
  const Outcome out = run_every_split(Credentials{user, password},
                                      cat({greeting, auth_request(user, password), request}));
  CHECK(out.final == Action::kRequest);
  CHECK(to_hex(out.sent) == "05020100");
  CHECK(out.target == TargetAddress::from_domain(domain, 65535));

  // No-auth picked even when offered last among many.
  greeting.back() = 0x00;
  const Outcome no_auth = run_every_split(std::nullopt, cat({greeting, kRequestIpv4}));
  CHECK(no_auth.final == Action::kRequest);
  CHECK(to_hex(no_auth.sent) == "0500");
}

TEST_CASE("socks5 handshake with auth required prefers user/pass over no-auth") {
  const Outcome out = run_every_split(
      kCredentials, cat({hex("05020002"), auth_request(kUser, kPassword), kRequestIpv4}));
  CHECK(out.final == Action::kRequest);
  CHECK(to_hex(out.sent) == "05020100");
}

TEST_CASE("socks5 RSV byte of the request is ignored") {
  const Outcome out =
      run_every_split(std::nullopt, cat({kGreetingNoAuth, hex("050142017f0000010050")}));
  CHECK(out.final == Action::kRequest);
  CHECK(out.target == TargetAddress::ipv4({127, 0, 0, 1}, 80));
}

TEST_CASE("socks5 handshake failures: exact replies and reasons") {
  for (const FailureCase& c : failure_cases()) {
    const std::string name = c.name;
    CAPTURE(name);
    const Outcome out = run_every_split(c.credentials, cat({c.input, kPayload}));
    CHECK(out.final == Action::kFail);
    CHECK(to_hex(out.sent) == to_hex(c.sent));
    CHECK(out.reason == c.reason);
  }
}

TEST_CASE("socks5 errors are reported at the first byte that proves them") {
  SUBCASE("bad version: one byte") {
    HandshakeParser parser;
    const Step step = parser.feed(hex("04"));
    CHECK(step.action == Action::kFail);
    CHECK(step.consumed == 1);
    CHECK(step.reply.empty());
  }
  SUBCASE("BIND: after CMD, before the address") {
    HandshakeParser parser;
    CHECK(parser.feed(kGreetingNoAuth).action == Action::kSend);
    const Step step = parser.feed(hex("0502"));
    CHECK(step.action == Action::kFail);
    CHECK(step.consumed == 2);
    CHECK(to_hex(step.reply) == to_hex(failure_reply(0x07)));
  }
  SUBCASE("unknown ATYP: after ATYP") {
    HandshakeParser parser;
    CHECK(parser.feed(kGreetingNoAuth).action == Action::kSend);
    const Step step = parser.feed(hex("0501000500"));
    CHECK(step.action == Action::kFail);
    CHECK(step.consumed == 4);
    CHECK(to_hex(step.reply) == to_hex(failure_reply(0x08)));
  }
}

TEST_CASE("socks5 feeding after a failure keeps failing without a second reply") {
  for (const FailureCase& c : failure_cases()) {
    const std::string name = c.name;
    CAPTURE(name);
    HandshakeParser parser(c.credentials);
    const Bytes input = cat({c.input, kPayload});
    ByteView in = input;
    Step step;
    do {
      step = parser.feed(in);
      in = in.subspan(step.consumed);
    } while (step.action == Action::kSend);
    REQUIRE(step.action == Action::kFail);
    const std::string reason(step.reason);
    for (ByteView more : {ByteView(kPayload), ByteView{}, ByteView(kRequestIpv4)}) {
      const Step again = parser.feed(more);
      CHECK(again.action == Action::kFail);
      CHECK(again.consumed == more.size());
      CHECK(again.reply.empty());
      CHECK(again.reason == reason);
    }
  }
}

TEST_CASE("socks5 the password never appears in a reason or a reply") {
  std::vector<FailureCase> cases;
  for (FailureCase& c : failure_cases()) {
    if (c.credentials) cases.push_back(std::move(c));
  }
  // Wrong passwords that contain the real one, and a username equal to it.
  cases.push_back({"password with a prefix",
                   kCredentials,
                   cat({kGreetingUserPass, auth_request(kUser, "x" + std::string(kPassword))}),
                   {},
                   {}});
  cases.push_back({"password as username",
                   kCredentials,
                   cat({kGreetingUserPass, auth_request(kPassword, kPassword)}),
                   {},
                   {}});
  for (const FailureCase& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const Outcome out = run(c.credentials, c.input, Split::kWhole);
    REQUIRE(out.final == Action::kFail);
    CHECK(out.reason.find(kPassword) == std::string::npos);
    CHECK(out.reason.find("Zq8") == std::string::npos);
    const std::string sent(out.sent.begin(), out.sent.end());
    CHECK(sent.find("Zq8") == std::string::npos);
  }
}

TEST_CASE("socks5 result does not depend on how the input is split") {
  // Mutations of valid transcripts reach every state; each must give the same outcome whole,
  // byte by byte and at every single cut, and never crash (the ASan build checks the latter).
  std::mt19937 rng(20240601);
  std::set<std::string> outcomes;  // "ok" or a failure reason
  std::vector<std::pair<std::optional<Credentials>, Bytes>> seeds;
  for (const SuccessCase& c : success_cases())
    seeds.emplace_back(c.credentials, c.handshake);
  for (int i = 0; i < 400; ++i) {
    const auto& seed = seeds[rng() % seeds.size()];
    const std::optional<Credentials> credentials = seed.first;
    Bytes input = seed.second;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !input.empty(); ++e) {
      const size_t at = rng() % input.size();
      switch (rng() % 3) {
        case 0:
          input[at] = static_cast<uint8_t>(rng());
          break;
        case 1:
          input.erase(input.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default:
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at),
                       static_cast<uint8_t>(rng()));
          break;
      }
    }
    input.insert(input.end(), kPayload.begin(), kPayload.end());
    CAPTURE(to_hex(input));
    const Outcome out = run_every_split(credentials, input);
    outcomes.insert(out.final == Action::kFail ? out.reason : "ok");
    if (out.final == Action::kFail) {
      CHECK(!out.reason.empty());
      CHECK(out.reason.find("Zq8") == std::string::npos);
    }
  }
  // The mutations must actually reach the different states, not all die at the first byte.
  for (const char* expected : {"ok", "wrong username or password", "unknown address type"}) {
    const bool seen = std::any_of(outcomes.begin(), outcomes.end(),
                                  [&](const std::string& o) { return o.starts_with(expected); });
    CHECK_MESSAGE(seen, expected);
  }
  CHECK(outcomes.size() >= 10);
}

TEST_CASE("socks5 reply encoding") {
  CHECK(to_hex(encode_reply(ReplyCode::kGeneralFailure).bytes()) == "05010001000000000000");
  CHECK(to_hex(encode_reply(ReplyCode::kConnectionRefused).bytes()) == "05050001000000000000");
  CHECK(to_hex(encode_reply(ReplyCode::kSucceeded, TargetAddress::ipv4({192, 168, 1, 2}, 54321))
                   .bytes()) == "05000001c0a80102d431");
  std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 0x01;
  CHECK(to_hex(encode_reply(ReplyCode::kSucceeded, TargetAddress::ipv6(v6, 1080)).bytes()) ==
        "0500000420010db8000000000000000000000001"
        "0438");
  CHECK(
      to_hex(encode_reply(ReplyCode::kSucceeded, TargetAddress::from_domain("a.io", 80)).bytes()) ==
      "050000030461"
      "2e696f"
      "0050");
  // A domain that cannot be encoded falls back to 0.0.0.0 with the port.
  CHECK(to_hex(encode_reply(ReplyCode::kSucceeded, TargetAddress::from_domain("", 7)).bytes()) ==
        "05000001000000000007");
  CHECK(to_hex(encode_reply(ReplyCode::kHostUnreachable,
                            TargetAddress::from_domain(std::string(256, 'x'), 7))
                   .bytes()) == "05040001000000000007");
  const std::string longest(255, 'x');
  CHECK(
      encode_reply(ReplyCode::kSucceeded, TargetAddress::from_domain(longest, 1)).bytes().size() ==
      kMaxReplySize);
  for (uint8_t code = 0; code <= 8; ++code) {
    const Reply r = encode_reply(static_cast<ReplyCode>(code));
    CHECK(r.bytes()[1] == code);
    CHECK(reply_code_name(static_cast<ReplyCode>(code)) != "unknown");
  }
  CHECK(reply_code_name(static_cast<ReplyCode>(9)) == "unknown");
  CHECK(reply_code_name(ReplyCode::kCommandNotSupported) == "command not supported");
}
