// Failover before the app's answer (outbound/failover_stream.hpp), inside a real proxy: the
// in-process inbound::Proxy with two or three servers, dead ones first, and a scripted VMess
// server behind the live one. The app must only ever see a success while a server works; the
// log says once when a server is marked down and where new tunnels go.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_vmess_server.hpp"
#include "support/fresh_account.hpp"
#include "support/in_process_proxy.hpp"
#include "support/loopback.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/vmess/account.hpp"

using namespace vmlocal;
using namespace std::chrono_literals;
using vmlocal::test::closed_port;
using vmlocal::test::fresh_account;

namespace {

config::Profile::Server server(const std::string& name, uint16_t port, const vmess::Account& a) {
  config::Profile::Server s;
  s.name = name;
  s.address = "127.0.0.1";
  s.port = port;
  s.uuid = a.id;
  s.security = vmess::Security::kAes128Gcm;
  return s;
}

// A listener that never accepts or answers: the kernel completes TCP, then nothing comes.
class SilentListener {
 public:
  SilentListener() {
    fd_ = test::bind_loopback(port_);
    REQUIRE(::listen(fd_, 16) == 0);
  }
  ~SilentListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A TCP relay to `target` that can stop taking new connections while the ones it holds go on:
// a server that is up for the connections already made and refuses every new one.
class GateRelay {
 public:
  explicit GateRelay(uint16_t target) : target_(target) {
    listen_fd_ = test::bind_loopback(port_);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~GateRelay() {
    close_gate();
    stopping_ = true;
    for (auto& t : pumps_)
      t.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  // From now on a connection to the port is refused; the relayed ones go on.
  void close_gate() {
    if (listen_fd_ < 0) return;
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    ::close(listen_fd_);
    listen_fd_ = -1;
  }

 private:
  void accept_loop() {
    for (;;) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      ++accepted_;
      const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(target_);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(upstream);
        ::close(client);
        continue;
      }
      pumps_.emplace_back([this, client, upstream] { pump(client, upstream); });
    }
  }
  // Both ways until either side ends or the relay is destroyed.
  void pump(int a, int b) {
    std::array<pollfd, 2> fds{pollfd{a, POLLIN, 0}, pollfd{b, POLLIN, 0}};
    std::array<char, 16384> buf{};
    while (!stopping_) {
      if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
      bool done = false;
      for (size_t i = 0; i < 2 && !done; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
        done =
            n <= 0 || ::send(fds[1 - i].fd, buf.data(), static_cast<size_t>(n), MSG_NOSIGNAL) != n;
      }
      if (done) break;
    }
    ::close(a);
    ::close(b);
  }

  uint16_t target_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // only the acceptor adds, before close_gate() joins it
};

// Captures the log lines while it lives.
class LogCapture {
 public:
  LogCapture() {
    log::set_level(log::Level::kInfo);
    log::set_sink([this](log::Level, std::string_view message) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(message);
    });
  }
  ~LogCapture() {
    log::set_sink(nullptr);
    log::set_level(log::Level::kWarn);
  }
  size_t count(std::string_view needle) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const std::string& line : lines_)
      n += line.find(needle) != std::string::npos;
    return n;
  }
  std::string all() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const std::string& line : lines_)
      out += line + "\n";
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// One echo round trip through a fresh tunnel; the SOCKS reply code.
uint8_t echo_once(uint16_t proxy_port) {
  test::BlockingClient app(proxy_port);
  const uint8_t reply = app.socks_connect(9);
  if (reply != 0) return reply;
  app.send_all(as_bytes("ping"));
  uint8_t got[4] = {};
  size_t have = 0;
  while (have < 4) {
    const size_t n = app.receive(got + have, 4 - have);
    REQUIRE(n > 0);
    have += n;
  }
  CHECK(std::string(reinterpret_cast<char*>(got), 4) == "ping");
  return 0;
}

