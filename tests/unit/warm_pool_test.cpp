// WarmPool on a fake clock with fake stacks: when warm connections are dialled, handed out,
// replaced ahead of their max age, dropped when dead, and not refilled once the client is idle.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "vmlocal/outbound/warm_pool.hpp"

namespace {

using vmlocal::outbound::WarmConnection;
using vmlocal::outbound::WarmPool;
namespace transport = vmlocal::transport;

struct StackState {
  transport::StreamHandler* handler = nullptr;
  bool connect_called = false;
  bool reading = false;
  bool closed = false;
  bool reset = false;
  bool alive = true;
};

class FakeStack final : public transport::Stream {
 public:
  FakeStack(transport::StreamHandler& handler, std::shared_ptr<StackState> state)
      : state_(std::move(state)) {
    state_->handler = &handler;
  }
  ~FakeStack() override { state_->alive = false; }
  void connect() override { state_->connect_called = true; }
  void read_start() override { state_->reading = true; }
  void read_stop() override { state_->reading = false; }
  WriteResult write(uv_buf_t*, size_t) override { return WriteResult::kDone; }
  WriteResult shutdown() override { return WriteResult::kDone; }
  void close(bool reset) override {
    if (state_->closed) return;
    state_->closed = true;
    state_->reset = reset;
    state_->handler->on_stream_closed();  // at once, as TcpStream may
  }
  const transport::Failure& failure() const override { return failure_; }

 private:
  std::shared_ptr<StackState> state_;
  transport::Failure failure_{vmlocal::ErrorKind::kReset, "fake"};
};

class FakeClock final : public WarmPool::Clock {
 public:
  uint64_t now = 1000;  // not 0: times are differences
  std::optional<uint64_t> wake;
  uint64_t now_ms() override { return now; }
  void wake_at(uint64_t ms) override { wake = ms; }
};

class Owner final : public transport::StreamHandler {
 public:
  int connected = 0;
  int closed = 0;
  void on_stream_connected() override { ++connected; }
  void on_stream_failed(const transport::Failure&) override {}
  vmlocal::MutableByteView on_stream_buffer() override { return {}; }
  void on_stream_read(size_t) override {}
  void on_stream_eof() override {}
  void on_stream_write_done() override {}
  void on_stream_closed() override { ++closed; }
};

struct Fixture {
  FakeClock clock;
  std::vector<std::shared_ptr<StackState>> stacks;  // every stack made, in order
  std::unique_ptr<WarmPool> pool;

  explicit Fixture(WarmPool::Settings settings = {1, 3000, 60000}) {
    pool = std::make_unique<WarmPool>(
        settings,
        [this](transport::StreamHandler& handler) {
          stacks.push_back(std::make_shared<StackState>());
          return std::make_unique<FakeStack>(handler, stacks.back());
        },
        clock);
  }
  ~Fixture() {
    pool->stop();
    pool->collect();
  }
  // Runs the pool's wake-ups up to `t`, as the timer would.
  void advance_to(uint64_t t) {
    while (clock.wake && *clock.wake <= t) {
      clock.now = std::max(clock.now, *clock.wake);
      clock.wake.reset();
      pool->on_wake();
    }
    clock.now = t;
  }
  void connect_last() { stacks.back()->handler->on_stream_connected(); }
};

}  // namespace

