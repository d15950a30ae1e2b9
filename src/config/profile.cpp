// The profile loader. toml++ does the syntax; this file checks the schema, because a profile
// that parses but is misread (a typo silently disabling something, a port quietly truncated)
// is worse than one that fails loudly with a position.
#include "vmlocal/config/profile.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "server_address.hpp"
#include "transport_settings.hpp"

namespace vmlocal::config {
namespace {

using namespace std::string_view_literals;

// ---- schema -------------------------------------------------------------------------------

constexpr std::array kTopLevelTables = {"local"sv, "server"sv, "timeouts"sv, "log"sv};
constexpr std::array kLocalKeys = {"listen"sv,           "username"sv,        "password"sv,
                                   "allow_open_proxy"sv, "max_connections"sv, "workers"sv};
constexpr std::array kServerKeys = {"address"sv,  "port"sv,     "uuid"sv,
                                    "alter_id"sv, "security"sv, "transport"sv,
                                    "tls"sv,      "ws"sv,       "tcp_fast_open"sv};
constexpr std::array kTimeoutKeys = {"handshake"sv, "connect"sv, "idle"sv, "shutdown_grace"sv};
constexpr std::array kLogKeys = {"level"sv};

constexpr TableSchema kLocal = {"local", kLocalKeys};
constexpr TableSchema kServer = {"server", kServerKeys};
constexpr TableSchema kTimeouts = {"timeouts", kTimeoutKeys};
constexpr TableSchema kLog = {"log", kLogKeys};
constexpr std::array kSchema = {kLocal, kServer, kTimeouts, kLog, kServerTls, kServerWs};

// Keys people bring from other clients or from share links (vmess:// JSON uses add, aid, id,
// net, scy): naming the right key beats "unknown key".
struct Alias {
  std::string_view table;
  std::string_view wrong;
  std::string_view right;
};
constexpr std::array<Alias, 18> kAliases = {{
    {"local", "user", "username"},
    {"local", "pass", "password"},
    {"server", "id", "uuid"},
    {"server", "aid", "alter_id"},
    {"server", "add", "address"},
    {"server", "host", "address"},
    {"server", "server", "address"},
    {"server", "net", "transport"},
    {"server", "network", "transport"},
    {"server", "scy", "security"},
    {"server", "cipher", "security"},
    {"server", "method", "security"},
    {"local", "bind", "listen"},
    {"server.tls", "serverName", "sni"},
    {"server.tls", "server_name", "sni"},
    {"server.tls", "allowInsecure", "insecure"},
    {"server.tls", "allow_insecure", "insecure"},
    {"server.ws", "Path", "path"},
}};

constexpr std::array kSecurityNames = {"auto"sv, "aes-128-gcm"sv, "chacha20-poly1305"sv, "none"sv,
                                       "zero"sv};
constexpr std::array kLevelNames = {"error"sv, "warn"sv, "info"sv, "debug"sv};
constexpr std::array kTransportNames = {"tcp"sv, "ws"sv};
// v2ray/Xray transports a user may copy from a server's config.
constexpr std::array kOtherTransports = {"grpc"sv,  "h2"sv,          "http"sv, "httpupgrade"sv,
                                         "quic"sv,  "kcp"sv,         "mkcp"sv, "splithttp"sv,
                                         "xhttp"sv, "domainsocket"sv};

// ---- keys ---------------------------------------------------------------------------------

std::string_view table_holding(std::string_view key) {
  for (const TableSchema& table : kSchema) {
    for (std::string_view known : table.keys) {
      if (known == key) return table.name;
    }
  }
  return {};
}

// A table name as TOML writes it in a header: bare when it can be, quoted (which also escapes
// control characters and hides UUIDs) otherwise.
std::string table_label(std::string_view name) {
  const bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  return bare ? redact_uuids(name) : quote(name);
}

void check_top_level_keys(Problems& problems, const toml::table& root) {
  for (auto&& [key, node] : root) {
    const std::string_view name = key.str();
    if (std::find(kTopLevelTables.begin(), kTopLevelTables.end(), name) != kTopLevelTables.end()) {
      continue;
    }
    const std::string_view near = closest_match(name, kTopLevelTables);
    const std::string_view other = table_holding(name);
    std::string message;
    if (node.is_table()) {
      message = "unknown table [" + table_label(name) + "]";
    } else {
      message = "unknown key " + quote(name) + " outside any [table]";
    }
    if (!near.empty()) {
      message += " (did you mean [" + std::string(near) + "]?)";
    } else if (!other.empty()) {
      message += " (" + quote(name) + " belongs in [" + std::string(other) + "])";
    } else {
      message += " (allowed tables: [local], [server], [timeouts], [log])";
    }
    problems.add(key.source(), std::move(message));
  }
}

// The named top-level table, or nullptr when absent or not a table (reported).
const toml::table* table_at(Problems& problems, const toml::table& root, std::string_view name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  if (const toml::table* table = node->as_table()) return table;
  const std::string n(name);
  problems.add(node->source(),
               n + " must be a single table written [" + n + "], got " + describe(*node));
  return nullptr;
}

// ---- tables -------------------------------------------------------------------------------

// A SOCKS5 credential: 1..255 bytes (RFC 1929). The password's value is never echoed.
void read_credential(Problems& problems, const toml::node& node, std::string_view name, bool secret,
                     std::string& out) {
  const auto* text = node.as_string();
  if (text == nullptr || text->get().empty() || text->get().size() > 255) {
    problems.add(node.source(),
                 "local." + std::string(name) + " must be a string of 1 to 255 bytes" +
                     (secret || text != nullptr ? std::string() : ", got " + describe(node)));
    return;
  }
  out = text->get();
}

void read_listen(Problems& problems, const toml::node* listen, Profile::Local& out);

void read_local(Problems& problems, const toml::table& local, Profile::Local& out) {
  check_keys(problems, local, kLocal);
  read_listen(problems, local.get("listen"), out);

  const toml::node* username = local.get("username");
  const toml::node* password = local.get("password");
  if (username != nullptr) read_credential(problems, *username, "username", false, out.username);
  if (password != nullptr) read_credential(problems, *password, "password", true, out.password);
  if ((username == nullptr) != (password == nullptr)) {
    const toml::node* present = username != nullptr ? username : password;
    problems.add(present->source(), username != nullptr
                                        ? "local.username needs local.password as well"
                                        : "local.password needs local.username as well");
  }
  if (const toml::node* node = local.get("allow_open_proxy")) {
    if (const auto* flag = node->as_boolean()) {
      out.allow_open_proxy = flag->get();
    } else {
      problems.add(node->source(),
                   "local.allow_open_proxy must be true or false, got " + describe(*node));
    }
  }
  if (const toml::node* node = local.get("workers")) {
    if (auto workers = read_integer(problems, *node, "local.workers", 1, 64)) {
      out.workers = static_cast<uint32_t>(*workers);
    }
  }
  if (const toml::node* node = local.get("max_connections")) {
    if (auto limit = read_integer(problems, *node, "local.max_connections", 1, 1'000'000)) {
      out.max_connections = static_cast<uint32_t>(*limit);
    }
  }

  // Checked once the whole table is read: the keys can come in any order.
  const toml::node* listen = local.get("listen");
  if (listen != nullptr && !problems.any()) {
    Profile probe;
    probe.local = out;
    if (auto problem = open_proxy_problem(probe)) problems.add(listen->source(), *problem);
  }
}

void read_listen(Problems& problems, const toml::node* listen, Profile::Local& out) {
  if (listen == nullptr) return;

  // One endpoint as a plain string is accepted as a convenience.
  std::vector<const toml::node*> entries;
  if (listen->is_string()) {
    entries.push_back(listen);
  } else if (const toml::array* array = listen->as_array()) {
    if (array->empty()) {
      problems.add(
          listen->source(),
          R"(local.listen must not be empty; list at least one address, e.g. ["127.0.0.1:1080"])");
      return;
    }
    for (const toml::node& entry : *array) {
      entries.push_back(&entry);
    }
  } else {
    problems.add(listen->source(),
                 R"(local.listen must be a list of addresses like ["127.0.0.1:1080"], got )" +
                     describe(*listen));
    return;
  }

  std::vector<ListenEndpoint> endpoints;
  for (const toml::node* entry : entries) {
    const auto* text = entry->as_string();
    if (text == nullptr) {
      problems.add(
          entry->source(),
          R"(local.listen entries must be strings like "127.0.0.1:1080", got )" + describe(*entry));
      return;
    }
    auto parsed = parse_listen_endpoint(text->get());
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      problems.add(entry->source(), "local.listen: " + *error);
      return;
    }
    ListenEndpoint& endpoint = std::get<ListenEndpoint>(parsed);
    for (const ListenEndpoint& earlier : endpoints) {
      if (earlier.host == endpoint.host && earlier.port == endpoint.port) {
        problems.add(entry->source(),
                     "local.listen lists " + quote(endpoint.to_string()) + " more than once");
        return;
      }
    }
    endpoints.push_back(std::move(endpoint));
  }
  out.listen = std::move(endpoints);
}

void read_address(Problems& problems, const toml::node& node, std::string& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    problems.add(node.source(), R"(server.address must be a host name or IP address in quotes, )"
                                R"(e.g. "vmess.example.org", got )" +
                                    describe(node));
    return;
  }
  const std::string problem = server_address_problem(text->get());
  if (!problem.empty()) {
    problems.add(node.source(), "server.address " + problem);
    return;
  }
  out = text->get();
}

