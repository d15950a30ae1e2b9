// v2ray's tcp "http" header (transport/http_header.hpp): the request head byte for byte, as
// v2ray 4.34's client writes it with the defaults of infra/conf/transport_authenticators.go
// (headers/http/http.go GetClientWriter), and the response head reader on v2ray's own answers
// (formResponseHeader with AuthenticatorResponse's defaults, and resp404 of resp.go).
#include <doctest/doctest.h>

#include <string>

#include "support/scripted_random.hpp"
#include "vmlocal/transport/http_header.hpp"

using vmlocal::Bytes;
using vmlocal::ByteView;
using vmlocal::test::ScriptedRandom;
using namespace vmlocal::transport::http_header;

namespace {

// One draw of Random::uniform: four big-endian bytes.
Bytes draw(uint8_t value) {
  return {0, 0, 0, value};
}

Bytes draws(std::initializer_list<uint8_t> values) {
  Bytes out;
  for (uint8_t v : values) {
    const Bytes one = draw(v);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

ByteView view(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// v2ray 4.34's server answer with the default response settings (Date is added because the
// defaults have none).
constexpr std::string_view kDefaultResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Connection: keep-alive\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: private\r\n"
    "Date: Mon, 30 Nov 2026 08:00:00 GMT\r\n"
    "\r\n";

}  // namespace

TEST_CASE("http header: the default request head is v2ray's, host and User-Agent drawn") {
  // Host: list of two -> one draw; User-Agent: two -> one draw; path "/" alone -> none.
  ScriptedRandom random(draws({1, 0}));
  CHECK(build_request_head({}, random) ==
        "GET / HTTP/1.1\r\n"
        "Host: www.bing.com\r\n"
        "User-Agent: Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/53.0.2785.143 Safari/537.36\r\n"
        "Accept-Encoding: gzip, deflate\r\n"
        "Connection: keep-alive\r\n"
        "Pragma: no-cache\r\n"
        "\r\n");
  CHECK(random.remaining() == 0);

  ScriptedRandom other(draws({0, 1}));
  const std::string head = build_request_head({}, other);
  CHECK(head.find("\r\nHost: www.baidu.com\r\n") != std::string::npos);
  CHECK(head.find("\r\nUser-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 10_0_2 like Mac OS X) "
                  "AppleWebKit/601.1 (KHTML, like Gecko) CriOS/53.0.2785.109 Mobile/14A456 "
                  "Safari/601.1.46\r\n") != std::string::npos);
}

TEST_CASE("http header: configured paths and hosts, one of each drawn per connection") {
  RequestOptions options{{"/a", "/b", "/c"}, {"cdn.example.org"}};
  // path: three -> a draw (2); host: one -> none; User-Agent: a draw (0).
  ScriptedRandom random(draws({2, 0}));
  const std::string head = build_request_head(options, random);
  CHECK(head.starts_with("GET /c HTTP/1.1\r\nHost: cdn.example.org\r\nUser-Agent: "));
  CHECK(head.ends_with("\r\nPragma: no-cache\r\n\r\n"));
  CHECK(random.remaining() == 0);
}

TEST_CASE("http header: the response head is cut off, in one piece or byte by byte") {
  const std::string payload = "\x01\x02\x03vmess";
  const std::string wire = std::string(kDefaultResponse) + payload;
  {
    ResponseHeadReader reader;
    const auto step = reader.feed(view(wire));
    REQUIRE(step.status == ResponseHeadReader::Status::kDone);
    CHECK(step.consumed == kDefaultResponse.size());
    CHECK(reader.status_code() == 200);
    CHECK(reader.reason() == "OK");
  }
  {
    ResponseHeadReader reader;
    size_t total = 0;
    for (size_t i = 0; i < kDefaultResponse.size(); ++i) {
      const auto step = reader.feed(view(wire).subspan(i, 1));
      total += step.consumed;
      if (i + 1 < kDefaultResponse.size()) {
        REQUIRE(step.status == ResponseHeadReader::Status::kNeedMore);
      } else {
        REQUIRE(step.status == ResponseHeadReader::Status::kDone);
      }
    }
    CHECK(total == kDefaultResponse.size());
  }
}

TEST_CASE("http header: v2ray's 404 is read with its status; a VMess answer is refused") {
  ResponseHeadReader not_found;
  const std::string_view resp404 =
      "HTTP/1.1 404 Not Found\r\nConnection: close\r\nCache-Control: private\r\n"
      "Content-Length: 0\r\nDate: Mon, 30 Nov 2026 08:00:00 GMT\r\n\r\n";
  CHECK(not_found.feed(view(resp404)).status == ResponseHeadReader::Status::kDone);
  CHECK(not_found.status_code() == 404);
  CHECK(not_found.reason() == "Not Found");

  // A server without the header answers with binary VMess bytes: refused at the first one.
  ResponseHeadReader binary;
  const Bytes vmess_answer = {0x9c, 0x21, 0x07, 0x55};
  CHECK(binary.feed(vmess_answer).status == ResponseHeadReader::Status::kError);
  CHECK(binary.error().find("not HTTP") != std::string::npos);

  // "HTTP" split over two reads is still HTTP.
  ResponseHeadReader split;
  CHECK(split.feed(view("HT")).status == ResponseHeadReader::Status::kNeedMore);
  CHECK(split.feed(view("TP/1.1 200 OK\r\n\r\n")).status == ResponseHeadReader::Status::kDone);
}

TEST_CASE("http header: a response head longer than v2ray's 8192-byte limit is refused") {
  ResponseHeadReader reader;
  std::string head = "HTTP/1.1 200 OK\r\nX-Pad: ";
  head.append(kMaxHead, 'a');
  const auto step = reader.feed(view(head));
  CHECK(step.status == ResponseHeadReader::Status::kError);
  CHECK(reader.error().find("8192") != std::string::npos);
}
