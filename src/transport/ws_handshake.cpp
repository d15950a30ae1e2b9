#include "vmlocal/transport/ws_handshake.hpp"

#include <algorithm>
#include <cctype>

#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/util/http_head.hpp"

namespace vmlocal::transport::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// True if the comma-separated header value lists `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Printable ASCII only, for echoing server text in a log line.
std::string printable(std::string_view s, size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) {
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

// The first line of `rest`, without its line end; removes it from `rest`.
std::string_view take_line(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// "HTTP/1.1 101 Switching Protocols" is the only acceptable status line. Sets `code` once the
// status code could be read. Returns the problem, "" when there is none.
std::string status_line_problem(std::string_view status_line, int& code) {
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return "the server did not answer with HTTP (got \"" + printable(status_line) + "\")";
  }
  const std::string_view code_text = status_line.substr(9, 3);
  if (!std::all_of(code_text.begin(), code_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    return "malformed HTTP status line \"" + printable(status_line) + "\"";
  }
  code = std::stoi(std::string(code_text));
  if (code != 101) {
    const std::string_view reason = status_line.size() > 13 ? status_line.substr(13) : "";
    std::string problem = "upgrade refused: HTTP " + std::string(code_text);
    if (!reason.empty()) problem += " " + printable(reason);
    return problem;
  }
  return {};
}

// The header lines up to the blank one, which must agree to the upgrade (RFC 6455 §4.1) and
// turn on nothing that was not offered. Returns the problem, "" when there is none.
std::string header_problem(std::string_view rest, std::string_view expected_accept,
                           std::string_view offered_protocol) {
  bool upgrade = false, connection = false;
  std::string_view accept;
  bool have_accept = false;
  for (std::string_view line = take_line(rest); !line.empty(); line = take_line(rest)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return "malformed header line \"" + printable(line) + "\" in the upgrade response";
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Upgrade")) {
      upgrade = upgrade || has_token(value, "websocket");
    } else if (iequals(name, "Connection")) {
      connection = connection || has_token(value, "upgrade");
    } else if (iequals(name, "Sec-WebSocket-Accept")) {
      accept = value;
      have_accept = true;
    } else if (iequals(name, "Sec-WebSocket-Extensions")) {
      return "the server turned on extension \"" + printable(value) + "\", which was not offered";
    } else if (iequals(name, "Sec-WebSocket-Protocol")) {
      if (!offered_protocol.empty() && value == offered_protocol) continue;
      return "the server chose subprotocol \"" + printable(value) + "\", which was not offered";
    }
  }
  if (!upgrade) return "the 101 response has no \"Upgrade: websocket\" header";
  if (!connection) return "the 101 response has no \"Connection: upgrade\" header";
  if (expected_accept.empty()) return {};  // HTTPUpgrade: no key, no accept
  if (!have_accept) return "the 101 response has no Sec-WebSocket-Accept header";
  if (accept != expected_accept) {
    return "wrong Sec-WebSocket-Accept \"" + printable(accept) + "\" (expected \"" +
           std::string(expected_accept) + "\")";
  }
  return {};
}

}  // namespace

std::string make_key(ByteView sixteen_random_bytes) {
  return crypto::base64_encode(sixteen_random_bytes);
}

std::string accept_for_key(std::string_view key) {
  const crypto::Digest20 digest = crypto::sha1({as_bytes(key), as_bytes(kGuid)});
  return crypto::base64_encode(digest);
}

std::string build_upgrade_request(const UpgradeRequest& request, std::string_view key) {
  std::string out;
  out.reserve(256);
  out += "GET ";
  out += request.path;
  out += " HTTP/1.1\r\nHost: ";
  out += request.host;
  out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  out += key;
  out += "\r\nSec-WebSocket-Version: 13\r\n";
  for (const auto& [name, value] : request.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

UpgradeRequest with_early_data(UpgradeRequest request, ByteView early,
                               std::string_view header_name) {
  std::string encoded = crypto::base64url_encode(early);
  if (header_name.empty()) {
    request.path += encoded;
  } else {
    request.headers.emplace_back(std::string(header_name), std::move(encoded));
  }
  return request;
}

UpgradeResponseReader::UpgradeResponseReader(std::string key, std::string offered_protocol)
    : expected_accept_(accept_for_key(key)), offered_protocol_(std::move(offered_protocol)) {}

UpgradeResponseReader::Step UpgradeResponseReader::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return Step{Status::kError, 0};
}

UpgradeResponseReader::Step UpgradeResponseReader::feed(ByteView bytes) {
  if (!error_.empty()) return fail({});
  if (done_) return Step{Status::kDone, 0};
  // Look for the blank line, which may straddle this input and the last.
  const size_t search_from = head_.size() >= 3 ? head_.size() - 3 : 0;
  const size_t before = head_.size();
  const size_t take = std::min(bytes.size(), kMaxHead + 4 - before);
  head_.append(reinterpret_cast<const char*>(bytes.data()), take);
  const size_t head_end = http::http_head_end(head_, search_from);
  if (head_end == std::string::npos) {
    if (head_.size() > kMaxHead) {
      return fail("upgrade response head longer than " + std::to_string(kMaxHead) +
                  " bytes; is this an HTTP server?");
    }
    return Step{Status::kNeedMore, take};
  }
  head_.resize(head_end);
  done_ = true;
  check_head();
  if (!error_.empty()) return Step{Status::kError, head_end - before};
  head_.clear();
  head_.shrink_to_fit();
  return Step{Status::kDone, head_end - before};
}

void UpgradeResponseReader::check_head() {
  std::string_view rest = head_;
  const std::string_view status_line = take_line(rest);
  status_line_ = printable(status_line);
  // The server's clock, kept whatever the answer (the doctor and clock_offset = "auto" use it).
  std::string_view fields = rest;
  for (std::string_view line = take_line(fields); !line.empty(); line = take_line(fields)) {
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), "Date")) {
      date_ = printable(trim(line.substr(colon + 1)));
    }
  }
  error_ = status_line_problem(status_line, status_code_);
  if (error_.empty()) error_ = header_problem(rest, expected_accept_, offered_protocol_);
}

}  // namespace vmlocal::transport::ws
