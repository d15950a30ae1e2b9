// SOCKS4/4a, the HTTP proxy handshake and the first-byte sniff, each driven like the tunnel
// drives them (handshake::InboundHandshake), fed whole, byte by byte and pipelined with the
// first payload; every error path with the reply the app gets.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/handshake/http1.hpp"
#include "vmlocal/handshake/http_proxy_handshake.hpp"
#include "vmlocal/handshake/sniff_handshake.hpp"
#include "vmlocal/handshake/socks4_handshake.hpp"

using namespace vmlocal;
using handshake::Action;

namespace {

struct Transcript {
  std::string replies;
  std::vector<Action> actions;  // every step except kNeedMore
  std::string payload;          // bytes after kRequest
  std::string reason;
  bool need_more_at_end = false;
};

Transcript drive(handshake::InboundHandshake& h, const std::vector<std::string>& reads) {
  Transcript t;
  bool done = false;
  for (const std::string& read : reads) {
    ByteView in = as_bytes(read);
    if (done) {
      if (t.actions.back() == Action::kRequest) t.payload.append(read);
      continue;
    }
    for (;;) {
      const handshake::Step step = h.feed(in);
      REQUIRE(step.consumed <= in.size());
      in = in.subspan(step.consumed);
      if (step.action == Action::kNeedMore) {
        CHECK(in.empty());
        t.need_more_at_end = true;
        break;
      }
      t.need_more_at_end = false;
      t.actions.push_back(step.action);
      t.replies.append(reinterpret_cast<const char*>(step.reply.data()), step.reply.size());
      if (step.action == Action::kSend) continue;
      if (step.action == Action::kFail) {
        t.reason = std::string(step.reason);
      } else {
        t.payload.append(reinterpret_cast<const char*>(in.data()), in.size());
      }
      done = true;
      break;
    }
  }
  return t;
}

std::vector<std::string> bytewise(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s)
    out.emplace_back(1, c);
  return out;
}

// Each way of splitting `message` + `payload`: whole with the payload, byte by byte, and
// the message alone followed by the payload as a second read.
std::vector<std::vector<std::string>> splits(const std::string& message,
                                             const std::string& payload) {
  std::vector<std::vector<std::string>> out;
  out.push_back({message + payload});
  auto bytes = bytewise(message);
  if (!payload.empty()) bytes.push_back(payload);
  out.push_back(bytes);
  out.push_back({message, payload});
  return out;
}

std::string reply_text(const handshake::Reply& r) {
  return {reinterpret_cast<const char*>(r.bytes.data()), r.bytes.size()};
}

const std::string kSocks4Connect =
    std::string("\x04\x01\x00\x50\x7f\x00\x00\x01", 8) + "bob" + std::string(1, '\0');
const std::string kSocks4aConnect = std::string("\x04\x01\x01\xbb\x00\x00\x00\x01", 8) + "user" +
                                    std::string(1, '\0') + "example.org" + std::string(1, '\0');

std::unique_ptr<handshake::SniffHandshake> sniff(
    handshake::Protocols p = {}, std::optional<socks5::Credentials> c = std::nullopt) {
  return std::make_unique<handshake::SniffHandshake>(p, c);
}

}  // namespace

TEST_CASE("socks4: CONNECT to an IPv4 target, whole, byte by byte and pipelined") {
  for (const auto& reads : splits(kSocks4Connect, "GET / HTTP/1.0\r\n\r\n")) {
    socks4::HandshakeParser h;
    const Transcript t = drive(h, reads);
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(t.payload == "GET / HTTP/1.0\r\n\r\n");
    CHECK(h.request().target.to_string() == "127.0.0.1:80");
    CHECK(h.protocol() == "socks4");
    CHECK(reply_text(h.success_reply()) == std::string("\x00\x5a\0\0\0\0\0\0", 8));
    CHECK(reply_text(h.failure_reply(ErrorKind::kRefused)) ==
          std::string("\x00\x5b\0\0\0\0\0\0", 8));
  }
}

