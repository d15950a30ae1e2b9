// Failover with [server.mux] on, against the real v2ray 4.34: each tunnel's attempt on a mux
// server is a Mux.Cool session, and when its connection fails before it is up (refused, killed
// server, or no answer within the attempt's share of the connect timeout) every session waiting
// on it goes on to the next server on its own, before the SOCKS reply: 16 tunnels opened at
// once all succeed, none sees the dead server. The first server is marked down, new tunnels then
// go straight to the second, and the first is taken back once it returns, while a transfer on
// the second runs through the switch intact.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "echo_tunnel.hpp"
#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr int kAtOnce = 16;

// kAtOnce tunnels to `echo` asked for at the same time, each checked with a round trip of its
// own text. Returns the open tunnels; every failure (a failed SOCKS reply, a wrong echo) is a
// test failure.
std::vector<Socket> open_at_once(const VmessLocal& local, const EchoServer& echo,
                                 Deadline deadline) {
  std::vector<Socket> tunnels(kAtOnce);
  std::vector<std::string> problems(kAtOnce);
  std::vector<std::thread> threads;
  const Socks5Client client = local.socks_client();
  for (int i = 0; i < kAtOnce; ++i) {
    threads.emplace_back([&, i] {
      try {
        Socks5Result r = client.connect(Socks5Target::to(echo.endpoint()), deadline);
        if (!r.ok()) {
          problems[i] = "SOCKS reply " + std::to_string(static_cast<int>(r.reply));
          return;
        }
        const std::string text = "tunnel " + std::to_string(i);
        r.socket.send_all(text, deadline);
        const Bytes got = r.socket.recv_exact(text.size(), deadline);
        if (std::string(got.begin(), got.end()) != text) problems[i] = "wrong echo";
        tunnels[i] = std::move(r.socket);
      } catch (const std::exception& e) {
        problems[i] = e.what();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < kAtOnce; ++i) {
    CAPTURE(i);
    INFO(local.log_text());
    CHECK(problems[i].empty());
    if (!problems[i].empty()) MESSAGE(problems[i]);
  }
  return tunnels;
}

// An echo transfer paced by the app (64 KiB every 20 ms, each echo read back before the next:
// no session's downlink buffer fills, so the Mux.Cool connection never stalls) that runs until
// stop() — through whatever the test does meanwhile. finish() says whether every byte came back
// in order.
class RunningTransfer {
 public:
  explicit RunningTransfer(Socket tunnel) : tunnel_(std::move(tunnel)) {
    thread_ = std::thread([this] { run(); });
  }
  ~RunningTransfer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Stops sending; empty when every byte sent came back (SHA-256 of both ends), else what not.
  std::string finish() {
    stop_ = true;
    thread_.join();
    if (!error_.empty()) return error_;
    if (rounds_ < 10) return "only " + std::to_string(rounds_) + " rounds";
    if (sha256(sent_) != sha256(received_)) return "the echo differs from what was sent";
    return {};
  }
  size_t bytes() const { return sent_.size(); }

 private:
  void run() {
    const auto deadline = Deadline::after(300s);
    try {
      uint32_t x = 0x9e3779b9u;
      while (!stop_) {
        Bytes chunk(64 * 1024);
        for (auto& b : chunk) {
          x = x * 1664525u + 1013904223u;
          b = static_cast<uint8_t>(x >> 24);
        }
        tunnel_.send_all(chunk, deadline);
        const Bytes got = tunnel_.recv_exact(chunk.size(), deadline);
        sent_.insert(sent_.end(), chunk.begin(), chunk.end());
        received_.insert(received_.end(), got.begin(), got.end());
        ++rounds_;
        std::this_thread::sleep_for(20ms);
      }
    } catch (const std::exception& e) {
      error_ = std::string("after ") + std::to_string(rounds_) + " rounds: " + e.what();
    }
  }

  Socket tunnel_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Bytes sent_;
  Bytes received_;
  size_t rounds_ = 0;
  std::string error_;
};

VmessLocalProfile two_servers(const V2rayServer& first, const V2rayServer& second,
                              bool second_mux) {
  auto profile = VmessLocalProfile::for_server(first);
  profile.server_name = "first";
  profile.mux = true;
  auto more = VmessLocalProfile::Server::for_server(second, "second");
  more.mux = second_mux;
  profile.more_servers = {more};
  profile.extra_toml = "[balancer]\nstrategy = \"first\"\n";
  // probe_url stays "": no health checks, the tunnels alone mark servers down and take them back
  return profile;
}

// The first server (dead, second answering every tunnel) is started again on its port while a
// transfer runs on the second: new tunnels go to the first again once a back-off retry (a
// tunnel's Mux.Cool session) finds it up, and the second's tunnels — the running transfer and
// `on_second` — are untouched.
void take_back_first(VmessLocal& local, TempDir& dir, const V2rayServer& first,
                     const EchoServer& echo, std::vector<Socket>& on_second, Deadline deadline) {
  const auto second_before = tunnels_total(local, "second", deadline);
  REQUIRE(second_before.has_value());
  RunningTransfer transfer(open_echo_tunnel(local, echo, deadline));
  std::this_thread::sleep_for(500ms);

  Process restarted = restart_v2ray(dir, first);
  int opened = 0;
  while (local.log_text().find(R"(server "first" is up again)") == std::string::npos) {
    REQUIRE_MESSAGE(!deadline.expired(), local.log_text());
    open_echo_tunnel(local, echo, deadline);
    ++opened;
    std::this_thread::sleep_for(100ms);
  }
  MESSAGE(opened << " tunnels opened while the first was coming back");
  CHECK(local.wait_for_log(R"(servers: new tunnels now go to "first")", deadline));
  const auto first_before = tunnels_total(local, "first", deadline);
  REQUIRE(first_before.has_value());
  for (int i = 0; i < 3; ++i)
    open_echo_tunnel(local, echo, deadline);
  CHECK(tunnels_total(local, "first", deadline) == *first_before + 3);

  const std::string problem = transfer.finish();
  INFO(local.log_text());
  CHECK_MESSAGE(problem.empty(), problem);
  MESSAGE("transfer on the second through the switch: " << transfer.bytes() << " B each way");
  for (Socket& tunnel : on_second)
    echo_check(tunnel, "still here", deadline);
}

}  // namespace

TEST_SUITE("mux_failover") {
  TEST_CASE(
      "mux_failover: two mux servers, the first refuses: 16 tunnels at once all succeed on the "
      "second; the first is marked down and taken back when it returns") {
    const auto deadline = Deadline::after(150s);
    TempDir dir;
    EchoServer echo;
    V2rayServer first = V2rayServer::vmess(dir);
    V2rayServer second = V2rayServer::vmess(dir);
    // The first is dead from the start: its port refuses connections.
    first.process().signal(SIGKILL);
    first.process().wait_exit(deadline);
    VmessLocal local(dir, two_servers(first, second, true));

    std::vector<Socket> on_second = open_at_once(local, echo, deadline);
    CHECK(local.wait_for_log(R"(server "first" marked down after 2 failures in a row)", deadline));
    CHECK(local.wait_for_log(R"(servers: new tunnels now go to "second")", deadline));
    CHECK(tunnels_total(local, "second", deadline) == static_cast<uint64_t>(kAtOnce));
    CHECK(tunnels_total(local, "first", deadline) == 0u);
    // The sessions' attempts on the first counted as its failures (refused), not as tunnels.
    const std::regex counted(
        R"(server "first": down \(retry in [^)]*\); tunnels 0 open, 0 total; bytes up 0, )"
        R"(down 0; failures ([0-9]+) \(refused ([0-9]+)\))");
    std::smatch m;
    const std::string counters = local.log_text();
    REQUIRE(std::regex_search(counters, m, counted));
    CHECK(m[1] == m[2]);
    CHECK(std::stoi(m[2]) >= 2);

    take_back_first(local, dir, first, echo, on_second, deadline);
    const std::string log = local.log_text();
    CHECK(count_of(log, R"(servers: new tunnels now go to "second")") == 1);
    CHECK(count_of(log, R"(servers: new tunnels now go to "first")") == 1);
    CHECK(count_of(log, "(reply: ") == 0);   // no failed SOCKS reply at all
    CHECK(count_of(log, "(mux): up ") > 0);  // the tunnels did ride Mux.Cool
  }

  TEST_CASE(
      "mux_failover: the first mux server is killed mid-run: its live tunnels end, 16 new ones "
      "at once all succeed on the second; the first is taken back when it returns") {
    const auto deadline = Deadline::after(150s);
    TempDir dir;
    EchoServer echo;
    V2rayServer first = V2rayServer::vmess(dir);
    V2rayServer second = V2rayServer::vmess(dir);
    VmessLocal local(dir, two_servers(first, second, true));

    // While both are up every tunnel goes to the first, on one Mux.Cool connection.
    std::vector<Socket> on_first;
    for (int i = 0; i < 3; ++i)
      on_first.push_back(open_echo_tunnel(local, echo, deadline));
    CHECK(tunnels_total(local, "first", deadline) == 3u);

    first.process().signal(SIGKILL);
    first.process().wait_exit(deadline);
    // Answered tunnels are not moved: the connection carrying them is gone, so they end.
    for (Socket& tunnel : on_first) {
      try {
        tunnel.send_all(std::string("anyone?"), deadline);
        CHECK(tunnel.recv_until_closed(deadline).data.empty());
      } catch (const SocketError&) {
        // reset: ended too
      }
    }

    std::vector<Socket> on_second = open_at_once(local, echo, deadline);
    CHECK(local.wait_for_log(R"(server "first" marked down after 2 failures in a row)", deadline));
    CHECK(local.wait_for_log(R"(servers: new tunnels now go to "second")", deadline));
    CHECK(tunnels_total(local, "second", deadline) == static_cast<uint64_t>(kAtOnce));

    take_back_first(local, dir, first, echo, on_second, deadline);
    const std::string log = local.log_text();
    CHECK(count_of(log, "(reply: ") == 0);  // no failed SOCKS reply at all
  }

  TEST_CASE(
      "mux_failover: a mux first server that never answers is given up after its share of the "
      "connect timeout; a second without mux takes every tunnel, then at once") {
    const auto deadline = Deadline::after(90s);
    TempDir dir;
    EchoServer echo;
    V2rayServer second = V2rayServer::vmess(dir);
    // The first: a listener whose backlog is full, so SYNs go unanswered, as for a black-holed
    // address.
    Socket full = Socket::listen(Endpoint::loopback(Family::kV4, 0), 0);
    std::vector<Socket> fillers;
    for (int i = 0; i < 4; ++i) {
      try {
        fillers.push_back(Socket::connect(full.local_endpoint(), Deadline::after(300ms)));
      } catch (const SocketError&) {
        break;  // the queue is full
      }
    }
    auto profile = VmessLocalProfile::for_server(second);
    profile.server_name = "first";
    profile.server_port = full.local_endpoint().port;
    profile.mux = true;
    profile.more_servers = {VmessLocalProfile::Server::for_server(second, "second")};
    profile.extra_toml = "[balancer]\nstrategy = \"first\"\n";
    profile.connect_timeout = 8s;  // 4 s for the first of two servers
    VmessLocal local(dir, profile);

    const auto start = std::chrono::steady_clock::now();
    std::vector<Socket> on_second = open_at_once(local, echo, deadline);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 3500ms);  // they did wait for the first server's share
    // Marked down: the next tunnel goes straight to the second (the first's back-off is 2 s from
    // the failures just now, so it is not due for a retry), without waiting for its share again.
    const auto next_start = std::chrono::steady_clock::now();
    Socket next = open_echo_tunnel(local, echo, deadline);
    CHECK(std::chrono::steady_clock::now() - next_start < 1500ms);

    CHECK(local.wait_for_log(
        R"(server "first" marked down after 2 failures in a row (last: no answer within 4000 ms)",
        deadline));
    CHECK(tunnels_total(local, "second", deadline) == static_cast<uint64_t>(kAtOnce + 1));
    for (Socket& tunnel : on_second)
      echo_check(tunnel, "still here", deadline);
    const std::string log = local.log_text();
    CHECK(count_of(log, "(reply: ") == 0);  // no failed SOCKS reply at all
  }
}
