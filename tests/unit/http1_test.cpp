// The HTTP/1 codec of the HTTP proxy: heads, framing (RFC 9112 §6.3), the streaming body
// scanner (chunked, lengths, pipelined requests) and the absolute-form rewrite.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmlocal/handshake/http1.hpp"

using namespace vmlocal;
using namespace vmlocal::http1;

namespace {

// Feeds `input` in pieces of `step` bytes; returns how many bytes belonged to the body (the
// scanner stops at its end) or -1 on an error.
long scan(Framing framing, const std::string& input, size_t step) {
  BodyScanner s(framing);
  size_t taken = 0;
  for (size_t at = 0; at < input.size() && !s.done(); at += step) {
    const std::string piece = input.substr(at, step);
    Result<size_t> n = s.feed(as_bytes(piece));
    if (!n) return -1;
    taken += *n;
    if (*n < piece.size()) CHECK(s.done());  // only the end stops it short
  }
  return s.done() ? static_cast<long>(taken) : -2;
}

RequestHead request(const std::string& text) {
  static std::vector<std::string> keep;  // the head views point into the text
  keep.push_back(text);
  Result<RequestHead> r = parse_request_head(keep.back());
  REQUIRE_MESSAGE(r.ok(), r.error().message);
  return *r;
}

}  // namespace

TEST_CASE("http1: find_head_end with CRLF and bare LF") {
  CHECK(find_head_end("GET / HTTP/1.1\r\nA: b\r\n\r\nbody") == 24);
  CHECK(find_head_end("GET / HTTP/1.1\nA: b\n\nbody") == 21);
  CHECK(find_head_end("GET / HTTP/1.1\r\nA: b\r\n") == std::string::npos);
}

TEST_CASE("http1: chunked bodies in every split, with extensions and trailers") {
  const std::string body =
      "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n";
  const std::string next = "GET http://next/ HTTP/1.1\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, body.size() + next.size()}) {
    CAPTURE(step);
    CHECK(scan({Framing::Kind::kChunked, 0}, body + next, step) == static_cast<long>(body.size()));
  }
  CHECK(scan({Framing::Kind::kChunked, 0}, "0\r\n\r\n", 1) == 5);
  CHECK(scan({Framing::Kind::kChunked, 0}, "zz\r\n", 1) == -1);
  CHECK(scan({Framing::Kind::kChunked, 0}, "3\r\nabcd\r\n", 1) == -1);  // data longer than size
  CHECK(scan({Framing::Kind::kChunked, 0}, "1000000000000000\r\n", 64) == -1);
}

TEST_CASE("http1: Content-Length bodies stop at their length; pipelined requests split") {
  const std::string pipelined = "abcGET http://a/ HTTP/1.1\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{2}, pipelined.size()})
    CHECK(scan({Framing::Kind::kLength, 3}, pipelined, step) == 3);
  BodyScanner none(Framing{Framing::Kind::kNone, 0});
  CHECK(none.done());
  BodyScanner zero(Framing{Framing::Kind::kLength, 0});
  CHECK(zero.done());
}

TEST_CASE("http1: request framing and the smuggling refusals (RFC 9112 §6.1, §6.3)") {
  CHECK(request_framing(request("GET http://a/ HTTP/1.1\r\n\r\n"))->kind == Framing::Kind::kNone);
  auto cl = request_framing(request("POST http://a/ HTTP/1.1\r\nContent-Length: 42\r\n\r\n"));
  CHECK(cl->kind == Framing::Kind::kLength);
  CHECK(cl->length == 42);
  CHECK(
      request_framing(request("POST http://a/ HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n"))->length ==
      7);
  CHECK(request_framing(request("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, "
                                "chunked\r\n\r\n"))
            ->kind == Framing::Kind::kChunked);
  CHECK_FALSE(
      request_framing(request("POST http://a/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n")).ok());
  CHECK_FALSE(
      request_framing(request("POST http://a/ HTTP/1.1\r\nContent-Length: +1\r\n\r\n")).ok());
  CHECK_FALSE(request_framing(request("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: "
                                      "chunked\r\nContent-Length: 1\r\n\r\n"))
                  .ok());
}

TEST_CASE("http1: response framing: HEAD, 1xx, 204, 304, chunked, length, close-delimited") {
  auto response = [](const std::string& text) {
    static std::vector<std::string> keep;
    keep.push_back(text);
    Result<ResponseHead> r = parse_response_head(keep.back());
    REQUIRE_MESSAGE(r.ok(), r.error().message);
    return *r;
  };
  const ResponseHead ok_len = response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  CHECK(response_framing(ok_len, "GET")->kind == Framing::Kind::kLength);
  CHECK(response_framing(ok_len, "HEAD")->kind == Framing::Kind::kNone);
  CHECK(response_framing(response("HTTP/1.1 100 Continue\r\n\r\n"), "POST")->kind ==
        Framing::Kind::kNone);
  CHECK(response_framing(response("HTTP/1.1 204 No Content\r\n\r\n"), "GET")->kind ==
        Framing::Kind::kNone);
  CHECK(response_framing(response("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"), "GET")
            ->kind == Framing::Kind::kNone);
  CHECK(response_framing(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), "GET")
            ->kind == Framing::Kind::kChunked);
  CHECK(response_framing(response("HTTP/1.0 200 OK\r\n\r\n"), "GET")->kind ==
        Framing::Kind::kUntilClose);
  CHECK(response_framing(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), "GET")
            ->kind == Framing::Kind::kUntilClose);
  CHECK(response("HTTP/1.1 404\r\n\r\n").status == 404);  // the reason phrase is optional
  CHECK_FALSE(parse_response_head("HTTP/1.1 2x0 OK\r\n\r\n").ok());
  CHECK_FALSE(parse_response_head("ICY 200 OK\r\n\r\n").ok());
}

