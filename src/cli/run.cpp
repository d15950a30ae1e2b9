// `vmess-local run` (and `vmess-local -c FILE`): the proxy, until SIGINT/SIGTERM.
#include <chrono>
#include <csignal>
#include <memory>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "profile_options.hpp"
#include "run_profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/platform/allocator.hpp"
#include "vmlocal/platform/descriptor_limit.hpp"
#include "vmlocal/runtime/runtime.hpp"

namespace vmlocal::cli {

int run_proxy(const ProfileOptions& options) {
  auto profile = load_profile_for(options);
  if (!profile) return kExitUsage;
  std::signal(SIGPIPE, SIG_IGN);
  platform::raise_descriptor_limit();  // many tunnels mean many descriptors
  // The pooled I/O blocks are the only allocations this large.
  platform::give_large_blocks_back_to_the_os(64 * 1024);
  crypto::ensure_initialized();
  return runtime::run_proxy(*profile, std::chrono::seconds(options.stats_interval));
}

void add_run(CLI::App& parent, Action& chosen) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* run = parent.add_subcommand(
      "run", "Run the proxy with a profile (the default: `vmess-local -c FILE` is the same)");
  add_profile_options(*run, *options);
  run->callback([options, &chosen] { chosen = [options] { return run_proxy(*options); }; });
}

}  // namespace vmlocal::cli
