#include "harness/chaos_relay.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace vmlocal::itest {
namespace {

using Clock = Deadline::Clock;
constexpr std::size_t kBufferSize = 64 * 1024;
constexpr std::chrono::seconds kConnectTimeout{10};

std::uint64_t uniform(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
}

bool chance(std::mt19937_64& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}

Direction any_direction(std::mt19937_64& rng) {
  return chance(rng, 0.5) ? Direction::kUp : Direction::kDown;
}

// One direction of a connection: reads from `from` into `buf`, writes to `to`.
struct Pump {
  Direction dir = Direction::kUp;
  int from = -1;
  int to = -1;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(kBufferSize);
  std::size_t head = 0;  // next byte to write
  std::size_t tail = 0;  // end of the bytes read
  std::uint64_t forwarded = 0;
  bool src_eof = false;   // `from` sent FIN
  bool shut = false;      // we sent FIN to `to` (passed on, or cut)
  bool dropping = false;  // cut with FIN: what still comes from `from` is read and dropped
  std::uint32_t delayed = 0;
  Clock::time_point ready_at{};       // the buffered segment may go from then on (delay)
  Clock::time_point stalled_until{};  // nothing is read or written before then (stall)

  bool empty() const { return head == tail; }
};

}  // namespace

const char* to_string(Direction d) {
  return d == Direction::kUp ? "up" : "down";
}

const char* to_string(RelayRecord::Ending e) {
  switch (e) {
    case RelayRecord::Ending::kRunning:
      return "running";
    case RelayRecord::Ending::kClosed:
      return "closed";
    case RelayRecord::Ending::kClientReset:
      return "client reset";
    case RelayRecord::Ending::kUpstreamReset:
      return "upstream reset";
    case RelayRecord::Ending::kCutReset:
      return "cut by reset";
    case RelayRecord::Ending::kConnectFailed:
      return "upstream connect failed";
    case RelayRecord::Ending::kTimedOut:
      return "timed out";
    case RelayRecord::Ending::kStopped:
      return "stopped";
  }
  return "?";
}

std::string FaultPlan::describe() const {
  std::ostringstream out;
  const char* sep = "";
  if (delay) {
    out << sep << "delay " << to_string(delay->dir) << " " << delay->each.count() << " ms x "
        << delay->segments;
    sep = "; ";
  }
  if (dribble) {
    out << sep << "1-byte writes " << to_string(dribble->dir) << " until " << dribble->until;
    sep = "; ";
  }
  if (stall) {
    out << sep << "stall " << to_string(stall->dir) << " at " << stall->at << " for "
        << stall->length.count() << " ms";
    sep = "; ";
  }
  if (cut) {
    out << sep << "cut " << (cut->kind == CutKind::kReset ? "RST " : "FIN ") << to_string(cut->dir)
        << " at " << cut->at << (cut->after_client_end ? " after the client's FIN" : "");
    sep = "; ";
  }
  std::string text = out.str();
  return text.empty() ? "none" : text;
}

FaultPlan FaultPlan::draw(std::mt19937_64& rng, const Hints& hints) {
  auto size_of = [&](Direction d) {
    return d == Direction::kUp ? hints.up_bytes : hints.down_bytes;
  };
  FaultPlan plan;
  // Every draw happens whatever the outcome of the one before, so one plan's choices do not
  // shift the next plan's.
  const bool with_delay = chance(rng, 0.3);
  const bool with_dribble = chance(rng, 0.25);
  const bool with_stall = chance(rng, 0.25);
  const bool with_cut = chance(rng, 0.55);
  const Direction delay_dir = any_direction(rng);
  const Direction dribble_dir = any_direction(rng);
  const Direction stall_dir = any_direction(rng);
  const Direction cut_dir = any_direction(rng);
  const auto delay_each = std::chrono::milliseconds(uniform(rng, 1, 30));
  const auto delay_segments = static_cast<std::uint32_t>(uniform(rng, 1, 8));
  const std::uint64_t dribble_until = uniform(rng, 1, 8192);
  const std::uint64_t stall_at = uniform(rng, 0, size_of(stall_dir));
  const auto stall_length = std::chrono::milliseconds(uniform(rng, 50, 400));
  const bool cut_reset = chance(rng, 0.5);
  // Up to 10 % beyond the expected size: sometimes the cut never comes.
  const std::uint64_t cut_at = uniform(rng, 0, size_of(cut_dir) + size_of(cut_dir) / 10);

  if (with_delay) plan.delay = Delay{delay_dir, delay_each, delay_segments};
  if (with_dribble) plan.dribble = Dribble{dribble_dir, dribble_until};
  if (with_stall) plan.stall = Stall{stall_dir, stall_at, stall_length};
  if (with_cut) {
    plan.cut = Cut{cut_reset ? CutKind::kReset : CutKind::kFin, cut_dir, cut_at, false};
    plan.cut->after_client_end = !cut_reset && cut_dir == Direction::kDown && !hints.early_down_fin;
  }
  return plan;
}

