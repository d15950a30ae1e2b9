#include "vmlocal/handshake/http1.hpp"

#include <algorithm>
#include <charconv>

namespace vmlocal::http1 {
namespace {

Error bad(std::string message) {
  return Error{ErrorKind::kProtocol, std::move(message)};
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Splits `head` into lines without their CR LF / LF; stops at the blank line.
std::vector<std::string_view> split_lines(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t lf = head.find('\n');
    if (lf == std::string_view::npos) break;
    std::string_view line = head.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    head.remove_prefix(lf + 1);
    if (line.empty()) break;
    lines.push_back(line);
  }
  return lines;
}

bool parse_version(std::string_view text, int* minor) {
  if (text.size() != 8 || text.substr(0, 7) != "HTTP/1.") return false;
  if (text[7] < '0' || text[7] > '9') return false;
  *minor = text[7] - '0';
  return true;
}

Result<std::vector<Header>> parse_fields(const std::vector<std::string_view>& lines) {
  std::vector<Header> headers;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    // RFC 9112 §5.2: obs-fold is refused with 400 by a proxy that does not unfold it.
    if (line.front() == ' ' || line.front() == '\t') return bad("obsolete line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bad("header line without a colon");
    const std::string_view name = line.substr(0, colon);
    // RFC 9112 §5.1: whitespace between the name and the colon must be rejected with 400.
    if (!is_token(name)) return bad("malformed header name");
    const std::string_view value = trim(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) {
          return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
        })) {
      return bad("control character in a header value");
    }
    static_assert(kMaxHeaderCount == 128, "kTooManyFields names the limit");
    if (headers.size() == kMaxHeaderCount) return bad(std::string(kTooManyFields));
    headers.push_back({name, value});
  }
  return headers;
}

// Calls `each` with every comma-separated element of every field named `name`, trimmed.
template <typename F>
void for_each_element(const std::vector<Header>& headers, std::string_view name, F each) {
  for (const Header& h : headers) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view element = trim(rest.substr(0, comma));
      if (!element.empty()) each(element);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
}

bool has_field(const std::vector<Header>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const Header& h) { return iequals(h.name, name); });
}

// Transfer-Encoding and Content-Length, the same for requests and responses (RFC 9112 §6.3
// steps 3-6); `none_kind` is what a message with neither gets.
Result<Framing> body_framing(const std::vector<Header>& headers, Framing::Kind none_kind) {
  const bool has_te = has_field(headers, "transfer-encoding");
  const bool has_cl = has_field(headers, "content-length");
  if (has_te && has_cl) return bad("both Transfer-Encoding and Content-Length");
  if (has_te) {
    std::string_view last;
    for_each_element(headers, "transfer-encoding", [&](std::string_view e) { last = e; });
    if (!iequals(last, "chunked")) {
      if (none_kind == Framing::Kind::kUntilClose) return Framing{Framing::Kind::kUntilClose, 0};
      return bad("unsupported Transfer-Encoding (the last coding must be chunked)");
    }
    return Framing{Framing::Kind::kChunked, 0};
  }
  if (has_cl) {
    bool first = true, ok = true;
    uint64_t length = 0;
    for_each_element(headers, "content-length", [&](std::string_view e) {
      uint64_t value = 0;
      const auto [end, ec] = std::from_chars(e.data(), e.data() + e.size(), value);
      if (ec != std::errc() || end != e.data() + e.size() || e.front() == '+' || e.front() == '-') {
        ok = false;
      } else if (!first && value != length) {
        ok = false;
      }
      length = value;
      first = false;
    });
    if (!ok || first) return bad("bad Content-Length");
    return Framing{Framing::Kind::kLength, length};
  }
  return Framing{none_kind, 0};
}

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

