// vmess-local: the command line. `vmess-local SUBCOMMAND ...` in the style of sing-box and
// Xray; `vmess-local -c FILE` (no subcommand) runs the proxy. Each subcommand is a file of its
// own in src/cli/ (commands.hpp).
#include <CLI/CLI.hpp>

#include <string>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/invocation.hpp"
#include "cli/leading_options.hpp"
#include "cli/run_profile.hpp"
#include "vmlocal_version.h"

int main(int argc, char** argv) {
  using namespace vmlocal::cli;
  remember_invocation(argc > 0 ? argv[0] : nullptr);
  CLI::App app{"vmess-local " VMLOCAL_VERSION
               ": a local proxy that forwards every connection through a VMess server "
               "(v2ray, Xray, sing-box). The one port does SOCKS5 (with UDP ASSOCIATE), SOCKS4/4a "
               "and HTTP (CONNECT and plain requests)."};
  // Before the subcommands are added: they inherit it.
  app.failure_message([](const CLI::App* failed, const CLI::Error& error) {
    return "vmess-local: " + CLI::FailureMessage::simple(failed, error);
  });
  app.require_subcommand(0, 1);

  // `vmess-local -c FILE [--check]`: the run (and check) options at the top level too.
  ProfileOptions top_level;
  add_profile_options(app, top_level);
  add_listen_option(app, top_level);
  add_stats_option(app, top_level);
  bool check_only = false;
  app.add_flag("--check", check_only, "Same as `vmess-local check`: check the profile and exit");
  app.set_version_flag("-V,--version", "vmess-local " VMLOCAL_VERSION);

  Action chosen;
  for (auto add : kCommands)
    add(app, chosen);
  // After the subcommands: they would inherit it, and it is about the main form only.
  app.footer(
      "Without a subcommand, vmess-local runs the proxy: `vmess-local -c FILE` is `vmess-local "
      "run -c FILE`. `vmess-local SUBCOMMAND --help` shows a subcommand's options; `man "
      "vmess-local` explains them all (before installing, from a source build: `man -l "
      "build/release/dist/vmess-local.1`).");

  try {
    app.parse(argc, argv);
    forward_leading_options(app);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, version or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (chosen) return chosen();
  return check_only ? check_profile(top_level) : run_proxy(top_level);
}
