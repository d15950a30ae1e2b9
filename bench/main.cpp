// vmess-bench: vmess-local and Debian's v2ray 4.34 used as a client, measured side by side in
// one run against the same real v2ray server; or, with --baseline, two builds of vmess-local
// (old and new) alternating in one run. Prints a Markdown table and writes JSON.
// scripts/bench builds and runs it; bench/README.md explains the method.
#include <sys/utsname.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "codec_floor.hpp"
#include "harness/machine_info.hpp"
#include "harness/process.hpp"
#include "harness/temp_dir.hpp"
#include "harness/v2ray_server.hpp"
#include "origin.hpp"
#include "pattern.hpp"
#include "plain_relay.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "round.hpp"
#include "rtt.hpp"

namespace {

using namespace vmlocal::bench;
using namespace std::chrono_literals;
namespace itest = vmlocal::itest;

constexpr std::size_t kManyTunnelsTarget = 10000;
// Descriptors each process keeps besides its tunnels (listeners, epoll, logs, Go runtime
// pipes), plus tunnels still closing while their replacements open.
constexpr std::size_t kFdReserve = 128;

struct Options {
  bool quick = false;
  int rounds = 3;
  std::uint64_t bulk_mib = 1024;
  std::size_t samples = 500;
  std::size_t udp_samples = 1000;
  std::size_t held_tunnels = 1000;
  std::size_t tunnels = kManyTunnelsTarget;
  std::size_t window = 128;
  std::vector<std::string> securities{"aes-128-gcm", "chacha20-poly1305"};
  std::filesystem::path out_dir = ".";
  std::filesystem::path vmess_local = VMBENCH_VMESS_LOCAL;
  std::filesystem::path baseline;  // the old build; empty: vmess-local vs v2ray
  bool with_v2ray = false;         // with --baseline: v2ray rounds as well
  std::string v2ray;
  std::string revision;
  // The RTT section (rtt.hpp).
  bool rtt_only = false;
  bool no_rtt = false;
  RttSettings rtt;
};

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

int run(const Options& o) {
  const auto started = std::chrono::steady_clock::now();
  // Children inherit the limit; each round records what the client actually got.
  const rlimit nofile = raise_nofile(2 * kManyTunnelsTarget + 1024);

  RoundSettings settings;
  settings.bulk_bytes = o.bulk_mib << 20;
  settings.first_byte_samples = o.samples;
  settings.udp_samples = o.udp_samples;
  settings.held_tunnels = o.held_tunnels;
  settings.window = o.window;
  // A client and the server each hold two descriptors per tunnel.
  const auto descriptors = static_cast<std::size_t>(nofile.rlim_cur);
  settings.many_tunnels = std::min<std::size_t>(
      o.tunnels, descriptors > 2 * kFdReserve ? (descriptors - kFdReserve) / 2 : 1);

  // Forked before anything starts a thread.
  const Pattern pattern;
  const Origin origin(pattern);
  const PlainRelay plain_relay;

  RunInfo info;
  info.started_utc = itest::utc_now();
  info.load_start = itest::load_average();
  info.cpu_model = itest::cpu_model();
  info.cores = std::thread::hardware_concurrency();
  utsname uts{};
  uname(&uts);
  info.kernel = uts.release;
  info.vmess_local_version = itest::first_line_of({o.vmess_local.string(), "--version"});
  info.v2ray_version = itest::first_line_of({itest::v2ray_binary().string(), "-version"});
  if (!o.baseline.empty()) {
    info.baseline_path = o.baseline.string();
    info.baseline_version = itest::first_line_of({o.baseline.string(), "--version"});
    info.vmess_local_path = o.vmess_local.string();
  }
  info.revision = o.revision;
  info.quick = o.quick;
  info.rounds = o.rounds;
  info.securities = o.securities;
  info.settings = settings;
  info.many_requested = o.tunnels;
  info.nofile_hard = nofile.rlim_max;
  // Old and new alternate round by round, so drift in the machine's load hits both builds.
  std::vector<ClientKind> order{ClientKind::kVmessLocal, ClientKind::kV2ray};
  if (!o.baseline.empty()) {
    order = {ClientKind::kBaseline, ClientKind::kVmessLocal};
    if (o.with_v2ray) order.push_back(ClientKind::kV2ray);
  }
  info.clients = order;
  const std::string versus =
      o.baseline.empty() ? info.v2ray_version : "baseline " + info.baseline_version;
  std::fprintf(stderr, "vmess-bench: %s vs %s; RLIMIT_NOFILE %llu; %zu tunnels at once%s\n",
               info.vmess_local_version.c_str(), versus.c_str(),
               static_cast<unsigned long long>(nofile.rlim_cur), settings.many_tunnels,
               settings.many_tunnels < o.tunnels ? " (capped by the descriptor limit)" : "");

  const ClientPaths paths{o.vmess_local, itest::v2ray_binary(), o.baseline};
  itest::TempDir dir("bench");
  std::filesystem::create_directories(o.out_dir);
  if (o.rtt_only) {
    const std::vector<RttCell> cells = run_rtt_section(o.rtt, origin, dir, paths);
    const std::string markdown = "## vmess-local vs v2ray 4.34 as a client — round trips\n\n- " +
                                 info.started_utc + ", " + info.vmess_local_version +
                                 (o.revision.empty() ? "" : " (" + o.revision + ")") + ", " +
                                 info.v2ray_version + "\n" + rtt_markdown(o.rtt, cells);
    write_file(o.out_dir / "results.md", markdown);
    write_file(o.out_dir / "results.json",
               nlohmann::json{{"rtt", rtt_json(o.rtt, cells)}}.dump(2) + "\n");
    std::fputs(markdown.c_str(), stdout);
    return 0;
  }
  std::vector<ClientRound> rounds;
  for (const auto& security : o.securities) {
    for (int round = 1; round <= o.rounds; ++round) {
      // A fresh server per round: its replay filter (two cuckoo filters of 100,000 entries,
      // rotated every 120 s) fills with one round's ~23,000 connections, and its false-positive
      // rate grows with the fill. vmess-local and v2ray share it. Old and new builds get one
      // each instead: the client that runs second on a server meets more false positives, and
      // that bias would always fall on the same build, on the scale of the 5 % it looks for.
      std::optional<itest::V2rayServer> server;
      for (ClientKind kind : order) {
        if (!server || !o.baseline.empty()) {
          server.reset();
          server.emplace(itest::V2rayServer::vmess(dir));  // loopback only, as every harness config
          std::this_thread::sleep_for(200ms);
        }
        const pid_t server_pid = server->process().pid();
        const RoundContext context{*server, server_pid, fd_count(server_pid), origin, pattern, dir,
                                   paths,   settings};
        rounds.push_back(run_client_round(kind, security, round, context));
      }
      // The CPU yardstick, in the same round: the plain relay's bulk transfers.
      PlainRelayRound plain{security, round, {}, {}};
      plain.download = bulk_download(plain_relay.socks(), origin.source(), plain_relay.pid(),
                                     settings.bulk_bytes, pattern);
      plain.upload = bulk_upload(plain_relay.socks(), origin.sink(), plain_relay.pid(),
                                 settings.bulk_bytes, pattern);
      plain.codec_cpu_s_per_gib = codec_cpu_seconds_per_gib(security);
      std::fprintf(stderr,
                   "[%s round %d] plain relay download %.3f CPU-s/GiB, upload %.3f; body codec "
                   "alone %.3f\n",
                   security.c_str(), round, plain.download.cpu_seconds_per_gib(),
                   plain.upload.cpu_seconds_per_gib(), plain.codec_cpu_s_per_gib);
      info.plain.push_back(plain);
    }
  }
  std::vector<RttCell> rtt_cells;
  if (!o.no_rtt && o.baseline.empty()) rtt_cells = run_rtt_section(o.rtt, origin, dir, paths);
  info.load_end = itest::load_average();
  info.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::string markdown = to_markdown(info, rounds);
  nlohmann::json json = to_json(info, rounds);
  if (!rtt_cells.empty()) {
    markdown += rtt_markdown(o.rtt, rtt_cells);
    json["rtt"] = rtt_json(o.rtt, rtt_cells);
  }
  write_file(o.out_dir / "results.md", markdown);
  write_file(o.out_dir / "results.json", json.dump(2) + "\n");
  std::fputs(markdown.c_str(), stdout);
  std::fprintf(stderr, "vmess-bench: wrote %s and %s\n", (o.out_dir / "results.md").c_str(),
               (o.out_dir / "results.json").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vmess-bench: vmess-local vs Debian's v2ray 4.34 used as a client, side by side "
      "against one real v2ray server on loopback; or, with --baseline, an old build of "
      "vmess-local vs the new one. Reports numbers; never asserts."};
  Options o;
  app.add_flag("--quick", o.quick,
               "a quick look: 1 round, 256 MiB bulk, 200 first-byte samples (explicit options "
               "still win)");
  app.add_option("--rounds", o.rounds, "rounds per client (or build) and cipher (default 3)")
      ->check(CLI::Range(1, 100));
  app.add_option("--bulk-mib", o.bulk_mib, "MiB per bulk transfer (default 1024)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--udp-samples", o.udp_samples,
                 "UDP round trips per round through SOCKS5 UDP ASSOCIATE (default 1000)");
  app.add_option("--samples", o.samples, "first-byte samples per round (default 500)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--held-tunnels", o.held_tunnels, "tunnels for RSS per tunnel (default 1000)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--tunnels", o.tunnels, "tunnels held at once (default 10000)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--window", o.window, "tunnel attempts in progress at once (default 128)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--security", o.securities, "ciphers (default aes-128-gcm chacha20-poly1305)")
      ->check(CLI::IsMember({"aes-128-gcm", "chacha20-poly1305", "none", "zero"}));
  app.add_option("--out", o.out_dir, "directory for results.md and results.json");
  app.add_option("--vmess-local", o.vmess_local, "the vmess-local binary")
      ->check(CLI::ExistingFile);
  auto* baseline =
      app.add_option("--baseline", o.baseline,
                     "an old vmess-local binary: A/B run, old and new alternating round by "
                     "round, reporting new / old per metric and whether it is within 5 % "
                     "(v2ray is then left out unless --with-v2ray)")
          ->check(CLI::ExistingFile);
  app.add_flag("--with-v2ray", o.with_v2ray,
               "with --baseline: run v2ray as a client too and report the new build vs v2ray")
      ->needs(baseline);
  app.add_option("--v2ray", o.v2ray, "the v2ray binary (default: $V2RAY_BIN, else from PATH)");
  app.add_option("--revision", o.revision, "source revision to print in the report");
  int rtt_ms = 100;
  int rtt_gap_ms = 0;
  app.add_option("--rtt-ms", rtt_ms, "RTT section: the round trip the relay adds (default 100)")
      ->check(CLI::Range(1, 2000));
  app.add_option("--rtt-samples", o.rtt.samples,
                 "RTT section: first-byte samples per transport and client (default 20)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--rtt-gap-ms", rtt_gap_ms,
                 "RTT section: pause before each sample (default 5 RTT)")
      ->check(CLI::Range(0, 60000));
  auto* rtt_only = app.add_flag("--rtt-only", o.rtt_only,
                                "run only the RTT section (about 4 minutes at the defaults)");
  app.add_flag("--no-rtt", o.no_rtt, "leave the RTT section out")->excludes(rtt_only);
  CLI11_PARSE(app, argc, argv);

  if (o.quick) {
    if (app.count("--rounds") == 0) o.rounds = 1;
    if (app.count("--bulk-mib") == 0) o.bulk_mib = 256;
    if (app.count("--samples") == 0) o.samples = 200;
  }
  if (!o.v2ray.empty()) setenv("V2RAY_BIN", o.v2ray.c_str(), 1);
  o.rtt.rtt = std::chrono::milliseconds(rtt_ms);
  o.rtt.gap = std::chrono::milliseconds(rtt_gap_ms);
  if (!o.securities.empty()) o.rtt.security = o.securities.front();
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmess-bench: cannot run: %s\n", e.what());
    return 1;
  }
}
