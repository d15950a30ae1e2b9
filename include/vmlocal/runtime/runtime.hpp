// Runs the proxy until SIGINT/SIGTERM: one event loop per worker ([local] workers), each with
// its own listeners (sharing the ports through SO_REUSEPORT), tunnels, buffers and random
// generator, so workers share nothing on the data path. The calling thread runs worker 1 and
// the signal handling; the others get threads of their own. SIGHUP is logged and ignored until
// profile reload exists. The servers' health (outbound::ServerHealth) is one for all workers.
//
// Counters: SIGUSR1 logs one line per server (ServerHealth::stats_lines: tunnels open and
// total, bytes up and down, failures by kind, health, the last probe time), whatever the log
// level; so does every `stats_interval` when it is not zero.
#pragma once

#include <chrono>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::runtime {

// Returns the process exit code: 0 after a clean stop, 1 when the proxy could not start.
int run_proxy(const config::Profile& profile,
              std::chrono::seconds stats_interval = std::chrono::seconds(0));

}  // namespace vmlocal::runtime