std::string RelayRecord::describe() const {
  std::ostringstream out;
  out << "relay connection " << index << ": plan {" << plan.describe() << "}; up " << forwarded[0]
      << " B, down " << forwarded[1] << " B";
  if (client_fin) out << ", client FIN";
  if (upstream_fin) out << ", upstream FIN";
  if (plan.stall) out << (stalled ? ", stalled" : ", stall not reached");
  if (cut) {
    out << ", cut " << (cut->kind == FaultPlan::CutKind::kReset ? "RST " : "FIN ")
        << to_string(cut->dir) << " at " << cut->offset
        << (cut->client_ended ? " (client had ended)" : " (client had not ended)");
  } else if (plan.cut) {
    out << ", cut not reached";
  }
  out << "; " << to_string(ending);
  if (!error.empty()) out << " (" << error << ")";
  return out.str();
}

struct ChaosRelay::Connection {
  Socket client;
  std::thread thread;
  RelayRecord record;     // guarded by mutex_
  bool finished = false;  // guarded by mutex_
};

ChaosRelay::ChaosRelay(Endpoint upstream, std::vector<FaultPlan> plans,
                       std::chrono::milliseconds max_connection_time)
    : upstream_(std::move(upstream)),
      plans_(std::move(plans)),
      max_connection_time_(max_connection_time),
      listener_(Socket::listen(Endpoint::loopback(Family::kV4, 0))),
      endpoint_(listener_.local_endpoint()) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  accept_thread_ = std::thread([this] { accept_loop(); });
}

ChaosRelay::~ChaosRelay() {
  stop();
  ::close(stop_fd_);
}

void ChaosRelay::stop() {
  if (stopping_.exchange(true)) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  if (accept_thread_.joinable()) accept_thread_.join();
  listener_.close();
  // The accept thread has ended, so connections_ no longer changes; each thread touches only
  // its own Connection (its record under mutex_), and sees stop_fd_ readable and resets both
  // peers.
  for (auto& c : connections_) {
    if (c->thread.joinable()) c->thread.join();
  }
}

std::uint64_t ChaosRelay::accepted() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

bool ChaosRelay::wait_all_finished(Deadline deadline) const {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (std::all_of(connections_.begin(), connections_.end(),
                      [](const auto& c) { return c->finished; }))
        return true;
    }
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<RelayRecord> ChaosRelay::records() const {
  std::lock_guard lock(mutex_);
  std::vector<RelayRecord> out;
  out.reserve(connections_.size());
  for (const auto& c : connections_)
    out.push_back(c->record);
  return out;
}

void ChaosRelay::accept_loop() {
  pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (!stopping_.load()) {
    int n = ::poll(fds, 2, -1);  // stop() makes stop_fd_ readable
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return;
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    auto conn = std::make_unique<Connection>();
    conn->client = Socket(fd);
    Connection* c = conn.get();
    std::lock_guard lock(mutex_);
    c->record.index = connections_.size();
    if (c->record.index < plans_.size()) c->record.plan = plans_[c->record.index];
    connections_.push_back(std::move(conn));
    c->thread = std::thread([this, c] { serve(*c); });
  }
}

