#include "transport_settings.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "diagnostic_text.hpp"
#include "server_address.hpp"
#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/crypto/certificate_file.hpp"

namespace vmlocal::config {
namespace {

// Headers the upgrade request writes itself; a copy from the profile would be sent twice.
constexpr std::array kReservedHeaders = {"upgrade"sv,
                                         "connection"sv,
                                         "sec-websocket-key"sv,
                                         "sec-websocket-version"sv,
                                         "sec-websocket-extensions"sv,
                                         "sec-websocket-protocol"sv,
                                         "content-length"sv,
                                         "transfer-encoding"sv};

bool is_ip_literal(std::string_view text) {
  const std::string s(text);
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, s.c_str(), &v4) == 1 || inet_pton(AF_INET6, s.c_str(), &v6) == 1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 9110 §5.6.2 token characters.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// One list entry or a single string (accepted as a one-entry list). Reports and returns false
// on anything else.
bool string_list(Problems& problems, const toml::node& node, std::string_view name,
                 std::string_view example, std::vector<const toml::node*>& out) {
  if (node.is_string()) {
    out.push_back(&node);
    return true;
  }
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    problems.add(node.source(), std::string(name) + " must be a list of strings like " +
                                    std::string(example) + ", got " + describe(node));
    return false;
  }
  for (const toml::node& entry : *array) {
    if (!entry.is_string()) {
      problems.add(entry.source(), std::string(name) + " entries must be strings like " +
                                       std::string(example) + ", got " + describe(entry));
      return false;
    }
    out.push_back(&entry);
  }
  return true;
}

const std::string* string_value(Problems& problems, const toml::node& node, std::string_view name,
                                std::string_view what) {
  if (const auto* text = node.as_string()) return &text->get();
  problems.add(node.source(),
               std::string(name) + " must be " + std::string(what) + ", got " + describe(node));
  return nullptr;
}

void read_sni(Problems& problems, const toml::node& node, TlsSettings& out) {
  const std::string* text =
      string_value(problems, node, "server.tls.sni", "a host name in quotes, e.g. \"example.org\"");
  if (text == nullptr) return;
  if (text->empty()) {
    problems.add(node.source(), "server.tls.sni must not be empty (leave it out for the default)");
    return;
  }
  if (is_ip_literal(*text)) {
    problems.add(node.source(),
                 "server.tls.sni is " + quote(*text) +
                     ", an IP address; SNI carries host names only (leave sni out to connect "
                     "to an IP address without one)");
    return;
  }
  const std::string problem = server_address_problem(*text);
  if (!problem.empty()) {
    problems.add(node.source(), "server.tls.sni " + problem);
    return;
  }
  out.sni = *text;
}

void read_alpn(Problems& problems, const toml::node& node, TlsSettings& out) {
  std::vector<const toml::node*> entries;
  if (!string_list(problems, node, "server.tls.alpn", R"(["http/1.1"])", entries)) return;
  std::vector<std::string> protocols;
  for (const toml::node* entry : entries) {
    const std::string& name = entry->as_string()->get();
    const bool printable =
        std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7F; });
    if (name.empty() || name.size() > 255 || !printable) {
      problems.add(entry->source(),
                   "server.tls.alpn entries must be protocol names like \"http/1.1\" or \"h2\", "
                   "got " +
                       quote(name));
      return;
    }
    protocols.push_back(name);
  }
  out.alpn = std::move(protocols);
}

void read_ca_file(Problems& problems, const toml::node& node, std::string_view source_path,
                  TlsSettings& out) {
  const std::string* text =
      string_value(problems, node, "server.tls.ca_file", "the path of a PEM file in quotes");
  if (text == nullptr) return;
  if (text->empty()) {
    problems.add(node.source(),
                 "server.tls.ca_file must not be empty (leave it out to use the "
                 "system's CA certificates)");
    return;
  }
  // A relative path is taken from the profile's own directory, so a profile and its CA file
  // can be moved together.
  std::filesystem::path path(*text);
  if (path.is_relative()) path = std::filesystem::path(source_path).parent_path() / path;
  const std::string resolved = path.lexically_normal().string();
  const std::string problem = crypto::certificate_file_problem(resolved);
  if (!problem.empty()) {
    problems.add(node.source(), "server.tls.ca_file " + quote(resolved) + " " + problem);
    return;
  }
  out.ca_file = resolved;
}

