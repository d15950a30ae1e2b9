// The soak's traffic, on one epoll thread: every tunnel is a non-blocking SOCKS5 client of
// vmess-local, driven by a small state machine, to the origins of origin.hpp.
//
//   bulk   `bulk_jobs` duplex jobs (wire.hpp) that together carry `bulk_bytes`, both ways at
//          once, `bulk_parallel` at a time, paced so the volume is spread over the run. A job
//          cut by a failure resumes in a new tunnel where its streams were cut.
//   short  `short_per_minute` tunnels a minute, each a fresh duplex job of a few bytes to a few
//          hundred KiB each way; half send greeting, request, job header and uplink in one
//          write before any reply (the early-payload path), half wait for each reply.
//   idle   `idle_tunnels` echo tunnels held open for the whole run, each probed with one byte
//          every `idle_probe_every`; one that fails is reopened.
//
// Every failure is recorded with its tunnel's start and end; main.cpp decides afterwards
// which ones a server kill explains.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "harness/endpoint.hpp"
#include "harness/sha256.hpp"
#include "stream.hpp"
#include "unique_fd.hpp"

namespace vmlocal::soak {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

enum class TunnelKind : std::uint8_t { kBulk = 0, kShort = 1, kIdle = 2 };
inline constexpr std::size_t kTunnelKinds = 3;
const char* kind_name(TunnelKind kind);  // "bulk", "short", "idle"

struct DriverSettings {
  itest::Endpoint socks;   // vmess-local
  itest::Endpoint duplex;  // origin services
  itest::Endpoint echo;
  std::chrono::milliseconds duration{30 * 60 * 1000};
  std::uint64_t bulk_bytes = std::uint64_t{10} << 30;  // both directions together
  std::size_t bulk_jobs = 100;
  std::size_t bulk_parallel = 10;
  double short_per_minute = 1000;
  std::size_t idle_tunnels = 200;
  std::chrono::milliseconds idle_probe_every{120'000};
  std::uint64_t seed = 1;
};

struct FailureRecord {
  TunnelKind kind = TunnelKind::kShort;
  std::string what;      // the kind of failure: "reset mid-transfer", "SOCKS reply: ..."
  std::string detail;    // which job, how far
  bool corrupt = false;  // wrong bytes, never explained by a server kill
  Clock::time_point start;
  Clock::time_point end;
  WallClock::time_point start_wall;
  WallClock::time_point end_wall;
  std::uint16_t local_port = 0;  // the driver's end, as vmess-local logs its peer
};

// Updated by the driver thread, read by the main thread for progress lines.
struct DriverCounters {
  std::array<std::atomic<std::uint64_t>, kTunnelKinds> opened{};
  std::array<std::atomic<std::uint64_t>, kTunnelKinds> succeeded{};
  std::array<std::atomic<std::uint64_t>, kTunnelKinds> failed{};
  std::atomic<std::uint64_t> bulk_up_sent{0};        // first sending of each byte
  std::atomic<std::uint64_t> bulk_down_verified{0};  // each byte once
  std::atomic<std::uint64_t> bulk_jobs_done{0};
  std::atomic<std::uint64_t> short_up_sent{0};
  std::atomic<std::uint64_t> short_down_verified{0};
  std::atomic<std::uint64_t> idle_held{0};
  std::atomic<std::uint64_t> idle_probes_ok{0};
  std::atomic<std::uint64_t> open_tunnels{0};
};

struct DriverSummary {
  std::array<std::uint64_t, kTunnelKinds> stopped_at_end{};  // open when the run ended
  std::uint64_t bulk_jobs_planned = 0;
  std::uint64_t bulk_jobs_corrupt = 0;
  std::uint64_t short_skipped = 0;  // not started: too many short tunnels in flight
  std::uint64_t final_probe_ok = 0;
  std::uint64_t final_probe_held = 0;
  std::vector<std::string> notes;
};

class Driver {
 public:
  Driver(DriverSettings settings, const StreamBytes& stream);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Runs the traffic until `stop` is set, then winds down: no new tunnels, in-flight short
  // tunnels finish, every idle tunnel is probed once more, and everything is closed.
  void run(const std::atomic<bool>& stop);

  const DriverCounters& counters() const { return counters_; }
  // After run().
  const std::vector<FailureRecord>& failures() const { return failures_; }
  const DriverSummary& summary() const { return summary_; }

 private:
  struct Job;
  struct Tunnel;
  enum class Stage : std::uint8_t;

  struct BulkWorker {
    std::uint64_t tunnel = 0;  // 0: none
    Job* job = nullptr;
    Clock::time_point retry_at{};
    int failures_in_a_row = 0;
  };

  struct IdleSlot {
    std::uint64_t tunnel = 0;
    Clock::time_point retry_at{};
    int failures_in_a_row = 0;
  };

  void plan_bulk_jobs();
  void start_due_tunnels(Clock::time_point now);
  Tunnel& start_tunnel(TunnelKind kind, bool pipelined);
  void connect_tunnel(Tunnel& t);
  void start_bulk(std::size_t worker);
  void start_short();
  void start_idle(std::size_t slot);
  std::size_t probe_idle(Clock::time_point now);  // returns how many were probed
  void wind_down();

  void poll(std::chrono::milliseconds timeout);
  void on_event(Tunnel& t, std::uint32_t events);
  void on_connected(Tunnel& t);
  const std::vector<std::uint8_t>& request_for(const Tunnel& t);
  // These return false once the tunnel has been finished (it is then gone).
  bool on_readable(Tunnel& t);
  bool on_control(Tunnel& t);
  bool on_downlink(Tunnel& t, std::span<const std::uint8_t> data);
  bool on_trailer(Tunnel& t);
  bool flush(Tunnel& t);
  void queue_job_header(Tunnel& t);
  void update_mask(Tunnel& t);
  void update_pacing(Clock::time_point now);
  void check_deadlines(Clock::time_point now);

  void succeed(Tunnel& t);
  void fail(Tunnel& t, std::string what, bool corrupt = false);
  void finish(Tunnel& t, bool ok);  // closes and forgets the tunnel; bookkeeping for its owner
  std::string job_progress(const Tunnel& t) const;

  DriverSettings settings_;
  const StreamBytes& stream_;
  DriverCounters counters_;
  DriverSummary summary_;
  std::vector<FailureRecord> failures_;
  std::mt19937_64 rng_;
  bench::UniqueFd epoll_;
  std::vector<std::uint8_t> buffer_;
  std::array<std::vector<std::uint8_t>, 2> requests_;  // SOCKS CONNECT to duplex, to echo

  std::unordered_map<std::uint64_t, std::unique_ptr<Tunnel>> tunnels_;
  std::uint64_t next_tunnel_id_ = 1;
  std::uint64_t next_short_job_ = 1;

  std::vector<std::unique_ptr<Job>> bulk_jobs_;
  std::size_t next_bulk_job_ = 0;
  std::vector<BulkWorker> workers_;
  std::vector<IdleSlot> idle_slots_;
  std::size_t short_in_flight_ = 0;

  Clock::time_point started_{};
  Clock::time_point next_short_{};
  Clock::time_point next_probe_{};
  Clock::time_point last_deadline_scan_{};
  bool paused_ = false;
  bool winding_down_ = false;
  bool final_probe_ = false;
};

}  // namespace vmlocal::soak