void ChaosRelay::serve(Connection& c) {
  RelayRecord r;
  {
    std::lock_guard lock(mutex_);
    r = c.record;
  }
  const FaultPlan& plan = r.plan;
  const Deadline deadline = Deadline::after(max_connection_time_);
  Socket& client = c.client;
  Socket upstream;
  std::array<Pump, 2> pumps;

  auto finish = [&](RelayRecord::Ending ending, std::string error) {
    r.ending = ending;
    r.error = std::move(error);
    r.forwarded = {pumps[0].forwarded, pumps[1].forwarded};
    if (ending != RelayRecord::Ending::kClosed) {
      client.set_reset_on_close();
      if (upstream.valid()) upstream.set_reset_on_close();
    }
    client.close();
    upstream.close();
    std::lock_guard lock(mutex_);
    c.record = r;
    c.finished = true;
  };

  try {
    upstream = Socket::connect(upstream_, deadline.min(Deadline::after(kConnectTimeout)));
  } catch (const std::exception& e) {
    finish(RelayRecord::Ending::kConnectFailed, e.what());
    return;
  }

  pumps[0].dir = Direction::kUp;
  pumps[0].from = client.fd();
  pumps[0].to = upstream.fd();
  pumps[1].dir = Direction::kDown;
  pumps[1].from = upstream.fd();
  pumps[1].to = client.fd();
  std::vector<std::uint8_t> scratch(kBufferSize);

  // A reset or failure met on `fd`: the peer behind it is gone.
  auto peer_failed = [&](int fd, int err) {
    finish(
        fd == client.fd() ? RelayRecord::Ending::kClientReset : RelayRecord::Ending::kUpstreamReset,
        std::strerror(err));
  };
  auto send_fin = [&](Pump& p) {
    p.shut = true;
    ::shutdown(p.to, SHUT_WR);  // ENOTCONN after a reset: the next read or write tells
  };
  auto is_dir = [](const auto& fault, const Pump& p) { return fault && fault->dir == p.dir; };

  for (;;) {
    auto now = Clock::now();
    // Faults due at the current offsets (offset 0, a cut waiting for the client's FIN).
    if (plan.cut && !r.cut) {
      Pump& p = pumps[static_cast<int>(plan.cut->dir)];
      if (!p.shut && p.forwarded >= plan.cut->at && (!plan.cut->after_client_end || r.client_fin)) {
        r.cut = RelayRecord::CutDone{plan.cut->kind, p.dir, p.forwarded, r.client_fin, now};
        if (plan.cut->kind == FaultPlan::CutKind::kReset) {
          finish(RelayRecord::Ending::kCutReset, {});
          return;
        }
        p.dropping = true;
        p.head = p.tail = 0;
        send_fin(p);
      }
    }
    for (Pump& p : pumps) {
      if (is_dir(plan.stall, p) && !r.stalled && p.forwarded >= plan.stall->at && !p.shut) {
        r.stalled = true;
        p.stalled_until = now + plan.stall->length;
      }
    }
    if (pumps[0].src_eof && pumps[0].shut && pumps[1].src_eof && pumps[1].shut) {
      finish(RelayRecord::Ending::kClosed, {});
      return;
    }
    if (deadline.expired()) {
      finish(RelayRecord::Ending::kTimedOut, {});
      return;
    }

    bool wants_read[2];
    bool wants_write[2];
    auto wake = deadline.when();
    for (int i = 0; i < 2; ++i) {
      Pump& p = pumps[i];
      const bool stalled = now < p.stalled_until;
      wants_read[i] = !p.src_eof && (p.dropping || (p.empty() && !stalled));
      wants_write[i] = !p.dropping && !p.shut && !p.empty() && now >= p.ready_at && !stalled;
      if (stalled) wake = std::min(wake, p.stalled_until);
      if (!p.empty() && now < p.ready_at) wake = std::min(wake, p.ready_at);
    }
    // fds: client (up's source, down's sink), upstream (down's source, up's sink), stop.
    pollfd fds[3] = {};
    fds[0].fd = client.fd();
    fds[0].events =
        static_cast<short>((wants_read[0] ? POLLIN : 0) | (wants_write[1] ? POLLOUT : 0));
    fds[1].fd = upstream.fd();
    fds[1].events =
        static_cast<short>((wants_read[1] ? POLLIN : 0) | (wants_write[0] ? POLLOUT : 0));
    fds[2].fd = stop_fd_;
    fds[2].events = POLLIN;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].events == 0) fds[i].fd = -1;  // nothing to do there: do not spin on POLLHUP
    }
    auto timeout = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    int n = ::poll(fds, 3, static_cast<int>(std::max<long long>(timeout, 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      finish(RelayRecord::Ending::kStopped, std::string("poll: ") + std::strerror(errno));
      return;
    }
    if (fds[2].revents != 0) {
      finish(RelayRecord::Ending::kStopped, {});
      return;
    }
    now = Clock::now();

    for (int i = 0; i < 2; ++i) {
      Pump& p = pumps[i];
      const short to_events = fds[i == 0 ? 1 : 0].revents;
      if (wants_write[i] && (to_events & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        std::size_t len = p.tail - p.head;
        if (is_dir(plan.dribble, p) && p.forwarded < plan.dribble->until) len = 1;
        if (is_dir(plan.stall, p) && !r.stalled && p.forwarded < plan.stall->at)
          len =
              static_cast<std::size_t>(std::min<std::uint64_t>(len, plan.stall->at - p.forwarded));
        if (is_dir(plan.cut, p) && !r.cut && p.forwarded < plan.cut->at)
          len = static_cast<std::size_t>(std::min<std::uint64_t>(len, plan.cut->at - p.forwarded));
        ssize_t w = ::send(p.to, p.buf.data() + p.head, len, MSG_NOSIGNAL);
        if (w > 0) {
          p.head += static_cast<std::size_t>(w);
          p.forwarded += static_cast<std::uint64_t>(w);
          if (p.empty()) p.head = p.tail = 0;
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          peer_failed(p.to, errno);
          return;
        }
      }
      const short from_events = fds[i].revents;
      if (wants_read[i] && (from_events & (POLLIN | POLLERR | POLLHUP)) != 0) {
        std::uint8_t* into = p.dropping ? scratch.data() : p.buf.data();
        ssize_t got = ::recv(p.from, into, kBufferSize, 0);
        if (got > 0) {
          if (!p.dropping) {
            p.head = 0;
            p.tail = static_cast<std::size_t>(got);
            if (is_dir(plan.delay, p) && p.delayed < plan.delay->segments) {
              ++p.delayed;
              p.ready_at = now + plan.delay->each;
            }
          }
        } else if (got == 0) {
          p.src_eof = true;
          (p.dir == Direction::kUp ? r.client_fin : r.upstream_fin) = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          peer_failed(p.from, errno);
          return;
        }
      }
      // A FIN read is passed on once everything before it has been written.
      if (p.src_eof && p.empty() && !p.shut) send_fin(p);
    }
  }
}

}  // namespace vmlocal::itest
