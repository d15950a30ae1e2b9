#include "round.hpp"

#include <cstdarg>
#include <cstdio>
#include <thread>

#include "direct_first_byte.hpp"
#include "proc_stats.hpp"
#include "tunnel_pool.hpp"

namespace vmlocal::bench {
namespace {

using namespace std::chrono_literals;

// Descriptors a process may open or close on its own (timers, Go runtime pipes).
constexpr std::size_t kFdSlack = 4;
constexpr auto kDrainTimeout = 30s;
// After the last tunnel opens: lets the client finish any work queued by the opening burst.
constexpr auto kHoldSettle = 250ms;

[[gnu::format(printf, 2, 3)]] void progress(const ClientRound& r, const char* format, ...) {
  std::fprintf(stderr, "[%s round %d] %-11s ", r.security.c_str(), r.round, client_name(r.client));
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

// Waits until the client and the server are back to their idle descriptor counts: tunnels
// close asynchronously (v2ray closes a tunnel 1-2 s after one direction ends).
void wait_released(ClientRound& r, pid_t client, const RoundContext& context, const char* phase) {
  if (!wait_for_fds_at_most(client, r.idle_fds + kFdSlack, kDrainTimeout)) {
    r.notes.push_back(std::string(client_name(r.client)) + " still had " +
                      std::to_string(fd_count(client) - r.idle_fds) + " extra descriptors " +
                      std::to_string(kDrainTimeout.count()) + " s after the " + phase +
                      " tunnels closed");
  }
  if (!wait_for_fds_at_most(context.server_pid, context.server_idle_fds + kFdSlack,
                            kDrainTimeout)) {
    r.notes.push_back("the v2ray server still had " +
                      std::to_string(fd_count(context.server_pid) - context.server_idle_fds) +
                      " extra descriptors after the " + phase + " tunnels closed");
  }
}

HoldPhase hold_tunnels(ClientUnderTest& client, const RoundContext& context, std::size_t count) {
  HoldPhase phase;
  phase.requested = count;
  TunnelPool pool(client.socks(), context.origin.echo());
  TunnelPool::Options options;
  options.window = context.settings.window;
  const CpuTimes cpu_start = cpu_times(client.pid());
  pool.open(count, options);
  phase.open_cpu_seconds = (cpu_times(client.pid()) - cpu_start).total();
  std::this_thread::sleep_for(kHoldSettle);
  client.check_alive();
  phase.held = pool.held();
  phase.rss_kib = rss_kib(client.pid());
  phase.client_fds = fd_count(client.pid());
  phase.open_seconds = pool.open_seconds();
  phase.verified = pool.verify(10s);
  phase.attempts = pool.attempts();
  phase.failures = pool.failures();
  pool.close_all();
  return phase;
}

std::string failure_summary(const std::map<std::string, std::size_t>& failures) {
  std::string text;
  for (const auto& [kind, n] : failures)
    text += (text.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
  return text.empty() ? "none" : text;
}

}  // namespace

std::size_t HoldPhase::failed() const {
  std::size_t n = 0;
  for (const auto& [kind, count] : failures)
    n += count;
  return n;
}

ClientRound run_client_round(ClientKind kind, const std::string& security, int round,
                             const RoundContext& context) {
  const RoundSettings& s = context.settings;
  ClientRound r;
  r.client = kind;
  r.security = security;
  r.round = round;

  ClientUnderTest client(kind, security, context.server, context.dir, context.paths);
  const pid_t pid = client.pid();
  std::this_thread::sleep_for(s.settle);
  r.nofile_soft = nofile_soft_limit(pid);
  r.idle_rss_kib = rss_kib(pid);
  r.idle_rss_anon_kib = rss_anon_kib(pid);
  r.idle_fds = fd_count(pid);
  progress(r, "idle RSS %.2f MiB (anonymous %.2f MiB), %zu descriptors, RLIMIT_NOFILE %llu",
           static_cast<double>(r.idle_rss_kib) / 1024,
           static_cast<double>(r.idle_rss_anon_kib) / 1024, r.idle_fds,
           static_cast<unsigned long long>(r.nofile_soft));

  r.held = hold_tunnels(client, context, s.held_tunnels);
  if (r.held.held > 0) {
    r.rss_per_tunnel_kib =
        (static_cast<double>(r.held.rss_kib) - static_cast<double>(r.idle_rss_kib)) /
        static_cast<double>(r.held.held);
  }
  progress(r, "%zu tunnels held: RSS %.2f MiB, %.2f KiB per tunnel (failed attempts: %s)",
           r.held.held, static_cast<double>(r.held.rss_kib) / 1024, r.rss_per_tunnel_kib,
           failure_summary(r.held.failures).c_str());
  wait_released(r, pid, context, "held");

  r.first_byte_floor = measure_direct_first_byte(
      context.server.endpoint(), context.server.uuid(), security, context.origin.echo(),
      s.first_byte_samples, std::chrono::milliseconds(3000));
  progress(r, "first echoed byte with no client (floor): p50 %.0f us, p99 %.0f us (failed: %s)",
           r.first_byte_floor.percentile_us(50), r.first_byte_floor.percentile_us(99),
           failure_summary(r.first_byte_floor.failures).c_str());
  const CpuTimes cpu_start = cpu_times(pid);
  r.first_byte = measure_first_byte(client.socks(), context.origin.echo(), s.first_byte_samples,
                                    std::chrono::milliseconds(3000));
  // Tunnels close asynchronously: wait for them so their teardown is counted too.
  wait_released(r, pid, context, "first-byte");
  r.first_byte_cpu_seconds = (cpu_times(pid) - cpu_start).total();
  client.check_alive();
  progress(r, "first echoed byte: p50 %.0f us, p99 %.0f us over %zu samples (failed: %s)",
           r.first_byte.percentile_us(50), r.first_byte.percentile_us(99),
           r.first_byte.micros.size(), failure_summary(r.first_byte.failures).c_str());

  r.udp = measure_udp_round_trip(client.socks(), s.udp_samples, s.udp_payload,
                                 std::chrono::milliseconds(1000));
  client.check_alive();
  if (!r.udp.error.empty()) r.notes.push_back("UDP round trips skipped: " + r.udp.error);
  progress(r, "UDP round trip (%zu B): p50 %.0f us, p99 %.0f us, %zu of %zu lost", s.udp_payload,
           r.udp.percentile_us(50), r.udp.percentile_us(99), r.udp.lost, r.udp.sent);

  r.download =
      bulk_download(client.socks(), context.origin.source(), pid, s.bulk_bytes, context.pattern);
  client.check_alive();
  progress(r, "download: %.3f CPU-s/GiB, %.0f MB/s", r.download.cpu_seconds_per_gib(),
           r.download.megabytes_per_second());
  r.upload = bulk_upload(client.socks(), context.origin.sink(), pid, s.bulk_bytes, context.pattern);
  client.check_alive();
  progress(r, "upload:   %.3f CPU-s/GiB, %.0f MB/s", r.upload.cpu_seconds_per_gib(),
           r.upload.megabytes_per_second());
  wait_released(r, pid, context, "bulk");

  r.many = hold_tunnels(client, context, s.many_tunnels);
  progress(r,
           "%zu/%zu tunnels held, %zu echoed again; RSS %.1f MiB; opened in %.1f s "
           "(failed attempts: %s)",
           r.many.held, r.many.requested, r.many.verified,
           static_cast<double>(r.many.rss_kib) / 1024, r.many.open_seconds,
           failure_summary(r.many.failures).c_str());
  wait_released(r, pid, context, "many");

  for (const auto& note : r.notes)
    progress(r, "note: %s", note.c_str());
  client.stop();
  return r;
}

}  // namespace vmlocal::bench
