// The WebSocket opening handshake: the request bytes, Sec-WebSocket-Accept (RFC 6455's own
// example), and every way the server's answer can be wrong, whole or split across reads.
#include <doctest/doctest.h>

#include <string>

#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/transport/httpupgrade.hpp"
#include "vmlocal/transport/ws_handshake.hpp"

using namespace vmlocal;
using namespace vmlocal::transport::ws;

namespace {

// RFC 6455 §1.3.
constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string good_response(std::string_view accept = kAccept) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         std::string(accept) + "\r\n\r\n";
}

// Feeds `text` in pieces of `piece` bytes; returns the final step and the reader.
struct Fed {
  UpgradeResponseReader::Status status = UpgradeResponseReader::Status::kNeedMore;
  size_t consumed_total = 0;
  std::string error;
  int code = 0;
};

Fed feed(const std::string& text, size_t piece = 0) {
  UpgradeResponseReader reader{std::string(kKey)};
  Fed out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t n = piece == 0 ? text.size() - at : std::min(piece, text.size() - at);
    auto step = reader.feed(as_bytes(std::string_view(text).substr(at, n)));
    out.status = step.status;
    out.consumed_total += step.consumed;
    at += n;
    if (step.status != UpgradeResponseReader::Status::kNeedMore) break;
  }
  out.error = reader.error();
  out.code = reader.status_code();
  return out;
}

}  // namespace

TEST_CASE("ws handshake: Sec-WebSocket-Accept for the RFC's example key") {
  CHECK(accept_for_key(kKey) == kAccept);
  const uint8_t nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                             'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
  CHECK(make_key(nonce) == kKey);
}

TEST_CASE("ws handshake: the upgrade request") {
  UpgradeRequest request;
  request.host = "cdn.example.org";
  request.path = "/ws?ed=2048";
  request.headers = {{"User-Agent", "Mozilla/5.0"}, {"X-Token", "abc"}};
  CHECK(build_upgrade_request(request, kKey) ==
        "GET /ws?ed=2048 HTTP/1.1\r\n"
        "Host: cdn.example.org\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "User-Agent: Mozilla/5.0\r\n"
        "X-Token: abc\r\n"
        "\r\n");
}

TEST_CASE("ws handshake: a good 101, whole or one byte at a time; frames after it are left") {
  for (size_t piece : {0u, 1u, 2u, 3u, 7u}) {
    CAPTURE(piece);
    const std::string head = good_response();
    Fed f = feed(head + "\x82\x01X", piece);
    CHECK(f.status == UpgradeResponseReader::Status::kDone);
    CHECK(f.consumed_total == head.size());
    CHECK(f.error.empty());
    CHECK(f.code == 101);
  }
  // Header names and tokens ignore case; Connection may list several tokens; LF-only lines.
  CHECK(feed("HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, "
             "Upgrade\r\nsec-websocket-accept: " +
             std::string(kAccept) + "\r\nServer: x\r\n\r\n")
            .status == UpgradeResponseReader::Status::kDone);
  CHECK(feed("HTTP/1.1 101 OK\nUpgrade: websocket\nConnection: upgrade\nSec-WebSocket-Accept: " +
             std::string(kAccept) + "\n\n")
            .status == UpgradeResponseReader::Status::kDone);
}

TEST_CASE("ws handshake: wrong answers are refused with a precise reason") {
  Fed wrong_accept = feed(good_response("AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  CHECK(wrong_accept.status == UpgradeResponseReader::Status::kError);
  CHECK(wrong_accept.error ==
        "wrong Sec-WebSocket-Accept \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\" (expected "
        "\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\")");

  // v2ray's answer to a wrong path.
  Fed not_found = feed(
      "HTTP/1.1 404 Not Found\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n");
  CHECK(not_found.status == UpgradeResponseReader::Status::kError);
  CHECK(not_found.error == "upgrade refused: HTTP 404 Not Found");
  CHECK(not_found.code == 404);

  CHECK(feed("HTTP/1.1 400 \r\n\r\n").error == "upgrade refused: HTTP 400");
  CHECK(feed("HTTP/1.0 200 OK\r\n\r\n").error == "upgrade refused: HTTP 200 OK");
  CHECK(feed("SSH-2.0-OpenSSH_9.2\r\n\r\n").error ==
        "the server did not answer with HTTP (got \"SSH-2.0-OpenSSH_9.2\")");
  CHECK(feed("HTTP/1.1 1x1 Switching\r\n\r\n").error ==
        "malformed HTTP status line \"HTTP/1.1 1x1 Switching\"");

  CHECK(feed("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
             std::string(kAccept) + "\r\n\r\n")
            .error == "the 101 response has no \"Upgrade: websocket\" header");
  CHECK(feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " +
             std::string(kAccept) + "\r\n\r\n")
            .error == "the 101 response has no \"Connection: upgrade\" header");
  CHECK(feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "\r\n")
            .error == "the 101 response has no Sec-WebSocket-Accept header");
  CHECK(feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " +
             std::string(kAccept) + "\r\n\r\n")
            .error == "the 101 response has no \"Upgrade: websocket\" header");
  CHECK(feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " +
             std::string(kAccept) + "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
            .error ==
        "the server turned on extension \"permessage-deflate\", which was not offered");
  CHECK(
      feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nbroken line\r\n\r\n").error ==
      "malformed header line \"broken line\" in the upgrade response");
}

