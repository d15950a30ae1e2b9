// HTTP/1.x message syntax and framing (RFC 9112) for the HTTP proxy inbound: request and
// response heads, the body length rules of RFC 9112 §6.3, a streaming body scanner, and the
// proxy's rewriting of an absolute-form request (RFC 9112 §3.2.2, RFC 9110 §7.6.1 hop-by-hop
// fields). Pure: text in, values out; nothing here owns a socket.
//
// Hand-written rather than Debian's libhttp-parser (upstream archived since 2020; Debian has no
// llhttp): a proxy must hold the whole head anyway (to rewrite it and to answer 431 over a
// limit), and parsing a complete head is a short loop; what streams is only the body framing,
// which is the small BodyScanner below. Owning it also keeps the smuggling rules exact
// (Content-Length with Transfer-Encoding, differing Content-Lengths, a final coding other than
// chunked: all refused, RFC 9112 §6.1 and §6.3) instead of a library's leniencies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/error.hpp"

namespace vmlocal::http1 {

// The longest head (start line + fields + the blank line) we accept; a longer one gets 431.
inline constexpr size_t kMaxHeadSize = 32 * 1024;
inline constexpr size_t kMaxHeaderCount = 128;
// The parse error of a head with more than kMaxHeaderCount fields; a proxy answers it with 431
// (RFC 6585 §5) where other parse errors get 400.
inline constexpr std::string_view kTooManyFields = "more than 128 header fields";

struct Header {
  std::string_view name;   // as sent; compare with iequals()
  std::string_view value;  // leading and trailing whitespace removed
};

// Views into the head text handed to the parser, which must outlive it.
struct RequestHead {
  std::string_view method;
  std::string_view target;  // request-target as sent (absolute-form, authority-form, ...)
  int minor_version = 1;    // HTTP/1.<minor_version>
  std::vector<Header> headers;
};

struct ResponseHead {
  int status = 0;
  int minor_version = 1;
  std::vector<Header> headers;
};

bool iequals(std::string_view a, std::string_view b);

// The index just past the blank line that ends a head (CRLF CRLF, or a bare LF LF, which
// RFC 9112 §2.2 lets a recipient accept), or npos when `buffer` does not hold one yet.
size_t find_head_end(std::string_view buffer);

// `head` is a whole head including its blank line. Errors (kProtocol) are short, log-safe
// reasons for a 400: "malformed request line", "whitespace before a header colon", ...
Result<RequestHead> parse_request_head(std::string_view head);
Result<ResponseHead> parse_response_head(std::string_view head);

// How a message body is delimited (RFC 9112 §6.3).
struct Framing {
  enum class Kind : uint8_t { kNone, kLength, kChunked, kUntilClose };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength
};

// A request: chunked, Content-Length or no body. Refused (400): both Transfer-Encoding and
// Content-Length, a final transfer coding other than chunked, a bad or conflicting length.
Result<Framing> request_framing(const RequestHead& head);
// A response to a request with `request_method`: no body for HEAD, 1xx, 204 and 304 (and a 2xx
// to CONNECT); else chunked, Content-Length, or until the server closes.
Result<Framing> response_framing(const ResponseHead& head, std::string_view request_method);

// Follows a body through its framing without changing a byte: feed() says how many bytes of
// the input belong to the body, and done() when it has ended. Chunked bodies are followed
// through chunk sizes, extensions and trailer fields (RFC 9112 §7.1).
class BodyScanner {
 public:
  explicit BodyScanner(Framing framing = {});
  // Bytes from the front of `input` that belong to the body (all of it for kUntilClose), or an
  // error for a malformed chunked body.
  Result<size_t> feed(ByteView input);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State : uint8_t {
    kLength,        // counting down remaining_
    kChunkSize,     // hex digits of a chunk size
    kChunkExt,      // extension up to CR LF
    kChunkData,     // remaining_ data bytes
    kChunkDataCr,   // CR after data
    kChunkDataLf,   // LF after data
    kTrailerStart,  // first byte of a trailer line (CR/LF ends the body)
    kTrailerLine,   // inside a trailer field line
    kTrailerEndLf,  // LF of the final blank line
    kUntilClose,
    kDone,
  };
  State state_;
  uint64_t remaining_ = 0;
  size_t size_digits_ = 0;
};

// Host and port of an absolute-form target ("http://host[:port]/path?query") and the
// origin-form to send instead ("/path?query", "/" when empty). Only the http scheme: an
// https:// target means the client should have used CONNECT.
struct AbsoluteTarget {
  std::string host;  // without brackets for an IPv6 literal
  uint16_t port = 80;
  std::string authority;    // "host[:port]" as sent, for the Host field
  std::string origin_form;  // "/path?query"
};
Result<AbsoluteTarget> parse_absolute_form(std::string_view target);

// "host:port" (CONNECT's authority-form, RFC 9112 §3.2.3; "[v6]:port" for IPv6 literals).
struct Authority {
  std::string host;
  uint16_t port = 0;
};
Result<Authority> parse_authority(std::string_view text, bool port_required,
                                  uint16_t default_port = 0);

// The request head an origin server gets from the proxy: origin-form request line, Host set to
// the target's authority, hop-by-hop fields removed (Connection and the fields it names,
// Proxy-Connection, Proxy-Authorization, Keep-Alive, TE, Trailer, and Upgrade unless the
// request asks to upgrade, in which case "Connection: Upgrade" and Upgrade stay).
// Transfer-Encoding and Content-Length stay: the body is relayed byte for byte.
std::string rewrite_request_head(const RequestHead& head, const AbsoluteTarget& target);

// How many fields rewrite_request_head() writes for `head`: one more than the request carried
// when it had no Host. A proxy refuses (431) a request whose forwarded head would exceed
// kMaxHeaderCount, so that what it sends parses under the limit it holds requests to.
size_t forwarded_field_count(const RequestHead& head);

// True when the request asks for a protocol upgrade (Connection names "upgrade" and an Upgrade
// field is present): after a 101 the connection is relayed untouched.
bool wants_upgrade(const RequestHead& head);

// The value of the first field named `name`, or empty.
std::string_view header_value(const std::vector<Header>& headers, std::string_view name);

// A complete response generated by the proxy itself: status line, Content-Type text/plain,
// Content-Length, "Connection: close" when `close`, extra fields (each "Name: value\r\n"),
// and `body` followed by a newline.
std::string make_response(int status, std::string_view reason, std::string_view body,
                          std::string_view extra_fields = {}, bool close = true);

}  // namespace vmlocal::http1
