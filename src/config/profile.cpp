// The profile loader. toml++ does the syntax; the loader checks the schema, because a profile
// that parses but is misread (a typo silently disabling something, a port quietly truncated)
// is worse than one that fails loudly with a position. This file reads the document and the
// small tables; profile_keys.cpp, profile_local.cpp and profile_server.cpp do the rest.
#include "vmlocal/config/profile.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <utility>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

constexpr std::array kLevelNames = {"error"sv, "warn"sv, "info"sv, "debug"sv};

void read_timeouts(Problems& problems, const toml::table& timeouts, Profile::Timeouts& out) {
  check_keys(problems, timeouts, kTimeouts);
  const std::array<std::pair<std::string_view, std::chrono::milliseconds*>, 6> fields = {{
      {"handshake", &out.handshake},
      {"connect", &out.connect},
      {"idle", &out.idle},
      {"uplink_only", &out.uplink_only},
      {"downlink_only", &out.downlink_only},
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

// Line `number` (1-based) of `text`, without its line break; empty past the end.
std::string_view line_of(std::string_view text, size_t number) {
  for (size_t n = 1; n < number; ++n) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return {};
    text.remove_prefix(end + 1);
  }
  text = text.substr(0, text.find('\n'));
  if (text.ends_with('\r')) text.remove_suffix(1);
  return text;
}

// A known mistake: `[probe] url = "..."`, a table header and a key on one line (INI habits, or
// a hint taken literally). toml++ says only that it expected a comment. Returns the key, or
// empty when the line is not that.
std::string key_after_table_header(std::string_view line) {
  const auto skip_blanks = [&line] {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
      line.remove_prefix(1);
  };
  skip_blanks();
  if (!line.starts_with('[')) return {};
  const bool array = line.starts_with("[[");
  const size_t close = line.find(array ? "]]" : "]");
  if (close == std::string_view::npos) return {};
  line.remove_prefix(close + (array ? 2 : 1));
  skip_blanks();
  size_t length = 0;
  while (length < line.size() && line[length] != '=' && line[length] != ' ' && line[length] != '\t')
    ++length;
  if (length == 0) return {};
  const std::string key(line.substr(0, length));
  line.remove_prefix(length);
  skip_blanks();
  return line.starts_with('=') ? key : std::string();
}

std::string syntax_error(std::string_view path, std::string_view text,
                         const toml::parse_error& error) {
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
  if (description.starts_with("Error while parsing table header")) {
    const std::string key = key_after_table_header(line_of(text, error.source().begin.line));
    if (!key.empty()) {
      message += " (a table header stands alone on its line: put `" +
                 escape_control_characters(redact_uuids(key)) + " = ...` on the next line)";
    }
  }
  return message;
}

}  // namespace

ProfileResult parse_profile(std::string_view text, std::string_view source_path) {
  ProfileResult result;
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(text, source_path);
  } catch (const toml::parse_error& error) {
    result.value = syntax_error(source_path, text, error);
    return result;
  }
#else
  toml::parse_result parsed = toml::parse(text, source_path);
  if (!parsed) {
    result.value = syntax_error(source_path, text, parsed.error());
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
  if (const toml::table* subscription = table_at(problems, root, "subscription")) {
    read_subscription(problems, *subscription, profile.subscription);
  }
  const bool own_servers =
      read_servers(problems, root, source_path, profile.servers, !profile.subscription.url.empty());
  if (const toml::table* balancer = table_at(problems, root, "balancer")) {
    read_balancer(problems, *balancer, profile.balancer);
  }
  if (const toml::table* route = table_at(problems, root, "route")) {
    read_route(problems, *route, profile.route);
  }
  if (const toml::table* timeouts = table_at(problems, root, "timeouts")) {
    read_timeouts(problems, *timeouts, profile.timeouts);
  }
  if (const toml::table* log_table = table_at(problems, root, "log")) {
    read_log(problems, *log_table, profile.log);
  }
  if (const toml::table* probe = table_at(problems, root, "probe")) {
    read_probe(problems, *probe, profile.probe);
  }
  // Settings that constrain each other (constraints.hpp); only a profile whose every key is
  // valid on its own gets that far.
  if (!problems.any()) {
    check_constraints(problems, result.warnings, root, source_path, profile);
    warn_cut_user_ids(root, source_path, profile, result.warnings);
  }

  if (problems.any()) {
    result.value = problems.render(source_path);
  } else {
    // The constraints saw a default server; the subscription brings the real ones.
    if (!own_servers) profile.servers.clear();
    result.value = std::move(profile);
  }
  return result;
}

bool carries_datagrams(const Profile::Server& server) {
  return server.security != vmess::Security::kZero || server.mux.enabled;
}

std::string udp_off_reason(const Profile& profile) {
  if (!profile.local.udp) return "[local] udp = false";
  if (!profile.local.protocols.socks5) return "SOCKS5 is not in [local] protocols";
  if (!std::any_of(profile.servers.begin(), profile.servers.end(), carries_datagrams)) {
    return std::string(profile.servers.size() > 1 ? "every server has" : "the server has") +
           " security \"zero\" without [server.mux], which cannot keep datagrams apart";
  }
  return {};
}

bool udp_enabled(const Profile& profile) {
  return profile.local.udp && profile.local.protocols.socks5 &&
         std::any_of(profile.servers.begin(), profile.servers.end(), carries_datagrams);
}

}  // namespace vmlocal::config
