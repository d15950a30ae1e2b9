// vmess-local: command line -> profile -> event loop -> signals. Everything else lives in the
// core library.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/runtime/runtime.hpp"
#include "vmlocal_version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

// Many tunnels mean many descriptors: use everything the hard limit allows.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vmess-local " VMLOCAL_VERSION
               ": a local SOCKS5 proxy that forwards every connection through a VMess server "
               "(v2ray, Xray, sing-box)."};
  std::string config_path;
  bool check_only = false;
  std::vector<std::string> listen_override;
  std::string log_level;
  app.add_option("-c,--config", config_path, "Profile to use (TOML); see conf/example.toml")
      ->required()
      ->type_name("FILE");
  app.add_flag("--check", check_only, "Validate the profile, print a summary and exit");
  app.add_option("-l,--listen", listen_override,
                 "SOCKS5 listen address, e.g. 127.0.0.1:1080 or [::1]:1080; replaces [local] "
                 "listen (repeatable)")
      ->type_name("ADDR:PORT");
  app.add_option("--log-level", log_level, "error, warn, info or debug; replaces [log] level")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  app.set_version_flag("-V,--version", "vmess-local " VMLOCAL_VERSION);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, version or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }

  vmlocal::config::ProfileResult loaded = vmlocal::config::load_profile(config_path);
  for (const std::string& warning : loaded.warnings)
    vmlocal::log::warn(warning);
  if (!loaded.ok()) {
    std::fprintf(stderr, "vmess-local: %s\n", loaded.error().c_str());
    return kExitUsage;
  }
  vmlocal::config::Profile profile = loaded.profile();
  if (!listen_override.empty()) {
    profile.local.listen.clear();
    for (const std::string& text : listen_override) {
      auto parsed = vmlocal::config::parse_listen_endpoint(text);
      if (const auto* error = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "vmess-local: --listen %s: %s\n", text.c_str(), error->c_str());
        return kExitUsage;
      }
      profile.local.listen.push_back(std::get<vmlocal::config::ListenEndpoint>(parsed));
    }
  }
  if (!log_level.empty()) profile.log.level = *vmlocal::log::parse_level(log_level);
  vmlocal::log::set_level(profile.log.level);
  if (auto problem = vmlocal::config::open_proxy_problem(profile)) {
    std::fprintf(stderr, "vmess-local: %s\n", problem->c_str());
    return kExitUsage;
  }
  for (const auto& endpoint : profile.local.listen) {
    if (!endpoint.is_loopback() && profile.local.username.empty()) {
      vmlocal::log::warn("allow_open_proxy = true: anyone who can reach ", endpoint.to_string(),
                         " can use your server through this proxy");
    }
  }

  if (check_only) {
    std::string listen;
    for (const auto& endpoint : profile.local.listen) {
      listen += (listen.empty() ? "" : ", ") + endpoint.to_string();
    }
    std::printf("%s: OK (listen %s; server %s:%u over %s, security %s, alter_id %u)\n",
                config_path.c_str(), listen.c_str(), profile.server.address.c_str(),
                static_cast<unsigned>(profile.server.port),
                vmlocal::config::transport_name(profile.server).c_str(),
                std::string(vmlocal::vmess::security_name(profile.server.security)).c_str(),
                static_cast<unsigned>(profile.server.alter_id));
    return kExitOk;
  }

  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  vmlocal::crypto::ensure_initialized();
  return vmlocal::runtime::run_proxy(profile);
}