TEST_CASE("ws handshake: a head that never ends is refused at the limit") {
  std::string endless = "HTTP/1.1 101 Switching Protocols\r\n";
  while (endless.size() <= UpgradeResponseReader::kMaxHead + 100)
    endless += "X-Filler: 0123456789\r\n";
  Fed f = feed(endless, 1000);
  CHECK(f.status == UpgradeResponseReader::Status::kError);
  CHECK(f.error == "upgrade response head longer than 16384 bytes; is this an HTTP server?");
}

// Early data (v2fly config/transport/websocket.md: Base64 RawURLEncoding appended to the path, or
// in the earlyDataHeaderName header; Xray transports/websocket: the first packet in
// Sec-WebSocket-Protocol). Bytes 0x00 0x01 0x02 0xFB 0xFF use both URL-safe characters and
// need padding in standard base64 ("AAEC+/8="): RawURLEncoding gives "AAEC-_8".
TEST_CASE("ws early data: base64url without padding, in a header or after the path") {
  const vmlocal::Bytes early = {0x00, 0x01, 0x02, 0xFB, 0xFF};
  CHECK(vmlocal::crypto::base64url_encode(early) == "AAEC-_8");
  CHECK(vmlocal::crypto::base64url_decode("AAEC-_8") == early);
  CHECK_FALSE(vmlocal::crypto::base64url_decode("AAEC+/8="));  // the standard alphabet is not it
  CHECK(vmlocal::crypto::base64url_encode({}) == "");

  UpgradeRequest base;
  base.host = "example.org";
  base.path = "/ws";
  base.headers = {{"User-Agent", "x"}};

  const UpgradeRequest in_header = with_early_data(base, early, "Sec-WebSocket-Protocol");
  CHECK(in_header.path == "/ws");
  REQUIRE(in_header.headers.size() == 2);
  CHECK(in_header.headers[1] ==
        std::pair<std::string, std::string>{"Sec-WebSocket-Protocol", "AAEC-_8"});
  const std::string request = build_upgrade_request(in_header, "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK(request.find("\r\nSec-WebSocket-Protocol: AAEC-_8\r\n") != std::string::npos);

  const UpgradeRequest in_path = with_early_data(base, early, "");
  CHECK(in_path.path == "/wsAAEC-_8");
  CHECK(in_path.headers.size() == 1);
  CHECK(build_upgrade_request(in_path, "dGhlIHNhbXBsZSBub25jZQ==")
            .starts_with("GET /wsAAEC-_8 HTTP/1.1\r\n"));
}

TEST_CASE("ws early data: the 101 may echo the offered Sec-WebSocket-Protocol, nothing else") {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
      "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  auto feed = [&](UpgradeResponseReader& reader, const std::string& extra) {
    const std::string text = head + extra + "\r\n";
    return reader.feed(ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  };
  UpgradeResponseReader echoed(key, "AAEC-_8");
  CHECK(feed(echoed, "Sec-WebSocket-Protocol: AAEC-_8\r\n").status ==
        UpgradeResponseReader::Status::kDone);
  UpgradeResponseReader silent(key, "AAEC-_8");
  CHECK(feed(silent, "").status == UpgradeResponseReader::Status::kDone);
  UpgradeResponseReader other(key, "AAEC-_8");
  CHECK(feed(other, "Sec-WebSocket-Protocol: chat\r\n").status ==
        UpgradeResponseReader::Status::kError);
  UpgradeResponseReader none_offered(key);
  CHECK(feed(none_offered, "Sec-WebSocket-Protocol: AAEC-_8\r\n").status ==
        UpgradeResponseReader::Status::kError);
}

// HTTPUpgrade (Xray config/transports/httpupgrade, v2fly v5 config/stream/httpupgrade, sing-box
// v2ray-transport): an HTTP/1.1 Upgrade request and a 101, then raw bytes.
TEST_CASE("httpupgrade: the request head, and the 101 read without an accept key") {
  CHECK(vmlocal::transport::httpupgrade::build_request({"cdn.example.org", "/up"}) ==
        "GET /up HTTP/1.1\r\nHost: cdn.example.org\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\n\r\n");
  auto feed = [](UpgradeResponseReader& reader, std::string_view text) {
    return reader.feed(ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  };
  // Xray's answer, then the first stream bytes in the same read.
  const std::string_view ok =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  UpgradeResponseReader reader = vmlocal::transport::httpupgrade::make_response_reader();
  const auto step = feed(reader, std::string(ok) + "\x01\x02");
  CHECK(step.status == UpgradeResponseReader::Status::kDone);
  CHECK(step.consumed == ok.size());

  UpgradeResponseReader refused = vmlocal::transport::httpupgrade::make_response_reader();
  CHECK(feed(refused, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").status ==
        UpgradeResponseReader::Status::kError);
  CHECK(refused.status_code() == 404);
  UpgradeResponseReader no_upgrade = vmlocal::transport::httpupgrade::make_response_reader();
  CHECK(
      feed(no_upgrade, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n").status ==
      UpgradeResponseReader::Status::kError);
  CHECK(no_upgrade.error() == "the 101 response has no \"Upgrade: websocket\" header");
}
