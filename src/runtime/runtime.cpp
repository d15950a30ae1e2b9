#include "vmlocal/runtime/runtime.hpp"

#include <uv.h>

#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vmlocal/config/reload.hpp"
#include "vmlocal/config/subscription.hpp"
#include "vmlocal/inbound/proxy.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/server_health.hpp"

namespace vmlocal::runtime {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;

// One event loop and its proxy. Workers other than the first are stopped from the main
// thread through `stop_`, the only cross-thread call.
class Worker {
 public:
  Worker(config::Profile profile, inbound::WorkerSlot slot) : slot_(slot) {
    uv_loop_init(&loop_);
    proxy_ = std::make_unique<inbound::Proxy>(&loop_, std::move(profile), slot_);
  }
  ~Worker() {
    proxy_.reset();
    uv_loop_close(&loop_);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  uv_loop_t* loop() { return &loop_; }
  inbound::Proxy& proxy() { return *proxy_; }

  // A worker that never ran (another failed to start): finish its closes on this thread.
  void drain() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    proxy_->release_handles();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  // For workers on their own thread: arm the cross-thread stop and reload, then run the loop
  // there.
  void run_in_thread() {
    stop_.data = this;
    uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
      auto* self = static_cast<Worker*>(async->data);
      self->proxy_->stop(self->stop_reason_);
      uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&self->reload_), nullptr);
    });
    reload_.data = this;
    uv_async_init(&loop_, &reload_, [](uv_async_t* async) {
      auto* self = static_cast<Worker*>(async->data);
      std::optional<Pending> pending;
      {
        std::lock_guard lock(self->pending_mu_);
        pending.swap(self->pending_);
      }
      if (!pending) return;  // uv_async_send coalesces: an earlier call took it
      if (auto error = self->proxy_->reload(std::move(pending->profile), pending->health)) {
        log::error("reload refused on this worker (it keeps its running profile): ", *error);
      }
    });
    thread_ = std::thread([this] {
      log::set_thread_tag("w" + std::to_string(slot_.index + 1));
      uv_run(&loop_, UV_RUN_DEFAULT);
      proxy_->release_handles();
      uv_run(&loop_, UV_RUN_DEFAULT);
    });
  }
  // Thread-safe: uv_async_send is the one libuv call that may come from another thread.
  void request_stop(const char* reason) {
    stop_reason_ = reason;
    uv_async_send(&stop_);
  }
  // Thread-safe, from the main thread, never after request_stop() (the stop callback closes
  // the handle). Race-free because the only state both threads touch is `pending_`, under its
  // mutex: the profile is this worker's own copy (its snapshot is made on its thread), and the
  // health is the one shared object, which is thread-safe (a mutex around the choice, atomic
  // counters). A newer reload replaces one the worker has not taken yet.
  void request_reload(config::Profile profile, std::shared_ptr<outbound::ServerHealth> health) {
    {
      std::lock_guard lock(pending_mu_);
      pending_ = Pending{std::move(profile), std::move(health)};
    }
    uv_async_send(&reload_);
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  inbound::WorkerSlot slot_;
  uv_loop_t loop_{};
  std::unique_ptr<inbound::Proxy> proxy_;
  uv_async_t stop_{};
  const char* stop_reason_ = "stop";
  struct Pending {
    config::Profile profile;
    std::shared_ptr<outbound::ServerHealth> health;
  };
  uv_async_t reload_{};
  std::mutex pending_mu_;
  std::optional<Pending> pending_;  // guarded by pending_mu_
  std::thread thread_;
};

struct Signals {
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  RunOptions* options = nullptr;
  int received = 0;
  uv_signal_t handles[4];
  uv_timer_t stats_timer{};

  // Reload, all on the main thread except `loaded`, which the thread-pool job writes and the
  // main thread reads only in its after-work callback (libuv orders the two).
  config::Profile running;  // as worker 1 runs it (a port 0 stays 0)
  uv_work_t work{};
  bool loading = false;
  std::optional<ReloadTrigger> again;  // asked for while loading: runs after it
  ReloadTrigger trigger = ReloadTrigger::kSignal;
  ReloadResult loaded;
  // [subscription]: the next fetch, while the running profile names a URL.
  uv_timer_t subscription_timer{};
  config::SubscriptionSchedule schedule{std::chrono::milliseconds(0)};
};

void start_reload(Signals& signals, ReloadTrigger trigger);

// (Re)arms the subscription timer for `delay`, or stops it when the running profile has none.
void arm_subscription(Signals& signals, std::chrono::milliseconds delay) {
  uv_timer_stop(&signals.subscription_timer);
  if (signals.running.subscription.url.empty() || !signals.options->reload ||
      signals.received > 0) {
    return;
  }
  uv_timer_start(
      &signals.subscription_timer,
      [](uv_timer_t* timer) {
        start_reload(*static_cast<Signals*>(timer->data), ReloadTrigger::kSubscription);
      },
      static_cast<uint64_t>(delay.count()), 0);
}

