// The options that choose and adjust a profile (-c, --log-level; --listen and --stats-interval
// where they mean something), shared by the subcommands that work with one (run, check,
// doctor) and by `vmess-local -c FILE` itself.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::cli {

struct ProfileOptions {
  std::string config_path;  // empty: the default path (default_profile_path())
  std::vector<std::string> listen_override;
  std::string log_level;
  unsigned stats_interval = 0;  // seconds; 0: counters only on SIGUSR1
};

// Adds -c/--config and --log-level to `app`, storing into `options` (run, check, doctor).
void add_profile_options(CLI::App& app, ProfileOptions& options);
// Adds -l/--listen (run, and check, whose summary and open-proxy check depend on it).
void add_listen_option(CLI::App& app, ProfileOptions& options);
// Adds --stats-interval (run only: nothing else runs long enough to log counters).
void add_stats_option(CLI::App& app, ProfileOptions& options);

// $XDG_CONFIG_HOME/vmess-local/config.toml (or ~/.config/vmess-local/config.toml), then
// /etc/vmess-local/config.toml: the first that exists; nullopt when neither does.
std::optional<std::string> default_profile_path();
// The paths default_profile_path() tries, in order (for messages and the man page).
std::vector<std::string> default_profile_candidates();

// What `run` keeps for reloads: the file's profile (after the overrides, without subscription
// servers) and the servers its [subscription] gave, if it has one and the fetch worked.
struct ProfileParts {
  config::Profile file;
  std::optional<std::vector<config::Profile::Server>> subscription;
};

// Loads the profile the options name (or the default), applies the overrides and the exposure
// check, and adds its [subscription]'s servers (fetched now; a failed fetch is a warning when
// the profile has servers of its own, else an error); prints why to stderr and returns nullopt
// on any problem (exit status kExitUsage). A JSON config or a vmess:// link given to -c gets
// "run `vmess-local import`".
std::optional<config::Profile> load_profile_for(const ProfileOptions& options,
                                                std::string* used_path = nullptr,
                                                ProfileParts* parts = nullptr);
// The same for the profile at `path` (a reload): the problem comes back as text for the log
// ("path:line:column: ..."); the log level is left alone.
std::variant<config::Profile, std::string> reload_profile_for(const ProfileOptions& options,
                                                              const std::string& path);

}  // namespace vmlocal::cli