void read_pins(Problems& problems, const toml::node& node, TlsSettings& out) {
  std::vector<const toml::node*> entries;
  if (!string_list(problems, node, "server.tls.pin_sha256", R"(["base64 or hex"])", entries)) {
    return;
  }
  if (entries.empty()) {
    problems.add(node.source(),
                 "server.tls.pin_sha256 must not be empty (leave it out to verify "
                 "the certificate with a CA)");
    return;
  }
  for (const toml::node* entry : entries) {
    std::array<uint8_t, 32> pin{};
    const std::string problem = parse_pin(entry->as_string()->get(), pin);
    if (!problem.empty()) {
      problems.add(entry->source(), "server.tls.pin_sha256 " + problem);
      return;
    }
    out.pin_sha256.push_back(pin);
  }
}

// An HTTP request target as a profile writes it ("/ws"); `name` is the key, for the message.
// Returns the problem ("" when fine).
std::string path_problem(std::string_view name, const std::string& text) {
  if (text.empty() || text.front() != '/') {
    return std::string(name) + " must start with \"/\", got " + quote(text);
  }
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return std::string(name) + " " + quote(text) +
             " contains a space or control character; percent-encode it (a space is %20)";
    }
    if (u >= 0x80) {
      return std::string(name) + " " + quote(text) +
             " contains non-ASCII characters; percent-encode them";
    }
    if (c == '#') {
      return std::string(name) + " " + quote(text) +
             " contains \"#\", which is never sent to a server; percent-encode it as %23";
    }
  }
  return {};
}

void read_path(Problems& problems, const toml::node& node, WsSettings& out) {
  const std::string* text =
      string_value(problems, node, "server.ws.path", "a path in quotes, e.g. \"/ws\"");
  if (text == nullptr) return;
  const std::string problem = path_problem("server.ws.path", *text);
  if (!problem.empty()) {
    problems.add(node.source(), problem);
    return;
  }
  out.path = *text;
}

// A Host header value: host, host:port, [v6] or [v6]:port. Returns the problem ("" when fine).
std::string host_problem(std::string_view name, const std::string& text) {
  std::string_view host = text;
  std::string_view port;
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) {
      port = host.substr(close + 1);
      host = host.substr(1, close - 1);
      if (!port.empty() && !port.starts_with(':')) port = "x";
      if (!port.empty()) port.remove_prefix(1);
    }
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    const size_t colon = host.find(':');
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  const bool port_ok =
      port.empty() || (port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                         return c >= '0' && c <= '9';
                       }));
  const bool host_ok =
      !host.empty() && (is_ip_literal(host) || server_address_problem(host).empty());
  if (!host_ok || !port_ok || (text.find('[') != std::string::npos && !is_ip_literal(host))) {
    return std::string(name) +
           " must be a host name, optionally with \":port\" (e.g. \"cdn.example.org\"), got " +
           quote(text);
  }
  return {};
}

void read_host(Problems& problems, const toml::node& node, WsSettings& out) {
  const std::string* text =
      string_value(problems, node, "server.ws.host", "a host name in quotes, e.g. \"example.org\"");
  if (text == nullptr) return;
  const std::string problem = host_problem("server.ws.host", *text);
  if (!problem.empty()) {
    problems.add(node.source(), problem);
    return;
  }
  out.host = *text;
}

// A list of paths or hosts ([server.tcp] path / host): every entry checked by `check`.
bool read_checked_list(Problems& problems, const toml::node& node, std::string_view name,
                       std::string_view example,
                       std::string (*check)(std::string_view, const std::string&),
                       std::vector<std::string>& out) {
  std::vector<const toml::node*> entries;
  if (!string_list(problems, node, name, example, entries)) return false;
  if (entries.empty()) {
    problems.add(node.source(), std::string(name) +
                                    " must not be empty (leave it out for the "
                                    "default)");
    return false;
  }
  std::vector<std::string> values;
  for (const toml::node* entry : entries) {
    const std::string& text = entry->as_string()->get();
    const std::string problem = check(name, text);
    if (!problem.empty()) {
      problems.add(entry->source(), problem);
      return false;
    }
    values.push_back(text);
  }
  out = std::move(values);
  return true;
}