// The counters, one line per server, whatever the log level: they were asked for.
void log_stats(std::vector<std::unique_ptr<Worker>>& workers) {
  const auto& health = workers[0]->proxy().server_pool().health();
  if (!health) return;
  for (const std::string& line : health->stats_lines())
    log::write(log::Level::kInfo, line);
}

// A good profile: worker 1 first (on this thread), then the others with worker 1's ports.
// Returns whether it was applied.
bool apply_profile(Signals& signals, config::Profile next) {
  auto& workers = *signals.workers;
  const config::ReloadPlan plan = config::plan_reload(signals.running, next);
  for (const std::string& note : plan.notes)
    log::warn(note);
  if (!plan.servers_changed.empty()) log::info(plan.servers_changed);
  auto health = workers[0]->proxy().server_pool().health()->successor(next, plan.same_server);
  const log::Level level_before = log::level();
  log::set_level(next.log.level);  // so the "reloaded" line obeys the new level
  if (auto error = workers[0]->proxy().reload(next, health)) {
    log::set_level(level_before);
    log::error("reload refused: ", *error, "; the running profile stays");
    return false;
  }
  // Port 0 means "any": worker 1's choice becomes everyone's, as at start.
  config::Profile shared = next;
  const auto bound = workers[0]->proxy().bound_ports();
  for (size_t i = 0; i < shared.local.listen.size() && i < bound.size(); ++i)
    shared.local.listen[i].port = bound[i];
  signals.running = std::move(next);
  for (size_t i = 1; i < workers.size(); ++i)
    workers[i]->request_reload(shared, health);
  return true;
}

void after_reload(uv_work_t* work, int status) {
  auto* signals = static_cast<Signals*>(work->data);
  signals->loading = false;
  if (status != 0 || signals->received > 0) return;  // cancelled, or stopping
  ReloadResult loaded = std::move(signals->loaded);
  signals->loaded = Unchanged{};
  const std::string url_before = signals->running.subscription.url;
  const auto interval_before = signals->running.subscription.interval;
  bool fetched = true;  // for the subscription's schedule: the fetch (if any) worked
  if (auto* profile = std::get_if<config::Profile>(&loaded)) {
    apply_profile(*signals, std::move(*profile));
  } else if (auto* error = std::get_if<std::string>(&loaded)) {
    log::error("reload refused: ", *error, "; the running profile stays");
    fetched = false;
  }
  const config::Profile::Subscription& now = signals->running.subscription;
  if (now.url != url_before || now.interval != interval_before) {
    signals->schedule = config::SubscriptionSchedule(now.interval);
    arm_subscription(*signals, now.interval);
  } else if (signals->trigger == ReloadTrigger::kSubscription) {
    arm_subscription(*signals, signals->schedule.after_fetch(fetched));
  } else if (fetched) {
    arm_subscription(*signals, signals->schedule.after_fetch(true));  // SIGHUP fetched it too
  }
  if (signals->again) {
    const ReloadTrigger next = *signals->again;
    signals->again.reset();
    start_reload(*signals, next);
  }
}

// The load may block (a subscription fetch, up to its timeout): a thread-pool job, so the
// tunnels on this loop go on meanwhile.
void start_reload(Signals& signals, ReloadTrigger trigger) {
  if (signals.received > 0) return;
  if (signals.loading) {
    // A SIGHUP wins over a subscription refresh: it reads the file and fetches anyway.
    if (!signals.again || trigger == ReloadTrigger::kSignal) signals.again = trigger;
    return;
  }
  signals.loading = true;
  signals.trigger = trigger;
  signals.work.data = &signals;
  uv_queue_work(
      signals.workers->front()->loop(), &signals.work,
      [](uv_work_t* work) {
        auto* s = static_cast<Signals*>(work->data);
        s->loaded = s->options->reload(s->trigger);
      },
      after_reload);
}

void on_signal(uv_signal_t* handle, int signum) {
  auto* signals = static_cast<Signals*>(handle->data);
  if (signum == SIGUSR1) {
    log_stats(*signals->workers);
    return;
  }
  if (signum == SIGHUP) {
    // The default action would end the process silently (a closed terminal, a service
    // manager's reload).
    if (!signals->options->reload) {
      log::warn(
          "SIGHUP: this run cannot reload its profile; restart vmess-local to apply "
          "changes. Live tunnels are unaffected.");
      return;
    }
    log::info("SIGHUP: reloading the profile");
    start_reload(*signals, ReloadTrigger::kSignal);
    return;
  }
  if (++signals->received > 1) {
    log::warn("second signal: exiting now");
    std::_Exit(kExitOk);
  }
  const char* reason = signum == SIGINT ? "SIGINT" : "SIGTERM";
  auto& workers = *signals->workers;
  workers[0]->proxy().stop(reason);
  for (size_t i = 1; i < workers.size(); ++i)
    workers[i]->request_stop(reason);
  // Keep listening for a second signal without keeping the loop alive.
  for (uv_signal_t& h : signals->handles)
    uv_unref(reinterpret_cast<uv_handle_t*>(&h));
  uv_timer_stop(&signals->stats_timer);
  uv_timer_stop(&signals->subscription_timer);
  if (signals->loading) {
    // Not started yet: dropped. Running: asked to give up (a fetch waits up to 30 s), since the
    // loop cannot end before the thread-pool job does.
    if (uv_cancel(reinterpret_cast<uv_req_t*>(&signals->work)) != 0 &&
        signals->options->cancel_reload) {
      signals->options->cancel_reload();
    }
  }
}

