// Many SOCKS5 tunnels held open at once, driven by one non-blocking epoll loop: the "RSS per
// held tunnel" and "10,000 tunnels" phases. A tunnel counts as held once it has echoed one
// byte through the client, the v2ray server and the echo origin, and stays open.
//
// A failed attempt is counted by kind and replaced (within a budget), because a v2ray 4.34
// server takes roughly 1-5 in 1,000 fresh AEAD connections for replays once thousands arrive
// within minutes (vmess-protocol.md §6.2) and then never answers them; a client cannot
// prevent that. The counts are reported next to the results, never hidden.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/endpoint.hpp"
#include "unique_fd.hpp"

namespace vmlocal::bench {

class TunnelPool {
 public:
  struct Options {
    std::size_t window = 128;  // attempts in progress at once
    std::chrono::milliseconds attempt_timeout{5'000};
    std::size_t max_failures = 0;  // 0: 5% of the count plus 20
  };

  TunnelPool(itest::Endpoint proxy, itest::Endpoint echo);
  ~TunnelPool();  // closes every tunnel
  TunnelPool(const TunnelPool&) = delete;
  TunnelPool& operator=(const TunnelPool&) = delete;

  // Opens tunnels until `count` are held at once. False if the failure budget ran out first
  // (then fewer are held).
  bool open(std::size_t count, const Options& options);
  // Sends one more byte through every held tunnel and waits for each echo; returns how many
  // echoed. The others are counted as failures ("no echo on verify").
  std::size_t verify(std::chrono::milliseconds timeout);
  void close_all();

  std::size_t held() const { return held_; }
  std::size_t attempts() const { return attempts_; }
  std::size_t failed() const { return failed_; }
  const std::map<std::string, std::size_t>& failures() const { return failures_; }
  double open_seconds() const { return open_seconds_; }

 private:
  using Clock = std::chrono::steady_clock;

  enum class Stage : std::uint8_t {
    kFree,
    kConnecting,
    kMethod,  // greeting sent, waiting for the chosen method
    kReply,   // CONNECT sent, waiting for the reply
    kEcho,    // first byte sent, waiting for its echo
    kHeld,
    kVerifying,  // second byte sent
    kVerified,
  };

  struct Tunnel {
    int fd = -1;
    Stage stage = Stage::kFree;
    std::uint8_t got = 0;
    std::array<std::uint8_t, 22> buf{};  // SOCKS replies up to the IPv6 form
    Clock::time_point deadline{};
  };

  void start_attempt();
  void on_event(std::size_t slot, std::uint32_t events);
  // Reads into t.buf up to `need` bytes; false (after fail()) on EOF or error.
  bool read_into(std::size_t slot, std::size_t need);
  void advance(std::size_t slot);
  void fail(std::size_t slot, const std::string& kind);
  void check_deadlines();
  void poll_once(std::chrono::milliseconds timeout);
  void watch(std::size_t slot, std::uint32_t events, int op);

  itest::Endpoint proxy_;
  itest::Endpoint echo_;
  std::vector<std::uint8_t> request_;  // the SOCKS5 CONNECT, built once
  UniqueFd epoll_;
  std::vector<Tunnel> tunnels_;
  std::vector<std::size_t> free_slots_;
  std::vector<std::size_t> freed_this_batch_;  // reusable only after the event batch
  std::chrono::milliseconds attempt_timeout_{10'000};
  std::size_t opening_ = 0;
  std::size_t held_ = 0;
  std::size_t attempts_ = 0;
  std::size_t failed_ = 0;
  std::map<std::string, std::size_t> failures_;
  double open_seconds_ = 0;
  Clock::time_point last_deadline_scan_{};
};

}  // namespace vmlocal::bench
