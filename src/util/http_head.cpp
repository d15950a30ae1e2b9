#include "vmlocal/util/http_head.hpp"

#include <algorithm>
#include <cstdio>

namespace vmlocal::http {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The next line (without CR LF or LF) and what follows it.
std::string_view take_line(std::string_view& rest) {
  const size_t end = rest.find('\n');
  std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string printable(std::string_view text) {
  std::string out(text.substr(0, 200));
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) c = '?';
  }
  return out;
}

std::string hex_start(ByteView bytes) {
  std::string out;
  // The first byte only: it is all a reader fed byte by byte has seen when it gives up, and the
  // message must not depend on how the bytes arrived.
  for (size_t i = 0; i < bytes.size() && i < 1; ++i) {
    char text[8];
    std::snprintf(text, sizeof text, "%s0x%02x", i == 0 ? "" : " ", bytes[i]);
    out += text;
  }
  return out;
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> ResponseHead::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (equal_ignoring_case(field, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool looks_like_http_response(ByteView bytes) {
  constexpr std::string_view kPrefix = "HTTP/1.";
  const size_t n = std::min(bytes.size(), kPrefix.size());
  return std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n), kPrefix.begin(),
                    [](uint8_t b, char c) { return static_cast<char>(b) == c; });
}

ResponseHeadReader::Step ResponseHeadReader::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return Step{Status::kError, 0};
}

size_t http_head_end(std::string_view buffer, size_t search_from) {
  const size_t lf_lf = buffer.find("\n\n", search_from);
  const size_t lf_crlf = buffer.find("\n\r\n", search_from);
  if (lf_lf != std::string_view::npos && (lf_crlf == std::string_view::npos || lf_lf < lf_crlf)) {
    return lf_lf + 2;
  }
  return lf_crlf == std::string_view::npos ? std::string_view::npos : lf_crlf + 3;
}

ResponseHeadReader::Step ResponseHeadReader::feed(ByteView bytes) {
  if (!error_.empty()) return fail({});
  if (done_) return Step{Status::kDone, 0};
  if (buffer_.empty() && !bytes.empty() && !looks_like_http_response(bytes)) {
    return fail("not an HTTP response (starts with " + hex_start(bytes) + ")");
  }
  const size_t search_from = buffer_.size() >= 3 ? buffer_.size() - 3 : 0;
  const size_t before = buffer_.size();
  const size_t take = std::min(bytes.size(), kMaxHead + 4 - before);
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), take);
  if (!looks_like_http_response(
          ByteView(reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size()))) {
    return fail(
        "not an HTTP response (starts with " +
        hex_start(ByteView(reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size())) +
        ")");
  }
  const size_t head_end = http_head_end(buffer_, search_from);
  if (head_end == std::string::npos) {
    if (buffer_.size() > kMaxHead) {
      return fail("HTTP response head longer than " + std::to_string(kMaxHead) + " bytes");
    }
    return Step{Status::kNeedMore, take};
  }
  buffer_.resize(head_end);
  done_ = true;

  std::string_view rest = buffer_;
  const std::string_view line = take_line(rest);
  head_.status_line = printable(line);
  // "HTTP/1.1 204 No Content": version, space, three digits, then an optional reason.
  if (line.size() < 12 || line[6] != '.' || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
      !std::all_of(line.begin() + 9, line.begin() + 12,
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      (line.size() > 12 && line[12] != ' ')) {
    return fail("malformed status line: " + head_.status_line);
  }
  head_.version_minor = line[7] - '0';
  head_.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (head_.status < 100) return fail("malformed status line: " + head_.status_line);
  head_.reason = printable(line.size() > 13 ? line.substr(13) : std::string_view{});

  while (!rest.empty()) {
    const std::string_view field = take_line(rest);
    if (field.empty()) break;
    const size_t colon = field.find(':');
    const std::string_view name = field.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() ||
        !std::all_of(name.begin(), name.end(), is_token_char)) {
      return fail("malformed header line: " + printable(field));
    }
    head_.headers.emplace_back(std::string(name), printable(trim(field.substr(colon + 1))));
  }
  buffer_.clear();
  buffer_.shrink_to_fit();
  return Step{Status::kDone, head_end - before};
}

}  // namespace vmlocal::http
