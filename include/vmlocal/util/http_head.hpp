// HTTP/1.x response heads (RFC 9112 §4-5), sans I/O: a push-style reader of the status line and
// header fields, for the probe's answer and the doctor's plain request to a server port. The body
// is not read: the caller gets the head and the bytes after it are left alone.
//
// Hand-written because the only well-kept HTTP/1 parser in Debian (llhttp) is not packaged as a
// library for C++ builds, and the head is all we need: a few dozen lines with a size bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::http {

struct ResponseHead {
  int version_minor = 1;  // HTTP/1.<minor>
  int status = 0;         // 100..599
  std::string reason;
  std::string status_line;  // as received, without CRLF, control characters replaced by '?'
  std::vector<std::pair<std::string, std::string>> headers;  // in order; values trimmed

  // The first field named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

class ResponseHeadReader {
 public:
  // A head longer than this is refused.
  static constexpr size_t kMaxHead = 16 * 1024;

  enum class Status : uint8_t { kNeedMore, kDone, kError };
  struct Step {
    Status status = Status::kNeedMore;
    size_t consumed = 0;  // bytes of this input that belong to the head
  };

  Step feed(ByteView bytes);

  // kDone: the head.
  const ResponseHead& head() const { return head_; }
  // kError: what is wrong, e.g. "not an HTTP response (starts with 0x15 0x03)".
  const std::string& error() const { return error_; }

 private:
  Step fail(std::string why);

  std::string buffer_;
  ResponseHead head_;
  std::string error_;
  bool done_ = false;
};

// True when `bytes` start like an HTTP/1.x response ("HTTP/1."), or could still (fewer bytes).
bool looks_like_http_response(ByteView bytes);

// Where an HTTP head in `buffer` ends: the offset just past its first empty line, whichever
// line ends are used (CRLF, or the bare LF RFC 9112 §2.2 lets a recipient accept), looking
// from `search_from` on; npos while there is none. The first "\n\n" or "\n\r\n" wins, so
// the answer never depends on how the bytes arrived.
size_t http_head_end(std::string_view buffer, size_t search_from);

}  // namespace vmlocal::http
