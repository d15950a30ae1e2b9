#include "bulk.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <vector>

#include "blocking_socks.hpp"
#include "origin.hpp"
#include "proc_stats.hpp"

namespace vmlocal::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A tunnel the server never answers shows as a timeout on the first read: retry it then.
constexpr int kMaxAttempts = 3;
constexpr auto kFirstAnswerTimeout = 5s;
// Once data flows, a stall this long means the path is broken.
constexpr auto kStallTimeout = 30s;
constexpr std::size_t kReadSize = std::size_t{1} << 20;

std::array<std::uint8_t, 8> be64(std::uint64_t v) {
  std::array<std::uint8_t, 8> out{};
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  return out;
}

// The tunnel never answered: no data came back before the transfer really began.
struct NotAnswered : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs `attempt` until it succeeds. NotAnswered is retried (a fresh tunnel, a fresh clock);
// anything else means the path is broken and ends the benchmark.
BulkResult with_retries(const std::function<BulkResult()>& attempt) {
  std::string reasons;
  for (int n = 1;; ++n) {
    try {
      BulkResult r = attempt();
      r.attempts = n;
      r.retry_reasons = reasons;
      return r;
    } catch (const NotAnswered& e) {
      if (n == kMaxAttempts) throw std::runtime_error(std::string("bulk transfer: ") + e.what());
      reasons += (reasons.empty() ? "" : "; ") + std::string(e.what());
    }
  }
}

}  // namespace

double BulkResult::cpu_seconds_per_gib() const {
  return bytes == 0 ? 0 : cpu_seconds / (static_cast<double>(bytes) / double(1u << 30));
}

double BulkResult::megabytes_per_second() const {
  return seconds <= 0 ? 0 : static_cast<double>(bytes) / 1e6 / seconds;
}

BulkResult bulk_download(const itest::Endpoint& proxy, const itest::Endpoint& source, pid_t client,
                         std::uint64_t bytes, const Pattern& pattern) {
  std::vector<std::uint8_t> buf(kReadSize);
  return with_retries([&] {
    UniqueFd fd = open_tunnel(proxy, source, kFirstAnswerTimeout);
    BulkResult r;
    r.bytes = bytes;
    const CpuTimes cpu_start = cpu_times(client);
    const auto start = Clock::now();
    send_all(fd.get(), be64(bytes));
    std::uint64_t got = 0;
    while (got < bytes) {
      std::size_t n;
      try {
        n = recv_some(fd.get(), buf);
      } catch (const itest::SocketError& e) {
        if (got == 0 && e.kind() == itest::SocketError::Kind::kTimeout)
          throw NotAnswered("no data within 5 s");
        throw;
      }
      if (n == 0) {
        if (got == 0) throw NotAnswered("closed before any data");
        throw std::runtime_error("download closed after " + std::to_string(got) + " bytes");
      }
      auto chunk = std::span(buf).first(n);
      if (!pattern.matches(got, chunk))
        throw std::runtime_error("download corrupted near byte " + std::to_string(got));
      got += n;
      if (got == n) set_io_timeout(fd.get(), kStallTimeout);  // data flows: allow long stalls
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const CpuTimes cpu = cpu_times(client) - cpu_start;
    r.cpu_seconds = cpu.total();
    r.cpu_user_seconds = cpu.user;
    return r;
  });
}

BulkResult bulk_upload(const itest::Endpoint& proxy, const itest::Endpoint& sink, pid_t client,
                       std::uint64_t bytes, const Pattern& pattern) {
  return with_retries([&] {
    UniqueFd fd = open_tunnel(proxy, sink, kFirstAnswerTimeout);
    send_all(fd.get(), be64(bytes));
    // The sink's "ready" proves the tunnel reaches it before the clock starts.
    std::array<std::uint8_t, 1> ready{};
    try {
      recv_exact(fd.get(), ready);
    } catch (const itest::SocketError& e) {
      throw NotAnswered(std::string("no ready from the sink: ") + kind_name(e.kind()));
    }
    if (ready[0] != Origin::kSinkReady) throw std::runtime_error("upload: bad ready byte");
    set_io_timeout(fd.get(), kStallTimeout);

    BulkResult r;
    r.bytes = bytes;
    const CpuTimes cpu_start = cpu_times(client);
    const auto start = Clock::now();
    for (std::uint64_t sent = 0; sent < bytes;) {
      auto chunk = pattern.at(sent, static_cast<std::size_t>(bytes - sent));
      send_all(fd.get(), chunk);
      sent += chunk.size();
    }
    std::array<std::uint8_t, Origin::kSinkReportSize> report{};
    recv_exact(fd.get(), report);
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const CpuTimes cpu = cpu_times(client) - cpu_start;
    r.cpu_seconds = cpu.total();
    r.cpu_user_seconds = cpu.user;

    std::uint64_t received = 0;
    for (int i = 0; i < 8; ++i)
      received = (received << 8) | report[static_cast<std::size_t>(i)];
    if (received != bytes || report[8] != 1) {
      throw std::runtime_error("upload: the sink got " + std::to_string(received) + " of " +
                               std::to_string(bytes) + " bytes" +
                               (report[8] == 1 ? "" : ", not matching the pattern"));
    }
    return r;
  });
}

}  // namespace vmlocal::bench
