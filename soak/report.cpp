#include "report.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <tuple>

namespace vmlocal::soak {
namespace {

using namespace std::chrono_literals;
using WallClock = std::chrono::system_clock;

constexpr double kRssLimit = 1.05;
constexpr auto kRssBaselineAt = 300s;

std::string format(const char* fmt, auto... args) {
  char text[512];
  std::snprintf(text, sizeof text, fmt, args...);
  return text;
}

double gib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / double(std::uint64_t{1} << 30);
}

double mib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / double(1 << 20);
}

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* signal_name(int sig) {
  return sig == 9 ? "SIGKILL" : sig == 15 ? "SIGTERM" : "signal";
}

}  // namespace

std::vector<Explained> explain(const std::vector<FailureRecord>& failures,
                               const std::vector<KillRecord>& kills,
                               const std::vector<ServerRejection>& rejections,
                               std::chrono::milliseconds grace) {
  std::vector<Explained> out;
  std::vector<bool> used(rejections.size(), false);
  for (const FailureRecord& f : failures) {
    Explained e{f};
    if (!f.corrupt) {
      for (std::size_t k = 0; k < kills.size(); ++k) {
        const KillRecord& kill = kills[k];
        const bool open_at_kill = f.start <= kill.killed && kill.killed <= f.end;
        const bool opened_while_down = kill.killed <= f.start && f.start <= kill.up + grace;
        if (open_at_kill || opened_while_down) {
          e.by = Explained::By::kKill;
          e.kill = static_cast<int>(k);
          break;
        }
      }
    }
    if (!f.corrupt && e.by == Explained::By::kNothing) {
      // v2ray logs a refused request when it gives up on it, to the second.
      const auto from = std::chrono::floor<std::chrono::seconds>(f.start_wall) - 2s;
      const auto to = f.end_wall + 5s;
      for (std::size_t r = 0; r < rejections.size(); ++r) {
        if (used[r] || !rejections[r].replay) continue;
        if (rejections[r].when >= from && rejections[r].when <= to) {
          used[r] = true;
          e.by = Explained::By::kReplay;
          break;
        }
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<ServerRejection> read_rejections(const std::vector<std::filesystem::path>& logs) {
  std::vector<ServerRejection> out;
  for (const auto& path : logs) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("invalid request from") == std::string::npos) continue;
      // "2026/11/30 05:19:26 [Info] ...", in local time.
      std::tm tm{};
      if (line.size() < 19 || ::strptime(line.c_str(), "%Y/%m/%d %H:%M:%S", &tm) == nullptr)
        continue;
      tm.tm_isdst = -1;
      ServerRejection r;
      r.when = WallClock::from_time_t(std::mktime(&tm));
      r.text = line;
      const std::string l = lower(line);
      r.replay = l.find("replay") != std::string::npos;
      out.push_back(std::move(r));
    }
  }
  return out;
}

Verdict judge(const ReportInput& in) {
  Verdict v;
  auto fail = [&v](std::string why) {
    v.pass = false;
    v.reasons.push_back(std::move(why));
  };
  if (in.driver_error) fail("the driver stopped with an error: " + *in.driver_error);
  if (in.vmess_local_died) fail("vmess-local died during the run: " + *in.vmess_local_died);

  std::size_t corrupt = 0, unexplained = 0;
  for (const Explained& e : in.failures) {
    if (e.failure.corrupt) {
      ++corrupt;
    } else if (e.by == Explained::By::kNothing) {
      ++unexplained;
    }
  }
  if (corrupt > 0)
    fail(std::to_string(corrupt) + " tunnel(s) delivered corrupted, reordered or missing bytes");
  if (!in.origin.corruptions.empty())
    fail("the origin saw " + std::to_string(in.origin.corruptions.size()) +
         " corrupted uplink stream(s)");
  if (in.origin.protocol_errors > 0)
    fail("the origin saw " + std::to_string(in.origin.protocol_errors) + " protocol error(s)");
  if (unexplained > 0)
    fail(std::to_string(unexplained) + " failed tunnel(s) not explained by a server kill");

  // RSS: the level after the first 5 minutes (half the run, if shorter) is the baseline.
  const double run_seconds = in.minutes * 60;
  v.rss_baseline_at =
      std::min(std::chrono::duration<double>(kRssBaselineAt).count(), run_seconds / 2);
  for (const Sample& s : in.samples) {
    if (!v.rss_baseline && s.seconds >= v.rss_baseline_at) {
      v.rss_baseline = s;
    } else if (v.rss_baseline) {
      v.rss_max_after_kib = std::max(v.rss_max_after_kib, s.rss_kib);
    }
  }
  if (!v.rss_baseline) {
    fail("no RSS sample after the baseline time: the run was too short");
  } else if (static_cast<double>(v.rss_max_after_kib) >
             kRssLimit * static_cast<double>(v.rss_baseline->rss_kib)) {
    fail(format("RSS grew to %.2f MiB, more than 5 %% above its %.2f MiB at %.0f s",
                static_cast<double>(v.rss_max_after_kib) / 1024,
                static_cast<double>(v.rss_baseline->rss_kib) / 1024, v.rss_baseline->seconds));
  }
  if (in.end_fds > in.idle_fds) {
    fail(format("vmess-local still had %zu descriptors at the end, %zu when idle at the start",
                in.end_fds, in.idle_fds));
  }
  return v;
}

std::string samples_csv(const std::vector<Sample>& samples) {
  std::string out =
      "seconds,rss_kib,rss_anon_kib,fds,bulk_bytes,short_bytes,tunnels_opened,tunnels_failed,"
      "open_now,idle_held\n";
  for (const Sample& s : samples) {
    out += format(
        "%.1f,%llu,%llu,%zu,%llu,%llu,%llu,%llu,%llu,%llu\n", s.seconds,
        static_cast<unsigned long long>(s.rss_kib), static_cast<unsigned long long>(s.rss_anon_kib),
        s.fds, static_cast<unsigned long long>(s.bulk_bytes),
        static_cast<unsigned long long>(s.short_bytes), static_cast<unsigned long long>(s.opened),
        static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.open_now),
        static_cast<unsigned long long>(s.idle_held));
  }
  return out;
}

