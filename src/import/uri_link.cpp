// The URI form of a VMess share link, from Xray's share-link proposal (XTLS/Xray-core
// discussion #716): vmess://UUID@HOST:PORT?type=...&security=...#NAME. The query is read the
// way Go's url.ParseQuery reads it ('+' is a space), as Xray does.
#include <algorithm>
#include <array>
#include <charconv>
#include <map>

#include "reading.hpp"

namespace vmlocal::import {
namespace {

using namespace std::string_view_literals;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1 percent-decoding; nullopt on a broken escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      const int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

// The parameters the proposal defines for VMess, and the common extension allowInsecure.
constexpr std::array kKnownParameters = {
    "type"sv, "encryption"sv, "security"sv,   "path"sv,        "host"sv, "sni"sv,
    "alpn"sv, "fp"sv,         "headerType"sv, "serviceName"sv, "mode"sv, "allowInsecure"sv};

}  // namespace

void read_uri_link(std::string_view body, Reading& reading) {
  ImportedServer& server = reading.server;
  std::string_view rest = body;
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
    auto name = percent_decode(rest.substr(hash + 1), false);
    server.name = trim(valid_utf8(name.value_or(std::string(rest.substr(hash + 1)))));
    rest = rest.substr(0, hash);
  }
  std::string_view query;
  if (const size_t mark = rest.find('?'); mark != std::string_view::npos) {
    query = rest.substr(mark + 1);
    rest = rest.substr(0, mark);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t at = rest.rfind('@');
  const auto id = percent_decode(rest.substr(0, at), false);
  std::string_view host_port = rest.substr(at + 1);
  if (!id || id->empty()) return reading.fail("missing the user ID before \"@\"");

  // HOST:PORT, [IPv6]:PORT
  std::string_view port_text;
  if (host_port.starts_with('[')) {
    const size_t close = host_port.find(']');
    if (close == std::string_view::npos || host_port.substr(close + 1).size() < 2 ||
        host_port[close + 1] != ':') {
      return reading.fail("the server after \"@\" must be HOST:PORT or [IPv6]:PORT");
    }
    server.address = std::string(host_port.substr(1, close - 1));
    port_text = host_port.substr(close + 2);
  } else {
    const size_t colon = host_port.rfind(':');
    if (colon == std::string_view::npos) {
      return reading.fail("missing the port: the server after \"@\" must be HOST:PORT");
    }
    server.address = std::string(host_port.substr(0, colon));
    port_text = host_port.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return reading.fail("the port \"" + printable(port_text) + "\" must be a number 1..65535");
  }
  if (server.address.empty()) return reading.fail("missing the server's address before the port");
  server.port = static_cast<uint16_t>(port);
  set_user_id(*id, "the user ID before \"@\"", reading);

  std::map<std::string, std::string, std::less<>> parameters;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const auto key = percent_decode(item.substr(0, eq), true);
    const auto value =
        percent_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1), true);
    if (!key || !value) {
      return reading.fail("the parameter \"" + printable(item) +
                          "\" has a broken %-escape (\"%\" must be followed by two hex digits)");
    }
    parameters[*key] = *value;
  }
  auto take = [&](std::string_view key) {
    const auto it = parameters.find(key);
    return it == parameters.end() ? std::string() : it->second;
  };
  set_security(take("encryption"), "encryption", reading);
  if (reading.failed()) return;

  StreamFields stream;
  stream.network = take("type");
  stream.security = take("security");
  stream.header_type = take("headerType");
  stream.hosts = split_list(take("host"));
  const std::string path = take("path");
  if (lower(stream.network) == "tcp" || stream.network.empty()) {
    stream.paths = split_list(path);
  } else if (!path.empty()) {
    stream.paths = {path};
  }
  stream.service_name = take("serviceName");
  stream.grpc_mode = take("mode");
  stream.sni = take("sni");
  stream.alpn = split_list(take("alpn"));
  stream.fingerprint = take("fp");
  const std::string insecure = lower(take("allowInsecure"));
  stream.insecure = insecure == "1" || insecure == "true";
  apply_stream(stream, reading);

  for (const auto& [key, value] : parameters) {
    const bool known =
        std::find(kKnownParameters.begin(), kKnownParameters.end(), key) != kKnownParameters.end();
    if (!known && !value.empty()) {
      reading.warn("parameter \"" + printable(key) +
                   "\" is not one VMess links define and was "
                   "ignored");
    }
  }
}

}  // namespace vmlocal::import
