// The pure HTTP pieces the probe, the doctor and the clock offset rely on: response heads, the
// Date header, probe URLs.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <variant>

#include "vmlocal/util/http_date.hpp"
#include "vmlocal/util/http_head.hpp"
#include "vmlocal/util/http_url.hpp"

using namespace vmlocal;

namespace {

ByteView bytes_of(std::string_view text) {
  return ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace

TEST_CASE("http head: a 204 with headers, fed one byte at a time") {
  const std::string wire =
      "HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length:  0 "
      "\r\n\r\nBODY";
  http::ResponseHeadReader reader;
  size_t consumed = 0;
  http::ResponseHeadReader::Step step;
  for (size_t i = 0; i < wire.size(); ++i) {
    step = reader.feed(bytes_of(std::string_view(wire).substr(i, 1)));
    consumed += step.consumed;
    if (step.status != http::ResponseHeadReader::Status::kNeedMore) break;
  }
  REQUIRE(step.status == http::ResponseHeadReader::Status::kDone);
  CHECK(consumed == wire.size() - 4);  // the body is left alone
  CHECK(reader.head().status == 204);
  CHECK(reader.head().reason == "No Content");
  CHECK(reader.head().status_line == "HTTP/1.1 204 No Content");
  CHECK(reader.head().header("date") == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(reader.head().header("Content-Length") == "0");
  CHECK_FALSE(reader.head().header("Server").has_value());
}

TEST_CASE("http head: a status line without a reason, bare LF line ends") {
  http::ResponseHeadReader reader;
  auto step = reader.feed(bytes_of("HTTP/1.0 404\nServer: x\n\n"));
  REQUIRE(step.status == http::ResponseHeadReader::Status::kDone);
  CHECK(reader.head().status == 404);
  CHECK(reader.head().version_minor == 0);
  CHECK(reader.head().reason.empty());
}

TEST_CASE("http head: what is not an HTTP answer is named") {
  {
    http::ResponseHeadReader reader;  // a TLS alert record
    const uint8_t alert[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46};
    CHECK(reader.feed(ByteView(alert, sizeof alert)).status ==
          http::ResponseHeadReader::Status::kError);
    CHECK(reader.error() == "not an HTTP response (starts with 0x15)");
  }
  {
    http::ResponseHeadReader reader;  // wrong after a few bytes
    CHECK(reader.feed(bytes_of("HTT")).status == http::ResponseHeadReader::Status::kNeedMore);
    CHECK(reader.feed(bytes_of("X/1.1 200 OK\r\n\r\n")).status ==
          http::ResponseHeadReader::Status::kError);
  }
  {
    http::ResponseHeadReader reader;
    CHECK(reader.feed(bytes_of("HTTP/1.1 2x4 Odd\r\n\r\n")).status ==
          http::ResponseHeadReader::Status::kError);
    CHECK(reader.error() == "malformed status line: HTTP/1.1 2x4 Odd");
  }
  {
    http::ResponseHeadReader reader;
    CHECK(reader.feed(bytes_of("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")).status ==
          http::ResponseHeadReader::Status::kError);
    CHECK(reader.error() == "malformed header line: no colon here");
  }
  {
    http::ResponseHeadReader reader;  // endless head
    const std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(20000, 'a');
    CHECK(reader.feed(bytes_of(big)).status == http::ResponseHeadReader::Status::kError);
  }
  CHECK(http::looks_like_http_response(bytes_of("HTTP/1.1 101")));
  CHECK(http::looks_like_http_response(bytes_of("HT")));
  CHECK_FALSE(http::looks_like_http_response(bytes_of("\x15\x03")));
}

TEST_CASE("http date: the three forms RFC 9110 §5.6.7 names, and garbage") {
  // 784111777 is RFC 9110's own example instant.
  CHECK(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK(http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);
  CHECK(http::parse_http_date("Sun Nov  6 08:49:37 1994") == 784111777);
  CHECK(http::parse_http_date("Mon, 30 Nov 2026 07:42:11 GMT") == 1796024531);
  CHECK(http::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  // A sign is not a digit: "-994" is no four-digit year (found by the http_answer fuzz target).
  CHECK_FALSE(http::parse_http_date("Sun Nov  6 08:49:37 -994").has_value());
  CHECK_FALSE(http::parse_http_date("Sun, 06 Nov -994 08:49:37 GMT").has_value());
  CHECK(http::parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT") == 1835481599);
  CHECK_FALSE(http::parse_http_date("").has_value());
  CHECK_FALSE(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC").has_value());
  CHECK_FALSE(http::parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
  CHECK_FALSE(http::parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT").has_value());
  CHECK_FALSE(http::parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT").has_value());
  CHECK_FALSE(http::parse_http_date("1994-11-06T08:49:37Z").has_value());
  CHECK(http::clock_offset_from_date(1000, 700) == 300);
  CHECK(http::clock_offset_from_date(700, 1000) == -300);
}

TEST_CASE("http url: the probe URL forms") {
  auto ok = [](std::string_view text) {
    auto parsed = http::parse_url(text);
    REQUIRE(std::holds_alternative<http::Url>(parsed));
    return std::get<http::Url>(parsed);
  };
  auto bad = [](std::string_view text) {
    auto parsed = http::parse_url(text);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    return std::get<std::string>(parsed);
  };
  const http::Url g = ok("https://www.gstatic.com/generate_204");
  CHECK(g.https);
  CHECK(g.host == "www.gstatic.com");
  CHECK(g.port == 443);
  CHECK(g.target == "/generate_204");
  CHECK(g.host_header() == "www.gstatic.com");
  const http::Url l = ok("http://127.0.0.1:8080");
  CHECK_FALSE(l.https);
  CHECK(l.port == 8080);
  CHECK(l.target == "/");
  CHECK(l.host_header() == "127.0.0.1:8080");
  const http::Url v6 = ok("http://[::1]:81/a?b=c#frag");
  CHECK(v6.host == "::1");
  CHECK(v6.target == "/a?b=c");
  CHECK(v6.host_header() == "[::1]:81");
  CHECK(bad("ftp://x/") == "must start with http:// or https://");
  CHECK(bad("http://u:p@x/") == "must not carry a user name or password");
  CHECK(bad("http://x:0/") == "has a port that is not 1..65535");
  CHECK(bad("http://x:70000/") == "has a port that is not 1..65535");
  CHECK(bad("http://x:/") == "has a port that is not 1..65535");
  CHECK(bad("http:///path") == "has no host");
  CHECK(bad("http://a b/") == "has a character a host name cannot hold");
  CHECK(bad("http://x/a b") == "has a space or control character in its path");
}
