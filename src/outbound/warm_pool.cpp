// WarmPool: when to dial, hand out and age out warm connections (see warm_pool.hpp).
#include "vmlocal/outbound/warm_pool.hpp"

#include <algorithm>
#include <cassert>

namespace vmlocal::outbound {
namespace {

constexpr uint64_t kFirstBackoffMs = 500;
constexpr uint64_t kMaxBackoffMs = 30'000;
// Before the first dial has been timed: enough for TCP, TLS and the upgrade on most paths.
constexpr uint64_t kDefaultLeadMs = 1000;

class UvClock final : public WarmPool::Clock {
 public:
  UvClock(uv_loop_t* loop, std::function<void()> on_wake)
      : timer_(new Timer{{}, std::move(on_wake)}) {
    uv_timer_init(loop, &timer_->handle);
    timer_->handle.data = timer_;
    // A warm pool alone must not keep a stopping loop alive.
    uv_unref(reinterpret_cast<uv_handle_t*>(&timer_->handle));
  }
  ~UvClock() override {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_->handle),
             [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
  }
  UvClock(const UvClock&) = delete;
  UvClock& operator=(const UvClock&) = delete;

  uint64_t now_ms() override { return uv_now(timer_->handle.loop); }
  void wake_at(uint64_t ms) override {
    const uint64_t now = now_ms();
    uv_timer_start(
        &timer_->handle, [](uv_timer_t* t) { static_cast<Timer*>(t->data)->on_wake(); },
        ms > now ? ms - now : 0, 0);
  }

 private:
  struct Timer {
    uv_timer_t handle;
    std::function<void()> on_wake;
  };
  Timer* timer_;
};

}  // namespace

std::unique_ptr<WarmPool::Clock> WarmPool::uv_clock(uv_loop_t* loop,
                                                    std::function<void()> on_wake) {
  return std::make_unique<UvClock>(loop, std::move(on_wake));
}

WarmPool::WarmPool(const Settings& settings, MakeStack make_stack, Clock& clock)
    : settings_(settings), make_stack_(std::move(make_stack)), clock_(clock) {}

WarmPool::~WarmPool() {
  assert(closed_all());
}

size_t WarmPool::ready() const {
  return static_cast<size_t>(
      std::count_if(pool_.begin(), pool_.end(), [](const auto& c) { return c->connected(); }));
}

size_t WarmPool::connecting() const {
  return pool_.size() - ready();
}

std::unique_ptr<WarmConnection> WarmPool::take(transport::StreamHandler& owner) {
  collect();
  if (stopped_) return nullptr;
  used_ = true;
  last_use_ms_ = clock_.now_ms();
  age_out(last_use_ms_);
  // The oldest connected one (the first to age out), else the oldest still connecting.
  auto pick =
      std::find_if(pool_.begin(), pool_.end(), [](const auto& c) { return c->connected(); });
  if (pick == pool_.end()) pick = pool_.begin();
  std::unique_ptr<WarmConnection> taken;
  if (pick != pool_.end()) {
    taken = std::move(*pick);
    pool_.erase(pick);
    taken->adopt(owner);
  }
  maintain();
  return taken;
}

void WarmPool::on_wake() {
  collect();
  maintain();
}

void WarmPool::stop() {
  if (stopped_) return;
  stopped_ = true;
  while (!pool_.empty())
    retire(pool_.begin(), false);
}

bool WarmPool::in_use(uint64_t now) const {
  return used_ && !stopped_ && now - last_use_ms_ < settings_.idle_ms;
}

// How long before a connection's max age its replacement is dialled: as long as the last dial
// took (plus a margin), at most half the max age, so a pool of one is rarely empty.
uint64_t WarmPool::lead_ms() const {
  const uint64_t lead = last_dial_ms_ == 0 ? kDefaultLeadMs : last_dial_ms_ * 3 / 2 + 50;
  return std::min(lead, settings_.max_age_ms / 2);
}

void WarmPool::maintain() {
  if (maintaining_ || stopped_) return;
  maintaining_ = true;
  const uint64_t now = clock_.now_ms();
  const uint64_t lead = lead_ms();
  age_out(now);
  // Refill while in use: count the connections that will not need replacing within `lead`.
  if (in_use(now)) {
    auto lasting = [&] {
      return static_cast<size_t>(std::count_if(pool_.begin(), pool_.end(), [&](const auto& c) {
        return now - c->born_ms() + lead < settings_.max_age_ms;
      }));
    };
    // Bounded: old ones awaiting replacement plus new ones stay within twice the size.
    while (lasting() < settings_.size && pool_.size() < 2 * settings_.size &&
           now >= no_dial_before_ms_) {
      dial(now);
    }
  }
  // The next thing to do: a replacement due, an age-out, or the end of a back-off.
  uint64_t next = UINT64_MAX;
  for (const auto& c : pool_) {
    const uint64_t expires = c->born_ms() + settings_.max_age_ms;
    next = std::min(next, expires);
    if (expires > lead && expires - lead > now) next = std::min(next, expires - lead);
  }
  if (in_use(now) && no_dial_before_ms_ > now) next = std::min(next, no_dial_before_ms_);
  if (in_use(now) && pool_.size() < settings_.size && no_dial_before_ms_ <= now) next = now + 1;
  if (next != UINT64_MAX) clock_.wake_at(next);
  maintaining_ = false;
}

// A connection at its max age goes: it may not be handed out any more.
void WarmPool::age_out(uint64_t now) {
  for (auto it = pool_.begin(); it != pool_.end();) {
    auto next = std::next(it);
    if (now - (*it)->born_ms() >= settings_.max_age_ms) retire(it, false);
    it = next;
  }
}

void WarmPool::dial(uint64_t now) {
  ++dials_;
  pool_.push_back(std::make_unique<WarmConnection>(*this, now, make_stack_));
  pool_.back()->start();  // a failure at once lands in on_dead, which backs off
}

void WarmPool::retire(std::list<std::unique_ptr<WarmConnection>>::iterator it, bool reset) {
  WarmConnection& c = **it;
  closing_.splice(closing_.end(), pool_, it);
  c.close(reset);  // on_closed may run from inside this
}

void WarmPool::on_ready(WarmConnection& c) {
  last_dial_ms_ = clock_.now_ms() - c.born_ms();
  c.connected_ms_ = clock_.now_ms();
  backoff_ms_ = 0;
  no_dial_before_ms_ = 0;
}

void WarmPool::on_dead(WarmConnection& c, bool dial_failed) {
  const uint64_t now = clock_.now_ms();
  if (dial_failed) {
    backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
    no_dial_before_ms_ = now + backoff_ms_;
  }
  auto it = std::find_if(pool_.begin(), pool_.end(), [&](const auto& p) { return p.get() == &c; });
  if (it != pool_.end()) retire(it, true);
  // Replace it (on a later turn: this runs inside the dead stack's callback).
  if (!stopped_) clock_.wake_at(now);
}

void WarmPool::on_closed(WarmConnection& c) {
  auto it =
      std::find_if(closing_.begin(), closing_.end(), [&](const auto& p) { return p.get() == &c; });
  if (it != closing_.end()) closed_.splice(closed_.end(), closing_, it);
}

}  // namespace vmlocal::outbound