namespace {

const char* by_name(const Explained& e) {
  if (e.failure.corrupt) return "never (corruption)";
  switch (e.by) {
    case Explained::By::kKill:
      return "server kill";
    case Explained::By::kReplay:
      return "v2ray replay filter";
    case Explained::By::kNothing:
      break;
  }
  return "UNEXPLAINED";
}

std::string csv_field(std::string s) {
  for (char& c : s) {
    if (c == ',' || c == '\n') c = ';';
  }
  return s;
}

}  // namespace

std::string failures_csv(const ReportInput& in) {
  std::string out = "tunnel,failure,explained_by,kill,start_utc,seconds_open,local_port,detail\n";
  for (const Explained& e : in.failures) {
    const auto& f = e.failure;
    const std::time_t start = WallClock::to_time_t(f.start_wall);
    std::tm tm{};
    gmtime_r(&start, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out += std::string(kind_name(f.kind)) + "," + csv_field(f.what) + "," + by_name(e) + "," +
           (e.kill >= 0 ? std::to_string(e.kill + 1) : "") + "," + stamp + "," +
           format("%.3f", std::chrono::duration<double>(f.end - f.start).count()) + "," +
           std::to_string(f.local_port) + "," + csv_field(f.detail) + "\n";
  }
  return out;
}

std::string to_markdown(const ReportInput& in, const Verdict& v) {
  std::string md;
  md += std::string("# vmess-local soak: ") + (v.pass ? "PASS" : "FAIL") + "\n\n";
  md += format("%.1f minutes against the real v2ray server on loopback, started %s.\n\n",
               in.minutes, in.started_utc.c_str());
  md += "| | |\n|---|---|\n";
  md += "| vmess-local | " + in.vmess_local_version + " (revision " + in.revision + ") |\n";
  md += "| v2ray server | " + in.v2ray_version + ", VMess AEAD (alterId 0), " + in.security +
        "; routes loopback only, blackholes the rest |\n";
  md += format("| machine | %s, %u cores; load average %s at the start, %s at the end |\n",
               in.cpu.c_str(), in.cores, in.load_start.c_str(), in.load_end.c_str());
  const auto& s = in.settings;
  md += format(
      "| traffic | bulk: %zu duplex jobs, %.2f GiB in total (both ways), %zu at a time, paced "
      "over the run; short: %.0f tunnels a minute; idle: %zu tunnels held, probed every %lld "
      "s |\n",
      s.bulk_jobs, gib(s.bulk_bytes), s.bulk_parallel, s.short_per_minute, s.idle_tunnels,
      static_cast<long long>(s.idle_probe_every.count() / 1000));
  md += format(
      "| server kills | every %.0f s (±20 %%), SIGKILL and SIGTERM alternating, down %.1f s "
      "each; a failure is explained if its tunnel was open at the kill or started before the "
      "server was back + %.1f s |\n",
      std::chrono::duration<double>(in.kill_every).count(),
      std::chrono::duration<double>(in.downtime).count(),
      std::chrono::duration<double>(in.grace).count());
  md +=
      "| SIGHUP reloads | not run: vmess-local has no reload yet (issue 13, \"First byte in one "
      "round trip\") |\n";
  md += "| logs | " + in.logs_dir + " |\n\n";

  md += "## Verdict\n\n";
  if (v.pass) {
    md +=
        "PASS: no corrupted or reordered byte, every failed tunnel explained by a server "
        "kill, RSS within 5 % of its level after the first minutes, descriptors back to idle.\n";
  } else {
    for (const auto& r : v.reasons)
      md += "- FAIL: " + r + "\n";
  }
  md += "\n";

  md += "## Traffic\n\n";
  md +=
      "| tunnels | opened | succeeded | failed | stopped at the end |\n|---|---:|---:|---:|---:|\n";
  std::uint64_t opened = 0, failed = 0;
  for (std::size_t k = 0; k < kTunnelKinds; ++k) {
    opened += in.opened[k];
    failed += in.failed[k];
    md += format("| %s | %llu | %llu | %llu | %llu |\n", kind_name(static_cast<TunnelKind>(k)),
                 static_cast<unsigned long long>(in.opened[k]),
                 static_cast<unsigned long long>(in.succeeded[k]),
                 static_cast<unsigned long long>(in.failed[k]),
                 static_cast<unsigned long long>(in.summary.stopped_at_end[k]));
  }
  md += format("| all | %llu | | %llu | |\n\n", static_cast<unsigned long long>(opened),
               static_cast<unsigned long long>(failed));
  const std::uint64_t bulk = in.bulk_up_verified + in.bulk_down_verified;
  md += format(
      "- **Bulk bytes moved: %.3f GiB** of the %.3f GiB target (%.1f %%): %.3f GiB up, checked "
      "by the origin, %.3f GiB down, checked by the driver, each byte against its stream where "
      "it landed and by SHA-256 at both ends per job; %llu of %llu jobs complete",
      gib(bulk), gib(s.bulk_bytes), s.bulk_bytes ? 100.0 * double(bulk) / double(s.bulk_bytes) : 0,
      gib(in.bulk_up_verified), gib(in.bulk_down_verified),
      static_cast<unsigned long long>(in.bulk_jobs_done),
      static_cast<unsigned long long>(in.summary.bulk_jobs_planned));
  md += bulk < s.bulk_bytes ? " — **the target volume was not reached** (see the load average "
                              "above: the pace is limited by the machine, not a failure).\n"
                            : ".\n";
  md += format("- Short tunnels moved %.1f MiB up and %.1f MiB down (checked the same way).\n",
               mib(in.short_up_sent), mib(in.short_down_verified));
  md +=
      format("- Total checked: %.3f GiB.\n", gib(bulk + in.short_up_sent + in.short_down_verified));
  md += format("- Idle tunnels: %llu probe echoes; at the end %llu of %llu held tunnels echoed.\n",
               static_cast<unsigned long long>(in.idle_probes_ok),
               static_cast<unsigned long long>(in.summary.final_probe_ok),
               static_cast<unsigned long long>(in.summary.final_probe_held));
  if (in.summary.short_skipped > 0)
    md += format("- %llu short tunnels were not started (2,000 already in flight).\n",
                 static_cast<unsigned long long>(in.summary.short_skipped));
  md += format("- The origin accepted %llu connections and completed %llu jobs.\n\n",
               static_cast<unsigned long long>(in.origin.connections),
               static_cast<unsigned long long>(in.origin.jobs_completed));

  md += "## Failures by kind\n\n";
  if (in.failures.empty()) {
    md += "None.\n\n";
  } else {
    std::map<std::tuple<std::string, std::string>, std::array<std::size_t, 4>> table;
    for (const Explained& e : in.failures) {
      auto& row = table[{kind_name(e.failure.kind), e.failure.what}];
      ++row[0];
      if (e.failure.corrupt || e.by == Explained::By::kNothing) {
        ++row[3];
      } else {
        ++row[e.by == Explained::By::kKill ? 1 : 2];
      }
    }
    md += "| tunnel | failure | count | server kill | v2ray replay filter | unexplained |\n";
    md += "|---|---|---:|---:|---:|---:|\n";
    for (const auto& [key, row] : table) {
      md += format("| %s | %s | %zu | %zu | %zu | %s |\n", std::get<0>(key).c_str(),
                   std::get<1>(key).c_str(), row[0], row[1], row[2],
                   row[3] ? format("**%zu**", row[3]).c_str() : "0");
    }
    md += "\n";
  }

  md += "## Server kills\n\n";
  if (in.kills.empty()) {
    md += "None.\n\n";
  } else {
    md += "| # | at (s) | signal | down (s) | failures it explains |\n|---:|---:|---|---:|---:|\n";
    for (std::size_t k = 0; k < in.kills.size(); ++k) {
      const auto& kill = in.kills[k];
      std::size_t n = 0;
      for (const Explained& e : in.failures)
        n += e.kill == static_cast<int>(k) ? 1 : 0;
      md += format("| %zu | %.0f | %s | %.2f | %zu |\n", k + 1,
                   std::chrono::duration<double>(kill.killed - in.traffic_started).count(),
                   signal_name(kill.signal),
                   std::chrono::duration<double>(kill.up - kill.killed).count(), n);
    }
    md += "\n";
  }
  std::size_t replays = 0;
  for (const auto& r : in.rejections)
    replays += r.replay ? 1 : 0;
  md += format(
      "v2ray logged %zu refused requests: %zu taken for replays by its AEAD replay filter "
      "(false positives: every request carries a fresh AuthID), %zu for other reasons.\n\n",
      in.rejections.size(), replays, in.rejections.size() - replays);
  std::size_t shown = 0;
  for (const auto& r : in.rejections) {
    if (r.replay || shown >= 5) continue;
    if (shown++ == 0) md += "Other refusals (first 5):\n\n";
    md += "    " + r.text + "\n";
  }
  if (shown > 0) md += "\n";

  md += "## vmess-local memory and descriptors\n\n";
  md += format("- Idle at the start: VmRSS %.2f MiB, %zu descriptors.\n",
               static_cast<double>(in.idle_rss_kib) / 1024, in.idle_fds);
  if (v.rss_baseline) {
    md += format(
        "- **RSS baseline** (first sample after %.0f s, at %.0f s): %.2f MiB; **highest "
        "after it: %.2f MiB** (%+.1f %%; the limit is +5 %%).\n",
        v.rss_baseline_at, v.rss_baseline->seconds,
        static_cast<double>(v.rss_baseline->rss_kib) / 1024,
        static_cast<double>(v.rss_max_after_kib) / 1024,
        100.0 * (static_cast<double>(v.rss_max_after_kib) /
                     static_cast<double>(v.rss_baseline->rss_kib) -
                 1));
  }
  if (v.rss_baseline) {
    std::uint64_t anon_max = 0;
    for (const Sample& smp : in.samples) {
      if (smp.seconds > v.rss_baseline->seconds) anon_max = std::max(anon_max, smp.rss_anon_kib);
    }
    md += format(
        "- Of that, RssAnon (heap, stacks; VmRSS also counts the resident pages of the binary "
        "and its libraries): %.2f MiB at the baseline, highest after it %.2f MiB.\n",
        static_cast<double>(v.rss_baseline->rss_anon_kib) / 1024,
        static_cast<double>(anon_max) / 1024);
  }
  if (!in.samples.empty()) {
    const Sample& last = in.samples.back();
    md += format("- Last sample with traffic (%.0f s): VmRSS %.2f MiB, %zu descriptors.\n",
                 last.seconds, static_cast<double>(last.rss_kib) / 1024, last.fds);
  }
  md += format(
      "- **At the end**, all tunnels closed: VmRSS %.2f MiB, **%zu descriptors** (%zu when idle "
      "at the start; %.1f s after the last tunnel closed).\n",
      static_cast<double>(in.end_rss_kib) / 1024, in.end_fds, in.idle_fds, in.fds_settle_seconds);
  md += "- vmess-local's exit after SIGTERM: " + in.vmess_local_exit + ".\n\n";
  md += "Every minute (all 10 s samples are in soak-samples.csv):\n\n";
  md +=
      "| t (s) | VmRSS (MiB) | RssAnon (MiB) | descriptors | open tunnels | idle held | bulk "
      "(GiB) | tunnels opened | failed |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  double next = 0;
  for (std::size_t i = 0; i < in.samples.size(); ++i) {
    const Sample& smp = in.samples[i];
    if (smp.seconds + 0.5 < next && i + 1 != in.samples.size()) continue;
    next = smp.seconds + 60;
    md += format(
        "| %.0f | %.2f | %.2f | %zu | %llu | %llu | %.3f | %llu | %llu |\n", smp.seconds,
        static_cast<double>(smp.rss_kib) / 1024, static_cast<double>(smp.rss_anon_kib) / 1024,
        smp.fds, static_cast<unsigned long long>(smp.open_now),
        static_cast<unsigned long long>(smp.idle_held), gib(smp.bulk_bytes),
        static_cast<unsigned long long>(smp.opened), static_cast<unsigned long long>(smp.failed));
  }
  md += "\n";

  if (!in.vmess_local_warnings.empty()) {
    md += "## vmess-local warnings, by message (numbers replaced by N)\n\n";
    md += "| count | message |\n|---:|---|\n";
    for (const auto& [message, count] : in.vmess_local_warnings)
      md += format("| %zu | ", count) + message + " |\n";
    md += "\n";
  }

  std::size_t listed = 0;
  for (const Explained& e : in.failures) {
    const bool bad = e.failure.corrupt || e.by == Explained::By::kNothing;
    if (!bad || listed >= 50) continue;
    if (listed++ == 0) md += "## Unexplained failures (first 50)\n\n";
    const auto& f = e.failure;
    const std::time_t start = WallClock::to_time_t(f.start_wall);
    std::tm tm{};
    gmtime_r(&start, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%SZ", &tm);
    md += format("- %s tunnel from port %u, started %s, open %.3f s: ", kind_name(f.kind),
                 unsigned{f.local_port}, stamp,
                 std::chrono::duration<double>(f.end - f.start).count()) +
          f.what + " (" + f.detail + ")\n";
  }
  if (listed > 0) md += "\n";
  if (!in.unexplained_log_lines.empty()) {
    md += "vmess-local's log lines for those tunnels:\n\n";
    for (const auto& line : in.unexplained_log_lines)
      md += "    " + line + "\n";
    md += "\n";
  }
  if (!in.origin.corruptions.empty() || !in.origin.protocol_error_details.empty()) {
    md += "## Origin\n\n";
    for (const auto& c : in.origin.corruptions)
      md += "- corruption: " + c + "\n";
    for (const auto& p : in.origin.protocol_error_details)
      md += "- protocol error: " + p + "\n";
    md += "\n";
  }
  if (!in.summary.notes.empty()) {
    md += "## Notes\n\n";
    for (const auto& n : in.summary.notes)
      md += "- " + n + "\n";
    md += "\n";
  }
  return md;
}

}  // namespace vmlocal::soak