void read_headers(Problems& problems, const toml::node& node, WsSettings& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.ws.headers must be a table of strings, e.g. headers = { \"User-Agent\" "
                 "= \"Mozilla/5.0\" }, got " +
                     describe(node));
    return;
  }
  for (auto&& [key, value] : *table) {
    const std::string_view name = key.str();
    if (!is_token(name)) {
      problems.add(key.source(), "server.ws.headers: " + quote(name) +
                                     " is not a valid header name (letters, digits and "
                                     "!#$%&'*+-.^_`|~ only)");
      return;
    }
    const std::string lowered = lower(name);
    if (lowered == "host") {
      problems.add(key.source(),
                   "server.ws.headers: set the Host header with host = \"...\" in "
                   "[server.ws], not in headers");
      return;
    }
    if (std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lowered) !=
        kReservedHeaders.end()) {
      problems.add(key.source(), "server.ws.headers: " + quote(name) +
                                     " is part of the WebSocket upgrade and written by "
                                     "vmess-local; remove it");
      return;
    }
    const auto* text = value.as_string();
    if (text == nullptr) {
      problems.add(value.source(), "server.ws.headers." + std::string(name) +
                                       " must be a string, got " + describe(value));
      return;
    }
    const bool clean = std::none_of(text->get().begin(), text->get().end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && c != '\t') || u == 0x7F;
    });
    if (!clean) {
      problems.add(value.source(), "server.ws.headers." + std::string(name) +
                                       " contains a line break or control character");
      return;
    }
    for (const auto& [earlier, _] : out.headers) {
      if (lower(earlier) == lowered) {
        problems.add(key.source(),
                     "server.ws.headers lists " + quote(name) + " twice (names ignore case)");
        return;
      }
    }
    out.headers.emplace_back(std::string(name), text->get());
  }
}

}  // namespace

void read_tcp(Problems& problems, const toml::node& node, Profile::Server& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.tcp must be a table written [server.tcp], got " + describe(node));
    return;
  }
  check_keys(problems, *table, kServerTcp);
  if (const toml::node* n = table->get("header")) {
    if (auto name = read_choice(problems, *n, "server.tcp.header", kTcpHeaderNames)) {
      out.tcp.header = *name == "http" ? TcpHeader::kHttp : TcpHeader::kNone;
    }
  }
  if (const toml::node* n = table->get("path")) {
    read_checked_list(problems, *n, "server.tcp.path", R"(["/"])", path_problem, out.tcp.path);
  }
  if (const toml::node* n = table->get("host")) {
    read_checked_list(problems, *n, "server.tcp.host", R"(["www.example.com"])", host_problem,
                      out.tcp.host);
  }
}

void read_httpupgrade(Problems& problems, const toml::node& node, Profile::Server& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.httpupgrade must be a table written [server.httpupgrade], "
                 "got " +
                     describe(node));
    return;
  }
  check_keys(problems, *table, kServerHttpUpgrade);
  if (const toml::node* n = table->get("path")) {
    if (const std::string* text = string_value(problems, *n, "server.httpupgrade.path",
                                               "a path in quotes, e.g. \"/up\"")) {
      const std::string problem = path_problem("server.httpupgrade.path", *text);
      if (problem.empty()) {
        out.httpupgrade.path = *text;
      } else {
        problems.add(n->source(), problem);
      }
    }
  }
  if (const toml::node* n = table->get("host")) {
    if (const std::string* text = string_value(problems, *n, "server.httpupgrade.host",
                                               "a host name in quotes, e.g. \"example.org\"")) {
      const std::string problem = host_problem("server.httpupgrade.host", *text);
      if (problem.empty()) {
        out.httpupgrade.host = *text;
      } else {
        problems.add(n->source(), problem);
      }
    }
  }
}

std::string parse_pin(std::string_view text, std::array<uint8_t, 32>& out) {
  std::string_view value = text;
  if (value.starts_with("sha256/")) value.remove_prefix(7);
  const std::string hint =
      " (expected the SHA-256 of the server's public key: 64 hex digits or 44 base64 "
      "characters)";
  if (value.size() == 64) {
    if (auto bytes = from_hex(value); bytes && bytes->size() == 32) {
      std::copy(bytes->begin(), bytes->end(), out.begin());
      return {};
    }
    return quote(text) + " is not valid hex" + hint;
  }
  auto bytes = crypto::base64_decode(value);
  if (!bytes) return quote(text) + " is neither hex nor base64" + hint;
  if (bytes->size() != 32) {
    return quote(text) + " decodes to " + std::to_string(bytes->size()) + " bytes, not 32" + hint;
  }
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return {};
}