// Starts worker 1, then the others on the ports it bound. On a failure every worker made so far
// is stopped and drained here, and the result is kExitRuntime.
int start_workers(const config::Profile& profile, std::vector<std::unique_ptr<Worker>>& workers) {
  const unsigned count = profile.local.workers;
  workers.push_back(std::make_unique<Worker>(profile, inbound::WorkerSlot{0, count}));
  if (count > 1) log::set_thread_tag("w1");

  int exit_code = kExitOk;
  if (auto error = workers[0]->proxy().start()) {
    log::error(*error);
    exit_code = kExitRuntime;
  }
  // Port 0 means "any": the first worker's choice becomes everyone's.
  config::Profile shared = profile;
  if (exit_code == kExitOk) {
    const auto bound = workers[0]->proxy().bound_ports();
    for (size_t i = 0; i < shared.local.listen.size() && i < bound.size(); ++i) {
      shared.local.listen[i].port = bound[i];
    }
  }
  for (unsigned i = 1; i < count && exit_code == kExitOk; ++i) {
    workers.push_back(std::make_unique<Worker>(shared, inbound::WorkerSlot{i, count}));
    workers.back()->proxy().share_udp_relay(workers[0]->proxy());
    // One health for all: a server one worker finds down is down for every worker.
    workers.back()->proxy().server_pool().share_health(workers[0]->proxy().server_pool().health());
    // Started here, on worker 1's thread: its lines carry its own tag all the same.
    log::set_thread_tag("w" + std::to_string(i + 1));
    if (auto error = workers.back()->proxy().start()) {
      log::error(*error);
      exit_code = kExitRuntime;
    }
    log::set_thread_tag("w1");
  }
  if (exit_code != kExitOk) {
    for (auto& worker : workers)
      worker->proxy().stop("start failed");
    // Not on threads: a running worker's loop stays alive on its stop handle until someone
    // signals it, so join() would wait forever.
    for (size_t i = 1; i < workers.size(); ++i)
      workers[i]->drain();
  } else {
    for (size_t i = 1; i < workers.size(); ++i)
      workers[i]->run_in_thread();
  }
  return exit_code;
}

}  // namespace

int run_proxy(const config::Profile& profile, RunOptions options) {
  const int numbers[4] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
  // Held back until the handlers below are in place: a signal that came once the ports accept
  // (a service manager's reload right after start) would otherwise take its default action and
  // end the process. The worker threads inherit the mask and keep it, so signals reach this
  // thread's loop.
  sigset_t handled;
  sigset_t previous;
  sigemptyset(&handled);
  for (int number : numbers)
    sigaddset(&handled, number);
  pthread_sigmask(SIG_BLOCK, &handled, &previous);

  std::vector<std::unique_ptr<Worker>> workers;
  const int exit_code = start_workers(profile, workers);
  const std::chrono::seconds stats_interval = options.stats_interval;

  uv_loop_t* loop = workers[0]->loop();
  Signals signals;
  signals.workers = &workers;
  signals.options = &options;
  signals.running = profile;
  for (int i = 0; i < 4; ++i) {
    uv_signal_init(loop, &signals.handles[i]);
    signals.handles[i].data = &signals;
    if (exit_code == kExitOk) {
      uv_signal_start(&signals.handles[i], on_signal, numbers[i]);
    } else {
      uv_unref(reinterpret_cast<uv_handle_t*>(&signals.handles[i]));
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);  // a signal held back is handled now
  uv_timer_init(loop, &signals.stats_timer);
  signals.stats_timer.data = &signals;
  if (exit_code == kExitOk && stats_interval.count() > 0) {
    const auto ms = static_cast<uint64_t>(stats_interval.count()) * 1000;
    uv_timer_start(
        &signals.stats_timer,
        [](uv_timer_t* timer) { log_stats(*static_cast<Signals*>(timer->data)->workers); }, ms, ms);
  }
  uv_timer_init(loop, &signals.subscription_timer);
  signals.subscription_timer.data = &signals;
  if (exit_code == kExitOk) {
    signals.schedule = config::SubscriptionSchedule(profile.subscription.interval);
    arm_subscription(signals, profile.subscription.interval);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  workers[0]->proxy().release_handles();
  for (uv_signal_t& h : signals.handles)
    uv_close(reinterpret_cast<uv_handle_t*>(&h), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&signals.stats_timer), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&signals.subscription_timer), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  for (auto& worker : workers)
    worker->join();
  workers.clear();
  if (exit_code == kExitOk) log::info("stopped");
  return exit_code;
}

}  // namespace vmlocal::runtime
