#include "tunnel_pool.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "harness/socks5_client.hpp"

namespace vmlocal::bench {
namespace {

constexpr std::uint8_t kFirstByte = 'x';
constexpr std::uint8_t kSecondByte = 'y';
constexpr std::array<std::uint8_t, 3> kGreeting{itest::socks5::kVersion, 1,
                                                itest::socks5::kMethodNoAuth};

// Writes on a fresh connection's empty socket buffer: a few bytes always go out whole.
bool send_small(int fd, std::span<const std::uint8_t> bytes) {
  return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

}  // namespace

TunnelPool::TunnelPool(itest::Endpoint proxy, itest::Endpoint echo)
    : proxy_(std::move(proxy)),
      echo_(std::move(echo)),
      request_(itest::socks5::request(itest::Socks5Target::to(echo_))),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_.valid()) throw std::runtime_error("epoll_create1 failed");
}

TunnelPool::~TunnelPool() {
  close_all();
}

void TunnelPool::watch(std::size_t slot, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = slot;
  if (::epoll_ctl(epoll_.get(), op, tunnels_[slot].fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
}

void TunnelPool::start_attempt() {
  std::size_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = tunnels_.size();
    tunnels_.emplace_back();
  }
  Tunnel& t = tunnels_[slot];
  t = Tunnel{};
  t.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t.fd < 0) {
    // EMFILE here means the descriptor budget in main.cpp is wrong: a bench bug, not a result.
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  ++attempts_;
  ++opening_;
  t.deadline = Clock::now() + attempt_timeout_;
  int one = 1;
  ::setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = proxy_.to_sockaddr(ss);
  t.stage = Stage::kConnecting;
  if (::connect(t.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    fail(slot, std::string("connect: ") + std::strerror(errno));
    return;
  }
  watch(slot, EPOLLOUT, EPOLL_CTL_ADD);
}

void TunnelPool::fail(std::size_t slot, const std::string& kind) {
  Tunnel& t = tunnels_[slot];
  if (t.stage == Stage::kHeld || t.stage == Stage::kVerifying || t.stage == Stage::kVerified) {
    --held_;
  } else {
    --opening_;
  }
  ++failed_;
  ++failures_[kind];
  ::close(t.fd);
  t = Tunnel{};
  freed_this_batch_.push_back(slot);
}

bool TunnelPool::read_into(std::size_t slot, std::size_t need) {
  Tunnel& t = tunnels_[slot];
  ssize_t n = ::recv(t.fd, t.buf.data() + t.got, need - t.got, 0);
  if (n > 0) {
    t.got = static_cast<std::uint8_t>(t.got + n);
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  const bool opening = t.stage != Stage::kHeld && t.stage != Stage::kVerifying;
  std::string what = n == 0 ? "closed" : (errno == ECONNRESET ? "reset" : std::strerror(errno));
  if (t.stage == Stage::kMethod || t.stage == Stage::kReply) {
    fail(slot, what + " during the SOCKS handshake");
  } else if (opening) {
    fail(slot, what + " before the first echo");
  } else if (t.stage == Stage::kHeld) {
    fail(slot, what + " while held");
  } else {
    fail(slot, what + " before the verify echo");
  }
  return false;
}

void TunnelPool::on_event(std::size_t slot, std::uint32_t events) {
  Tunnel& t = tunnels_[slot];
  if (t.stage == Stage::kFree) return;  // failed earlier in this batch
  if (t.stage == Stage::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      fail(slot, std::string("connect: ") + std::strerror(err != 0 ? err : ECONNRESET));
      return;
    }
    if (!send_small(t.fd, kGreeting)) {
      fail(slot, "greeting not sent");
      return;
    }
    t.stage = Stage::kMethod;
    watch(slot, EPOLLIN, EPOLL_CTL_MOD);
    return;
  }
  advance(slot);
}

void TunnelPool::advance(std::size_t slot) {
  Tunnel& t = tunnels_[slot];
  switch (t.stage) {
    case Stage::kMethod:
      if (!read_into(slot, 2) || t.got < 2) return;
      if (t.buf[0] != itest::socks5::kVersion || t.buf[1] != itest::socks5::kMethodNoAuth) {
        fail(slot, "SOCKS method refused");
        return;
      }
      if (!send_small(t.fd, request_)) {
        fail(slot, "request not sent");
        return;
      }
      t.stage = Stage::kReply;
      t.got = 0;
      return;
    case Stage::kReply: {
      // Nothing can follow the reply before we send, so reading up to the longest form
      // (IPv6) never takes tunnel data; one recv normally returns all of it.
      if (!read_into(slot, t.buf.size()) || t.got < 5) return;
      if (t.buf[3] != 0x01 && t.buf[3] != 0x04) {
        fail(slot, "SOCKS reply with a domain address");
        return;
      }
      const std::size_t need = t.buf[3] == 0x04 ? 22 : 10;
      if (t.got < need) return;
      if (t.got > need) {
        fail(slot, "data before the first byte was sent");
        return;
      }
      if (t.buf[1] != itest::socks5::kReplySucceeded) {
        fail(slot, std::string("SOCKS reply: ") + itest::socks5::reply_name(t.buf[1]));
        return;
      }
      if (!send_small(t.fd, {&kFirstByte, 1})) {
        fail(slot, "first byte not sent");
        return;
      }
      t.stage = Stage::kEcho;
      t.got = 0;
      return;
    }
    case Stage::kEcho:
      if (!read_into(slot, 1) || t.got < 1) return;
      if (t.buf[0] != kFirstByte) {
        fail(slot, "wrong echo");
        return;
      }
      t.stage = Stage::kHeld;
      t.got = 0;
      --opening_;
      ++held_;
      return;
    case Stage::kHeld:
      // Nothing should arrive on a held tunnel: this is a close or stray data.
      if (read_into(slot, 1) && t.got > 0) fail(slot, "unexpected data while held");
      return;
    case Stage::kVerifying:
      if (!read_into(slot, 1) || t.got < 1) return;
      if (t.buf[0] != kSecondByte) {
        fail(slot, "wrong verify echo");
        return;
      }
      t.stage = Stage::kVerified;
      t.got = 0;
      return;
    case Stage::kVerified:
      if (read_into(slot, 1) && t.got > 0) fail(slot, "unexpected data while held");
      return;
    case Stage::kFree:
    case Stage::kConnecting:
      return;
  }
}

void TunnelPool::check_deadlines() {
  const auto now = Clock::now();
  for (std::size_t slot = 0; slot < tunnels_.size(); ++slot) {
    Tunnel& t = tunnels_[slot];
    if (t.deadline > now) continue;
    switch (t.stage) {
      case Stage::kConnecting:
      case Stage::kMethod:
      case Stage::kReply:
        fail(slot, "timeout in the SOCKS handshake");
        break;
      case Stage::kEcho:
        fail(slot, "no first echo in time");
        break;
      case Stage::kVerifying:
        fail(slot, "no echo on verify");
        break;
      default:
        break;
    }
  }
}

void TunnelPool::poll_once(std::chrono::milliseconds timeout) {
  std::array<epoll_event, 1024> events;
  int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                       static_cast<int>(timeout.count()));
  if (n < 0 && errno != EINTR) throw std::runtime_error("epoll_wait failed");
  for (int i = 0; i < n; ++i)
    on_event(static_cast<std::size_t>(events[i].data.u64), events[i].events);
  // Scanning every slot is cheap next to the network work, but not every iteration.
  if (Clock::now() - last_deadline_scan_ >= std::chrono::milliseconds(50)) {
    last_deadline_scan_ = Clock::now();
    check_deadlines();
  }
  free_slots_.insert(free_slots_.end(), freed_this_batch_.begin(), freed_this_batch_.end());
  freed_this_batch_.clear();
}

bool TunnelPool::open(std::size_t count, const Options& options) {
  attempt_timeout_ = options.attempt_timeout;
  const std::size_t max_failures =
      options.max_failures != 0 ? options.max_failures : count / 20 + 20;
  const auto start = Clock::now();
  tunnels_.reserve(count + options.window);
  while (held_ < count) {
    while (opening_ < options.window && held_ + opening_ < count && failed_ <= max_failures)
      start_attempt();
    if (opening_ == 0 && held_ < count) break;  // out of failure budget
    poll_once(std::chrono::milliseconds(50));
  }
  open_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
  return held_ >= count;
}

std::size_t TunnelPool::verify(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t waiting = 0;
  for (std::size_t slot = 0; slot < tunnels_.size(); ++slot) {
    Tunnel& t = tunnels_[slot];
    if (t.stage != Stage::kHeld) continue;
    if (!send_small(t.fd, {&kSecondByte, 1})) {
      fail(slot, "closed while held");
      continue;
    }
    t.stage = Stage::kVerifying;
    t.got = 0;
    t.deadline = deadline;
    ++waiting;
  }
  auto still_waiting = [&] {
    std::size_t n = 0;
    for (const Tunnel& t : tunnels_)
      n += t.stage == Stage::kVerifying ? 1 : 0;
    return n;
  };
  while (waiting > 0) {
    poll_once(std::chrono::milliseconds(50));
    waiting = still_waiting();
  }
  std::size_t verified = 0;
  for (const Tunnel& t : tunnels_)
    verified += t.stage == Stage::kVerified ? 1 : 0;
  return verified;
}

void TunnelPool::close_all() {
  for (Tunnel& t : tunnels_) {
    if (t.fd >= 0) ::close(t.fd);
    t = Tunnel{};
  }
  tunnels_.clear();
  free_slots_.clear();
  freed_this_batch_.clear();
  opening_ = 0;
  held_ = 0;
}

}  // namespace vmlocal::bench
