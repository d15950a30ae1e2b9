// Load through the real v2ray server: thousands of tunnels held at once, and a gigabyte spread
// over many parallel tunnels with every byte checked. Rates and memory are printed as
// information only.
//
// The 5,000-tunnel case uses a legacy (alterId 4) account on purpose: v2ray 4.34's AEAD replay
// filter is a pair of cuckoo filters that take roughly 1-5 in 1,000 fresh AuthIDs for replays
// once thousands arrive within minutes (vmess-protocol.md §6.2), and drains those connections
// forever. That is the server's false positive, the same for every client; the legacy check is
// an exact map, so every tunnel must work.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "harness/epoll_echo_server.hpp"
#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

// VmRSS of a process in KiB, or 0.
uint64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

void raise_fd_limit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

TEST_SUITE("load") {
  TEST_CASE("5,000 tunnels held at once, all echoing") {
    constexpr int kTunnels = 5000;
    raise_fd_limit();
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    // This process holds both ends at the origin and the app: 2 per tunnel, plus slack.
    REQUIRE_MESSAGE(limit.rlim_cur >= 2 * kTunnels + 200,
                    "RLIMIT_NOFILE hard limit too low for this test: " << limit.rlim_max);

    TempDir dir;
    VmessInboundOptions inbound;
    inbound.alter_id = 4;
    V2rayServer v2ray = V2rayServer::vmess(dir, inbound);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.log_level = "warn";  // 5,000 summary lines are not the point here
    VmessLocal local(dir, profile);
    EpollEchoServer echo;
    const uint64_t idle_rss = rss_kib(local.process().pid());

    auto deadline = Deadline::after(240s);
    auto client = local.socks_client();
    std::vector<Socket> tunnels;
    tunnels.reserve(kTunnels);
    for (int i = 0; i < kTunnels; ++i) {
      tunnels.push_back(client.open_tunnel(Socks5Target::to(echo.endpoint()), deadline));
      const uint8_t mark[2] = {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)};
      tunnels.back().send_all(std::span(mark), deadline);
      REQUIRE(tunnels.back().recv_exact(2, deadline) == Bytes{mark[0], mark[1]});
    }
    CHECK(echo.open_connections() == kTunnels);
    const uint64_t loaded_rss = rss_kib(local.process().pid());
    MESSAGE("vmess-local RSS: " << idle_rss << " KiB idle, " << loaded_rss << " KiB with "
                                << kTunnels << " tunnels ("
                                << (loaded_rss - idle_rss) * 1024 / kTunnels << " B per tunnel)");

    // Every tunnel is still alive at the same time: a second round, all sends first.
    for (int i = 0; i < kTunnels; ++i)
      tunnels[static_cast<size_t>(i)].send_all("again", deadline);
    int echoed = 0;
    for (Socket& s : tunnels)
      echoed += s.recv_exact(5, deadline) == Bytes{'a', 'g', 'a', 'i', 'n'};
    CHECK(echoed == kTunnels);
    CHECK(local.process().alive());

    tunnels.clear();
    auto status = local.process().terminate(Deadline::after(30s));
    CHECK(status.success());
  }

  TEST_CASE("1 GiB over 64 parallel tunnels, every byte checked") {
    constexpr int kTunnels = 64;
    constexpr uint64_t kPerTunnel = 16ull << 20;  // each way: 64 x 16 MiB = 1 GiB up and down
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    VmessLocal local(dir, VmessLocalProfile::for_server(v2ray));
    EchoServer echo;
    auto deadline = Deadline::after(600s);

    std::atomic<int> good{0};
    std::atomic<uint64_t> bytes{0};
    std::vector<std::string> failures(kTunnels);
    auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < kTunnels; ++i) {
      threads.emplace_back([&, i] {
        try {
          Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
          auto r = echo_transfer(s, kPerTunnel, 5000 + static_cast<uint64_t>(i), deadline,
                                 EchoEnd::kAfterEcho);
          if (r.received == kPerTunnel && r.received_sha256 == r.sent_sha256) {
            ++good;
            bytes += r.received;
          } else {
            failures[static_cast<size_t>(i)] = "got " + std::to_string(r.received) + " bytes";
          }
        } catch (const std::exception& error) {
          failures[static_cast<size_t>(i)] = error.what();
        }
      });
    }
    for (auto& thread : threads)
      thread.join();
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    MESSAGE("1 GiB each way over " << kTunnels << " tunnels in " << took.count() << " s ("
                                   << static_cast<double>(bytes.load()) / took.count() / (1 << 20)
                                   << " MiB/s each way, including v2ray's close delays)");
    for (int i = 0; i < kTunnels; ++i) {
      if (!failures[static_cast<size_t>(i)].empty()) {
        MESSAGE("tunnel " << i << ": " << failures[static_cast<size_t>(i)]);
      }
    }
    CHECK(good == kTunnels);
    CHECK(bytes == kTunnels * kPerTunnel);
    CHECK(local.process().alive());
  }

  TEST_CASE("workers = 2: both event loops serve tunnels on the same port") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(v2ray);
    profile.workers = 2;
    VmessLocal local(dir, profile);
    CHECK(local.wait_for_log("[worker 2 of 2]", Deadline::after(5s)));
    // Each start line carries its own worker's tag, though both start on worker 1's thread.
    CHECK(local.wait_for_log("[w2] vmess-local listening on", Deadline::after(5s)));
    EchoServer echo;
    auto deadline = Deadline::after(120s);
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 64; ++i) {
      threads.emplace_back([&, i] {
        try {
          Socket s = local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()), deadline);
          auto r = echo_transfer(s, 256 * 1024, 900 + static_cast<uint64_t>(i), deadline,
                                 EchoEnd::kAfterEcho);
          if (r.received_sha256 == r.sent_sha256) ++good;
        } catch (const std::exception&) {
        }
      });
    }
    for (auto& thread : threads)
      thread.join();
    CHECK(good == 64);
    auto status = local.process().terminate(Deadline::after(10s));
    CHECK(status.success());
    const std::string log = local.log_text();
    // SO_REUSEPORT spreads connections by hash: with 64 of them, both workers get some.
    CHECK(log.find("[w1] tunnel ") != std::string::npos);
    CHECK(log.find("[w2] tunnel ") != std::string::npos);
  }
}
