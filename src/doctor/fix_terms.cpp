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
        out += origin == Origin::kServers ? "[servers." + std::string(table) + "] of " + quoted
                                          : "the " + std::string(table) + " settings of " + entry;
        i += 8 + table.size() + 1;
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