size_t find_head_end(std::string_view buffer) {
  for (size_t i = buffer.find('\n'); i != std::string_view::npos; i = buffer.find('\n', i + 1)) {
    if (i + 1 < buffer.size() && buffer[i + 1] == '\n') return i + 2;
    if (i + 2 < buffer.size() && buffer[i + 1] == '\r' && buffer[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

Result<RequestHead> parse_request_head(std::string_view head) {
  // RFC 9112 §2.2: empty lines before the request line are ignored.
  while (!head.empty() && (head.front() == '\r' || head.front() == '\n'))
    head.remove_prefix(1);
  const std::vector<std::string_view> lines = split_lines(head);
  if (lines.empty()) return bad("empty request");
  const std::string_view line = lines[0];
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad("malformed request line");
  }
  RequestHead request;
  request.method = line.substr(0, sp1);
  request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(request.method)) return bad("malformed method");
  if (request.target.empty() ||
      std::any_of(request.target.begin(), request.target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return bad("malformed request target");
  }
  if (!parse_version(line.substr(sp2 + 1), &request.minor_version)) {
    return bad("not an HTTP/1.x request");
  }
  Result<std::vector<Header>> fields = parse_fields(lines);
  if (!fields) return fields.error();
  request.headers = std::move(*fields);
  return request;
}

Result<ResponseHead> parse_response_head(std::string_view head) {
  const std::vector<std::string_view> lines = split_lines(head);
  if (lines.empty()) return bad("empty response");
  const std::string_view line = lines[0];
  ResponseHead response;
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || !parse_version(line.substr(0, 8), &response.minor_version) ||
      line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    return bad("malformed status line");
  }
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return bad("malformed status code");
    response.status = response.status * 10 + (line[i] - '0');
  }
  if (response.status < 100) return bad("malformed status code");
  Result<std::vector<Header>> fields = parse_fields(lines);
  if (!fields) return fields.error();
  response.headers = std::move(*fields);
  return response;
}

Result<Framing> request_framing(const RequestHead& head) {
  return body_framing(head.headers, Framing::Kind::kNone);
}

Result<Framing> response_framing(const ResponseHead& head, std::string_view request_method) {
  // RFC 9112 §6.3 step 1-2.
  if (iequals(request_method, "HEAD") || (head.status >= 100 && head.status < 200) ||
      head.status == 204 || head.status == 304 ||
      (iequals(request_method, "CONNECT") && head.status / 100 == 2)) {
    return Framing{Framing::Kind::kNone, 0};
  }
  // Step 4: a response whose final coding is not chunked is delimited by the close.
  return body_framing(head.headers, Framing::Kind::kUntilClose);
}

BodyScanner::BodyScanner(Framing framing) {
  switch (framing.kind) {
    case Framing::Kind::kNone:
      state_ = State::kDone;
      break;
    case Framing::Kind::kLength:
      remaining_ = framing.length;
      state_ = remaining_ == 0 ? State::kDone : State::kLength;
      break;
    case Framing::Kind::kChunked:
      state_ = State::kChunkSize;
      break;
    case Framing::Kind::kUntilClose:
      state_ = State::kUntilClose;
      break;
  }
}

Result<size_t> BodyScanner::feed(ByteView input) {
  size_t i = 0;
  while (i < input.size() && state_ != State::kDone) {
    const uint8_t c = input[i];
    switch (state_) {
      case State::kLength: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - i));
        remaining_ -= n;
        i += n;
        if (remaining_ == 0) state_ = State::kDone;
        continue;
      }
      case State::kUntilClose:
        return input.size();
      case State::kChunkSize: {
        const int v = hex_value(c);
        if (v >= 0) {
          // 15 hex digits are more than any body we would relay; refuse rather than overflow.
          if (++size_digits_ > 15) return bad("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
        } else if (size_digits_ == 0) {
          return bad("malformed chunk size");
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::kChunkExt;
        } else if (c == '\r') {
          state_ = State::kChunkExt;
        } else if (c == '\n') {
          state_ = remaining_ == 0 ? State::kTrailerStart : State::kChunkData;
          size_digits_ = 0;
        } else {
          return bad("malformed chunk size");
        }
        ++i;
        continue;
      }
      case State::kChunkExt:
        if (c == '\n') {
          state_ = remaining_ == 0 ? State::kTrailerStart : State::kChunkData;
          size_digits_ = 0;
        } else if (c < 0x20 && c != '\t' && c != '\r') {
          return bad("control character in a chunk extension");
        }
        ++i;
        continue;
      case State::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - i));
        remaining_ -= n;
        i += n;
        if (remaining_ == 0) state_ = State::kChunkDataCr;
        continue;
      }
      case State::kChunkDataCr:
        if (c == '\r') {
          state_ = State::kChunkDataLf;
        } else if (c == '\n') {
          state_ = State::kChunkSize;
        } else {
          return bad("chunk data longer than its size");
        }
        ++i;
        continue;
      case State::kChunkDataLf:
        if (c != '\n') return bad("chunk data longer than its size");
        state_ = State::kChunkSize;
        ++i;
        continue;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kTrailerEndLf;
        } else if (c == '\n') {
          state_ = State::kDone;
        } else {
          state_ = State::kTrailerLine;
        }
        ++i;
        continue;
      case State::kTrailerLine:
        if (c == '\n') state_ = State::kTrailerStart;
        ++i;
        continue;
      case State::kTrailerEndLf:
        if (c != '\n') return bad("malformed end of a chunked body");
        state_ = State::kDone;
        ++i;
        continue;
      case State::kDone:
        break;
    }
  }
  return i;
}

