// vmess-soak: vmess-local against the real v2ray server on loopback for a given time, with
// bulk, short and idle tunnels at once, the server killed and restarted every few minutes,
// and vmess-local's RSS and descriptors sampled every 10 s. Fails on any corrupted byte, any
// failed tunnel a server kill does not explain, RSS growth beyond 5 % after the first
// minutes, or descriptors not back to idle at the end. scripts/soak builds and runs it;
// soak/README.md explains the method.
#include <sys/utsname.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "driver.hpp"
#include "harness/machine_info.hpp"
#include "harness/process.hpp"
#include "harness/temp_dir.hpp"
#include "harness/v2ray_server.hpp"
#include "harness/vmess_local.hpp"
#include "origin.hpp"
#include "pattern.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "server_control.hpp"
#include "stream.hpp"

namespace {

using namespace vmlocal::soak;
using namespace std::chrono_literals;
namespace itest = vmlocal::itest;
namespace bench = vmlocal::bench;

constexpr auto kSampleEvery = 10s;
// A failure is also explained if its tunnel started this long after the server was back:
// vmess-local may still be finishing a connect that began while it was down.
constexpr auto kGrace = 2s;
constexpr auto kFdSettleTimeout = 60s;

struct Options {
  double minutes = 30;
  std::optional<double> bulk_gib;  // default: 10 GiB per 30 minutes
  std::size_t bulk_jobs = 100;
  std::size_t bulk_parallel = 10;
  double short_per_minute = 1000;
  std::size_t idle = 200;
  double probe_every_s = 120;
  std::optional<double> kill_every_s;  // default: 180 s, or a third of a shorter run
  double downtime_s = 2;
  std::string security = "aes-128-gcm";
  std::filesystem::path out_dir = ".";
  std::filesystem::path vmess_local = VMSOAK_VMESS_LOCAL;
  std::string revision = "unknown";
  std::uint64_t seed = 1;
};

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

// vmess-local's WARN and ERROR lines grouped by message, numbers replaced by N.
std::vector<std::pair<std::string, std::size_t>> warnings_by_message(
    const std::filesystem::path& log) {
  static const std::regex digits("[0-9]+(\\.[0-9]+)?");
  std::map<std::string, std::size_t> counts;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    // "2026-11-30T05:19:26.123Z WARN  message"
    const auto level = line.find(' ');
    if (level == std::string::npos) continue;
    const std::string rest = line.substr(level + 1);
    if (!rest.starts_with("WARN") && !rest.starts_with("ERROR")) continue;
    ++counts[std::regex_replace(rest, digits, "N")];
  }
  std::vector<std::pair<std::string, std::size_t>> out(counts.begin(), counts.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  if (out.size() > 20) out.resize(20);
  return out;
}

// vmess-local's lines about the tunnels behind unexplained failures: it names the app's end
// of a tunnel as its peer ("tunnel 127.0.0.1:PORT -> ..."); ports are reused over a long run,
// so only lines within the tunnel's lifetime count.
std::vector<std::string> log_lines_for(const std::filesystem::path& log,
                                       const std::vector<Explained>& failures) {
  std::vector<const FailureRecord*> wanted;
  for (const Explained& e : failures) {
    if ((e.failure.corrupt || e.by == Explained::By::kNothing) && wanted.size() < 50)
      wanted.push_back(&e.failure);
  }
  std::vector<std::string> out;
  if (wanted.empty()) return out;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    for (const FailureRecord* f : wanted) {
      if (line.find("127.0.0.1:" + std::to_string(f->local_port) + " ") == std::string::npos)
        continue;
      std::tm tm{};
      if (::strptime(line.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) continue;
      const auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
      if (when >= std::chrono::floor<std::chrono::seconds>(f->start_wall) &&
          when <= f->end_wall + 2s) {
        out.push_back(line);
        break;
      }
    }
  }
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Keeps the run's configs and logs next to the report (the temporary directory goes).
void copy_logs(const itest::TempDir& dir, const std::filesystem::path& to) {
  std::filesystem::remove_all(to);
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    std::filesystem::copy_file(entry.path(), to / entry.path().filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
}

int run(const Options& o) {
  const auto wall_start = std::chrono::steady_clock::now();
  bench::raise_nofile(20000);
  const auto duration = ms(o.minutes * 60);
  const double bulk_gib = o.bulk_gib.value_or(10.0 * o.minutes / 30.0);
  const auto kill_every = ms(o.kill_every_s.value_or(std::min(180.0, o.minutes * 60 / 3)));
  const auto downtime = ms(o.downtime_s);

  ReportInput report;
  report.started_utc = itest::utc_now();
  report.load_start = itest::load_average();
  report.cpu = itest::cpu_model();
  report.cores = std::thread::hardware_concurrency();
  report.revision = o.revision;
  report.minutes = o.minutes;
  report.security = o.security;
  report.kill_every = kill_every;
  report.downtime = downtime;
  report.grace = kGrace;
  report.vmess_local_version = itest::first_line_of({o.vmess_local.string(), "--version"});
  report.v2ray_version = itest::first_line_of({itest::v2ray_binary().string(), "-version"});

  const bench::Pattern pattern;
  const StreamBytes stream(pattern);
  Origin origin(stream);
  itest::TempDir dir("soak");

  // v2ray at "info" logs each request it refuses, which tells its replay filter's false
  // positives apart. Its idle timer is raised like vmess-local's, so idle tunnels are held.
  itest::V2rayOptions server_options;  // every harness config relays to loopback only
  server_options.log_level = "info";
  server_options.extra_config["policy"] = {{"levels", {{"0", {{"connIdle", 7200}}}}}};
  ServerControl server(dir, server_options);

  itest::VmessLocalProfile profile = itest::VmessLocalProfile::for_server(server.first());
  profile.security = o.security;
  profile.idle_timeout = std::chrono::hours(2);
  profile.log_level = "info";  // one line per tunnel: unexplained failures can be looked up
  itest::VmessLocalOptions local_options;
  local_options.binary = o.vmess_local;
  itest::VmessLocal local(dir, profile, local_options);
  const pid_t pid = local.process().pid();
  std::this_thread::sleep_for(1s);  // the start-up probe connection closes
  report.idle_fds = bench::fd_count(pid);
  report.idle_rss_kib = bench::rss_kib(pid);

  DriverSettings settings;
  settings.socks = local.socks_endpoint();
  settings.duplex = origin.duplex();
  settings.echo = origin.echo();
  settings.duration = duration;
  settings.bulk_bytes = static_cast<std::uint64_t>(bulk_gib * double(std::uint64_t{1} << 30));
  settings.bulk_jobs = o.bulk_jobs;
  settings.bulk_parallel = o.bulk_parallel;
  settings.short_per_minute = o.short_per_minute;
  settings.idle_tunnels = o.idle;
  settings.idle_probe_every = ms(o.probe_every_s);
  settings.seed = o.seed;
  report.settings = settings;

  std::fprintf(stderr,
               "vmess-soak: %.1f min; %s vs %s; bulk %.2f GiB in %zu jobs (%zu at a time), "
               "%.0f short tunnels/min, %zu idle; server killed every ~%.0f s; idle vmess-local: "
               "%.2f MiB, %zu descriptors\n",
               o.minutes, report.vmess_local_version.c_str(), report.v2ray_version.c_str(),
               bulk_gib, o.bulk_jobs, o.bulk_parallel, o.short_per_minute, o.idle,
               std::chrono::duration<double>(kill_every).count(),
               static_cast<double>(report.idle_rss_kib) / 1024, report.idle_fds);

  Driver driver(settings, stream);
  std::atomic<bool> stop{false};
  std::optional<std::string> driver_error;  // written by the traffic thread, read after join
  std::atomic<bool> driver_failed{false};
  const auto traffic_start = std::chrono::steady_clock::now();
  report.traffic_started = traffic_start;
  std::thread traffic([&] {
    try {
      driver.run(stop);
    } catch (const std::exception& e) {
      driver_error = e.what();
      driver_failed = true;
    }
  });

  // The main thread keeps the clock: samples, kills, and a watch on vmess-local.
  std::mt19937_64 rng(o.seed ^ 0x5eed);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  const auto end = traffic_start + duration;
  // No kill in the last minute (a quarter of a short run): the end state must be calm.
  const auto last_kill = end - std::min<std::chrono::milliseconds>(60s, duration / 4);
  auto next_kill = traffic_start +
                   std::chrono::duration_cast<std::chrono::milliseconds>(kill_every * jitter(rng));
  auto next_sample = traffic_start;
  int kill_count = 0;
  auto sample = [&](auto now) {
    const DriverCounters& c = driver.counters();
    Sample s;
    s.seconds = std::chrono::duration<double>(now - traffic_start).count();
    s.rss_kib = bench::rss_kib(pid);
    s.rss_anon_kib = bench::rss_anon_kib(pid);
    s.fds = bench::fd_count(pid);
    s.bulk_bytes = c.bulk_up_sent.load() + c.bulk_down_verified.load();
    s.short_bytes = c.short_up_sent.load() + c.short_down_verified.load();
    for (std::size_t k = 0; k < kTunnelKinds; ++k) {
      s.opened += c.opened[k].load();
      s.failed += c.failed[k].load();
    }
    s.open_now = c.open_tunnels.load();
    s.idle_held = c.idle_held.load();
    report.samples.push_back(s);
    std::fprintf(
        stderr,
        "[%5.0f s] RSS %.2f MiB (anon %.2f), %zu fds; %llu tunnels open (%llu idle held); "
        "opened %llu, failed %llu; bulk %.3f GiB, short %.1f MiB\n",
        s.seconds, static_cast<double>(s.rss_kib) / 1024,
        static_cast<double>(s.rss_anon_kib) / 1024, s.fds,
        static_cast<unsigned long long>(s.open_now), static_cast<unsigned long long>(s.idle_held),
        static_cast<unsigned long long>(s.opened), static_cast<unsigned long long>(s.failed),
        static_cast<double>(s.bulk_bytes) / double(1 << 30),
        static_cast<double>(s.short_bytes) / double(1 << 20));
  };
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= end || driver_failed) break;
    if (!local.process().alive()) {
      report.vmess_local_died = local.process().describe_with_log().substr(0, 2000);
      break;
    }
    if (now >= next_sample) {
      sample(now);
      next_sample += kSampleEvery;
    }
    if (next_kill > last_kill) next_kill = std::chrono::steady_clock::time_point::max();
    if (now >= next_kill) {
      const int sig = kill_count++ % 2 == 0 ? SIGKILL : SIGTERM;
      server.kill_and_restart(sig, downtime);
      const auto& k = server.kills().back();
      std::fprintf(stderr, "[%5.0f s] server killed (%s), accepting again after %.2f s\n",
                   std::chrono::duration<double>(k.killed - traffic_start).count(),
                   sig == SIGKILL ? "SIGKILL" : "SIGTERM",
                   std::chrono::duration<double>(k.up - k.killed).count());
      next_kill += std::chrono::duration_cast<std::chrono::milliseconds>(kill_every * jitter(rng));
      continue;
    }
    const auto wake = std::min({next_sample, next_kill, end});
    std::this_thread::sleep_until(std::min(wake, now + 1s));
  }
  sample(std::chrono::steady_clock::now());
  stop = true;
  traffic.join();
  report.driver_error = driver_error;
  std::fprintf(stderr, "vmess-soak: traffic stopped; waiting for vmess-local's descriptors\n");

  // Every tunnel is closed: vmess-local must come back to its idle descriptors.
  const auto closed_at = std::chrono::steady_clock::now();
  if (local.process().alive()) {
    bench::wait_for_fds_at_most(pid, report.idle_fds, kFdSettleTimeout);
    report.fds_settle_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - closed_at).count();
    report.end_fds = bench::fd_count(pid);
    report.end_rss_kib = bench::rss_kib(pid);
    const auto status = local.process().terminate(itest::Deadline::after(15s));
    report.vmess_local_exit = status.describe();
  } else {
    report.vmess_local_exit = "it had died";
    if (!report.vmess_local_died) report.vmess_local_died = local.process().describe_with_log();
  }
  server.stop();
  origin.stop();

