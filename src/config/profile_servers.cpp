// [server] or [[servers]]: one server, or several tried in order (outbound/balancer.hpp). Each
// [[servers]] entry has every key of [server] plus a name; the two forms together are refused,
// since which one wins would be a guess.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

bool printable(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

// name: what logs and counters call the server. Optional; "address:port" by default.
void read_name(Problems& problems, const toml::table& server, Profile::Server& out) {
  const toml::node* node = server.get("name");
  if (node == nullptr) return;
  const auto* text = node->as_string();
  if (text == nullptr || text->get().empty() || text->get().size() > 64 ||
      !printable(text->get())) {
    problems.add(
        node->source(),
        "server name must be a string of 1 to 64 printable characters, got " + describe(*node));
    return;
  }
  out.name = text->get();
}

// The name of the first sub-table when `node` is a table holding only tables (one TOML made
// for "[server.tls]" alone), else nullopt.
std::optional<std::string> only_subtables(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr || table->empty()) return std::nullopt;
  for (auto&& [key, value] : *table) {
    if (!value.is_table()) return std::nullopt;
  }
  return std::string(table->begin()->first.str());
}

void read_one(Problems& problems, const toml::table& table, std::string_view source_path,
              Profile::Server& out) {
  read_server(problems, table, source_path, out);
  read_name(problems, table, out);
  if (out.name.empty() && !out.address.empty()) out.name = default_server_name(out);
}

// Two servers with one name would make the logs and counters ambiguous.
void check_names_unique(Problems& problems, const toml::array& tables,
                        const std::vector<Profile::Server>& servers) {
  for (size_t i = 1; i < servers.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (servers[i].name.empty() || servers[i].name != servers[j].name) continue;
      const toml::table& table = *tables.get(i)->as_table();
      const toml::node* name = table.get("name");
      problems.add(name != nullptr ? name->source() : table.source(),
                   "two [[servers]] are named " + quote(servers[i].name) +
                       "; give each its own name = \"...\"");
      return;
    }
  }
}

}  // namespace

std::string default_server_name(const Profile::Server& server) {
  const bool v6 = server.address.find(':') != std::string::npos;
  return (v6 ? "[" + server.address + "]" : server.address) + ":" + std::to_string(server.port);
}

std::string server_label(const Profile::Server& server) {
  const std::string where = default_server_name(server);
  return server.name.empty() || server.name == where ? where
                                                     : "\"" + server.name + "\" at " + where;
}

bool read_servers(Problems& problems, const toml::table& root, std::string_view source_path,
                  std::vector<Profile::Server>& out, bool optional) {
  const toml::node* single = root.get("server");
  const toml::node* list = root.get("servers");
  if (single != nullptr && list != nullptr) {
    // Point at whichever came second: that is where the file stopped making sense.
    const bool list_later = position_of(single->source()) < position_of(list->source());
    const toml::node& later = list_later ? *list : *single;
    // A sub-table spelt for the other form, copied from an example: [servers.tls] under a
    // [server], or [server.tls] under [[servers]]. TOML makes the parent table implicitly, so
    // it looks like both forms at once.
    if (const auto name = only_subtables(later)) {
      problems.add(later.source(),
                   list_later ? "[servers." + *name +
                                    "] belongs to a [[servers]] entry; under [server], "
                                    "write [server." +
                                    *name + "]"
                              : "[server." + *name + "] after [[servers]]: a [[servers]] entry's " +
                                    *name + " settings are written [servers." + *name +
                                    "] (they belong to the entry above them)");
      return true;
    }
    problems.add(later.source(),
                 "the profile has both [server] and [[servers]]; use one of them (a single "
                 "server can be one [[servers]] entry, or move [server]'s keys into it)");
    return true;
  }
  if (list == nullptr) {
    if (const toml::table* server = table_at(problems, root, "server")) {
      read_one(problems, *server, source_path, out.front());
    } else if (single == nullptr && !optional) {
      problems.add_missing(nullptr,
                           "missing [server] table (it needs address, port and uuid; several "
                           "servers are written [[servers]]; or name a [subscription] url)");
    }
    return single != nullptr;
  }
  const toml::array* tables = list->as_array();
  if (tables == nullptr || !tables->is_array_of_tables() || tables->empty()) {
    problems.add(list->source(),
                 "servers must be written as one [[servers]] table per server (double "
                 "brackets), got " +
                     describe(*list));
    return true;
  }
  std::vector<Profile::Server> servers(tables->size());
  for (size_t i = 0; i < tables->size(); ++i) {
    servers[i].origin = Profile::Server::Origin::kServers;  // first: messages spell keys by it
    read_one(problems, *tables->get(i)->as_table(), source_path, servers[i]);
  }
  check_names_unique(problems, *tables, servers);
  out = std::move(servers);
  return true;
}

}  // namespace vmlocal::config
