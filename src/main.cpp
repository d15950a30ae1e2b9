// vmess-local: command line -> profile -> event loop -> signals. Everything else lives in the
// core library.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/platform/allocator.hpp"
#include "vmlocal/platform/descriptor_limit.hpp"
#include "vmlocal/runtime/runtime.hpp"
#include "vmlocal_version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

struct Options {
  std::string config_path;
  bool check_only = false;
  std::vector<std::string> listen_override;
  std::string log_level;
};

// The command-line settings that replace the profile's. False (after saying why) on a bad one.
bool apply_overrides(const Options& options, vmlocal::config::Profile& profile) {
  if (!options.listen_override.empty()) {
    profile.local.listen.clear();
    for (const std::string& text : options.listen_override) {
      auto parsed = vmlocal::config::parse_listen_endpoint(text);
      if (const auto* error = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "vmess-local: --listen %s: %s\n", text.c_str(), error->c_str());
        return false;
      }
      profile.local.listen.push_back(std::get<vmlocal::config::ListenEndpoint>(parsed));
    }
  }
  if (!options.log_level.empty()) profile.log.level = *vmlocal::log::parse_level(options.log_level);
  return true;
}

// False (after saying why) when the profile would open the proxy to others without auth.
bool check_exposure(const vmlocal::config::Profile& profile) {
  if (auto problem = vmlocal::config::open_proxy_problem(profile)) {
    std::fprintf(stderr, "vmess-local: %s\n", problem->c_str());
    return false;
  }
  for (const auto& endpoint : profile.local.listen) {
    if (!endpoint.is_loopback() && profile.local.username.empty()) {
      vmlocal::log::warn("allow_open_proxy = true: anyone who can reach ", endpoint.to_string(),
                         " can use your server through this proxy");
    }
  }
  return true;
}

void print_summary(const std::string& config_path, const vmlocal::config::Profile& profile) {
  std::string listen;
  for (const auto& endpoint : profile.local.listen) {
    listen += (listen.empty() ? "" : ", ") + endpoint.to_string();
  }
  std::printf("%s: OK (listen %s, UDP %s; server %s:%u over %s, security %s, alter_id %u)\n",
              config_path.c_str(), listen.c_str(),
              vmlocal::config::udp_enabled(profile) ? "on" : "off", profile.server.address.c_str(),
              static_cast<unsigned>(profile.server.port),
              vmlocal::config::transport_name(profile.server).c_str(),
              std::string(vmlocal::vmess::security_name(profile.server.security)).c_str(),
              static_cast<unsigned>(profile.server.alter_id));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vmess-local " VMLOCAL_VERSION
               ": a local SOCKS5 proxy that forwards every connection, and UDP through UDP "
               "ASSOCIATE, through a VMess server (v2ray, Xray, sing-box)."};
  Options options;
  app.add_option("-c,--config", options.config_path, "Profile to use (TOML); see conf/example.toml")
      ->required()
      ->type_name("FILE");
  app.add_flag("--check", options.check_only, "Validate the profile, print a summary and exit");
  app.add_option("-l,--listen", options.listen_override,
                 "SOCKS5 listen address, e.g. 127.0.0.1:1080 or [::1]:1080; replaces [local] "
                 "listen (repeatable)")
      ->type_name("ADDR:PORT");
  app.add_option("--log-level", options.log_level,
                 "error, warn, info or debug; replaces [log] level")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  app.set_version_flag("-V,--version", "vmess-local " VMLOCAL_VERSION);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, version or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }

  vmlocal::config::ProfileResult loaded = vmlocal::config::load_profile(options.config_path);
  for (const std::string& warning : loaded.warnings)
    vmlocal::log::warn(warning);
  if (!loaded.ok()) {
    std::fprintf(stderr, "vmess-local: %s\n", loaded.error().c_str());
    return kExitUsage;
  }
  vmlocal::config::Profile profile = loaded.profile();
  if (!apply_overrides(options, profile)) return kExitUsage;
  vmlocal::log::set_level(profile.log.level);
  if (!check_exposure(profile)) return kExitUsage;
  if (options.check_only) {
    print_summary(options.config_path, profile);
    return kExitOk;
  }

  std::signal(SIGPIPE, SIG_IGN);
  vmlocal::platform::raise_descriptor_limit();  // many tunnels mean many descriptors
  // The pooled I/O blocks are the only allocations this large.
  vmlocal::platform::give_large_blocks_back_to_the_os(64 * 1024);
  vmlocal::crypto::ensure_initialized();
  return vmlocal::runtime::run_proxy(profile);
}
