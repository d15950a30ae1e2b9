#include "rtt_relay.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmlocal::bench {
namespace {

using Clock = std::chrono::steady_clock;

int nonblocking_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

sockaddr_in to_sockaddr(const itest::Endpoint& e) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(e.port);
  ::inet_pton(AF_INET, e.host.c_str(), &addr.sin_addr);
  return addr;
}

struct Chunk {
  Clock::time_point due;
  std::vector<std::uint8_t> data;  // empty: EOF
  std::size_t sent = 0;
};

// One relayed connection: side 0 the client, side 1 the server. Direction d carries what side
// d reads to side 1 - d.
struct Pair {
  std::array<int, 2> fd{-1, -1};
  std::array<std::deque<Chunk>, 2> queue;
  std::array<bool, 2> read_done{false, false};
  std::array<bool, 2> eof_delivered{false, false};
  Clock::time_point hold_until;  // the client's first bytes wait until then
  bool dead = false;
};

struct Watch {
  Pair* pair;
  int side;
};

}  // namespace

RttRelay::RttRelay(const itest::Endpoint& upstream, std::chrono::microseconds rtt)
    : upstream_(upstream), rtt_(rtt) {
  listener_.reset(nonblocking_socket());
  sockaddr_in addr = to_sockaddr(itest::Endpoint::loopback(itest::Family::kV4, 0));
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_.get(), 1024) != 0) {
    throw std::runtime_error(std::string("rtt relay listen: ") + std::strerror(errno));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  endpoint_ = itest::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this] { run(); });
}

RttRelay::~RttRelay() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

void RttRelay::run() {
  // The relay plays the network: real-time priority where allowed (root), so its timing does
  // not move with the load of the machine (the clients' own scheduling delays still count).
  sched_param priority{};
  priority.sched_priority = 10;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &priority);
  const auto half = rtt_ / 2;
  const auto handshake = rtt_ * 3 / 2;
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  std::list<Pair> pairs;
  std::list<Watch> watches;
  Watch listen_watch{nullptr, -1};
  Watch stop_watch{nullptr, -2};
  Watch timer_watch{nullptr, -3};
  auto add = [&](int fd, Watch* w) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = w;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  add(listener_.get(), &listen_watch);
  add(stop_.get(), &stop_watch);
  add(timer.get(), &timer_watch);
  std::vector<std::uint8_t> buf(64 * 1024);

  auto close_pair = [&](Pair& p) {
    for (int& fd : p.fd) {
      if (fd >= 0) ::close(fd);  // also leaves the epoll set
      fd = -1;
    }
    p.dead = true;
  };
  // Writes the chunks that are due, in order; reports whether something is still queued.
  auto flush = [&](Pair& p, Clock::time_point now) {
    for (int d = 0; d < 2 && !p.dead; ++d) {
      auto& q = p.queue[static_cast<std::size_t>(d)];
      const int to = p.fd[static_cast<std::size_t>(1 - d)];
      while (!q.empty() && q.front().due <= now) {
        Chunk& c = q.front();
        if (c.data.empty()) {
          ::shutdown(to, SHUT_WR);
          p.eof_delivered[static_cast<std::size_t>(d)] = true;
          q.pop_front();
          continue;
        }
        const ssize_t n = ::send(to, c.data.data() + c.sent, c.data.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // retried on the timer
        if (n < 0) {
          close_pair(p);
          return;
        }
        c.sent += static_cast<std::size_t>(n);
        if (c.sent < c.data.size()) break;
        q.pop_front();
      }
    }
    if (!p.dead && p.eof_delivered[0] && p.eof_delivered[1]) close_pair(p);
  };
  auto arm = [&](Clock::time_point now) {
    Clock::time_point next = Clock::time_point::max();
    for (auto& p : pairs) {
      for (auto& q : p.queue) {
        if (!q.empty())
          next = std::min(next, std::max(q.front().due, now + std::chrono::microseconds(200)));
      }
    }
    itimerspec spec{};
    if (next != Clock::time_point::max()) {
      // CLOCK_MONOTONIC and steady_clock share an epoch on Linux.
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next.time_since_epoch());
      spec.it_value.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
      spec.it_value.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
    }
    ::timerfd_settime(timer.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  };

  std::array<epoll_event, 64> events{};
  for (;;) {
    const int n = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    const Clock::time_point now = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto* w = static_cast<Watch*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (w == &stop_watch) {
        for (auto& p : pairs)
          if (!p.dead) close_pair(p);
        return;
      }
      if (w == &timer_watch) {
        std::uint64_t expirations = 0;
        [[maybe_unused]] const ssize_t r = ::read(timer.get(), &expirations, sizeof expirations);
        continue;
      }
      if (w == &listen_watch) {
        for (;;) {
          const int client =
              ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (client < 0) break;
          const int one = 1;
          ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          const int server = nonblocking_socket();
          sockaddr_in to = to_sockaddr(upstream_);
          if (::connect(server, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
              errno != EINPROGRESS) {
            ::close(server);
            ::close(client);
            continue;
          }
          Pair& p = pairs.emplace_back();
          p.fd = {client, server};
          p.hold_until = now + handshake;
          for (int side = 0; side < 2; ++side) {
            watches.push_back(Watch{&p, side});
            add(p.fd[static_cast<std::size_t>(side)], &watches.back());
          }
        }
        continue;
      }
      Pair& p = *w->pair;
      const auto side = static_cast<std::size_t>(w->side);
      if (p.dead || p.read_done[side]) continue;
      const ssize_t got = ::read(p.fd[side], buf.data(), buf.size());
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (got < 0) {
        close_pair(p);
        continue;
      }
      Clock::time_point due = now + half;
      if (side == 0) due = std::max(due, p.hold_until);
      Chunk c{due, {}, 0};
      if (got == 0) {
        p.read_done[side] = true;
        epoll_event ev{};
        ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, p.fd[side], &ev);
      } else {
        c.data.assign(buf.begin(), buf.begin() + got);
      }
      p.queue[side].push_back(std::move(c));
    }
    for (auto& p : pairs)
      if (!p.dead) flush(p, now);
    // Forget finished pairs (their watches with them).
    watches.remove_if([](const Watch& w) { return w.pair->dead; });
    pairs.remove_if([](const Pair& p) { return p.dead; });
    arm(now);
  }
}

}  // namespace vmlocal::bench