TEST_CASE("warm pool: nothing is dialled before the first tunnel") {
  Fixture f;
  f.advance_to(100'000);
  f.pool->on_wake();
  CHECK(f.pool->dials() == 0);
  CHECK(f.stacks.empty());
}

TEST_CASE("warm pool: the first tunnel dials as usual and starts the pool; the next one is warm") {
  Fixture f;
  Owner owner;
  CHECK(f.pool->take(owner) == nullptr);  // empty: the tunnel dials its own stack
  REQUIRE(f.stacks.size() == 1);
  CHECK(f.stacks[0]->connect_called);
  f.clock.now += 200;
  f.connect_last();
  CHECK(f.pool->ready() == 1);
  CHECK(f.stacks[0]->reading);  // watched for the server closing it
  f.clock.now += 300;
  std::unique_ptr<WarmConnection> taken = f.pool->take(owner);
  REQUIRE(taken != nullptr);
  CHECK(taken->connected());
  CHECK_FALSE(f.stacks[0]->reading);  // the new owner starts reads when it wants them
  CHECK(f.stacks.size() == 2);        // refilled at once
  // From now on the stack reports to the owner, and the owner closes it.
  taken->close(false);
  CHECK(owner.closed == 1);
}

TEST_CASE("warm pool: a connection still dialling is handed over, with its head start") {
  Fixture f;
  Owner owner;
  f.pool->take(owner);
  f.clock.now += 50;
  std::unique_ptr<WarmConnection> taken = f.pool->take(owner);
  REQUIRE(taken != nullptr);
  CHECK_FALSE(taken->connected());
  f.stacks[0]->handler->on_stream_connected();
  CHECK(owner.connected == 1);  // the owner hears of it
  taken->close(true);
}

TEST_CASE("warm pool: each connection is replaced ahead of its max age and closed at it") {
  Fixture f({1, 3000, 60000});
  Owner owner;
  f.pool->take(owner);
  const uint64_t born = f.clock.now;
  f.clock.now += 200;  // the dial took 200 ms
  f.connect_last();
  // The replacement is dialled one dial time (with a margin) before the max age...
  const uint64_t lead = 200 * 3 / 2 + 50;
  f.advance_to(born + 3000 - lead - 1);
  CHECK(f.stacks.size() == 1);
  f.advance_to(born + 3000 - lead);
  REQUIRE(f.stacks.size() == 2);
  CHECK_FALSE(f.stacks[0]->closed);
  f.clock.now += 200;
  f.connect_last();
  // ...and the old one goes at its max age, never later, while the new one serves.
  f.advance_to(born + 2999);
  CHECK_FALSE(f.stacks[0]->closed);
  f.advance_to(born + 3000);
  CHECK(f.stacks[0]->closed);
  CHECK(f.pool->ready() == 1);
  // A tunnel now gets the young one.
  auto taken = f.pool->take(owner);
  REQUIRE(taken != nullptr);
  CHECK(f.clock.now - taken->born_ms() < 3000);
  taken->close(true);
}

TEST_CASE("warm pool: no connection is ever handed out at or past its max age") {
  Fixture f({2, 3000, 60000});
  Owner owner;
  f.pool->take(owner);
  const uint64_t start = f.clock.now;
  for (uint64_t t = start; t < start + 20'000; t += 37) {
    f.advance_to(t);
    for (auto& s : f.stacks) {
      if (s->alive && !s->closed && s->handler != nullptr && !s->reading) {
        s->handler->on_stream_connected();  // every dial connects on the next step
      }
    }
    if (t % 1110 == 0) {
      if (auto taken = f.pool->take(owner)) {
        CHECK(f.clock.now - taken->born_ms() < 3000);
        taken->close(true);
      }
    }
  }
}

TEST_CASE("warm pool: refilled only within warm_idle of the last tunnel") {
  Fixture f({1, 3000, 10'000});
  Owner owner;
  f.pool->take(owner);
  const uint64_t last_use = f.clock.now;
  // Keep every dial connecting at once, and follow the pool's wake-ups for a minute.
  for (uint64_t t = f.clock.now; t <= last_use + 60'000; t += 50) {
    f.advance_to(t);
    for (auto& s : f.stacks) {
      if (s->alive && !s->closed && !s->reading) s->handler->on_stream_connected();
    }
  }
  const uint64_t dials_after_idle = f.pool->dials();
  // Dials happened while in use (about one per 3 s), none after warm_idle...
  CHECK(dials_after_idle >= 3);
  CHECK(dials_after_idle <= 6);
  for (auto& s : f.stacks)
    CHECK((s->closed || !s->alive));  // ...and the last one aged out: nothing is kept
  CHECK(f.pool->ready() + f.pool->connecting() == 0);
  f.advance_to(last_use + 600'000);
  CHECK(f.pool->dials() == dials_after_idle);
  // A new tunnel starts it again.
  CHECK(f.pool->take(owner) == nullptr);
  CHECK(f.pool->dials() == dials_after_idle + 1);
}

TEST_CASE("warm pool: a connection the server closes while it waits is dropped and replaced") {
  Fixture f;
  Owner owner;
  f.pool->take(owner);
  f.connect_last();
  SUBCASE("EOF") {
    f.stacks[0]->handler->on_stream_eof();
  }
  SUBCASE("a byte: a VMess server never speaks first") {
    f.stacks[0]->handler->on_stream_buffer();
    f.stacks[0]->handler->on_stream_read(1);
  }
  SUBCASE("a reset") {
    f.stacks[0]->handler->on_stream_failed({vmlocal::ErrorKind::kReset, "reset"});
  }
  CHECK(f.stacks[0]->closed);
  CHECK(f.stacks[0]->reset);
  CHECK(f.pool->ready() == 0);
  // The replacement is dialled on the next turn, not inside the dead stack's callback.
  CHECK(f.stacks.size() == 1);
  f.advance_to(f.clock.now);
  CHECK(f.stacks.size() == 2);
}

TEST_CASE("warm pool: failed warm dials back off") {
  Fixture f;
  Owner owner;
  f.pool->take(owner);
  const uint64_t t0 = f.clock.now;
  f.stacks[0]->handler->on_stream_failed({vmlocal::ErrorKind::kRefused, "refused"});
  f.advance_to(t0 + 499);
  CHECK(f.stacks.size() == 1);
  f.advance_to(t0 + 500);
  REQUIRE(f.stacks.size() == 2);
  f.stacks[1]->handler->on_stream_failed({vmlocal::ErrorKind::kRefused, "refused"});
  f.advance_to(t0 + 500 + 999);
  CHECK(f.stacks.size() == 2);
  f.advance_to(t0 + 500 + 1000);
  REQUIRE(f.stacks.size() == 3);
  f.connect_last();  // a success ends the back-off
  CHECK(f.pool->ready() == 1);
}

TEST_CASE("warm pool: stop closes every connection and dials no more") {
  Fixture f;
  Owner owner;
  f.pool->take(owner);
  f.connect_last();
  f.pool->stop();
  CHECK(f.stacks[0]->closed);
  CHECK(f.pool->take(owner) == nullptr);
  CHECK(f.pool->dials() == 1);
  f.pool->collect();
  CHECK(f.pool->closed_all());
}
