// The soak's verdict and its report: which failures a server kill (or v2ray's replay filter)
// explains, the RSS and descriptor checks, and the Markdown written to the output directory.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "driver.hpp"
#include "origin.hpp"
#include "server_control.hpp"

namespace vmlocal::soak {

struct Sample {
  double seconds = 0;              // since the traffic started
  std::uint64_t rss_kib = 0;       // VmRSS: what the RSS check uses
  std::uint64_t rss_anon_kib = 0;  // RssAnon: heap and stacks, without mapped files
  std::size_t fds = 0;
  std::uint64_t bulk_bytes = 0;   // sent up + verified down, so far
  std::uint64_t short_bytes = 0;  // the same for short tunnels
  std::uint64_t opened = 0;       // tunnels, all kinds
  std::uint64_t failed = 0;
  std::uint64_t open_now = 0;
  std::uint64_t idle_held = 0;
};

// A request v2ray refused, from its log ("invalid request from ...").
struct ServerRejection {
  std::chrono::system_clock::time_point when;  // to the second
  std::string text;
  bool replay = false;  // its replay filter took the request for a replay
};

struct Explained {
  FailureRecord failure;
  enum class By { kNothing, kKill, kReplay } by = By::kNothing;
  int kill = -1;  // index into the kills, when By::kKill
};

// A failure is explained by a kill if its tunnel was open when the signal went, or was
// started between the kill and `grace` after the server accepted again; else by a distinct
// replay rejection v2ray logged while the tunnel was alive. Corruption is never explained.
std::vector<Explained> explain(const std::vector<FailureRecord>& failures,
                               const std::vector<KillRecord>& kills,
                               const std::vector<ServerRejection>& rejections,
                               std::chrono::milliseconds grace);

// Reads "invalid request" lines from v2ray logs.
std::vector<ServerRejection> read_rejections(const std::vector<std::filesystem::path>& logs);

struct ReportInput {
  // The run.
  std::string started_utc;
  std::string revision;
  std::string vmess_local_version;
  std::string v2ray_version;
  std::string cpu;
  unsigned cores = 0;
  std::string load_start;
  std::string load_end;
  double minutes = 0;
  double wall_seconds = 0;
  std::string security;
  DriverSettings settings;
  std::chrono::milliseconds kill_every{};
  std::chrono::milliseconds downtime{};
  std::chrono::milliseconds grace{};
  Clock::time_point traffic_started{};
  // What happened.
  std::array<std::uint64_t, kTunnelKinds> opened{};
  std::array<std::uint64_t, kTunnelKinds> succeeded{};
  std::array<std::uint64_t, kTunnelKinds> failed{};
  std::uint64_t bulk_up_verified = 0;  // by the origin
  std::uint64_t bulk_down_verified = 0;
  std::uint64_t bulk_jobs_done = 0;
  std::uint64_t short_up_sent = 0;
  std::uint64_t short_down_verified = 0;
  std::uint64_t idle_probes_ok = 0;
  DriverSummary summary;
  Origin::Stats origin;
  std::vector<KillRecord> kills;
  std::vector<ServerRejection> rejections;
  std::vector<Explained> failures;
  std::vector<Sample> samples;
  std::optional<std::string> driver_error;
  // vmess-local.
  std::size_t idle_fds = 0;
  std::uint64_t idle_rss_kib = 0;
  std::size_t end_fds = 0;
  double fds_settle_seconds = 0;  // until the count was back to idle (or gave up)
  std::uint64_t end_rss_kib = 0;
  std::optional<std::string> vmess_local_died;
  std::string vmess_local_exit;
  std::vector<std::pair<std::string, std::size_t>> vmess_local_warnings;  // message, count
  std::vector<std::string> unexplained_log_lines;  // vmess-local's lines for such tunnels
  std::string logs_dir;
};

struct Verdict {
  bool pass = true;
  std::vector<std::string> reasons;  // why it failed
  std::optional<Sample> rss_baseline;
  std::uint64_t rss_max_after_kib = 0;
  double rss_baseline_at = 0;  // seconds
};

Verdict judge(const ReportInput& in);
std::string to_markdown(const ReportInput& in, const Verdict& verdict);
std::string samples_csv(const std::vector<Sample>& samples);
std::string failures_csv(const ReportInput& in);

}  // namespace vmlocal::soak