// The UUID is the whole credential: no message here may include what was written.
void read_uuid(Problems& problems, const toml::node& node, vmess::Uuid& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    const bool number = node.is_integer() || node.is_floating_point();
    problems.add(node.source(),
                 "server.uuid must be a string in quotes (8-4-4-4-12 hex digits), "
                 "got " +
                     (number ? std::string("a number") : describe(node)));
    return;
  }
  if (auto uuid = vmess::parse_uuid(text->get())) {
    out = *uuid;
    return;
  }
  std::string message = "server.uuid is not a valid UUID (expected 8-4-4-4-12 hex digits)";
  // Spaces picked up when copying are easy to miss; say so rather than accept them silently.
  const std::string_view value = text->get();
  const size_t first = value.find_first_not_of(" \t");
  const size_t last = value.find_last_not_of(" \t");
  if (first != std::string_view::npos && (first > 0 || last + 1 < value.size()) &&
      vmess::parse_uuid(value.substr(first, last - first + 1))) {
    message += "; remove the spaces around it";
  }
  problems.add(node.source(), std::move(message));
}

void read_transport(Problems& problems, const toml::node& node, Transport& out) {
  const auto* text = node.as_string();
  if (text != nullptr && (text->get() == "wss" || text->get() == "tls")) {
    problems.add(node.source(),
                 "server.transport " + quote(text->get()) +
                     R"( is not a transport here: TLS is switched on by a [server.tls] table; )"
                     R"(write transport = ")" +
                     std::string(text->get() == "wss" ? "ws" : "tcp") +
                     R"(" and add [server.tls])");
    return;
  }
  if (text != nullptr && std::find(kOtherTransports.begin(), kOtherTransports.end(), text->get()) !=
                             kOtherTransports.end()) {
    problems.add(node.source(), "server.transport " + quote(text->get()) +
                                    R"( is not supported by this build; use "tcp" or "ws")");
    return;
  }
  if (auto name = read_choice(problems, node, "server.transport", kTransportNames)) {
    out = *name == "ws" ? Transport::kWs : Transport::kTcp;
  }
}