Result<Authority> parse_authority(std::string_view text, bool port_required,
                                  uint16_t default_port) {
  Authority authority;
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("malformed IPv6 literal");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("malformed authority");
      port_text = rest.substr(1);
    }
  } else {
    const size_t colon = text.rfind(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("malformed authority");
  }
  if (host.empty() || host.size() > 255) return bad("missing or overlong host");
  if (std::any_of(host.begin(), host.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/' || c == '@' ||
               c == '?' || c == '#';
      })) {
    return bad("malformed host");
  }
  authority.host = std::string(host);
  if (port_text.empty()) {
    if (port_required) return bad("missing port");
    authority.port = default_port;
    return authority;
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return bad("malformed port");
  }
  authority.port = static_cast<uint16_t>(port);
  return authority;
}

Result<AbsoluteTarget> parse_absolute_form(std::string_view target) {
  constexpr std::string_view kScheme = "http://";
  if (target.size() < kScheme.size() || !iequals(target.substr(0, kScheme.size()), kScheme)) {
    if (target.size() >= 8 && iequals(target.substr(0, 8), "https://")) {
      return bad("https:// target in a plain request (a client sends CONNECT for https)");
    }
    return bad("request target is not an absolute http:// URI");
  }
  std::string_view rest = target.substr(kScheme.size());
  const size_t path_at = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path =
      path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
  // RFC 9110 §4.2.4: userinfo in an http URI is deprecated and must not be forwarded.
  if (authority.find('@') != std::string_view::npos) return bad("userinfo in the request target");
  Result<Authority> parsed = parse_authority(authority, false, 80);
  if (!parsed) return parsed.error();
  if (const size_t hash = path.find('#'); hash != std::string_view::npos)
    path = path.substr(0, hash);
  AbsoluteTarget result;
  result.host = std::move(parsed->host);
  result.port = parsed->port;
  result.authority = std::string(authority);
  if (path.empty() || path.front() != '/') {
    result.origin_form = "/" + std::string(path);
  } else {
    result.origin_form = std::string(path);
  }
  return result;
}

bool wants_upgrade(const RequestHead& head) {
  bool named = false;
  for_each_element(head.headers, "connection", [&](std::string_view e) {
    if (iequals(e, "upgrade")) named = true;
  });
  return named && has_field(head.headers, "upgrade");
}

std::string_view header_value(const std::vector<Header>& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

namespace {

// The fields of a request the proxy forwards: what rewrite_request_head() writes after its own
// Host line and before its own "Connection: Upgrade".
template <typename Visit>
void for_each_forwarded_field(const RequestHead& head, Visit visit) {
  const bool upgrade = wants_upgrade(head);
  std::vector<std::string_view> named;  // fields the Connection header lists
  for_each_element(head.headers, "connection", [&](std::string_view e) { named.push_back(e); });
  for_each_element(head.headers, "proxy-connection",
                   [&](std::string_view e) { named.push_back(e); });
  for (const Header& h : head.headers) {
    constexpr std::string_view kHopByHop[] = {
        "connection", "proxy-connection", "keep-alive", "proxy-authorization",
        "te",         "trailer",          "host"};
    bool drop = std::any_of(std::begin(kHopByHop), std::end(kHopByHop),
                            [&](std::string_view n) { return iequals(h.name, n); });
    if (iequals(h.name, "upgrade")) {
      drop = !upgrade;
    } else if (!drop && !iequals(h.name, "transfer-encoding") &&
               !iequals(h.name, "content-length")) {
      drop = std::any_of(named.begin(), named.end(),
                         [&](std::string_view n) { return iequals(h.name, n); });
    }
    if (!drop) visit(h);
  }
}

}  // namespace

std::string rewrite_request_head(const RequestHead& head, const AbsoluteTarget& target) {
  std::string out;
  out.reserve(512);
  out.append(head.method).append(" ").append(target.origin_form);
  out.append(head.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  out.append("Host: ").append(target.authority).append("\r\n");
  for_each_forwarded_field(head, [&](const Header& h) {
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  });
  if (wants_upgrade(head)) out.append("Connection: Upgrade\r\n");
  out.append("\r\n");
  return out;
}

size_t forwarded_field_count(const RequestHead& head) {
  size_t count = 1 + (wants_upgrade(head) ? 1 : 0);  // Host, Connection: Upgrade
  for_each_forwarded_field(head, [&](const Header&) { ++count; });
  return count;
}

std::string make_response(int status, std::string_view reason, std::string_view body,
                          std::string_view extra_fields, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out.append("Content-Type: text/plain; charset=utf-8\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size() + 1)).append("\r\n");
  if (close) out.append("Connection: close\r\n");
  out.append(extra_fields);
  out.append("\r\n").append(body).append("\n");
  return out;
}

}  // namespace vmlocal::http1
