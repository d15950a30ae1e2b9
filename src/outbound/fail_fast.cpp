#include "vmlocal/outbound/fail_fast.hpp"

#include "vmlocal/config/profile.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/server_health.hpp"

namespace vmlocal::outbound {
namespace {

// A close without a response sooner than this after the connection was up is not taken as a
// refused login: v2ray and Xray drain a request they refuse and hold the connection for seconds
// (v2ray 4.34: until its 4 s handshake timeout), while one whose target fails closes at once.
constexpr std::chrono::milliseconds kQuickClose{1000};

// The probe URL as the profile and `vmess-local doctor` spell it, scheme included.
std::string url_text(const http::Url& url) {
  return (url.https ? "https://" : "http://") + url.host_header() + url.target;
}

}  // namespace

FailFast* FailFast::start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                          ProbeRecord record, ProbeOptions options, bool probes,
                          bool probe_at_start) {
  auto* self = new FailFast(context, std::move(server), record, std::move(options), probes);
  if (self->clock_checks()) {
    // So the first tunnels already use the server's time when this clock is off.
    self->run_clock_check([self, probe_at_start](bool) {
      if (probe_at_start) self->run_probe();
    });
  } else if (probe_at_start) {
    self->schedule_probe(0);
  } else if (probes && self->server_->state->refusing()) {
    // A reload kept this server and its mark: the retry the stopped check had scheduled is
    // gone, so probe again now rather than leave it marked.
    self->schedule_probe(0);
  }
  return self;
}

FailFast::FailFast(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                   ProbeRecord record, ProbeOptions options, bool probes)
    : context_(context), server_(std::move(server)), record_(record), options_(std::move(options)) {
  uv_timer_init(context_.loop, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  ServerState& state = *server_->state;
  if (!probes) return;  // [probe] url = "": silent tunnels stay silent
  state.on_probe_wanted = [this] {
    log::info("server ", server_name(), ": ", ServerState::kSilentTunnelsBeforeProbe,
              " tunnels in a row got no response; probing ", url_text(options_.url), " through it");
    run_probe();
  };
  state.on_change = [this](bool refusing) {
    if (refusing) {
      log::warn("server ", server_name(), " refuses us: ", server_->state->refusing_reason(),
                ". New tunnels through it fail at once until a probe gets through (retrying "
                "with back-off); run `vmess-local doctor -c PROFILE` for a diagnosis");
    } else {
      const uint64_t refused = server_->state->refused_tunnels();
      log::info("server ", server_name(), " answers again: tunnels go through it",
                refused > 0 ? " (" + std::to_string(refused) +
                                  " tunnel(s) failed at once while "
                                  "it was marked)"
                            : std::string());
      refused_reported_ = 0;
    }
  };
}

std::string FailFast::server_name() const {
  return config::server_label(server_->settings);
}

bool FailFast::clock_checks() const {
  return server_->state->clock_auto() && server_->settings.transport == config::Transport::kWs;
}

void FailFast::run_clock_check(std::function<void(bool changed)> then) {
  if (stopped_ || clock_check_ != nullptr) return;
  clock_check_ = ClockCheck::start(
      context_, server_, options_.connect_timeout + options_.timeout,
      [this, then = std::move(then)](const ClockCheckResult& result) {
        clock_check_ = nullptr;
        bool changed = false;
        if (result.server_unix) {
          changed = server_->state->note_server_date(*result.server_unix, result.local_unix);
          if (changed) log_clock_change(*server_);
        } else {
          log::debug("server ", server_name(), ": no clock from an HTTP answer: ", result.error);
        }
        then(changed);
      });
}

void FailFast::schedule_probe(uint64_t delay_ms) {
  if (stopped_) return;
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<FailFast*>(t->data)->run_probe(); }, delay_ms, 0);
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
  } else if (result.refused && result.error.kind == ErrorKind::kNoResponse &&
             result.elapsed - result.connect_time < kQuickClose) {
    // Closed at once without a response: what v2ray does when it cannot reach the probe URL
    // (a refused login is drained and held open for seconds). Not a verdict on the login.
    log::info("server ", server_name(), " closed a probe to ", url_text(options_.url),
              " at once without a response: it cannot reach the probe URL (set [probe] url to "
              "one it can reach), or it refuses us");
  } else if (result.refused) {
    outcome = ServerState::ProbeOutcome::kRefused;
    reason = "a probe to " + url_text(options_.url) + " got " + result.error.message +
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
  if (outcome == ServerState::ProbeOutcome::kRefused && clock_checks() && !state.refusing() &&
      clock_check_ == nullptr) {
    // Before marking: is it the clock? If the server's Date moves the offset, probe again now.
    run_clock_check([this, reason](bool changed) {
      if (changed) {
        run_probe();
        return;
      }
      const uint64_t delay =
          server_->state->note_probe_result(ServerState::ProbeOutcome::kRefused, reason);
      if (delay > 0) schedule_probe(delay);
    });
    return;
  }
  if (record_.health != nullptr && result.ok) {
    // The counters' "probe" figure. Only an answer: a refusal is the mark's business (and the
    // counters count the tunnels it fails), not a health failure that would mark it down too.
    record_.health->record_probe(record_.index, result.elapsed);
  }
  const bool was_refusing = state.refusing();
  const uint64_t delay = state.note_probe_result(outcome, reason);
  if (delay > 0) schedule_probe(delay);
  // Still marked: say how many tunnels were failed at once since the last line, if any (the
  // tunnels log at debug; a user whose browser fails later should still find why at info).
  const uint64_t refused = state.refused_tunnels();
  if (was_refusing && state.refusing() && refused > refused_reported_) {
    log::info("server ", server_name(),
              " still refuses us (the retry probe got no response): ", refused,
              " tunnel(s) failed at once so far; next probe in ", (delay + 500) / 1000, " s");
    refused_reported_ = refused;
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
  if (clock_check_ != nullptr) {
    clock_check_->cancel();
    clock_check_ = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { delete static_cast<FailFast*>(h->data); });
}

}  // namespace vmlocal::outbound
