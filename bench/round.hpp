// One client's round: a fresh client process, then every measurement in an order chosen so
// one phase does not colour the next:
//   1. idle RSS, after a short settle, before any tunnel;
//   2. RSS per held tunnel (before bulk transfers can grow heaps and buffers);
//   3. time to the first echoed byte (and its floor: the same with no client in the path);
//   4. bulk download, then bulk upload;
//   5. the many-tunnel phase, last because it leaves the most behind.
// After each tunnel phase the driver waits until the client and the server have released the
// descriptors, so the next phase starts from the same state for both clients.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bulk.hpp"
#include "clients.hpp"
#include "first_byte.hpp"
#include "origin.hpp"
#include "pattern.hpp"
#include "udp_round_trip.hpp"

namespace vmlocal::bench {

struct RoundSettings {
  std::uint64_t bulk_bytes = std::uint64_t{1} << 30;
  std::size_t first_byte_samples = 500;
  std::size_t held_tunnels = 1000;         // RSS per held tunnel
  std::size_t many_tunnels = 10000;        // possibly capped by the descriptor limit (see main.cpp)
  std::size_t window = 128;                // tunnel attempts in progress at once
  std::size_t udp_samples = 1000;          // UDP round trips, one datagram at a time
  std::size_t udp_payload = 512;           // bytes per datagram (a DNS-answer-sized payload)
  std::chrono::milliseconds settle{1000};  // after start, before idle RSS
};

struct HoldPhase {
  std::size_t requested = 0;
  std::size_t held = 0;      // open at once, each having echoed a byte
  std::size_t verified = 0;  // of those, echoed a second byte at the end
  std::size_t attempts = 0;
  std::map<std::string, std::size_t> failures;  // failed attempts (replaced) by kind
  double open_seconds = 0;
  double open_cpu_seconds = 0;  // the client's, while the tunnels opened
  std::uint64_t rss_kib = 0;    // the client's, with every tunnel held
  std::size_t client_fds = 0;

  bool all_held() const { return requested > 0 && held == requested && verified == requested; }
  std::size_t failed() const;
};

struct ClientRound {
  ClientKind client = ClientKind::kVmessLocal;
  std::string security;
  int round = 0;
  std::uint64_t nofile_soft = 0;  // the client's RLIMIT_NOFILE, to show it inherited ours
  std::uint64_t idle_rss_kib = 0;
  std::uint64_t idle_rss_anon_kib = 0;
  std::size_t idle_fds = 0;
  HoldPhase held;
  double rss_per_tunnel_kib = 0;
  FirstByteResult first_byte;
  // The same samples with no client process: the driver speaks VMess to the server itself,
  // taken just before the client's, so "added by the client" compares like with like.
  FirstByteResult first_byte_floor;
  double first_byte_cpu_seconds = 0;  // the client's, over all samples (setup and teardown)
  UdpRoundTripResult udp;             // SOCKS5 UDP ASSOCIATE round trips
  BulkResult download;
  BulkResult upload;
  HoldPhase many;
  std::vector<std::string> notes;  // anomalies worth a look (descriptors not released, ...)
};

struct RoundContext {
  const itest::V2rayServer& server;
  pid_t server_pid;
  std::size_t server_idle_fds;
  const Origin& origin;
  const Pattern& pattern;
  itest::TempDir& dir;
  const ClientPaths& paths;
  const RoundSettings& settings;
};

ClientRound run_client_round(ClientKind kind, const std::string& security, int round,
                             const RoundContext& context);

}  // namespace vmlocal::bench
