#include "vmlocal/outbound/health_checker.hpp"

#include "vmlocal/log/log.hpp"

namespace vmlocal::outbound {

HealthChecker* HealthChecker::start(OutboundContext& context, std::shared_ptr<const ServerSet> set,
                                    ProbeOptions options, Millis interval) {
  auto* self = new HealthChecker(context, std::move(set), std::move(options));
  // The first round at once, so "fastest" has times and a dead server is known early.
  uv_timer_start(
      &self->timer_, [](uv_timer_t* t) { static_cast<HealthChecker*>(t->data)->run_round(); }, 0,
      static_cast<uint64_t>(interval.count()));
  return self;
}

HealthChecker::HealthChecker(OutboundContext& context, std::shared_ptr<const ServerSet> set,
                             ProbeOptions options)
    : context_(context),
      set_(std::move(set)),
      options_(std::move(options)),
      probes_(set_->servers.size(), nullptr) {
  uv_timer_init(context_.loop, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
}

void HealthChecker::run_round() {
  for (size_t i = 0; i < probes_.size() && !stopped_; ++i) {
    if (probes_[i] != nullptr) continue;  // still waiting for the last round's answer
    probes_[i] = Probe::start(context_, set_->servers[i], options_,
                              [this, i](const ProbeResult& result) { on_result(i, result); });
  }
}

void HealthChecker::on_result(size_t server, const ProbeResult& result) {
  probes_[server] = nullptr;  // it frees itself after this callback
  ServerHealth& health = *set_->health;
  if (result.ok) {
    log::debug("health check through \"", health.name(server), "\": ", result.head.status_line,
               " in ", result.elapsed.count(), " ms");
    health.record_probe(server, result.elapsed);
  } else {
    log::debug("health check through \"", health.name(server), "\" failed: ", result.error.message);
    health.record_probe(server, std::nullopt, result.error.message);
  }
}

void HealthChecker::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (Probe*& probe : probes_) {
    if (probe != nullptr) probe->cancel();
    probe = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* handle) { delete static_cast<HealthChecker*>(handle->data); });
}

}  // namespace vmlocal::outbound
