#include "vmlocal/doctor/fix_terms.hpp"

namespace vmlocal::doctor {
namespace {

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// The key that starts at `at` ([a-z0-9_]+), possibly empty.
std::string_view key_at(std::string_view text, size_t at) {
  size_t end = at;
  while (end < text.size() && key_char(text[end]))
    ++end;
  return text.substr(at, end - at);
}

// The keys of the [server.*] tables that the fix texts name right after their table. A word
// not listed stays where it is ("[server.ws] against the server's settings").
bool is_table_key(std::string_view word) {
  constexpr std::string_view kKeys[] = {
      "sni",  "ca_file", "pin_sha256", "insecure",     "alpn",           "path",
      "host", "headers", "header",     "service_name", "max_early_data", "early_data_header"};
  for (std::string_view key : kKeys) {
    if (word == key) return true;
  }
  return false;
}

}  // namespace

std::string fix_for_origin(std::string_view fix, config::Profile::Server::Origin origin,
                           std::string_view name) {
  using Origin = config::Profile::Server::Origin;
  if (origin == Origin::kServer) return std::string(fix);
  const std::string quoted = "\"" + std::string(name) + "\"";
  const std::string entry =
      origin == Origin::kServers ? "[[servers]] " + quoted : "the subscription's entry " + quoted;
  std::string out;
  if (origin == Origin::kSubscription) {
    out =
        "the subscription's provider sets this server's keys: tell them, or copy the entry "
        "into a [[servers]] table of your own and change it there; ";
  }
  size_t i = 0;
  while (i < fix.size()) {
    const std::string_view rest = fix.substr(i);
    const bool word_start = i == 0 || fix[i - 1] == ' ' || fix[i - 1] == '(';
    if (rest.starts_with("[server.")) {
      const std::string_view table = key_at(fix, i + 8);
      if (!table.empty() && i + 8 + table.size() < fix.size() && fix[i + 8 + table.size()] == ']') {
        size_t end = i + 8 + table.size() + 1;
        // "[server.tls] ca_file": the key goes with its table ("[servers.tls] ca_file of \"b\"").
        std::string key;
        if (end + 1 < fix.size() && fix[end] == ' ' && is_table_key(key_at(fix, end + 1))) {
          key = std::string(key_at(fix, end + 1));
          end += 1 + key.size();
        }
        if (origin == Origin::kServers) {
          out += "[servers." + std::string(table) + "]" + (key.empty() ? "" : " " + key) + " of " +
                 quoted;
        } else {
          out += "the " + std::string(table) + (key.empty() ? " settings" : " " + key) + " of " +
                 entry;
        }
        i = end;
        continue;
      }
    } else if (rest.starts_with("[server] ")) {
      const std::string_view key = key_at(fix, i + 9);
      if (!key.empty()) {
        // "[server] clock_offset = 300" -> "clock_offset = 300 in [[servers]] \"b\"".
        size_t end = i + 9 + key.size();
        if (fix.substr(end).starts_with(" = ")) {
          end += 3;
          while (end < fix.size() && fix[end] != ' ' && fix[end] != ';' && fix[end] != ',')
            ++end;
        }
        out += std::string(fix.substr(i + 9, end - i - 9)) + " in " + entry;
        i = end;
        continue;
      }
    } else if (word_start && rest.starts_with("server.")) {
      const std::string_view key = key_at(fix, i + 7);
      if (!key.empty()) {
        out += std::string(key) + " in " + entry;
        i += 7 + key.size();
        continue;
      }
    }
    out += fix[i++];
  }
  return out;
}

}  // namespace vmlocal::doctor
