// `vmess-local check`: load the profile, print what it says, exit.
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "run_profile.hpp"

namespace vmlocal::cli {
namespace {

void print_summary(const std::string& path, const config::Profile& profile) {
  std::string listen;
  for (const auto& endpoint : profile.local.listen) {
    listen += (listen.empty() ? "" : ", ") + endpoint.to_string();
  }
  std::string servers;
  for (const auto& server : profile.servers) {
    const std::string where = config::default_server_name(server);
    const std::string named = server.name == where ? where : server.name + " at " + where;
    char line[512];
    std::snprintf(line, sizeof line, "%sserver %s over %s, security %s, alter_id %u",
                  servers.empty() ? "" : "; ", named.c_str(),
                  config::transport_name(server).c_str(),
                  std::string(vmess::security_name(server.security)).c_str(),
                  static_cast<unsigned>(server.alter_id));
    servers += line;
    if (server.mux.enabled) {
      servers += ", Mux.Cool (" + std::to_string(server.mux.concurrency) + " per connection)";
    }
  }
  const std::string udp =
      config::udp_enabled(profile) ? "on" : "off: " + config::udp_off_reason(profile);
  std::printf("%s: OK (listen %s, UDP %s; %s)\n", path.c_str(), listen.c_str(), udp.c_str(),
              servers.c_str());
}

}  // namespace

int check_profile(const ProfileOptions& options) {
  std::string path;
  auto profile = load_profile_for(options, &path);
  if (!profile) return kExitUsage;
  print_summary(path, *profile);
  return kExitOk;
}

void add_check(CLI::App& parent, Action& chosen) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* check =
      parent.add_subcommand("check", "Check the profile, print a summary and exit (0: it loads)");
  add_profile_options(*check, *options);
  add_listen_option(*check, *options);
  check->callback([options, &chosen] { chosen = [options] { return check_profile(*options); }; });
}

}  // namespace vmlocal::cli