// echo_once from `n` apps at the same time: each one's problem, empty when it was answered
// with success and got its echo (no doctest assertion off the main thread).
std::vector<std::string> echo_at_once(uint16_t proxy_port, int n) {
  std::vector<std::string> problems(static_cast<size_t>(n));
  std::vector<std::thread> apps;
  for (int i = 0; i < n; ++i) {
    apps.emplace_back([&, i] {
      try {
        test::BlockingClient app(proxy_port);
        const uint8_t reply = app.socks_connect(9);
        if (reply != 0) {
          problems[i] = "SOCKS reply " + std::to_string(reply);
          return;
        }
        app.send_all(as_bytes("ping"));
        uint8_t got[4] = {};
        size_t have = 0;
        while (have < 4) {
          const size_t k = app.receive(got + have, 4 - have);
          if (k == 0) break;
          have += k;
        }
        if (std::string(reinterpret_cast<char*>(got), have) != "ping") problems[i] = "no echo";
      } catch (const std::exception& e) {
        problems[i] = e.what();
      }
    });
  }
  for (auto& app : apps)
    app.join();
  return problems;
}

}  // namespace

TEST_CASE("failover: a refused first server is skipped before the app's answer, marked down once") {
  LogCapture captured;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer live(account, test::FakeScript::kEcho);
  config::Profile profile;
  profile.servers = {server("dead", closed_port(), account), server("live", live.port(), account)};
  profile.probe.interval = 0ms;  // no health checks: the failures counted here are the tunnels'
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);

  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(echo_once(proxy.port()) == 0x00);
  }
  CHECK(live.requests_decoded() == 4);
  INFO(captured.all());
  // Two refusals mark it down; from then on it is tried last (and not at all while the live
  // one answers), and each change is said once.
  CHECK(captured.count(
            R"(server "dead" marked down after 2 failures in a row (last: upstream connect )") ==
        1);
  CHECK(captured.count(R"(servers: new tunnels now go to "live")") == 1);
}

TEST_CASE("failover: with every server dead the app gets the failure, naming each server") {
  LogCapture captured;
  const vmess::Account account = fresh_account();
  config::Profile profile;
  profile.servers = {server("a", closed_port(), account), server("b", closed_port(), account)};
  profile.probe.interval = 0ms;  // no health checks: the failures counted here are the tunnels'
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);
  test::BlockingClient app(proxy.port());
  CHECK(app.socks_connect(9) == 0x05);  // connection refused: the last failure's kind
  INFO(captured.all());
  CHECK(captured.count(R"(every server failed: "a": upstream connect 127.0.0.1:)") == 1);
  CHECK(captured.count(R"(; "b": upstream connect 127.0.0.1:)") == 1);
}

TEST_CASE(
    "failover: a server that stalls in the handshake is given up after its share of the "
    "connect timeout") {
  LogCapture captured;
  const vmess::Account account = fresh_account();
  SilentListener stalled;
  test::FakeVmessServer live(account, test::FakeScript::kEcho);
  config::Profile profile;
  profile.servers = {server("stalled", stalled.port(), account),
                     server("live", live.port(), account)};
  profile.servers[0].tls.emplace();  // TCP connects; the TLS handshake never gets an answer
  profile.servers[0].tls->insecure = true;
  profile.timeouts.connect = 2s;  // 1 s for the first of two servers
  profile.probe.interval = 0ms;   // no health checks: the failures counted here are the tunnels'
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);

  const auto start = std::chrono::steady_clock::now();
  CHECK(echo_once(proxy.port()) == 0x00);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 900ms);  // it did wait for the first server
  CHECK(took < 5s);      // and did not wait for the whole connect timeout on it... generously
  CHECK(live.requests_decoded() == 1);
}

TEST_CASE(
    "failover: a refused first server with [server.mux] on: every tunnel waiting on its Mux.Cool "
    "connection goes on to the next server (without mux) before the app's answer") {
  LogCapture captured;
  const vmess::Account account = fresh_account();
  test::FakeVmessServer live(account, test::FakeScript::kEcho);
  config::Profile profile;
  profile.servers = {server("dead", closed_port(), account), server("live", live.port(), account)};
  profile.servers[0].mux.enabled = true;
  profile.servers[0].mux.concurrency = 4;  // 8 apps: two connections to the dead server
  profile.probe.interval = 0ms;  // no health checks: the failures counted here are the tunnels'
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);

  const std::vector<std::string> problems = echo_at_once(proxy.port(), 8);
  INFO(captured.all());
  for (size_t i = 0; i < problems.size(); ++i) {
    CAPTURE(i);
    CHECK(problems[i] == "");
  }
  CHECK(live.requests_decoded() == 8);
  CHECK(captured.count(
            R"(server "dead" marked down after 2 failures in a row (last: upstream connect )") ==
        1);
  CHECK(captured.count(R"(servers: new tunnels now go to "live")") == 1);
  // Marked down: the next tunnel goes to the live server first, answered as before.
  CHECK(echo_once(proxy.port()) == 0x00);
  CHECK(live.requests_decoded() == 9);
}

