// Unknown keys and tables in a profile: every one is reported, with the key that was probably
// meant (a near spelling, another client's name for it, or the table it belongs in).
#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "h2_settings.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"
#include "transport_settings.hpp"

namespace vmlocal::config {
namespace {

constexpr std::array kTopLevelTables = {"local"sv,    "server"sv, "servers"sv,
                                        "balancer"sv, "probe"sv,  "route"sv,
                                        "timeouts"sv, "log"sv,    "subscription"sv};
constexpr std::array kSchema = {kLocal,     kServer,   kTimeouts, kLog,
                                kServerTls, kServerWs, kServerH2, kServerGrpc,
                                kServerMux, kBalancer, kProbe,    kRoute};

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

}  // namespace

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
      // Generated from the table list, so a new table cannot be missing from the hint.
      std::string allowed;
      for (std::string_view table : kTopLevelTables) {
        // [[servers]] is an array of tables: shown as it is written.
        const std::string shown = table == "servers" ? "[servers]" : std::string(table);
        allowed += (allowed.empty() ? "[" : ", [") + shown + "]";
      }
      message += " (allowed tables: " + allowed + ")";
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

}  // namespace vmlocal::config
