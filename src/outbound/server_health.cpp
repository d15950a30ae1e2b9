#include "vmlocal/outbound/server_health.hpp"

#include <cstdio>
#include <memory>

#include "vmlocal/log/log.hpp"

namespace vmlocal::outbound {
namespace {

BalancerSettings settings_for(const config::Profile& profile) {
  BalancerSettings settings;
  settings.strategy = profile.balancer.strategy;
  settings.tolerance = profile.balancer.tolerance;
  return settings;
}

std::string quoted(const std::string& name) {
  return "\"" + name + "\"";
}

std::string seconds_text(Millis ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

}  // namespace

ServerHealth::ServerHealth(const config::Profile& profile)
    : probe_interval_(profile.probe.interval),
      balancer_(settings_for(profile), profile.servers.size()),
      probed_at_(profile.servers.size()) {
  for (const auto& server : profile.servers) {
    counters_.push_back(std::make_shared<ServerCounters>());
    names_.push_back(server.name.empty() ? config::default_server_name(server) : server.name);
  }
  (void)balancer_.take_choice_change(Millis(0));  // the first choice is no change
}

void ServerHealth::carry_over(size_t i, ServerHealth& old, size_t old_index) {
  std::scoped_lock lock(mu_, old.mu_);
  // One clock for both: the old state's times (retry_at, probed_at) stay meaningful.
  epoch_ = old.epoch_;
  balancer_.restore(i, old.balancer_.state(old_index));
  probed_at_[i] = old.probed_at_[old_index];
  counters_[i] = old.counters_[old_index];
  (void)balancer_.take_choice_change(now());  // the choice after a reload is no change either
}

std::shared_ptr<ServerHealth> ServerHealth::successor(
    const config::Profile& next, const std::vector<std::optional<size_t>>& same_server) {
  auto health = std::make_shared<ServerHealth>(next);
  for (size_t i = 0; i < same_server.size() && i < health->size(); ++i) {
    if (same_server[i] && *same_server[i] < size()) health->carry_over(i, *this, *same_server[i]);
  }
  return health;
}

Millis ServerHealth::now() const {
  return std::chrono::duration_cast<Millis>(Clock::now() - epoch_);
}

std::vector<size_t> ServerHealth::order() {
  std::lock_guard lock(mu_);
  return balancer_.order(now());
}

void ServerHealth::record_success(size_t i) {
  std::lock_guard lock(mu_);
  const bool was_down = balancer_.state(i).down;
  balancer_.record_success(i);
  report_locked(i, was_down);
}

void ServerHealth::record_failure(size_t i, const Error& error, bool before_connect) {
  if (error.kind == ErrorKind::kStopping) return;  // our shutdown, not the server's failure
  counters_[i]->failures[static_cast<size_t>(error.kind)].fetch_add(1, std::memory_order_relaxed);
  if (!before_connect) return;
  std::lock_guard lock(mu_);
  const bool was_down = balancer_.state(i).down;
  balancer_.record_failure(i, now(), error.message);
  report_locked(i, was_down);
}

void ServerHealth::record_probe(size_t i, std::optional<Millis> time, const std::string& why) {
  if (!time) counters_[i]->probes_failed.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  const bool was_down = balancer_.state(i).down;
  const Millis at = now();
  probed_at_[i] = at;
  balancer_.record_probe(i, at, time, time ? std::string() : "probe: " + why);
  report_locked(i, was_down);
}

void ServerHealth::report_locked(size_t i, bool was_down) {
  const HealthState& state = balancer_.state(i);
  if (state.down && !was_down) {
    log::warn("server ", quoted(names_[i]), " marked down after ", state.failures_in_a_row,
              " failures in a row (last: ", state.last_failure, "); retried in ",
              seconds_text(state.backoff));
  } else if (!state.down && was_down) {
    log::info("server ", quoted(names_[i]), " is up again");
  }
  if (const std::optional<size_t> choice = balancer_.take_choice_change(now())) {
    const HealthState& chosen = balancer_.state(*choice);
    log::info("servers: new tunnels now go to ", quoted(names_[*choice]),
              chosen.down ? " (every server is down; trying it first)" : "");
  }
}

std::vector<std::string> ServerHealth::stats_lines() {
  static constexpr std::array kKinds = {
      ErrorKind::kResolve, ErrorKind::kRefused,  ErrorKind::kUnreachable, ErrorKind::kTimeout,
      ErrorKind::kReset,   ErrorKind::kProtocol, ErrorKind::kNoResponse,  ErrorKind::kRefusedLogin,
      ErrorKind::kBlocked, ErrorKind::kStopping, ErrorKind::kOther};
  static_assert(kKinds.size() == std::tuple_size_v<decltype(ServerCounters::failures)>);
  std::lock_guard lock(mu_);
  const Millis at = now();
  std::vector<std::string> lines;
  for (size_t i = 0; i < size(); ++i) {
    const ServerCounters& c = *counters_[i];
    const HealthState& state = balancer_.state(i);
    std::string line = "server " + quoted(names_[i]) + ": ";
    if (state.down) {
      line += "down (retry in " + seconds_text(std::max(state.retry_at - at, Millis(0))) + ")";
    } else {
      line += state.failures_in_a_row > 0 ? "failing" : "up";
    }
    line += "; tunnels " + std::to_string(c.tunnels_open.load(std::memory_order_relaxed)) +
            " open, " + std::to_string(c.tunnels_total.load(std::memory_order_relaxed)) +
            " total; bytes up " + std::to_string(c.bytes_up.load(std::memory_order_relaxed)) +
            ", down " + std::to_string(c.bytes_down.load(std::memory_order_relaxed)) +
            "; failures ";
    std::string failures;
    uint64_t total = 0;
    for (ErrorKind kind : kKinds) {
      const uint64_t n = c.failures[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
      if (n == 0) continue;
      total += n;
      failures += (failures.empty() ? "" : ", ") + std::string(error_kind_name(kind)) + " " +
                  std::to_string(n);
    }
    line += std::to_string(total) + (failures.empty() ? "" : " (" + failures + ")");
    // Failed probes count towards marking a server down too ("marked down after 2 failures in
    // a row" may be one tunnel and one probe), so they are shown beside the tunnels' failures.
    if (const uint64_t probes = c.probes_failed.load(std::memory_order_relaxed); probes > 0) {
      line += ", and " + std::to_string(probes) + " failed probe" + (probes > 1 ? "s" : "");
    }
    if (state.probe_time) {
      line += "; probe " + std::to_string(state.probe_time->count()) + " ms (" +
              seconds_text(at - *probed_at_[i]) + " ago)";
    } else if (probed_at_[i]) {
      line += "; probe failed " + seconds_text(at - *probed_at_[i]) + " ago";
    } else {
      line += "; probe none";
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace vmlocal::outbound
