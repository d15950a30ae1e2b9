// Warm connections: per server and per event loop, up to `warm` upstream stacks (tcp, tls, ws
// — whatever transport::make_upstream builds for the server) connected ahead of need, with no
// VMess byte sent, so a new tunnel's request leaves at once instead of after TCP, TLS and the
// WebSocket upgrade ([server] warm, warm_max_age, warm_idle; issue 13).
//
// Why they age out: a server closes a connection that has sent no request after its handshake
// timeout (vmess-protocol.md §11: 4 s where the policy block is configured as documented, 60 s
// in v2ray 4.34's built-in default). Each warm connection is handed out or closed before
// `max_age` from the start of its dial, and its replacement is dialled ahead of that by about
// as long as the last dial took, so one is ready when the old one goes.
// Why they stop: the pool refills only within `idle` of the last tunnel, so an idle client
// does not keep dialling (nothing is dialled before the first tunnel either).
// A warm connection the server closes while it waits (EOF, a reset, or any byte: a VMess
// server says nothing first) is dropped and replaced. Warm dials that fail back off (0.5 s
// doubling to 30 s, reset by the next success), so a dead server is not hammered.
//
// The clock is a parameter (a uv timer in the product, a fake in unit tests). Times are
// milliseconds on the clock's own scale (uv_now in the product).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>

#include "vmlocal/outbound/warm_connection.hpp"
#include "vmlocal/transport/stream.hpp"

namespace vmlocal::outbound {

class WarmPool {
 public:
  struct Settings {
    size_t size = 1;             // [server] warm (> 0: a pool is made only then)
    uint64_t max_age_ms = 3000;  // [server] warm_max_age
    uint64_t idle_ms = 60000;    // [server] warm_idle
  };

  // The time, and one pending wake-up (a new call replaces the last).
  class Clock {
   public:
    virtual ~Clock() = default;
    virtual uint64_t now_ms() = 0;
    virtual void wake_at(uint64_t ms) = 0;
  };

  // A libuv timer on `loop` (freed in its close callback, so the clock may go at any time).
  static std::unique_ptr<Clock> uv_clock(uv_loop_t* loop, std::function<void()> on_wake);

  // Builds a stack for the server, not yet connected, reporting to the handler given.
  using MakeStack = std::function<std::unique_ptr<transport::Stream>(transport::StreamHandler&)>;

  WarmPool(const Settings& settings, MakeStack make_stack, Clock& clock);
  // Call stop() first, and destroy only once closed_all() (libuv may still call the
  // connections until their close callbacks).
  ~WarmPool();
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // A new tunnel wants a stack: the oldest connected one, else one still connecting (it has a
  // head start), else null (dial as usual). The connection reports to `owner` from now on and
  // is the owner's to close. Counts as use, and refills the pool.
  std::unique_ptr<WarmConnection> take(transport::StreamHandler& owner);

  // The clock's wake-up: ages connections out, dials replacements (see the header comment).
  void on_wake();

  // Closes every connection and dials no more.
  void stop();
  bool closed_all() const { return pool_.empty() && closing_.empty(); }
  // Frees connections whose close callbacks have run (never from inside their own callbacks).
  void collect() { closed_.clear(); }

  size_t ready() const;                      // connected, waiting in the pool
  size_t connecting() const;                 // dialling, in the pool
  uint64_t dials() const { return dials_; }  // warm dials started, for tests

 private:
  friend class WarmConnection;
  // From a connection while it is in the pool.
  void on_ready(WarmConnection& c);
  void on_dead(WarmConnection& c, bool dial_failed);
  void on_closed(WarmConnection& c);

  void maintain();
  bool in_use(uint64_t now) const;
  uint64_t lead_ms() const;
  void dial(uint64_t now);
  void age_out(uint64_t now);
  void retire(std::list<std::unique_ptr<WarmConnection>>::iterator it, bool reset);

  Settings settings_;
  MakeStack make_stack_;
  Clock& clock_;
  std::list<std::unique_ptr<WarmConnection>> pool_;     // connecting or ready
  std::list<std::unique_ptr<WarmConnection>> closing_;  // waiting for their close callbacks
  std::list<std::unique_ptr<WarmConnection>> closed_;   // closed, freed by collect()
  bool used_ = false;
  uint64_t last_use_ms_ = 0;
  uint64_t last_dial_ms_ = 0;  // how long the last warm dial took to connect
  uint64_t backoff_ms_ = 0;    // after a failed warm dial; 0: none
  uint64_t no_dial_before_ms_ = 0;
  uint64_t dials_ = 0;
  bool stopped_ = false;
  bool maintaining_ = false;
};

}  // namespace vmlocal::outbound
