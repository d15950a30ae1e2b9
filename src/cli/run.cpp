// `vmess-local run` (and `vmess-local -c FILE`): the proxy, until SIGINT/SIGTERM; SIGHUP
// reloads the profile.
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "fetch.hpp"
#include "profile_options.hpp"
#include "profile_source.hpp"
#include "run_profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/platform/allocator.hpp"
#include "vmlocal/platform/descriptor_limit.hpp"
#include "vmlocal/runtime/runtime.hpp"

namespace vmlocal::cli {
namespace {

// SIGINT/SIGTERM while the profile loads (its subscription fetch may wait up to 10 s): a clean
// stop, as once running, instead of the default action's silent exit 143. Only async-signal-safe
// work here: a flag and the fetch's cancel flag.
volatile std::sig_atomic_t stop_signal = 0;

void on_stop_while_loading(int signum) {
  stop_signal = signum;
  cancel_fetches();
}

}  // namespace

int run_proxy(const ProfileOptions& options) {
  std::string path;
  ProfileParts parts;
  std::signal(SIGINT, on_stop_while_loading);
  std::signal(SIGTERM, on_stop_while_loading);
  auto profile = load_profile_for(options, &path, &parts);
  if (stop_signal != 0) {
    log::info("stopping (", stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
              ") before the proxy started");
    return kExitOk;
  }
  // From here the event loop's signal handling takes over (runtime::run_proxy).
  if (!profile) return kExitUsage;
  runtime::RunOptions run;
  run.stats_interval = std::chrono::seconds(options.stats_interval);
  // SIGHUP: the same file, with the same command-line overrides, and its subscription.
  auto source = std::make_shared<ProfileSource>(options, path, std::move(parts));
  run.reload = [source](runtime::ReloadTrigger trigger) { return source->reload(trigger); };
  run.cancel_reload = cancel_fetches;
  std::signal(SIGPIPE, SIG_IGN);
  platform::raise_descriptor_limit();  // many tunnels mean many descriptors
  // The pooled I/O blocks are the only allocations this large.
  platform::give_large_blocks_back_to_the_os(64 * 1024);
  crypto::ensure_initialized();
  return runtime::run_proxy(*profile, std::move(run));
}

void add_run(CLI::App& parent, Action& chosen) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* run = parent.add_subcommand(
      "run",
      "Run the proxy with a profile (the default: `vmess-local -c FILE` is the same); SIGHUP "
      "reloads the profile and its [subscription] without dropping live connections");
  add_profile_options(*run, *options);
  add_listen_option(*run, *options);
  add_stats_option(*run, *options);
  run->callback([options, &chosen] { chosen = [options] { return run_proxy(*options); }; });
}

}  // namespace vmlocal::cli
