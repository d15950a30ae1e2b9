#include "vmlocal/outbound/fail_fast.hpp"

#include "vmlocal/log/log.hpp"

namespace vmlocal::outbound {

FailFast* FailFast::start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                          ProbeOptions options, bool probe_at_start) {
  auto* self = new FailFast(context, std::move(server), std::move(options));
  if (probe_at_start)
    uv_timer_start(
        &self->timer_, [](uv_timer_t* t) { static_cast<FailFast*>(t->data)->run_probe(); }, 0, 0);
  return self;
}

FailFast::FailFast(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                   ProbeOptions options)
    : context_(context), server_(std::move(server)), options_(std::move(options)) {
  uv_timer_init(context_.loop, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  ServerState& state = *server_->state;
  state.on_probe_wanted = [this] {
    log::info("server ", server_name(), ": ", ServerState::kSilentTunnelsBeforeProbe,
              " tunnels in a row got no response; probing ", options_.url.host_header(),
              options_.url.target, " through it");
    run_probe();
  };
  state.on_change = [this](bool refusing) {
    if (refusing) {
      log::warn("server ", server_name(), " refuses us: ", server_->state->refusing_reason(),
                ". New tunnels through it fail at once until a probe gets through (retrying "
                "with back-off); run `vmess-local doctor -c PROFILE` for a diagnosis");
    } else {
      log::info("server ", server_name(), " answers again: tunnels go through it");
    }
  };
}

std::string FailFast::server_name() const {
  return server_->settings.address + ":" + std::to_string(server_->settings.port);
}

void FailFast::run_probe() {
  if (stopped_ || probe_ != nullptr) return;
  server_->state->note_probe_started();
  probe_ = Probe::start(context_, server_, options_,
                        [this](const ProbeResult& result) { on_probe_done(result); });
}

void FailFast::on_probe_done(const ProbeResult& result) {
  probe_ = nullptr;
  ServerState& state = *server_->state;
  ServerState::ProbeOutcome outcome = ServerState::ProbeOutcome::kUnreachable;
  std::string reason;
  if (result.responded) {
    outcome = ServerState::ProbeOutcome::kAnswered;
  } else if (result.refused) {
    outcome = ServerState::ProbeOutcome::kRefused;
    reason = "a probe to " + options_.url.host_header() + options_.url.target + " got " +
             result.error.message +
             " (a wrong uuid or alter_id, this clock off by more than 2 minutes, or a probe URL "
             "the server cannot reach)";
  }
  if (result.responded) {
    log::debug("probe through ", server_name(), ": ",
               result.ok ? result.head.status_line : result.error.message, " in ",
               result.elapsed.count(), " ms");
  } else {
    log::debug("probe through ", server_name(), " failed: ", result.error.message);
  }
  const uint64_t delay = state.note_probe_result(outcome, reason);
  if (delay > 0 && !stopped_) {
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<FailFast*>(t->data)->run_probe(); }, delay, 0);
  }
}

void FailFast::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->state->on_probe_wanted = nullptr;
  server_->state->on_change = nullptr;
  if (probe_ != nullptr) {
    probe_->cancel();
    probe_ = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { delete static_cast<FailFast*>(h->data); });
}

}  // namespace vmlocal::outbound
