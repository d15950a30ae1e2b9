#include "profile_options.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "invocation.hpp"
#include "subscription_fetch.hpp"
#include "vmlocal/import/subscription.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal_paths.h"

namespace vmlocal::cli {
namespace {

// What people paste where a profile belongs. A TOML error about it would be a riddle.
std::optional<std::string> misplaced_input(const std::string& path) {
  const std::string import_hint = ": run `vmess-local import` to turn it into a profile";
  if (path.rfind("vmess://", 0) == 0)
    return "this looks like a vmess:// link, not a file" + import_hint;
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;  // the loader says why it cannot be read
  std::string head(4096, '\0');
  file.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(file.gcount()));
  if (head.rfind("\xEF\xBB\xBF", 0) == 0) head.erase(0, 3);
  const size_t first = head.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return std::nullopt;
  if (head[first] == '{') {
    return path + ": this looks like a v2ray JSON config, not a vmess-local profile" + import_hint;
  }
  if (head.compare(first, 8, "vmess://") == 0) {
    return path + ": this looks like a vmess:// link, not a vmess-local profile" + import_hint;
  }
  return std::nullopt;
}

// The command-line settings that replace the profile's. The error on a bad one.
std::optional<std::string> apply_overrides(const ProfileOptions& options,
                                           config::Profile& profile) {
  if (!options.listen_override.empty()) {
    profile.local.listen.clear();
    for (const std::string& text : options.listen_override) {
      auto parsed = config::parse_listen_endpoint(text);
      if (const auto* error = std::get_if<std::string>(&parsed)) {
        return "--listen " + text + ": " + *error;
      }
      profile.local.listen.push_back(std::get<config::ListenEndpoint>(parsed));
    }
  }
  if (!options.log_level.empty()) profile.log.level = *log::parse_level(options.log_level);
  return std::nullopt;
}

// Why the profile must not run — it would open the proxy to others without auth — or nullopt
// (after the warning when it is opened on purpose).
std::optional<std::string> exposure_problem(const config::Profile& profile) {
  if (auto problem = config::open_proxy_problem(profile)) return problem;
  for (const auto& endpoint : profile.local.listen) {
    if (!endpoint.is_loopback() && profile.local.username.empty()) {
      log::warn("allow_open_proxy = true: anyone who can reach ", endpoint.to_string(),
                " can use your server through this proxy");
    }
  }
  return std::nullopt;
}

}  // namespace

void add_profile_options(CLI::App& app, ProfileOptions& options) {
  app.add_option("-c,--config", options.config_path,
                 "Profile to use (TOML; every key is explained in example.toml, in " VMLOCAL_DOCDIR
                 " when installed, conf/ in the source). Default: "
                 "$XDG_CONFIG_HOME/vmess-local/config.toml (~/.config/vmess-local/config.toml "
                 "when XDG_CONFIG_HOME is unset), then /etc/vmess-local/config.toml")
      ->type_name("FILE");
  app.add_option("--log-level", options.log_level,
                 "error, warn, info or debug; replaces [log] level")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
}

void add_listen_option(CLI::App& app, ProfileOptions& options) {
  app.add_option("-l,--listen", options.listen_override,
                 "Proxy listen address, e.g. 127.0.0.1:1080 or [::1]:1080; replaces [local] "
                 "listen (repeatable)")
      ->type_name("ADDR:PORT");
}

void add_stats_option(CLI::App& app, ProfileOptions& options) {
  app.add_option("--stats-interval", options.stats_interval,
                 "Log one line of counters per server every SECONDS (they are also logged on "
                 "SIGUSR1)")
      ->type_name("SECONDS")
      // Runs before CLI11's conversion, whose own message ("Could not convert: ...") says
      // neither what was wrong nor what is expected.
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            unsigned seconds = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
            if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
              return "\"" + text +
                     "\" is not a whole number of seconds (e.g. 60; 0 or leaving it out: counters "
                     "only on SIGUSR1)";
            }
            return {};
          },
          "", "whole seconds"));
}

std::vector<std::string> default_profile_candidates() {
  std::vector<std::string> out;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  // XDG Base Directory: a relative $XDG_CONFIG_HOME is invalid and ignored.
  if (xdg != nullptr && xdg[0] == '/') {
    out.push_back(std::string(xdg) + "/vmess-local/config.toml");
  } else if (home != nullptr && home[0] != '\0') {
    out.push_back(std::string(home) + "/.config/vmess-local/config.toml");
  }
  out.push_back("/etc/vmess-local/config.toml");
  return out;
}

std::optional<std::string> default_profile_path() {
  for (const std::string& path : default_profile_candidates()) {
    std::error_code error;
    if (std::filesystem::exists(path, error)) return path;
  }
  return std::nullopt;
}

std::optional<config::Profile> load_profile_for(const ProfileOptions& options,
                                                std::string* used_path, ProfileParts* parts) {
  std::string path = options.config_path;
  if (path.empty()) {
    auto found = default_profile_path();
    if (!found) {
      std::string tried;
      for (const std::string& candidate : default_profile_candidates())
        tried += (tried.empty() ? "" : " or ") + candidate;
      std::fprintf(stderr,
                   "vmess-local: no profile: give one with -c FILE, or create %s (e.g. "
                   "`%s import LINK -o %s`)\n",
                   tried.c_str(), invoked_as().c_str(),
                   default_profile_candidates().front().c_str());
      return std::nullopt;
    }
    path = *found;
  }
  if (auto hint = misplaced_input(path)) {
    std::fprintf(stderr, "vmess-local: %s\n", hint->c_str());
    return std::nullopt;
  }
  auto loaded = reload_profile_for(options, path);
  if (const auto* error = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "vmess-local: %s\n", error->c_str());
    return std::nullopt;
  }
  config::Profile& profile = std::get<config::Profile>(loaded);
  log::set_level(profile.log.level);
  if (used_path != nullptr) *used_path = path;
  if (parts != nullptr) parts->file = profile;
  if (profile.subscription.url.empty()) return std::move(profile);
  // At start: the proxy does not serve yet, so an http_proxy naming it would refuse the fetch.
  auto fetched = fetch_subscription(profile.subscription.url, {profile.local.listen});
  if (const auto* error = std::get_if<std::string>(&fetched)) {
    if (profile.servers.empty()) {
      std::fprintf(stderr, "vmess-local: %s: no server to use (the profile has none of its own)\n",
                   error->c_str());
      return std::nullopt;
    }
    log::warn(*error, "; going on with the profile's own servers");
    return std::move(profile);
  }
  auto& servers = std::get<Servers>(fetched);
  if (parts != nullptr) parts->subscription = servers;
  return import::with_subscription(std::move(profile), servers);
}

std::variant<config::Profile, std::string> reload_profile_for(const ProfileOptions& options,
                                                              const std::string& path) {
  config::ProfileResult loaded = config::load_profile(path);
  for (const std::string& warning : loaded.warnings)
    log::warn(warning);
  if (!loaded.ok()) return loaded.error();
  config::Profile profile = loaded.profile();
  if (auto error = apply_overrides(options, profile)) return *error;
  if (auto problem = exposure_problem(profile)) return *problem;
  return profile;
}

}  // namespace vmlocal::cli