void read_server(Problems& problems, const toml::table& server, std::string_view source_path,
                 Profile::Server& out) {
  check_keys(problems, server, kServer);

  if (const toml::node* node = server.get("address")) {
    read_address(problems, *node, out.address);
  } else {
    problems.add_missing(&server.source(),
                         "missing server.address (the VMess server's host name or IP address)");
  }

  if (const toml::node* node = server.get("port")) {
    if (auto port = read_integer(problems, *node, "server.port", 1, 65535)) {
      out.port = static_cast<uint16_t>(*port);
    }
  } else {
    problems.add_missing(&server.source(),
                         "missing server.port (the VMess server's port, 1..65535)");
  }

  if (const toml::node* node = server.get("uuid")) {
    read_uuid(problems, *node, out.uuid);
  } else {
    problems.add_missing(&server.source(),
                         "missing server.uuid (your user ID on the VMess server)");
  }

  if (const toml::node* node = server.get("alter_id")) {
    if (auto alter_id = read_integer(problems, *node, "server.alter_id", 0, 65535)) {
      out.alter_id = static_cast<uint16_t>(*alter_id);
    }
  }

  if (const toml::node* node = server.get("security")) {
    if (auto name = read_choice(problems, *node, "server.security", kSecurityNames)) {
      if (auto security = vmess::parse_security(*name)) {
        out.security = *security;
      } else {
        problems.add(node->source(),
                     "server.security " + quote(*name) + " is not supported by this build");
      }
    }
  }

  if (const toml::node* node = server.get("tcp_fast_open")) {
    if (const auto* flag = node->as_boolean()) {
      out.tcp_fast_open = flag->get();
    } else {
      problems.add(node->source(),
                   "server.tcp_fast_open must be true or false, got " + describe(*node));
    }
  }

  if (const toml::node* node = server.get("transport"))
    read_transport(problems, *node, out.transport);

  const toml::node* tls = server.get("tls");
  const toml::node* ws = server.get("ws");
  if (tls != nullptr) read_tls(problems, *tls, source_path, out);
  if (ws != nullptr) read_ws(problems, *ws, out);
  check_transport_combination(problems, server, out);
}

void read_timeouts(Problems& problems, const toml::table& timeouts, Profile::Timeouts& out) {
  check_keys(problems, timeouts, kTimeouts);
  const std::array<std::pair<std::string_view, std::chrono::milliseconds*>, 4> fields = {{
      {"handshake", &out.handshake},
      {"connect", &out.connect},
      {"idle", &out.idle},
      {"shutdown_grace", &out.shutdown_grace},
  }};
  for (const auto& [key, target] : fields) {
    const toml::node* node = timeouts.get(key);
    if (node == nullptr) continue;
    // A grace of 0 is meaningful (close at once); every other timeout must be positive.
    if (key == "shutdown_grace" && node->value<double>() == 0.0 && !node->is_string()) {
      *target = std::chrono::milliseconds(0);
      continue;
    }
    if (auto value = read_seconds(problems, *node, "timeouts." + std::string(key))) {
      *target = *value;
    }
  }
}

