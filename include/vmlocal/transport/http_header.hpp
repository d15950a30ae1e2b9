// v2ray's "http" header for the tcp transport (tcpSettings.header.type = "http"), sans I/O: the
// HTTP/1.1 request head the client writes in front of its first bytes, and a push-style reader
// that strips the response head the server writes in front of its first bytes. After the two
// heads the connection carries the VMess stream as it is (no framing).
//
// Source: v2ray 4.34, transport/internet/headers/http (http.go: Authenticator.GetClientWriter
// and HeaderReader.Read; config.go: pickString and the "GET" / "1.1" defaults) and
// infra/conf/transport_authenticators.go (AuthenticatorRequest.Build: the default path "/" and
// the five default headers below, in that order). The server (HeaderReader with
// ExpectThisRequest) reads the head up to CRLFCRLF, at most 8192 bytes, and checks only that
// the request path is one of its own list (else it answers "404 Not Found" and closes); its
// answer, "HTTP/1.1 200 OK" and headers, goes out in front of its first write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::transport::http_header {

// v2ray's defaults (infra/conf/transport_authenticators.go).
inline constexpr const char* kDefaultHosts[] = {"www.baidu.com", "www.bing.com"};
inline constexpr const char* kDefaultUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/53.0.2785.143 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 10_0_2 like Mac OS X) AppleWebKit/601.1 (KHTML, like "
    "Gecko) CriOS/53.0.2785.109 Mobile/14A456 Safari/601.1.46"};
// The longest head either side reads (http.go maxHeaderLength).
inline constexpr size_t kMaxHead = 8192;

struct RequestOptions {
  std::vector<std::string> paths;  // one is picked at random per connection; empty: "/"
  std::vector<std::string> hosts;  // one is picked for the Host header; empty: v2ray's two
};

// "GET <path> HTTP/1.1\r\nHost: <host>\r\nUser-Agent: ...\r\nAccept-Encoding: gzip, deflate\r\n
// Connection: keep-alive\r\nPragma: no-cache\r\n\r\n", with path, host and User-Agent each
// drawn uniformly from its list as v2ray's dice.Roll does.
std::string build_request_head(const RequestOptions& options, crypto::Random& random);

// Finds the end of the server's response head (CRLFCRLF) as bytes arrive. v2ray's client does
// not look at what the head says; this reader also only requires it to be HTTP ("HTTP/" first),
// so that a server without the header gets a clear error instead of VMess reading HTTP text.
class ResponseHeadReader {
 public:
  enum class Status : uint8_t { kNeedMore, kDone, kError };
  struct Step {
    Status status = Status::kNeedMore;
    size_t consumed = 0;  // bytes of this input that belong to the head
  };

  Step feed(ByteView bytes);
  const std::string& error() const { return error_; }
  // The status code and reason from the status line, once read (0 and "" before).
  int status_code() const { return status_code_; }
  const std::string& reason() const { return reason_; }
  // Head bytes seen so far (0: the server sent nothing yet).
  size_t seen() const { return seen_; }

 private:
  Step fail(std::string why);

  std::string line_;  // the status line while it is read (at most kMaxHead)
  bool status_line_done_ = false;
  uint32_t match_ = 0;  // how much of "\r\n\r\n" the last bytes matched
  size_t seen_ = 0;
  int status_code_ = 0;
  std::string reason_;
  std::string error_;
  bool done_ = false;
};

}  // namespace vmlocal::transport::http_header
