// The SOCKS5 handshake seen only through handshake::InboundHandshake, the interface the tunnel
// drives: what a driver gets out of it (steps, request, final replies) must not depend on which
// protocol sits behind the pointer or on how the app's bytes are split into reads.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/handshake/inbound_handshake.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/error.hpp"

using namespace vmlocal;

namespace {

std::unique_ptr<handshake::InboundHandshake> make_socks5(
    std::optional<socks5::Credentials> required = std::nullopt) {
  return std::make_unique<socks5::HandshakeParser>(required);
}

// What a driver observes: every reply it would write (concatenated), how the handshake ended,
// the failure reason, and the bytes left over after kRequest (the app's first payload).
struct Transcript {
  Bytes replies;
  std::vector<handshake::Action> actions;  // every step except kNeedMore
  Bytes payload;
  std::string reason;
  bool need_more_at_end = false;
};

// Drives `h` like the tunnel does, one read per entry of `reads`.
Transcript drive(handshake::InboundHandshake& h, const std::vector<Bytes>& reads) {
  Transcript t;
  bool done = false;
  for (const Bytes& read : reads) {
    ByteView in(read);
    if (done) {
      // After kRequest later reads are payload too; after kFail the driver has closed.
      if (t.actions.back() == handshake::Action::kRequest) {
        t.payload.insert(t.payload.end(), in.begin(), in.end());
      }
      continue;
    }
    for (;;) {
      const handshake::Step step = h.feed(in);
      REQUIRE(step.consumed <= in.size());
      in = in.subspan(step.consumed);
      if (step.action == handshake::Action::kNeedMore) {
        CHECK(in.empty());  // kNeedMore takes every byte
        t.need_more_at_end = true;
        break;
      }
      t.need_more_at_end = false;
      t.actions.push_back(step.action);
      if (step.action == handshake::Action::kSend) {
        t.replies.insert(t.replies.end(), step.reply.begin(), step.reply.end());
        continue;
      }
      if (step.action == handshake::Action::kFail) {
        t.replies.insert(t.replies.end(), step.reply.begin(), step.reply.end());
        t.reason = std::string(step.reason);
      } else {
        t.payload.insert(t.payload.end(), in.begin(), in.end());
      }
      done = true;
      break;
    }
  }
  return t;
}

std::vector<Bytes> whole(const Bytes& bytes) {
  return {bytes};
}

std::vector<Bytes> byte_by_byte(const Bytes& bytes) {
  std::vector<Bytes> reads;
  for (uint8_t b : bytes)
    reads.push_back(Bytes{b});
  return reads;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kGreetingNoAuth = {0x05, 0x01, 0x00};
const Bytes kGreetingUserPass = {0x05, 0x02, 0x00, 0x02};
// CONNECT example.org:443
const Bytes kConnectDomain = {0x05, 0x01, 0x00, 0x03, 11,  'e', 'x', 'a',  'm',
                              'p',  'l',  'e',  '.',  'o', 'r', 'g', 0x01, 0xbb};
// CONNECT 10.1.2.3:8080
const Bytes kConnectIpv4 = {0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x1f, 0x90};

Bytes user_pass(std::string_view user, std::string_view pass) {
  Bytes out = {0x01, static_cast<uint8_t>(user.size())};
  out.insert(out.end(), user.begin(), user.end());
  out.push_back(static_cast<uint8_t>(pass.size()));
  out.insert(out.end(), pass.begin(), pass.end());
  return out;
}

}  // namespace

TEST_CASE("inbound handshake: socks5 through the interface names its protocol") {
  const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
  CHECK(h->protocol() == "socks5");
}

TEST_CASE("inbound handshake: socks5 request() after kRequest is a CONNECT to the target") {
  SUBCASE("domain") {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
    const Transcript t = drive(*h, whole(concat({kGreetingNoAuth, kConnectDomain})));
    REQUIRE(t.actions == std::vector{handshake::Action::kSend, handshake::Action::kRequest});
    CHECK(t.replies == Bytes{0x05, 0x00});
    CHECK(t.payload.empty());
    CHECK(h->request().command == handshake::Request::Command::kConnect);
    CHECK(h->request().target == TargetAddress::from_domain("example.org", 443));
    CHECK(h->request().target.to_string() == "example.org:443");
  }
  SUBCASE("ipv4") {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
    const Transcript t = drive(*h, whole(concat({kGreetingNoAuth, kConnectIpv4})));
    REQUIRE(t.actions.back() == handshake::Action::kRequest);
    CHECK(h->request().command == handshake::Request::Command::kConnect);
    CHECK(h->request().target == TargetAddress::ipv4({10, 1, 2, 3}, 8080));
  }
  SUBCASE("kRequest is sticky and takes no payload bytes") {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
    drive(*h, whole(concat({kGreetingNoAuth, kConnectIpv4})));
    const Bytes more = {1, 2, 3};
    const handshake::Step again = h->feed(more);
    CHECK(again.action == handshake::Action::kRequest);
    CHECK(again.consumed == 0);
  }
}

TEST_CASE("inbound handshake: socks5 success_reply() is VER 05, REP 00, BND 0.0.0.0:0") {
  const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
  drive(*h, whole(concat({kGreetingNoAuth, kConnectDomain})));
  const handshake::Reply reply = h->success_reply();
  CHECK(Bytes(reply.bytes.begin(), reply.bytes.end()) ==
        Bytes{0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0});
  CHECK(reply.name == "succeeded");
}

TEST_CASE("inbound handshake: socks5 failure_reply() maps every ErrorKind to its RFC 1928 code") {
  struct Case {
    ErrorKind kind;
    uint8_t rep;
    std::string_view name;
  };
  const Case cases[] = {
      {ErrorKind::kResolve, 0x04, "host unreachable"},
      {ErrorKind::kRefused, 0x05, "connection refused"},
      {ErrorKind::kUnreachable, 0x04, "host unreachable"},
      {ErrorKind::kTimeout, 0x06, "TTL expired"},
      {ErrorKind::kReset, 0x01, "general failure"},
      {ErrorKind::kProtocol, 0x01, "general failure"},
      {ErrorKind::kNoResponse, 0x01, "general failure"},
      {ErrorKind::kBlocked, 0x02, "not allowed by ruleset"},
      {ErrorKind::kRefusedLogin, 0x01, "general failure"},
      {ErrorKind::kStopping, 0x01, "general failure"},
      {ErrorKind::kOther, 0x01, "general failure"},
  };
  // Every enumerator is listed: a new kind must be added here, with its code, deliberately.
  static_assert(static_cast<int>(ErrorKind::kOther) + 1 == std::size(cases));
  for (const Case& c : cases) {
    CAPTURE(error_kind_name(c.kind));
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
    drive(*h, whole(concat({kGreetingNoAuth, kConnectIpv4})));
    const handshake::Reply reply = h->failure_reply(c.kind);
    CHECK(Bytes(reply.bytes.begin(), reply.bytes.end()) ==
          Bytes{0x05, c.rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0});
    CHECK(reply.name == c.name);
  }
}

TEST_CASE("inbound handshake: socks5 byte by byte gives the same result as whole") {
  struct Input {
    const char* what;
    std::optional<socks5::Credentials> required;
    Bytes bytes;
  };
  const socks5::Credentials creds{"alice", "s3cret"};
  const Bytes early = {'G', 'E', 'T', ' ', '/', '\r', '\n'};
  const Input inputs[] = {
      {"no auth, domain", std::nullopt, concat({kGreetingNoAuth, kConnectDomain})},
      {"no auth, ipv4, early data", std::nullopt, concat({kGreetingNoAuth, kConnectIpv4, early})},
      {"user/pass, early data", creds,
       concat({kGreetingUserPass, user_pass("alice", "s3cret"), kConnectDomain, early})},
      {"wrong password", creds, concat({kGreetingUserPass, user_pass("alice", "nope")})},
      {"BIND", std::nullopt, concat({kGreetingNoAuth, Bytes{0x05, 0x02, 0x00, 0x01}})},
      {"not socks5", std::nullopt, Bytes{0x04, 0x01, 0x00, 0x50}},
  };
  for (const Input& input : inputs) {
    CAPTURE(input.what);
    const std::unique_ptr<handshake::InboundHandshake> a = make_socks5(input.required);
    const std::unique_ptr<handshake::InboundHandshake> b = make_socks5(input.required);
    const Transcript at_once = drive(*a, whole(input.bytes));
    const Transcript split = drive(*b, byte_by_byte(input.bytes));
    CHECK(!at_once.actions.empty());
    CHECK(at_once.actions == split.actions);
    CHECK(at_once.replies == split.replies);
    CHECK(at_once.payload == split.payload);
    CHECK(at_once.reason == split.reason);
    CHECK(!split.need_more_at_end);
    if (at_once.actions.back() == handshake::Action::kRequest) {
      CHECK(a->request().command == b->request().command);
      CHECK(a->request().target == b->request().target);
      CHECK(Bytes(a->success_reply().bytes.begin(), a->success_reply().bytes.end()) ==
            Bytes(b->success_reply().bytes.begin(), b->success_reply().bytes.end()));
    }
  }
  // Spot checks that the transcripts are the right ones, not merely equal.
  {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5(creds);
    const Transcript t = drive(*h, byte_by_byte(inputs[2].bytes));
    CHECK(t.replies == Bytes{0x05, 0x02, 0x01, 0x00});  // method user/pass, auth ok
    CHECK(t.payload == early);
    CHECK(h->request().target == TargetAddress::from_domain("example.org", 443));
  }
  {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5(creds);
    const Transcript t = drive(*h, byte_by_byte(inputs[3].bytes));
    CHECK(t.actions.back() == handshake::Action::kFail);
    CHECK(t.replies == Bytes{0x05, 0x02, 0x01, 0x01});  // auth failure status
    CHECK(t.reason.find("nope") == std::string::npos);
  }
  {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
    const Transcript t = drive(*h, byte_by_byte(inputs[4].bytes));
    CHECK(t.actions.back() == handshake::Action::kFail);
    CHECK(t.replies == Bytes{0x05, 0x00, 0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0});
  }
  {
    const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
    const Transcript t = drive(*h, byte_by_byte(inputs[5].bytes));
    CHECK(t.actions == std::vector{handshake::Action::kFail});
    CHECK(t.replies.empty());  // not SOCKS5: closed without an answer
  }
}

TEST_CASE("inbound handshake: socks5 an incomplete request keeps asking for more") {
  const std::unique_ptr<handshake::InboundHandshake> h = make_socks5();
  Bytes partial = concat({kGreetingNoAuth, kConnectDomain});
  partial.pop_back();
  const Transcript t = drive(*h, byte_by_byte(partial));
  CHECK(t.actions == std::vector{handshake::Action::kSend});
  CHECK(t.need_more_at_end);
  const Bytes last = {kConnectDomain.back()};
  const handshake::Step step = h->feed(last);
  CHECK(step.action == handshake::Action::kRequest);
  CHECK(step.consumed == 1);
  CHECK(h->request().target.port == 443);
}
