// From a source's transport and TLS settings to the profile's, refusing what this build cannot
// reach a server with and naming what it ignores.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "reading.hpp"
#include "vmlocal/import/features.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::import {
namespace {

std::string in_quotes(std::string_view text) {
  // Appended rather than "\"" + ...: GCC 12 at -O3 warns falsely (-Wrestrict, bug 105329)
  // about const char* + std::string&&.
  std::string out = "\"";
  out += printable(text);
  out += '"';
  return out;
}

// A name rather than an IP literal or a host:port: IPv4 has no letters, IPv6 has colons.
bool looks_like_host_name(std::string_view text) {
  return text.find_first_of(":/[]") == std::string_view::npos &&
         std::any_of(text.begin(), text.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

bool require(Feature feature, Reading& reading) {
  if (supported(feature)) return true;
  reading.fail(std::string(feature_name(feature)) +
               " is not supported by this build of vmess-local yet, so this server cannot be "
               "reached");
  return false;
}

// "/ws?ed=2048": Xray's WebSocket early data in the path. Returns the path without it.
std::string take_early_data(std::string path, Reading& reading) {
  const size_t query = path.find('?');
  if (query == std::string::npos) return path;
  std::string kept;
  std::string_view rest = std::string_view(path).substr(query + 1);
  uint32_t early = 0;
  bool found = false;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (item.starts_with("ed=")) {
      const std::string_view digits = item.substr(3);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), early);
      if (ec != std::errc() || end != digits.data() + digits.size()) {
        reading.fail("the path's ed=" + printable(digits) +
                     " (WebSocket early data) must be a number of bytes");
        return path;
      }
      found = true;
      continue;
    }
    kept += (kept.empty() ? "" : "&") + std::string(item);
  }
  if (!found) return path;
  reading.server.max_early_data = early;
  reading.server.early_data_header = "Sec-WebSocket-Protocol";
  return path.substr(0, query) + (kept.empty() ? "" : "?" + kept);
}

// A request path as it goes on the wire: sources write it decoded ("/a b") or not, and
// v2ray/Xray add a missing leading "/". Bytes a request line cannot carry are %-encoded.
std::string request_path(std::string_view path) {
  if (path.empty()) return {};
  std::string out = path.front() == '/' ? "" : "/";
  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F || c == '#') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += c;
    }
  }
  return out;
}

void apply_ws(const StreamFields& stream, Reading& reading) {
  ImportedServer& server = reading.server;
  server.transport = "ws";
  server.path =
      stream.paths.empty() ? "" : request_path(take_early_data(stream.paths.front(), reading));
  if (!stream.hosts.empty()) server.host = stream.hosts.front();
  server.ws_headers = stream.ws_headers;
  if (stream.max_early_data > 0) {
    server.max_early_data = stream.max_early_data;
    server.early_data_header = stream.early_data_header;
  }
  if (server.max_early_data > 0 && !supported(Feature::kWsEarlyData)) {
    // The server takes an ordinary upgrade too: only the first round trip is lost.
    reading.warn("WebSocket early data (" + std::to_string(server.max_early_data) +
                 " bytes) is not supported by this build; the connection works without it, "
                 "one round trip slower");
    server.max_early_data = 0;
    server.early_data_header.clear();
  }
}

void apply_tcp(const StreamFields& stream, Reading& reading) {
  ImportedServer& server = reading.server;
  const std::string header = lower(stream.header_type);
  if (header.empty() || header == "none") {
    // With TLS the link's host stands in for a missing sni (below); without, it means nothing.
    if (lower(stream.security) != "tls" && !stream.hosts.empty()) {
      reading.warn("host " + in_quotes(stream.hosts.front()) +
                   " is not used by a tcp server without an HTTP header or TLS");
    }
    const bool path_given =
        !stream.paths.empty() && !stream.paths.front().empty() && stream.paths.front() != "/";
    if (path_given) {
      reading.warn("path " + in_quotes(stream.paths.front()) +
                   " is not used by a tcp server without an HTTP header");
    }
    return;
  }
  if (header != "http") {
    reading.fail("tcp header type " + in_quotes(stream.header_type) +
                 " is not one v2ray knows (none or http)");
    return;
  }
  if (!require(Feature::kTcpHttpHeader, reading)) return;
  server.tcp_header = "http";
  server.tcp_host = stream.hosts;
  for (const std::string& path : stream.paths)
    server.tcp_path.push_back(request_path(path));
}

