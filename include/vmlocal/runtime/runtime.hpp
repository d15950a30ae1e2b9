// Runs the proxy until SIGINT/SIGTERM: one event loop per worker ([local] workers), each with
// its own listeners (sharing the ports through SO_REUSEPORT), tunnels, buffers and random
// generator, so workers share nothing on the data path. The calling thread runs worker 1 and
// the signal handling; the others get threads of their own. The servers' health
// (outbound::ServerHealth) is one for all workers.
//
// Reload (SIGHUP, and every `[subscription] interval`): RunOptions::reload loads the profile
// again on a libuv thread-pool thread (it may fetch a subscription); back on the main loop a bad
// profile is logged ("reload refused: FILE:LINE:COLUMN: ...") and the running one stays. A good
// one goes to worker 1 (inbound::Proxy::reload), then to each other worker through its
// uv_async: new tunnels use it, live tunnels keep the snapshot they started with, unchanged
// listen endpoints keep their sockets, unchanged servers their health and counters
// (config::plan_reload). `[local] workers` cannot change while running (logged, ignored).
//
// Counters: SIGUSR1 logs one line per server (ServerHealth::stats_lines: tunnels open and
// total, bytes up and down, failures by kind, health, the last probe time), whatever the log
// level; so does every `stats_interval` when it is not zero.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::runtime {

// Why a reload runs: the source may skip work (a subscription that did not change).
enum class ReloadTrigger {
  kSignal,        // SIGHUP: read the profile file (and fetch its subscription) again
  kSubscription,  // the [subscription] interval passed: fetch it, reload only if it changed
};

// What a reload source found: a profile to apply, nothing to do (kUnchanged), or the error to
// log — for a profile file "FILE:LINE:COLUMN: what is wrong".
struct Unchanged {};
using ReloadResult = std::variant<config::Profile, Unchanged, std::string>;

struct RunOptions {
  std::chrono::seconds stats_interval{0};
  // Empty: SIGHUP is logged and ignored. Called on a thread-pool thread, one call at a time.
  std::function<ReloadResult(ReloadTrigger)> reload;
  // Called on the main loop when SIGINT/SIGTERM comes while a reload runs: makes the reload
  // return soon (a subscription fetch gives up), so stopping does not wait for a stalled
  // provider. Empty: the stop waits for the reload to end by itself.
  std::function<void()> cancel_reload;
};

// Returns the process exit code: 0 after a clean stop, 1 when the proxy could not start.
int run_proxy(const config::Profile& profile, RunOptions options = {});

}  // namespace vmlocal::runtime