TEST_CASE("socks4a: the name after the user id, resolved at the server") {
  for (const auto& reads : splits(kSocks4aConnect, "x")) {
    socks4::HandshakeParser h;
    const Transcript t = drive(h, reads);
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(t.payload == "x");
    CHECK(h.request().target.type == TargetAddress::Type::kDomain);
    CHECK(h.request().target.to_string() == "example.org:443");
    CHECK(h.protocol() == "socks4a");
  }
}

TEST_CASE("socks4: every refusal gets 0x5B and a reason") {
  const std::string rejected("\x00\x5b\0\0\0\0\0\0", 8);
  struct Case {
    std::string input;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {std::string("\x04\x02\x00\x50\x7f\x00\x00\x01", 8) + std::string(1, '\0'),
       "unsupported command BIND"},
      {std::string("\x04\x07", 2), "unknown command 7"},
      {std::string("\x04\x01\x00\x50\x00\x00\x00\x01", 8) + std::string(1, '\0') +
           std::string(1, '\0'),
       "empty domain name"},
      {std::string("\x04\x01\x00\x50\x00\x00\x00\x01", 8) + std::string(1, '\0') + "a\nb",
       "control character in domain name"},
      {std::string("\x04\x01\x00\x50\x7f\x00\x00\x01", 8) + std::string(256, 'u'),
       "user id longer than 255 bytes"},
      {std::string("\x04\x01\x00\x50\x00\x00\x00\x01", 8) + std::string(1, '\0') +
           std::string(256, 'd'),
       "domain name longer than 255 bytes"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.reason);
    for (const auto& reads : {std::vector<std::string>{c.input}, bytewise(c.input)}) {
      socks4::HandshakeParser h;
      const Transcript t = drive(h, reads);
      REQUIRE(t.actions == std::vector<Action>{Action::kFail});
      CHECK(t.replies == rejected);
      CHECK(t.reason == c.reason);
    }
  }
}

TEST_CASE("socks4 with credentials configured: refused, saying SOCKS4 cannot carry a password") {
  socks4::HandshakeParser h(true);
  const Transcript t = drive(h, {kSocks4Connect});
  REQUIRE(t.actions == std::vector<Action>{Action::kFail});
  CHECK(t.replies == std::string("\x00\x5b\0\0\0\0\0\0", 8));
  CHECK(t.reason.find("SOCKS4 cannot carry a password") != std::string::npos);
}

TEST_CASE("http proxy: CONNECT, whole, byte by byte and pipelined with the TLS ClientHello") {
  const std::string request =
      "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nUser-Agent: t\r\n\r\n";
  for (const auto& reads : splits(request, "\x16\x03\x01")) {
    http_proxy::HandshakeParser h;
    const Transcript t = drive(h, reads);
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(t.payload == "\x16\x03\x01");
    CHECK(h.request().target.to_string() == "example.org:443");
    CHECK_FALSE(h.forwarding());
    CHECK(reply_text(h.success_reply()) == "HTTP/1.1 200 Connection established\r\n\r\n");
    CHECK(
        reply_text(h.failure_reply(ErrorKind::kRefused)).rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) ==
        0);
    CHECK(reply_text(h.failure_reply(ErrorKind::kTimeout))
              .rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0) == 0);
  }
  http_proxy::HandshakeParser v6;
  drive(v6, {"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n"});
  CHECK(v6.request().target.type == TargetAddress::Type::kIpv6);
  CHECK(v6.request().target.port == 8443);
}

TEST_CASE("http proxy: an absolute-form request is forwarded; its head is kept for the adapter") {
  const std::string request =
      "POST http://127.0.0.1:8080/up?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
      "Content-Length: 5\r\n\r\n";
  for (const auto& reads : splits(request, "hello")) {
    http_proxy::HandshakeParser h;
    const Transcript t = drive(h, reads);
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(t.payload == "hello");
    CHECK(h.forwarding());
    CHECK(h.head() == request);
    CHECK(h.request().target.to_string() == "127.0.0.1:8080");
    CHECK(h.request().target.type == TargetAddress::Type::kIpv4);
    CHECK(h.success_reply().bytes.empty());
  }
  http_proxy::HandshakeParser named;
  drive(named, {"GET http://example.org/ HTTP/1.1\r\n\r\n"});
  CHECK(named.request().target.to_string() == "example.org:80");
}