void read_tls(Problems& problems, const toml::node& node, std::string_view source_path,
              Profile::Server& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    const std::string name =
        out.origin == Profile::Server::Origin::kServers ? "servers.tls" : "server.tls";
    problems.add(node.source(), name + " must be a table: write [" + name +
                                    "] (empty for the defaults) to connect with TLS, or leave "
                                    "it out; got " +
                                    describe(node));
    return;
  }
  check_keys(problems, *table, kServerTls);
  TlsSettings tls;
  if (const toml::node* n = table->get("sni")) read_sni(problems, *n, tls);
  if (const toml::node* n = table->get("alpn")) read_alpn(problems, *n, tls);
  if (const toml::node* n = table->get("ca_file")) read_ca_file(problems, *n, source_path, tls);
  if (const toml::node* n = table->get("pin_sha256")) read_pins(problems, *n, tls);
  if (const toml::node* n = table->get("insecure")) {
    if (const auto* flag = n->as_boolean()) {
      tls.insecure = flag->get();
    } else {
      problems.add(n->source(), "server.tls.insecure must be true or false, got " + describe(*n));
    }
  }
  out.tls = std::move(tls);
}

void read_ws(Problems& problems, const toml::node& node, Profile::Server& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.ws must be a table written [server.ws], got " + describe(node));
    return;
  }
  check_keys(problems, *table, kServerWs);
  if (const toml::node* n = table->get("path")) read_path(problems, *n, out.ws);
  if (const toml::node* n = table->get("host")) read_host(problems, *n, out.ws);
  if (const toml::node* n = table->get("headers")) read_headers(problems, *n, out.ws);
  if (const toml::node* n = table->get("max_early_data")) {
    const auto* number = n->as_integer();
    if (number == nullptr || number->get() < 0 || number->get() > kMaxEarlyData) {
      problems.add(n->source(),
                   "server.ws.max_early_data must be a whole number of bytes from 0 "
                   "(off) to " +
                       std::to_string(kMaxEarlyData) + ", e.g. 2048, got " + describe(*n));
    } else {
      out.ws.max_early_data = static_cast<uint32_t>(number->get());
    }
  }
  if (const toml::node* n = table->get("early_data_header")) {
    const std::string* text = string_value(problems, *n, "server.ws.early_data_header",
                                           R"("Sec-WebSocket-Protocol", or "" for the path form)");
    if (text != nullptr) {
      const std::string lowered = lower(*text);
      if (!text->empty() && !is_token(*text)) {
        problems.add(n->source(), "server.ws.early_data_header " + quote(*text) +
                                      " is not a valid header name (letters, digits and "
                                      "!#$%&'*+-.^_`|~ only)");
      } else if (lowered == "host" || (lowered != "sec-websocket-protocol" &&
                                       std::find(kReservedHeaders.begin(), kReservedHeaders.end(),
                                                 lowered) != kReservedHeaders.end())) {
        problems.add(n->source(), "server.ws.early_data_header " + quote(*text) +
                                      " is written by vmess-local itself; use "
                                      "\"Sec-WebSocket-Protocol\" or a header of your own");
      } else {
        out.ws.early_data_header = *text;
      }
    }
  }
}

}  // namespace vmlocal::config

namespace vmlocal::config {

std::string transport_name(const Profile::Server& server) {
  std::string name;
  switch (server.transport) {
    case Transport::kTcp:
      name = server.tcp.header == TcpHeader::kHttp ? "tcp+http" : "tcp";
      break;
    case Transport::kWs:
      name = "ws";
      break;
    case Transport::kHttpUpgrade:
      name = "httpupgrade";
      break;
    case Transport::kH2:
      name = "h2";
      break;
    case Transport::kGrpc:
      name = "grpc";
      break;
  }
  if (server.tls) name += "+tls";
  return name;
}

}  // namespace vmlocal::config