TEST_CASE("http1: absolute-form rewritten to origin-form, hop-by-hop fields removed") {
  const RequestHead head = request(
      "GET http://Example.org:8080/a/b?c=d#frag HTTP/1.1\r\n"
      "Host: wrong.example\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"
      "Connection: keep-alive, X-Hop\r\n"
      "X-Hop: gone\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "Trailer: X-Checksum\r\n"
      "Upgrade: h2c\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Accept: */*\r\n\r\n");
  Result<AbsoluteTarget> target = parse_absolute_form(head.target);
  REQUIRE(target.ok());
  CHECK(target->host == "Example.org");
  CHECK(target->port == 8080);
  CHECK(target->origin_form == "/a/b?c=d");
  CHECK(rewrite_request_head(head, *target) ==
        "GET /a/b?c=d HTTP/1.1\r\n"
        "Host: Example.org:8080\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Accept: */*\r\n\r\n");
}

TEST_CASE("http1: an Upgrade request keeps Upgrade and Connection: Upgrade") {
  const RequestHead head = request(
      "GET http://[::1]/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: x\r\n\r\n");
  CHECK(wants_upgrade(head));
  Result<AbsoluteTarget> target = parse_absolute_form(head.target);
  REQUIRE(target.ok());
  CHECK(target->host == "::1");
  CHECK(target->port == 80);
  CHECK(rewrite_request_head(head, *target) ==
        "GET /ws HTTP/1.1\r\nHost: [::1]\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n"
        "Connection: Upgrade\r\n\r\n");
}

TEST_CASE("http1: forwarded_field_count is what the rewrite writes") {
  // Found by the http_proxy_request fuzz target: 128 fields without Host parsed, and the rewrite
  // (which adds Host) made a head of 129 fields that parse_request_head itself refuses. The
  // proxy now refuses such a request (431) by this count, so it must match the rewrite exactly.
  const auto fields_of = [](const std::string& text) {
    size_t lines = 0;
    for (size_t at = text.find("\r\n"); at != std::string::npos; at = text.find("\r\n", at + 2))
      ++lines;
    return lines - 2;  // the request line and the blank line
  };
  std::string many = "POST http://a/ HTTP/1.1\r\n";
  for (size_t i = 0; i < kMaxHeaderCount; ++i)
    many += "X-" + std::to_string(i) + ": 1\r\n";
  many += "\r\n";
  for (const std::string& text :
       {many, std::string("GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\nX: 1\r\n\r\n"),
        std::string("GET http://a/ HTTP/1.1\r\nConnection: Upgrade, X-Hop\r\nUpgrade: ws\r\n"
                    "X-Hop: 1\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n"),
        std::string("GET http://a/ HTTP/1.1\r\nUpgrade: ws\r\nProxy-Connection: x\r\n\r\n")}) {
    const RequestHead head = request(text);
    Result<AbsoluteTarget> target = parse_absolute_form(head.target);
    REQUIRE(target.ok());
    const std::string rewritten = rewrite_request_head(head, *target);
    CHECK(forwarded_field_count(head) == fields_of(rewritten));
  }
  const RequestHead full = request(many);
  CHECK(full.headers.size() == kMaxHeaderCount);
  CHECK(forwarded_field_count(full) == kMaxHeaderCount + 1);
  Result<RequestHead> one_more =
      parse_request_head(many.insert(many.find("\r\n") + 2, "X-one-more: 1\r\n"));
  REQUIRE_FALSE(one_more.ok());
  CHECK(one_more.error().message == "more than 128 header fields");
}

TEST_CASE("http1: absolute-form edge cases") {
  CHECK(parse_absolute_form("http://a.example")->origin_form == "/");
  CHECK(parse_absolute_form("HTTP://a.example?q")->origin_form == "/?q");
  CHECK_FALSE(parse_absolute_form("http://:80/").ok());
  CHECK_FALSE(parse_absolute_form("http://a.example:99999/").ok());
  CHECK_FALSE(parse_absolute_form("http://a b/").ok());
  CHECK(parse_authority("[2001:db8::1]:443", true)->host == "2001:db8::1");
  CHECK_FALSE(parse_authority("2001:db8::1:443", true).ok());
}