void read_log(Problems& problems, const toml::table& log_table, Profile::Log& out) {
  check_keys(problems, log_table, kLog);
  const toml::node* node = log_table.get("level");
  if (node == nullptr) return;
  if (auto name = read_choice(problems, *node, "log.level", kLevelNames)) {
    if (auto level = log::parse_level(*name)) {
      out.level = *level;
    } else {
      problems.add(node->source(), "log.level " + quote(*name) + " is not supported by this build");
    }
  }
}

// toml++ shows the character it stopped at as it is: a newline, or a terminal escape, from the
// file must not reach the terminal raw. Spelt as quote() spells them.
std::string escape_control_characters(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04X", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

std::string syntax_error(std::string_view path, const toml::parse_error& error) {
  // toml++ quotes key names in some messages ("cannot redefine existing table 'x'").
  std::string message =
      format_problem(path, position_of(error.source()),
                     escape_control_characters(redact_uuids(error.description())));
  // toml++'s wording for an unquoted word, or for an unquoted UUID that starts with digits
  // (read as a date). No key in the schema takes a date, so quotes are the likely fix.
  const std::string_view description = error.description();
  if (description.find("could not determine value type") != std::string_view::npos ||
      description.starts_with("Error while parsing date")) {
    message += R"( (text values need double quotes, e.g. address = "vmess.example.org"))";
  }
  return message;
}

}  // namespace

void check_keys(Problems& problems, const toml::table& table, const TableSchema& schema) {
  for (auto&& [key, node] : table) {
    const std::string_view name = key.str();
    if (std::find(schema.keys.begin(), schema.keys.end(), name) != schema.keys.end()) continue;
    const std::string where = "[" + std::string(schema.name) + "]";

    std::string message = "unknown key " + quote(name) + " in " + where;
    const auto alias = std::find_if(kAliases.begin(), kAliases.end(), [&](const Alias& a) {
      return a.table == schema.name && a.wrong == name;
    });
    const std::string_view near = closest_match(name, schema.keys);
    const std::string_view other = table_holding(name);
    if (alias != kAliases.end()) {
      message += " (did you mean " + quote(alias->right) + "?)";
    } else if (!near.empty()) {
      message += " (did you mean " + quote(near) + "?)";
    } else if (!other.empty()) {
      message += " (" + quote(name) + " belongs in [" + std::string(other) + "])";
    } else {
      message += " (allowed: " + join(schema.keys) + ")";
    }
    problems.add(key.source(), std::move(message));
  }
}

std::optional<std::string> open_proxy_problem(const Profile& profile) {
  if (!profile.local.username.empty() || profile.local.allow_open_proxy) return std::nullopt;
  for (const ListenEndpoint& endpoint : profile.local.listen) {
    if (endpoint.is_loopback()) continue;
    return "listening on " + endpoint.to_string() +
           " lets other machines use your server through this proxy, and [local] sets no "
           "username and password; add them, listen on 127.0.0.1 or [::1], or set "
           "allow_open_proxy = true if an open proxy is really what you want";
  }
  return std::nullopt;
}

ProfileResult parse_profile(std::string_view text, std::string_view source_path) {
  ProfileResult result;
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(text, source_path);
  } catch (const toml::parse_error& error) {
    result.value = syntax_error(source_path, error);
    return result;
  }
#else
  toml::parse_result parsed = toml::parse(text, source_path);
  if (!parsed) {
    result.value = syntax_error(source_path, parsed.error());
    return result;
  }
  root = std::move(parsed).table();
#endif

  Problems problems;
  Profile profile;
  profile.local.listen = {ListenEndpoint{"127.0.0.1", 1080}};

  check_top_level_keys(problems, root);
  if (const toml::table* local = table_at(problems, root, "local")) {
    read_local(problems, *local, profile.local);
  }
  if (const toml::table* server = table_at(problems, root, "server")) {
    read_server(problems, *server, source_path, profile.server);
  } else if (!root.contains("server")) {
    problems.add_missing(nullptr, "missing [server] table (it needs address, port and uuid)");
  }
  if (const toml::table* timeouts = table_at(problems, root, "timeouts")) {
    read_timeouts(problems, *timeouts, profile.timeouts);
  }
  if (const toml::table* log_table = table_at(problems, root, "log")) {
    read_log(problems, *log_table, profile.log);
  }

  if (problems.any()) {
    result.value = problems.render(source_path);
  } else {
    result.value = std::move(profile);
  }
  return result;
}

}  // namespace vmlocal::config