  const DriverCounters& c = driver.counters();
  for (std::size_t k = 0; k < kTunnelKinds; ++k) {
    report.opened[k] = c.opened[k].load();
    report.succeeded[k] = c.succeeded[k].load();
    report.failed[k] = c.failed[k].load();
  }
  report.origin = origin.stats();
  report.bulk_up_verified = report.origin.bulk_up_verified_bytes;
  report.bulk_down_verified = c.bulk_down_verified.load();
  report.bulk_jobs_done = c.bulk_jobs_done.load();
  report.short_up_sent = c.short_up_sent.load();
  report.short_down_verified = c.short_down_verified.load();
  report.idle_probes_ok = c.idle_probes_ok.load();
  report.summary = driver.summary();
  report.kills = server.kills();
  report.rejections = read_rejections(server.logs());
  report.failures = explain(driver.failures(), report.kills, report.rejections, kGrace);
  report.vmess_local_warnings = warnings_by_message(local.process().log_path());
  report.unexplained_log_lines = log_lines_for(local.process().log_path(), report.failures);
  report.load_end = itest::load_average();
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  std::filesystem::create_directories(o.out_dir);
  const auto logs = o.out_dir / "soak-logs";
  copy_logs(dir, logs);
  report.logs_dir = logs.string();

  const Verdict verdict = judge(report);
  const std::string markdown = to_markdown(report, verdict);
  write_file(o.out_dir / "soak-report.md", markdown);
  write_file(o.out_dir / "soak-samples.csv", samples_csv(report.samples));
  write_file(o.out_dir / "soak-failures.csv", failures_csv(report));
  std::fputs(markdown.c_str(), stdout);
  std::fprintf(stderr, "vmess-soak: %s; wrote %s, soak-samples.csv and soak-failures.csv\n",
               verdict.pass ? "PASS" : "FAIL", (o.out_dir / "soak-report.md").c_str());
  return verdict.pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vmess-soak: vmess-local against the real v2ray server on loopback for a given time "
      "(bulk, short and idle tunnels, the server killed and restarted every few minutes); "
      "fails on a corrupted byte, an unexplained failed tunnel, RSS growth or leaked "
      "descriptors"};
  Options o;
  app.add_option("--minutes", o.minutes, "how long the traffic runs (default 30)")
      ->check(CLI::Range(0.5, 24.0 * 60));
  app.add_option("--bulk-gib", o.bulk_gib,
                 "bulk volume, both ways together (default 10 GiB per 30 minutes)")
      ->check(CLI::Range(0.0, 10000.0));
  app.add_option("--bulk-jobs", o.bulk_jobs, "bulk jobs the volume is split into (default 100)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--bulk-parallel", o.bulk_parallel, "bulk tunnels at a time (default 10)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--short-per-minute", o.short_per_minute, "short tunnels a minute (default 1000)")
      ->check(CLI::Range(0.0, 100000.0));
  app.add_option("--idle", o.idle, "idle tunnels held (default 200)")->check(CLI::Range(0, 5000));
  app.add_option("--probe-every", o.probe_every_s, "seconds between idle probes (default 120)")
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--kill-every", o.kill_every_s,
                 "seconds between server kills, ±20 % (default 180, or a third of a shorter run)")
      ->check(CLI::Range(5.0, 86400.0));
  app.add_option("--downtime", o.downtime_s, "seconds the server stays down (default 2)")
      ->check(CLI::Range(0.0, 60.0));
  app.add_option("--security", o.security, "VMess body cipher (default aes-128-gcm)")
      ->check(CLI::IsMember({"aes-128-gcm", "chacha20-poly1305", "none", "zero"}));
  app.add_option("--out", o.out_dir, "directory for soak-report.md, the CSVs and the logs");
  app.add_option("--vmess-local", o.vmess_local, "the vmess-local binary")
      ->check(CLI::ExistingFile);
  app.add_option("--revision", o.revision, "source revision to print in the report");
  app.add_option("--seed", o.seed, "seed for sizes, timings and streams (default 1)");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmess-soak: cannot run: %s\n", e.what());
    return 2;
  }
}
