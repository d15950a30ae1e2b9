#include "vmlocal/outbound/balancer.hpp"

#include <algorithm>
#include <utility>

namespace vmlocal::outbound {

Balancer::Balancer(BalancerSettings settings, size_t server_count)
    : settings_(settings), servers_(server_count) {}

bool Balancer::usable(size_t i, Millis now) const {
  return !servers_[i].down || servers_[i].retry_at <= now;
}

std::vector<size_t> Balancer::order(Millis now) {
  std::vector<size_t> usable_ones;
  std::vector<size_t> waiting;
  for (size_t i = 0; i < servers_.size(); ++i) {
    (usable(i, now) ? usable_ones : waiting).push_back(i);
  }
  if (settings_.strategy == config::Profile::Balancer::Strategy::kFastest) {
    // By probe time, unprobed last; stable, so ties keep profile order.
    std::stable_sort(usable_ones.begin(), usable_ones.end(), [&](size_t a, size_t b) {
      const auto& ta = servers_[a].probe_time;
      const auto& tb = servers_[b].probe_time;
      if (ta && tb) return *ta < *tb;
      return ta.has_value() && !tb.has_value();
    });
    // Keep the current pick while it is usable and the best is not faster by more than the
    // tolerance.
    if (!usable_ones.empty()) {
      const size_t best = usable_ones.front();
      const auto kept = fastest_ ? std::find(usable_ones.begin(), usable_ones.end(), *fastest_)
                                 : usable_ones.end();
      if (kept != usable_ones.end() && *kept != best) {
        const auto& t_best = servers_[best].probe_time;
        const auto& t_kept = servers_[*kept].probe_time;
        const bool clearly_faster = t_best && (!t_kept || *t_best + settings_.tolerance < *t_kept);
        if (!clearly_faster) std::rotate(usable_ones.begin(), kept, kept + 1);
      }
      fastest_ = usable_ones.front();
    }
  }
  std::stable_sort(waiting.begin(), waiting.end(),
                   [&](size_t a, size_t b) { return servers_[a].retry_at < servers_[b].retry_at; });
  usable_ones.insert(usable_ones.end(), waiting.begin(), waiting.end());
  return usable_ones;
}

void Balancer::record_success(size_t i) {
  HealthState& s = servers_[i];
  s.down = false;
  s.failures_in_a_row = 0;
  s.backoff = Millis(0);
  s.last_failure.clear();
}

void Balancer::record_failure(size_t i, Millis now, std::string why) {
  failed(i, now, std::move(why));
}

void Balancer::record_probe(size_t i, Millis now, std::optional<Millis> time, std::string why) {
  if (time) {
    servers_[i].probe_time = time;
    record_success(i);
  } else {
    servers_[i].probe_time.reset();
    failed(i, now, std::move(why));
  }
}

void Balancer::failed(size_t i, Millis now, std::string why) {
  HealthState& s = servers_[i];
  s.last_failure = std::move(why);
  ++s.failures_in_a_row;
  if (s.down) {
    // A retry after the back-off failed: wait twice as long before the next one. A failure
    // before the retry was due is not one: tunnels that were already trying the server when it
    // was marked down (16 sessions waiting on one Mux.Cool connection, say) fail just after, and
    // would otherwise push the retry out to the max at once.
    if (now < s.retry_at) return;
    s.backoff = std::min(s.backoff * 2, settings_.max_backoff);
    s.retry_at = now + s.backoff;
  } else if (s.failures_in_a_row >= settings_.failures_to_mark_down) {
    s.down = true;
    s.backoff = settings_.first_backoff;
    s.retry_at = now + s.backoff;
  }
}

std::optional<size_t> Balancer::take_choice_change(Millis now) {
  if (servers_.empty()) return std::nullopt;
  // A server merely due for a retry is not the choice yet: only its success makes it one, so
  // a dead first server does not read as a change back and forth at every back-off.
  const std::vector<size_t> ranked = order(now);
  const auto up =
      std::find_if(ranked.begin(), ranked.end(), [&](size_t i) { return !servers_[i].down; });
  const size_t first = up != ranked.end() ? *up : ranked.front();
  if (reported_ == first) return std::nullopt;
  reported_ = first;
  return first;
}

}  // namespace vmlocal::outbound