void apply_tls(const StreamFields& stream, Reading& reading) {
  ImportedServer& server = reading.server;
  const std::string security = lower(stream.security);
  if (security.empty() || security == "none") {
    if (!stream.sni.empty())
      reading.warn("sni " + in_quotes(stream.sni) + " is not used without TLS");
    if (!stream.alpn.empty()) reading.warn("alpn is not used without TLS");
    return;
  }
  if (security == "reality") {
    reading.fail("security \"reality\" (Xray's REALITY) is not supported by vmess-local");
    return;
  }
  if (security == "xtls") {
    reading.fail("security \"xtls\" (XTLS) is not supported by vmess-local");
    return;
  }
  if (security != "tls") {
    reading.fail("security " + in_quotes(stream.security) + " is not known (none or tls)");
    return;
  }
  server.tls = true;
  server.sni = stream.sni;
  // v2rayN takes the host for the SNI when the link has none (a name only: SNI has no IPs).
  if (server.sni.empty() && !stream.hosts.empty() && looks_like_host_name(stream.hosts.front())) {
    server.sni = stream.hosts.front();
  }
  if (server.transport == "ws" || server.transport == "httpupgrade") {
    // The upgrade is HTTP/1.1; the loader offers exactly that, whatever the list says.
    const bool other = std::any_of(stream.alpn.begin(), stream.alpn.end(),
                                   [](const std::string& p) { return p != "http/1.1"; });
    if (other) {
      reading.warn("alpn other than http/1.1 is not used over " + server.transport +
                   " (the upgrade is an HTTP/1.1 request); http/1.1 is offered");
    }
  } else {
    server.alpn = stream.alpn;
  }
  server.insecure = stream.insecure;
  if (stream.insecure) {
    reading.warn("allowInsecure: the server's certificate will not be verified (insecure = true)");
  }
  if (!stream.fingerprint.empty() && lower(stream.fingerprint) != "none") {
    reading.warn("fp " + in_quotes(stream.fingerprint) +
                 " (a browser's TLS fingerprint) is ignored: vmess-local's TLS handshake is "
                 "OpenSSL's");
  }
}

}  // namespace

void apply_stream(const StreamFields& stream, Reading& reading) {
  std::string network = lower(stream.network);
  if (network.empty() || network == "raw") network = "tcp";  // "raw": Xray's new name for tcp
  if (network == "http") network = "h2";
  ImportedServer& server = reading.server;
  if (network == "tcp") {
    if (!require(Feature::kTcp, reading)) return;
    apply_tcp(stream, reading);
  } else if (network == "ws" || network == "websocket") {
    if (!require(Feature::kWs, reading)) return;
    apply_ws(stream, reading);
  } else if (network == "h2") {
    if (!require(Feature::kH2, reading)) return;
    server.transport = "h2";
    server.h2_host = stream.hosts;
    if (!stream.paths.empty()) server.path = request_path(stream.paths.front());
  } else if (network == "grpc" || network == "gun") {
    if (!require(Feature::kGrpc, reading)) return;
    const std::string mode = lower(stream.grpc_mode);
    if (!mode.empty() && mode != "gun" && mode != "none") {  // v2rayN writes "none"
      reading.fail("gRPC mode " + in_quotes(stream.grpc_mode) +
                   " is not supported (only the default \"gun\" mode)");
      return;
    }
    server.transport = "grpc";
    server.grpc_service_name = !stream.service_name.empty()
                                   ? stream.service_name
                                   : (stream.paths.empty() ? "" : stream.paths.front());
  } else if (network == "httpupgrade") {
    if (!require(Feature::kHttpUpgrade, reading)) return;
    server.transport = "httpupgrade";
    if (!stream.paths.empty()) server.path = request_path(stream.paths.front());
    if (!stream.hosts.empty()) server.host = stream.hosts.front();
  } else if (network == "kcp" || network == "mkcp" || network == "quic" || network == "splithttp" ||
             network == "xhttp" || network == "domainsocket") {
    reading.fail("transport " + in_quotes(stream.network) +
                 " is not supported by vmess-local (it has tcp, ws, httpupgrade, h2 and grpc, with "
                 "or without TLS)");
    return;
  } else {
    reading.fail("transport " + in_quotes(stream.network) + " is not known");
    return;
  }
  if (!reading.failed()) apply_tls(stream, reading);
}

