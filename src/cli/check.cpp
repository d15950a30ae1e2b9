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
  std::printf("%s: OK (listen %s; server %s:%u over %s, security %s, alter_id %u)\n", path.c_str(),
              listen.c_str(), profile.server.address.c_str(),
              static_cast<unsigned>(profile.server.port),
              config::transport_name(profile.server).c_str(),
              std::string(vmess::security_name(profile.server.security)).c_str(),
              static_cast<unsigned>(profile.server.alter_id));
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
  check->callback([options, &chosen] { chosen = [options] { return check_profile(*options); }; });
}

}  // namespace vmlocal::cli