TEST_CASE(
    "failover: a [server.mux] server that stalls in the handshake is given up after its share "
    "of the connect timeout") {
  LogCapture captured;
  const vmess::Account account = fresh_account();
  SilentListener stalled;
  test::FakeVmessServer live(account, test::FakeScript::kEcho);
  config::Profile profile;
  profile.servers = {server("stalled", stalled.port(), account),
                     server("live", live.port(), account)};
  profile.servers[0].mux.enabled = true;
  profile.servers[0].tls.emplace();  // TCP connects; the TLS handshake never gets an answer
  profile.servers[0].tls->insecure = true;
  profile.timeouts.connect = 2s;  // 1 s for the first of two servers
  profile.probe.interval = 0ms;   // no health checks: the failures counted here are the tunnels'
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);

  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> problems = echo_at_once(proxy.port(), 3);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(captured.all());
  for (size_t i = 0; i < problems.size(); ++i) {
    CAPTURE(i);
    CHECK(problems[i] == "");
  }
  CHECK(took >= 900ms);  // they did wait for the first server
  CHECK(took < 5s);      // and not for the whole connect timeout on it... generously
  CHECK(live.requests_decoded() == 3);
  CHECK(captured.count(R"(server "stalled" marked down after 2 failures in a row (last: no )") ==
        1);
}

TEST_CASE("failover: probe url = \"\" turns the health checks off too (no probe of an empty URL)") {
  LogCapture captured;
  log::set_level(log::Level::kDebug);  // each health check's result is logged at debug
  const vmess::Account account = fresh_account();
  test::FakeVmessServer a(account, test::FakeScript::kEcho);
  test::FakeVmessServer b(account, test::FakeScript::kEcho);
  config::Profile profile;
  profile.servers = {server("a", a.port(), account), server("b", b.port(), account)};
  profile.probe.url.clear();  // url = ""; the interval keeps its default
  profile.probe.url_set = true;
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);
  CHECK(echo_once(proxy.port()) == 0x00);  // the proxy runs
  std::this_thread::sleep_for(500ms);      // a health check round would have gone at start
  INFO(captured.all());
  CHECK(captured.count("health check through") == 0);
  CHECK(a.requests_decoded() == 1);  // the tunnel's only
  CHECK(b.requests_decoded() == 0);
}

TEST_CASE(
    "failover: the attempt on the second server takes its warm connection (the request leaves "
    "at once)") {
  LogCapture captured;
  log::set_level(log::Level::kDebug);  // each failover step is logged at debug
  const vmess::Account account = fresh_account();
  test::FakeVmessServer live(account, test::FakeScript::kEcho);
  GateRelay second(live.port());
  config::Profile profile;
  profile.servers = {server("dead", closed_port(), account),
                     server("second", second.port(), account)};
  // warm = 1 (the default) on both; warm_max_age 3 s.
  profile.probe.interval = 0ms;  // no health checks: the failures counted here are the tunnels'
  profile.route.private_targets = route::Decision::kProxy;  // the targets are on loopback
  test::InProcessProxy proxy(profile);

  // Two tunnels fail over to the second (the first is then marked down, retried in 2 s); the
  // second's pool has started and keeps one connection ready.
  CHECK(echo_once(proxy.port()) == 0x00);
  CHECK(echo_once(proxy.port()) == 0x00);
  REQUIRE(captured.count(R"(server "dead" marked down after 2 failures in a row)") == 1);
  // Past the first's retry time, so the next tunnel tries it first again: a failover attempt.
  std::this_thread::sleep_for(2300ms);
  // The second now refuses every new connection: only a connection made before can carry the
  // tunnel, so it succeeds only if its attempt took the warm one.
  const int before = second.accepted();
  REQUIRE(before >= 3);  // two tunnels' connections (or warm ones) and one held ready
  second.close_gate();
  CHECK(echo_once(proxy.port()) == 0x00);
  CHECK(live.requests_decoded() == 3);
  INFO(captured.all());
  // It was a failover attempt: the first was tried again (a third refusal) before the second.
  CHECK(captured.count(R"(server "dead" failed (upstream connect )") == 3);
  CHECK(captured.count(R"(; trying "second")") == 3);
}
