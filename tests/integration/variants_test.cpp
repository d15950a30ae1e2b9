// Every VMess variant against the real v2ray 4.34 server:
//   {AEAD header (alterId 0), legacy header (alterId 4)}
//   x {aes-128-gcm, chacha20-poly1305, none, zero, auto}
//   x {IPv4, IPv6, domain} targets,
// each cell moving 16 MiB each way (SHA-256 checked) and a counted download that must end in
// a clean EOF (FIN right after the last byte, no reset). The matrix is printed.
#include <doctest/doctest.h>

#include <array>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kEachWay = 16 * kMiB;
constexpr std::uint64_t kCounted = kMiB + 12345;  // not a multiple of any chunk size

struct CellResult {
  bool ok = false;
  std::string detail;  // rate, or what failed
};

std::string hex(const Digest& d) {
  return to_hex(d);
}

// One cell: echo kEachWay both ways and a counted download through `local` to `target`.
CellResult run_cell(const VmessLocal& local, const Socks5Target& echo, const Socks5Target& source,
                    std::uint64_t seed) {
  CellResult cell;
  try {
    auto deadline = Deadline::after(90s);
    auto client = local.socks_client();
    Socket e = client.open_tunnel(echo, deadline);
    auto er = echo_transfer(e, kEachWay, seed, deadline);
    if (er.received != kEachWay || er.received_sha256 != er.sent_sha256) {
      cell.detail = "echo mismatch: " + std::to_string(er.received) + " bytes";
      return cell;
    }
    Socket d = client.open_tunnel(source, deadline);
    d.send_all(SourceServer::request(kCounted, seed + 1), deadline);
    d.shutdown_write();
    auto closed = d.recv_until_closed(deadline);
    if (closed.reset) {
      cell.detail = "download ended with a reset after " + std::to_string(closed.data.size());
      return cell;
    }
    if (closed.data.size() != kCounted ||
        hex(sha256(closed.data)) != hex(stream_sha256(seed + 1, kCounted))) {
      cell.detail = "download got " + std::to_string(closed.data.size()) + " bytes";
      return cell;
    }
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.0f MiB/s", er.mib_per_s());
    cell.ok = true;
    cell.detail = rate;
  } catch (const std::exception& error) {
    cell.detail = error.what();
  }
  return cell;
}

}  // namespace

TEST_SUITE("variants") {
  TEST_CASE("every header mode x security x target type against v2ray 4.34") {
    const std::array<std::string, 5> securities = {"aes-128-gcm", "chacha20-poly1305", "none",
                                                   "zero", "auto"};
    const std::array<std::uint16_t, 2> alter_ids = {0, 4};
    TempDir dir;
    EchoServer echo4;
    EchoServer echo6(Family::kV6);
    SourceServer source4;
    SourceServer source6(Family::kV6);
    const std::array<std::pair<std::string, std::pair<Socks5Target, Socks5Target>>, 3> targets = {{
        {"IPv4", {Socks5Target::to(echo4.endpoint()), Socks5Target::to(source4.endpoint())}},
        {"IPv6", {Socks5Target::to(echo6.endpoint()), Socks5Target::to(source6.endpoint())}},
        {"domain",
         {Socks5Target::domain("localhost", echo4.port()),
          Socks5Target::domain("localhost", source4.port())}},
    }};

    std::mutex mutex;
    std::map<std::string, CellResult> results;  // "alter|security|target"
    std::vector<std::string> logs_on_failure;
    for (std::uint16_t alter_id : alter_ids) {
      VmessInboundOptions inbound;
      inbound.alter_id = alter_id;
      V2rayServer v2ray = V2rayServer::vmess(dir, inbound);
      // One vmess-local per security, all running at once; each walks the three targets.
      std::vector<std::unique_ptr<VmessLocal>> locals;
      for (const std::string& security : securities) {
        auto profile = VmessLocalProfile::for_server(v2ray);
        profile.security = security;
        locals.push_back(std::make_unique<VmessLocal>(dir, profile));
      }
      std::vector<std::thread> threads;
      for (size_t i = 0; i < securities.size(); ++i) {
        threads.emplace_back([&, i] {
          std::uint64_t seed = 1000 * (alter_id + 1) + 10 * i;
          for (const auto& [name, pair] : targets) {
            CellResult cell = run_cell(*locals[i], pair.first, pair.second, seed += 2);
            std::lock_guard lock(mutex);
            if (!cell.ok) logs_on_failure.push_back(locals[i]->log_text());
            results[std::to_string(alter_id) + "|" + securities[i] + "|" + name] = cell;
          }
        });
      }
      for (auto& thread : threads)
        thread.join();
    }

    std::ostringstream table;
    table << "\n| header | security | IPv4 | IPv6 | domain |\n|---|---|---|---|---|\n";
    int failed = 0;
    for (std::uint16_t alter_id : alter_ids) {
      for (const std::string& security : securities) {
        table << "| " << (alter_id == 0 ? "AEAD (alterId 0)" : "legacy (alterId 4)") << " | "
              << security << " |";
        for (const auto& target : targets) {
          const CellResult& cell =
              results[std::to_string(alter_id) + "|" + security + "|" + target.first];
          failed += cell.ok ? 0 : 1;
          table << " " << (cell.ok ? "pass " : "FAIL ") << cell.detail << " |";
        }
        table << "\n";
      }
    }
    MESSAGE("16 MiB each way + counted download with clean EOF, per cell:" << table.str());
    CHECK(results.size() == alter_ids.size() * securities.size() * targets.size());
    CHECK_MESSAGE(failed == 0, failed << " cell(s) failed; first log:\n"
                                      << (logs_on_failure.empty() ? "" : logs_on_failure[0]));
  }
}