void set_user_id(std::string_view text, std::string_view field, Reading& reading) {
  if (auto uuid = vmess::parse_user_id(text)) {
    reading.server.uuid = vmess::format_uuid(*uuid);
    if (auto cut = vmess::cut_uuid_warning(text)) reading.warn(std::string(field) + " " + *cut);
    return;
  }
  reading.fail(std::string(field) +
               " is not a user ID (a UUID, 8-4-4-4-12 hex digits, or a name of 1..30 bytes)");
}

void set_security(std::string_view text, std::string_view field, Reading& reading) {
  const std::string name = lower(text);
  if (name.empty()) return;  // "auto"
  if (vmess::parse_security(name)) {
    reading.server.security = name;
    return;
  }
  reading.fail(std::string(field) + " " + in_quotes(text) +
               " is not a VMess security vmess-local has (auto, aes-128-gcm, "
               "chacha20-poly1305, none, zero)");
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    const size_t comma = text.find(',');
    std::string item = trim(text.substr(0, comma));
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string json_kind(const nlohmann::json& value) {
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return "a number";
  if (value.is_null()) return "null";
  if (value.is_array()) return "a list";
  return "an object";
}

bool parse_json(std::string_view text, nlohmann::json& out, std::string& error, bool* ended_early) {
  if (ended_early != nullptr) *ended_early = false;
  try {
    out = nlohmann::json::parse(text.begin(), text.end(), nullptr, true, /*ignore_comments=*/true);
    return true;
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() quotes the text it stopped at, which may be a user id: give the position only.
    // At the end of the text nlohmann counts one byte past it.
    if (ended_early != nullptr) *ended_early = e.byte > text.size();
    const size_t at = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    size_t line = 1;
    size_t column = 1;
    for (size_t i = 0; i < at; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error =
        "not valid JSON (line " + std::to_string(line) + ", column " + std::to_string(column) + ")";
    return false;
  } catch (const nlohmann::json::exception&) {
    // The parser's other refusal (out_of_range 406): a number beyond a double, e.g. 1e999.
    // Its what() quotes the number; it has no position.
    error = "not valid JSON (a number too large to read)";
    return false;
  }
}

std::string hide_user_ids(std::string_view text) {
  // A run of hex digits and dashes holding 32 digits or more: a UUID, with or without dashes,
  // wherever a malformed link put it.
  auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = i;
    size_t digits = 0;
    while (end < text.size() && (is_hex(text[end]) || text[end] == '-')) {
      digits += is_hex(text[end]) ? 1 : 0;
      ++end;
    }
    if (digits >= 32) {
      out += "<UUID hidden>";
      i = end;
    } else if (end > i) {
      out.append(text.substr(i, end - i));
      i = end;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string printable(std::string_view input) {
  // Long values are cut: a message names the setting, it need not repeat a whole blob.
  constexpr size_t kMaxShown = 80;
  const std::string text = hide_user_ids(input);
  std::string out;
  for (char c : valid_utf8(std::string_view(text).substr(0, kMaxShown))) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    size_t length = byte < 0x80           ? 1
                    : (byte >> 5) == 0x6  ? 2
                    : (byte >> 4) == 0xE  ? 3
                    : (byte >> 3) == 0x1E ? 4
                                          : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (size_t k = 1; ok && k < length; ++k)
      ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (ok && length > 1) {
      // Overlong forms, surrogates and values above U+10FFFF are not UTF-8 either.
      uint32_t cp = byte & (0xFF >> (length + 1));
      for (size_t k = 1; k < length; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
      constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[length] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace vmlocal::import
