// Turns the rounds into the results: medians per client and cipher, the ratio
// vmess-local / v2ray for each metric, each target marked met or not met; with a baseline,
// the ratio new / old for each metric, marked within 5 % or not. As Markdown (for people) and
// JSON (every raw number too, for later comparison). Numbers are reported, never asserted:
// the benchmark fails only when it cannot run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "round.hpp"

namespace vmlocal::bench {

// The plain relay's bulk transfers (plain_relay.hpp), once per cipher and round, in the same run:
// the CPU yardstick for the clients.
struct PlainRelayRound {
  std::string security;  // the round it ran in (the relay itself has no cipher)
  int round = 0;
  BulkResult download;
  BulkResult upload;
  // The VMess body codec alone with the round's security (codec_floor.hpp), CPU-s/GiB.
  double codec_cpu_s_per_gib = 0;
};

struct RunInfo {
  std::string started_utc;
  std::string cpu_model;
  unsigned cores = 0;
  std::string kernel;
  std::string vmess_local_version;
  std::string v2ray_version;
  // Set only with --baseline.
  std::string baseline_version;
  std::string baseline_path;
  std::string vmess_local_path;
  std::vector<ClientKind> clients;  // in the order each round ran them
  std::string revision;             // as given by scripts/bench (git describe)
  bool quick = false;
  int rounds = 0;
  std::vector<std::string> securities;
  RoundSettings settings;
  std::size_t many_requested = 0;  // before the descriptor cap
  std::uint64_t nofile_hard = 0;   // the driver's RLIMIT_NOFILE, inherited by every child
  double wall_seconds = 0;
  // /proc/loadavg at the start and the end: other work on the machine skews MB/s and latency
  // (CPU-s per GiB, counted per process, much less).
  std::string load_start;
  std::string load_end;
  std::vector<PlainRelayRound> plain;
};

nlohmann::json to_json(const RunInfo& info, const std::vector<ClientRound>& rounds);
std::string to_markdown(const RunInfo& info, const std::vector<ClientRound>& rounds);

}  // namespace vmlocal::bench