TEST_CASE("http proxy: bad requests get 400 with the reason, an overlong head 431") {
  const auto many_fields = [](size_t count) {
    std::string text = "GET http://example.org/ HTTP/1.1\r\n";
    for (size_t i = 0; i < count; ++i)
      text += "X-" + std::to_string(i) + ": 1\r\n";
    return text + "\r\n";
  };
  struct Case {
    std::string input;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\n\r\n", 400, "this port is a proxy"},
      {"GET https://example.org/ HTTP/1.1\r\n\r\n", 400, "CONNECT for https"},
      {"GET ftp://example.org/ HTTP/1.1\r\n\r\n", 400, "not an absolute http:// URI"},
      {"GET http://example.org/ HTTP/2.0\r\n\r\n", 400, "not an HTTP/1.x request"},
      {"GET http://example.org/\r\n\r\n", 400, "malformed request line"},
      {"GET http://example.org/ HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "malformed header"},
      {"GET http://example.org/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400, "line folding"},
      {"POST http://example.org/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       400, "both Transfer-Encoding and Content-Length"},
      {"POST http://example.org/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
       "bad Content-Length"},
      {"POST http://example.org/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
       "unsupported Transfer-Encoding"},
      {"CONNECT example.org HTTP/1.1\r\n\r\n", 400, "missing port"},
      {"CONNECT example.org:0 HTTP/1.1\r\n\r\n", 400, "malformed port"},
      {"GET http://u:p@example.org/ HTTP/1.1\r\n\r\n", 400, "userinfo"},
      {"GET http://example.org/ HTTP/1.1\r\n" + std::string(http1::kMaxHeadSize, 'a'), 431,
       "longer than"},
      // 128 fields and no Host: forwarded with Host added, it would pass the limit.
      {many_fields(http1::kMaxHeaderCount), 431, "more than 128 header fields"},
      {many_fields(http1::kMaxHeaderCount + 1), 431, "more than 128 header fields"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.input.substr(0, 80));
    for (const auto& reads : {std::vector<std::string>{c.input}, bytewise(c.input)}) {
      http_proxy::HandshakeParser h;
      const Transcript t = drive(h, reads);
      REQUIRE(t.actions == std::vector<Action>{Action::kFail});
      CHECK(t.replies.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0) == 0);
      CHECK(t.replies.find("Connection: close\r\n") != std::string::npos);
      CHECK(t.reason.find(c.reason) != std::string::npos);
      CHECK(t.replies.find(c.reason) != std::string::npos);
    }
  }
}

TEST_CASE("http proxy: Basic credentials, 407 without or with wrong ones, never echoed") {
  const socks5::Credentials creds{"alice", "s3cret"};
  const std::string target = "GET http://example.org/ HTTP/1.1\r\n";
  // "alice:s3cret", "alice:wrong", "alices3cret"
  const std::string good = "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n";
  {
    http_proxy::HandshakeParser h(creds);
    const Transcript t = drive(h, bytewise(target + good));
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
  }
  {
    http_proxy::HandshakeParser h(creds);
    const Transcript t = drive(h, {"CONNECT example.org:443 HTTP/1.1\r\nproxy-authorization: basic "
                                   "YWxpY2U6czNjcmV0\r\n\r\n"});
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
  }
  for (const std::string& bad :
       {std::string("\r\n"), std::string("Proxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n\r\n"),
        std::string("Proxy-Authorization: Basic YWxpY2VzM2NyZXQ=\r\n\r\n"),
        std::string("Proxy-Authorization: Bearer YWxpY2U6czNjcmV0\r\n\r\n"),
        std::string("Proxy-Authorization: Basic !!!\r\n\r\n")}) {
    CAPTURE(bad);
    http_proxy::HandshakeParser h(creds);
    const Transcript t = drive(h, {target + bad});
    REQUIRE(t.actions == std::vector<Action>{Action::kFail});
    CHECK(t.replies.rfind("HTTP/1.1 407 Proxy Authentication Required\r\n", 0) == 0);
    CHECK(t.replies.find("Proxy-Authenticate: Basic realm=\"vmess-local\"\r\n") !=
          std::string::npos);
    CHECK(t.replies.find("s3cret") == std::string::npos);
    CHECK(t.reason.find("YWxp") == std::string::npos);
  }
}

TEST_CASE("sniff: the first byte picks the protocol; everything reaches it") {
  {
    auto h = sniff();
    CHECK(h->protocol() == "inbound");
    const Transcript t = drive(*h, bytewise(kSocks4Connect));
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(h->protocol() == "socks4");
    CHECK(reply_text(h->success_reply()) == std::string("\x00\x5a\0\0\0\0\0\0", 8));
    CHECK(h->http_forwarding() == nullptr);
  }
  {
    auto h = sniff();
    const std::string greeting("\x05\x01\x00", 3);
    const std::string request("\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", 10);
    const Transcript t = drive(*h, {greeting + request + "payload"});
    REQUIRE(t.actions == std::vector<Action>{Action::kSend, Action::kRequest});
    CHECK(t.replies == std::string("\x05\x00", 2));
    CHECK(t.payload == "payload");
    CHECK(h->protocol() == "socks5");
  }
  {
    auto h = sniff();
    const Transcript t = drive(*h, bytewise("GET http://a.example/ HTTP/1.1\r\n\r\n"));
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(h->protocol() == "http");
    REQUIRE(h->http_forwarding() != nullptr);
    CHECK(h->http_forwarding()->head() == "GET http://a.example/ HTTP/1.1\r\n\r\n");
  }
  {
    auto h = sniff();
    const Transcript t = drive(*h, {"CONNECT a.example:443 HTTP/1.1\r\n\r\n"});
    REQUIRE(t.actions == std::vector<Action>{Action::kRequest});
    CHECK(h->protocol() == "http-connect");
    CHECK(h->http_forwarding() == nullptr);
  }
}

TEST_CASE("sniff: TLS, unknown bytes and disabled protocols are closed with a reason") {
  {
    auto h = sniff();
    const Transcript t = drive(*h, {std::string("\x16\x03\x01\x02\x00\x01", 6)});
    REQUIRE(t.actions == std::vector<Action>{Action::kFail});
    CHECK(t.replies.empty());
    CHECK(t.reason.find("an HTTPS/TLS client connected to the proxy port") != std::string::npos);
  }
  {
    auto h = sniff();
    const Transcript t = drive(*h, {std::string("\x00\xff\x10\x20\x30\x40", 6)});
    REQUIRE(t.actions == std::vector<Action>{Action::kFail});
    // At most four bytes shown.
    CHECK(t.reason.find("first bytes 00 ff 10 20)") != std::string::npos);
  }
  struct Case {
    handshake::Protocols enabled;
    std::string input;
    std::string key;
  };
  for (const Case& c : {Case{{false, true, true}, std::string("\x05\x01\x00", 3), "\"socks5\""},
                        Case{{true, false, true}, kSocks4Connect, "\"socks4\""},
                        Case{{true, true, false}, "GET http://a/ HTTP/1.1\r\n\r\n", "\"http\""}}) {
    CAPTURE(c.key);
    auto h = sniff(c.enabled);
    const Transcript t = drive(*h, {c.input});
    REQUIRE(t.actions == std::vector<Action>{Action::kFail});
    CHECK(t.reason.find(c.key + " is not in [local] protocols") != std::string::npos);
  }
}

TEST_CASE("sniff: credentials reach SOCKS5 and HTTP, and make SOCKS4 refuse") {
  const socks5::Credentials creds{"alice", "s3cret"};
  auto h4 = sniff({}, creds);
  CHECK(drive(*h4, {kSocks4Connect}).reason.find("cannot carry a password") != std::string::npos);
  auto h5 = sniff({}, creds);
  const Transcript t5 = drive(*h5, {std::string("\x05\x01\x00", 3)});
  CHECK(t5.replies == std::string("\x05\xff", 2));  // no-auth is not enough
  auto hh = sniff({}, creds);
  CHECK(drive(*hh, {"GET http://a/ HTTP/1.1\r\n\r\n"}).replies.rfind("HTTP/1.1 407", 0) == 0);
}
