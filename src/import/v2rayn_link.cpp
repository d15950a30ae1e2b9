// v2rayN's share link: "vmess://" + base64 of a JSON object (v2rayN ShareHandler, format "v":
// "2"). Panels write the numbers as strings or as numbers, so both are taken.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>

#include "reading.hpp"
#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/crypto/secret.hpp"

namespace vmlocal::import {
namespace {

using namespace std::string_view_literals;

// Every field v2rayN writes; anything else is named in a warning.
constexpr std::array kKnownFields = {"v"sv,    "ps"sv,  "add"sv, "port"sv, "id"sv,
                                     "aid"sv,  "scy"sv, "net"sv, "type"sv, "host"sv,
                                     "path"sv, "tls"sv, "sni"sv, "alpn"sv, "fp"sv};

// A string field, or "" when absent; fails for another type. Values are not echoed (the id).
std::string text_field(const nlohmann::json& link, const char* key, Reading& reading) {
  const auto it = link.find(key);
  if (it == link.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  reading.fail(std::string("field \"") + key + "\" must be a string, got " + json_kind(*it));
  return {};
}

// A number written as a number or as a string of digits; nullopt when absent or empty.
std::optional<uint64_t> number_field(const nlohmann::json& link, const char* key, uint64_t max,
                                     Reading& reading) {
  const auto it = link.find(key);
  if (it == link.end() || it->is_null()) return std::nullopt;
  uint64_t value = 0;
  bool ok = false;
  if (it->is_number_unsigned()) {
    value = it->get<uint64_t>();
    ok = true;
  } else if (it->is_string()) {
    const std::string text = trim(it->get<std::string>());
    if (text.empty()) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    ok = ec == std::errc() && end == text.data() + text.size();
  }
  if (!ok || value > max) {
    reading.fail(
        std::string("field \"") + key + "\" must be a whole number 0.." + std::to_string(max) +
        ", got " +
        (it->is_string() ? "\"" + printable(it->get<std::string>()) + "\"" : json_kind(*it)));
    return std::nullopt;
  }
  return value;
}

// The base64 as the lenient decoder reads it: without spaces, line breaks and padding.
std::string compact_base64(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += c;
  }
  out.erase(out.find_last_not_of('=') + 1);
  return out;
}

// A cut falls anywhere, often inside the last 4-character quantum, which then has a length
// (1) or stray low bits (2, 3) no encoder writes: decodes the whole quanta before it. nullopt
// when the text ends on a whole quantum or is not base64 before its end.
std::optional<Bytes> decode_before_cut(std::string_view text) {
  std::string compact = compact_base64(text);
  std::optional<Bytes> out;
  if (compact.size() % 4 != 0 && compact.size() > 4) {
    out =
        crypto::base64_decode_lenient(std::string_view(compact).substr(0, compact.size() / 4 * 4));
  }
  crypto::secure_wipe(compact.data(), compact.size());
  return out;
}

// '{' then '"' (spaces and line breaks allowed: v2rayN indents), or the text ends first.
bool starts_like_json_object(const Bytes& text) {
  size_t i = 0;
  auto next = [&] {
    while (i < text.size() && std::isspace(text[i]) != 0)
      ++i;
    return i < text.size() ? static_cast<char>(text[i++]) : '\0';
  };
  if (next() != '{') return false;
  const char after = next();
  return after == '"' || after == '\0';
}

}  // namespace

bool looks_like_v2rayn_body(std::string_view text) {
  if (text.size() < 8) return false;  // "e30=" is "{}", and also a plausible file name
  auto decoded = crypto::base64_decode_lenient(text);
  if (!decoded) decoded = decode_before_cut(text);
  if (!decoded) return false;
  const bool object = decoded->size() >= 2 && starts_like_json_object(*decoded);
  crypto::secure_wipe(decoded->data(), decoded->size());
  return object;
}

void read_v2rayn_link(std::string_view body, Reading& reading) {
  // A few generators append "#name" or "?remarks=" to the base64; neither is base64.
  const std::string_view base64 = body.substr(0, body.find_first_of("#?"));
  auto decoded = crypto::base64_decode_lenient(base64);
  if (!decoded) {
    if (auto before = decode_before_cut(base64)) {
      const bool object = starts_like_json_object(*before);
      crypto::secure_wipe(before->data(), before->size());
      if (object) return reading.fail(std::string(kLinkCutOff));
    }
    reading.fail(
        "the text after vmess:// is neither base64 (v2rayN's form) nor UUID@HOST:PORT "
        "(the URI form)");
    return;
  }
  const std::string json_text(decoded->begin(), decoded->end());
  crypto::secure_wipe(decoded->data(), decoded->size());
  nlohmann::json link;
  std::string error;
  bool ended_early = false;
  if (!parse_json(json_text, link, error, &ended_early)) {
    reading.fail(ended_early ? std::string(kLinkCutOff)
                             : "the base64 after vmess:// decodes to text that is " + error);
    return;
  }
  if (!link.is_object()) {
    reading.fail("the base64 after vmess:// decodes to JSON " + json_kind(link) +
                 ", not an object with add, port and id");
    return;
  }
  ImportedServer& server = reading.server;
  server.name = trim(text_field(link, "ps", reading));
  server.address = trim(text_field(link, "add", reading));
  const auto port = number_field(link, "port", 65535, reading);
  const std::string id = trim(text_field(link, "id", reading));
  const auto aid = number_field(link, "aid", 65535, reading);
  const std::string scy = text_field(link, "scy", reading);
  StreamFields stream;
  stream.network = text_field(link, "net", reading);
  stream.header_type = text_field(link, "type", reading);
  const std::string host = text_field(link, "host", reading);
  const std::string path = text_field(link, "path", reading);
  stream.security = text_field(link, "tls", reading);
  stream.sni = trim(text_field(link, "sni", reading));
  stream.alpn = split_list(text_field(link, "alpn", reading));
  stream.fingerprint = text_field(link, "fp", reading);
  if (const auto it = link.find("v"); it != link.end() && !it->is_string() && !it->is_number()) {
    reading.fail("field \"v\" must be a string, got " + json_kind(*it));
  }
  if (reading.failed()) return;

  if (server.address.empty()) return reading.fail("missing field \"add\" (the server's address)");
  if (!port || *port == 0) return reading.fail("missing field \"port\" (the server's port)");
  if (id.empty()) return reading.fail("missing field \"id\" (your user ID)");
  server.port = static_cast<uint16_t>(*port);
  set_user_id(id, "field \"id\"", reading);
  server.alter_id = static_cast<uint16_t>(aid.value_or(0));
  set_security(scy, "field \"scy\"", reading);
  if (reading.failed()) return;

  // tcp with an HTTP header and h2 list several hosts (and tcp several paths), comma-separated.
  stream.hosts = split_list(host);
  const std::string network = lower(stream.network);
  if (network == "tcp" || network.empty()) {
    stream.paths = split_list(path);
  } else if (!path.empty()) {
    stream.paths = {path};
  }
  if (network == "grpc") {
    stream.service_name = path;
    stream.grpc_mode = stream.header_type;  // v2rayN writes the gRPC mode in "type"
    stream.header_type.clear();
  } else if (network != "tcp" && !network.empty()) {
    const std::string type = lower(stream.header_type);
    if (!type.empty() && type != "none" && network != "kcp" && network != "quic") {
      reading.warn("type \"" + printable(stream.header_type) + "\" means nothing with net \"" +
                   printable(stream.network) + "\" and was ignored");
    }
  }
  apply_stream(stream, reading);

  for (const auto& [key, value] : link.items()) {
    const bool known =
        std::find(kKnownFields.begin(), kKnownFields.end(), key) != kKnownFields.end();
    const bool empty = value.is_null() || (value.is_string() && value.get<std::string>().empty());
    if (!known && !empty) {
      reading.warn("field \"" + printable(key) + "\" is not one v2rayN writes and was ignored");
    }
  }
}

}  // namespace vmlocal::import
