// Chaos: vmess-local -> ChaosRelay -> v2ray, with faults drawn from a fixed seed per test case
// (delays, 1-byte writes, stalls, resets and truncations at random offsets of either
// direction). Every tunnel moves a length known to both ends (echo, download from a source,
// upload to a sink that reports count and hash) and must end in one of these ways:
//
//   intact       every expected byte, each equal to the expected stream, then a clean end;
//   reset        the app sees ECONNRESET (what arrived before it is a correct prefix) and
//                vmess-local logged a WARN line for that tunnel;
//   clean-short  a clean end with a correct prefix, which VMess cannot tell from a whole
//                response: the server's close without END after the app's END is v2ray's normal
//                ending (vmess-protocol.md §10.4, §11). Allowed only when the app had sent its
//                END before the end reached it and the relay cut the connection with a FIN —
//                downstream only after the client's FIN, which vmess-local sends after its END
//                chunk, or upstream (the server then ends the request early and closes without
//                END, also after our END by the time it arrives);
//   clean-empty  a clean end before any response byte: "the target sent nothing" (§10.4),
//                which a FIN cut right after the response header, or an upstream FIN cut, can
//                produce whatever the app did.
//
// Anything else fails: a corrupted or extra byte, a clean short end the rules above do not
// allow, a reset without its log line, no end before the deadline. Afterwards vmess-local's
// descriptor count is back to its idle level, SIGTERM finds no tunnel left, and the exit is
// clean (in the sanitizer build that is where LeakSanitizer would report).
//
// Tunnels are opened one after another (transfers then run up to kConcurrency at a time), so
// the relay's k-th accepted connection is the k-th tunnel: vmess-local dials the server
// before it answers the SOCKS request, and the next tunnel is opened only after that answer.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <semaphore>
#include <sstream>
#include <thread>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

constexpr int kTunnels = 150;
constexpr int kConcurrency = 16;
constexpr std::uint64_t kMaxSize = 256 * 1024;
// The AEAD response header without a command: 18 (sealed length) + 4 + 16 (§10.2).
constexpr std::uint64_t kResponseHeaderSize = 38;

enum class Traffic { kEcho, kDownload, kUpload };
// When the app shuts its write side down (the VMess END): right after its last byte, or only
// once the whole response is in (so nothing it still expects can come after its END).
enum class AppEnd { kEarly, kAfterResponse };

const char* to_string(Traffic t) {
  switch (t) {
    case Traffic::kEcho:
      return "echo";
    case Traffic::kDownload:
      return "download";
    case Traffic::kUpload:
      return "upload";
  }
  return "?";
}

struct TunnelSpec {
  Traffic traffic = Traffic::kEcho;
  AppEnd end = AppEnd::kEarly;
  std::uint64_t size = 0;  // payload bytes of the echo, download or upload
  std::uint64_t data_seed = 0;
  FaultPlan plan;

  std::uint64_t app_up() const {
    switch (traffic) {
      case Traffic::kEcho:
        return size;
      case Traffic::kDownload:
        return SourceServer::kRequestSize;
      case Traffic::kUpload:
        return SinkServer::kHeaderSize + size;
    }
    return 0;
  }
  std::uint64_t app_down() const {
    return traffic == Traffic::kUpload ? SinkServer::kReportSize : size;
  }
  std::string describe() const {
    std::ostringstream out;
    out << to_string(traffic) << " " << size << " B, app END "
        << (end == AppEnd::kEarly ? "after its last byte" : "after the whole response");
    return out.str();
  }
};

// Bytes on the wire for `payload` bytes of VMess body: per chunk of up to 1966 bytes, at most
// 2 (length) + 16 (tag) + 63 (padding) more (§9.3, §9.4, §9.8).
std::uint64_t wire_size(std::uint64_t payload) {
  return payload + (payload / 1966 + 2) * (2 + 16 + 63);
}

TunnelSpec draw_spec(std::mt19937_64& rng) {
  TunnelSpec spec;
  spec.traffic = static_cast<Traffic>(std::uniform_int_distribution<int>(0, 2)(rng));
  spec.end = std::bernoulli_distribution(0.5)(rng) ? AppEnd::kEarly : AppEnd::kAfterResponse;
  // Log-uniform from 1 B to kMaxSize: mostly small tunnels, some of a few hundred KiB.
  const double e = std::uniform_real_distribution<double>(0, std::log(double(kMaxSize)))(rng);
  spec.size = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::exp(e)));
  spec.data_seed = rng();
  FaultPlan::Hints hints;
  hints.up_bytes = 150 + wire_size(spec.app_up());  // the request header is about 100 bytes
  hints.down_bytes = kResponseHeaderSize + wire_size(spec.app_down());
  // Cut the response before the app's END only where the app ends after the whole response:
  // there a clean short end is always wrong, with no race between the two ends to judge.
  hints.early_down_fin = spec.end == AppEnd::kAfterResponse;
  spec.plan = FaultPlan::draw(rng, hints);
  return spec;
}

struct Outcome {
  enum class End { kNone, kEof, kReset, kTimeout, kError };
  End end = End::kNone;
  std::uint64_t expected = 0;
  std::uint64_t received = 0;
  std::optional<std::uint64_t> mismatch_at;  // the first byte that differs from the expected
  bool app_ended = false;  // the app had shut its write side down before it saw the end
  std::uint16_t app_port = 0;
  std::string error;

  std::string describe() const {
    static const char* const kEnds[] = {"none", "EOF", "reset", "timeout", "error"};
    std::ostringstream out;
    out << "app port " << app_port << ": " << kEnds[static_cast<int>(end)] << " after " << received
        << " of " << expected << " B" << (app_ended ? ", after the app's END" : "");
    if (mismatch_at) out << ", first wrong byte at " << *mismatch_at;
    if (!error.empty()) out << " (" << error << ")";
    return out.str();
  }
};

// Runs one tunnel's traffic on a single thread with poll(): sends while reading, checks every
// byte that arrives against what the other end must have sent, and ends at EOF, a reset, an
// error or the deadline.
Outcome exchange(Socket& s, const TunnelSpec& spec, Deadline deadline) {
  Outcome o;
  o.app_port = s.local_endpoint().port;
  Bytes out_buf;           // what goes next: the request prefix, then body pieces
  std::uint64_t body = 0;  // DataStream(data_seed) bytes sent after the prefix
  Bytes fixed_expected;    // the expected response when it is not the stream itself
  switch (spec.traffic) {
    case Traffic::kEcho:
      body = spec.size;
      o.expected = spec.size;
      break;
    case Traffic::kDownload: {
      auto req = SourceServer::request(spec.size, spec.data_seed);
      out_buf.assign(req.begin(), req.end());
      o.expected = spec.size;
      break;
    }
    case Traffic::kUpload: {
      auto head = SinkServer::header(spec.size);
      out_buf.assign(head.begin(), head.end());
      body = spec.size;
      fixed_expected.resize(SinkServer::kReportSize);
      put_be64(std::span(fixed_expected).first<8>(), spec.size);
      Digest d = stream_sha256(spec.data_seed, spec.size);
      std::copy(d.begin(), d.end(), fixed_expected.begin() + 8);
      o.expected = SinkServer::kReportSize;
      break;
    }
  }
  DataStream sender(spec.data_seed);
  DataStream predictor(spec.data_seed);
  std::size_t out_pos = 0;
  bool sent_all = false;
  std::vector<std::uint8_t> in(64 * 1024);
  std::vector<std::uint8_t> want(64 * 1024);

  for (;;) {
    if (!sent_all && out_pos == out_buf.size()) {
      if (body == 0) {
        sent_all = true;
      } else {
        out_buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(body, 16 * 1024)));
        sender.fill(out_buf);
        body -= out_buf.size();
        out_pos = 0;
      }
    }
    if (sent_all && !o.app_ended && (spec.end == AppEnd::kEarly || o.received >= o.expected)) {
      ::shutdown(s.fd(), SHUT_WR);  // ENOTCONN after a reset: the next recv() reports it
      o.app_ended = true;
    }
    pollfd p{s.fd(), static_cast<short>(POLLIN | (sent_all ? 0 : POLLOUT)), 0};
    int n = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      o.end = Outcome::End::kTimeout;
      return o;
    }
    if (n < 0) {
      o.end = Outcome::End::kError;
      o.error = std::string("poll: ") + std::strerror(errno);
      return o;
    }
    auto failed = [&](const char* what, int err) {
      o.end = err == ECONNRESET || err == EPIPE ? Outcome::End::kReset : Outcome::End::kError;
      o.error = std::string(what) + ": " + std::strerror(err);
      return o;
    };
    if ((p.revents & POLLOUT) != 0 && !sent_all) {
      ssize_t w = ::send(s.fd(), out_buf.data() + out_pos, out_buf.size() - out_pos, MSG_NOSIGNAL);
      if (w > 0) {
        out_pos += static_cast<std::size_t>(w);
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return failed("send", errno);
      }
    }
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      ssize_t r = ::recv(s.fd(), in.data(), in.size(), 0);
      if (r == 0) {
        o.end = Outcome::End::kEof;
        return o;
      }
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return failed("recv", errno);
      }
      const auto got = static_cast<std::uint64_t>(r);
      const std::uint64_t in_range =
          o.received >= o.expected ? 0 : std::min(got, o.expected - o.received);
      if (fixed_expected.empty()) {
        predictor.fill(std::span(want).first(static_cast<std::size_t>(in_range)));
      } else {
        std::copy_n(fixed_expected.begin() + static_cast<std::ptrdiff_t>(o.received), in_range,
                    want.begin());
      }
      if (!o.mismatch_at) {
        for (std::uint64_t i = 0; i < in_range; ++i) {
          if (in[i] != want[i]) {
            o.mismatch_at = o.received + i;
            break;
          }
        }
        if (!o.mismatch_at && in_range < got) o.mismatch_at = o.received + in_range;  // extra
      }
      o.received += got;
    }
  }
}

std::size_t descriptor_count(pid_t pid) {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

std::string descriptor_list(pid_t pid) {
  std::ostringstream out;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    out << entry.path().filename().string() << " -> "
        << std::filesystem::read_symlink(entry.path(), ec).string() << "\n";
  }
  return out.str();
}

// The count once it has stopped changing (the start-up probe's socket closes asynchronously).
std::size_t settled_descriptor_count(pid_t pid) {
  std::size_t last = descriptor_count(pid);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(100ms);
    std::size_t now = descriptor_count(pid);
    if (now == last) return now;
    last = now;
  }
  return last;
}

// A WARN line for the tunnel from this app port (the summary of an established tunnel).
bool has_warn_line(const std::string& log, std::uint16_t app_port) {
  const std::string needle = "tunnel 127.0.0.1:" + std::to_string(app_port) + " -> ";
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(needle) != std::string::npos && line.find(" WARN ") != std::string::npos)
      return true;
  }
  return false;
}

enum class Kind { kIntact, kReset, kCleanShortDown, kCleanShortUp, kCleanEmpty, kBad };

// Which kind of ending this is, or kBad with the reason.
Kind classify(const Outcome& o, const RelayRecord& rec, const std::string& log, std::string& why) {
  if (o.mismatch_at) {
    why = "corrupted or extra byte";
    return Kind::kBad;
  }
  switch (o.end) {
    case Outcome::End::kNone:
      why = "never ran";
      return Kind::kBad;
    case Outcome::End::kTimeout:
      why = "no end before the deadline (hang)";
      return Kind::kBad;
    case Outcome::End::kError:
      why = "an error other than a reset";
      return Kind::kBad;
    case Outcome::End::kReset:
      if (!has_warn_line(log, o.app_port)) {
        why = "reset without a WARN line in vmess-local's log";
        return Kind::kBad;
      }
      return Kind::kReset;
    case Outcome::End::kEof:
      break;
  }
  if (o.received == o.expected) return Kind::kIntact;
  const bool fin_cut = rec.cut && rec.cut->kind == FaultPlan::CutKind::kFin;
  const bool fin_up = fin_cut && rec.cut->dir == Direction::kUp;
  const bool fin_down = fin_cut && rec.cut->dir == Direction::kDown;
  if (o.received == 0 && (fin_up || (fin_down && rec.cut->offset <= kResponseHeaderSize)))
    return Kind::kCleanEmpty;
  if (o.app_ended && fin_down && rec.cut->client_ended) return Kind::kCleanShortDown;
  if (o.app_ended && fin_up) return Kind::kCleanShortUp;
  why = "a clean end with part of the response, and no cut after the app's END explains it";
  return Kind::kBad;
}

void run_chaos(std::uint64_t seed) {
  const auto started = std::chrono::steady_clock::now();
  std::mt19937_64 rng(seed);
  std::vector<TunnelSpec> specs;
  std::vector<FaultPlan> plans;
  for (int i = 0; i < kTunnels; ++i) {
    specs.push_back(draw_spec(rng));
    plans.push_back(specs.back().plan);
  }

  TempDir dir;
  V2rayServer v2ray = V2rayServer::vmess(dir);
  ChaosRelay relay(v2ray.endpoint(), plans);
  auto profile = VmessLocalProfile::for_server(v2ray);
  profile.server_port = relay.port();
  // Stalls are short; this bounds a connection v2ray drains forever (an AuthID its replay
  // filter takes for a replay, §6.2): it then ends as a reset with a log line.
  profile.idle_timeout = 10s;
  // One relay connection per tunnel, in order: plan k is tunnel k's. Warm connections would
  // add connections no tunnel uses (and hold them open), shifting the plans.
  profile.warm = 0;
  VmessLocal local(dir, profile);
  EchoServer echo;
  SourceServer source;
  SinkServer sink;
  const pid_t pid = local.process().pid();
  const std::size_t idle_fds = settled_descriptor_count(pid);

  std::vector<Outcome> outcomes(kTunnels);
  std::counting_semaphore<kConcurrency> slots(kConcurrency);
  std::vector<std::thread> threads;
  const auto client = local.socks_client();
  std::string open_failure;
  for (int i = 0; i < kTunnels; ++i) {
    slots.acquire();
    const TunnelSpec& spec = specs[i];
    const Endpoint& target = spec.traffic == Traffic::kEcho       ? echo.endpoint()
                             : spec.traffic == Traffic::kDownload ? source.endpoint()
                                                                  : sink.endpoint();
    Socket s;
    try {
      s = client.open_tunnel(Socks5Target::to(target), Deadline::after(30s));
    } catch (const std::exception& e) {
      // The relay's numbering no longer matches the tunnels': stop here.
      open_failure = "tunnel " + std::to_string(i) + ": open: " + e.what();
      slots.release();
      break;
    }
    threads.emplace_back([&outcomes, &spec, &slots, i, s = std::move(s)]() mutable {
      outcomes[i] = exchange(s, spec, Deadline::after(90s));
      s.close();
      slots.release();
    });
  }
  for (auto& t : threads)
    t.join();
  REQUIRE_MESSAGE(open_failure.empty(), open_failure << "\n" << local.log_text());

  CHECK_MESSAGE(relay.wait_all_finished(Deadline::after(60s)),
                "relay connections still open after every tunnel ended");
  bool fds_back = false;
  for (auto until = Deadline::after(30s); !until.expired(); std::this_thread::sleep_for(100ms)) {
    if (descriptor_count(pid) <= idle_fds) {
      fds_back = true;
      break;
    }
  }
  CHECK_MESSAGE(fds_back, "vmess-local holds " << descriptor_count(pid) << " descriptors, "
                                               << idle_fds << " when idle:\n"
                                               << descriptor_list(pid));

  const std::vector<RelayRecord> records = relay.records();
  REQUIRE(records.size() == static_cast<std::size_t>(kTunnels));
  const std::string log = local.log_text();
  std::map<Kind, int> kinds;
  std::map<std::string, int> cuts;
  std::string bad;
  for (int i = 0; i < kTunnels; ++i) {
    const RelayRecord& rec = records[i];
    const Outcome& o = outcomes[i];
    std::string why;
    Kind kind = classify(o, rec, log, why);
    ++kinds[kind];
    if (rec.cut) {
      ++cuts[std::string(rec.cut->kind == FaultPlan::CutKind::kReset ? "RST " : "FIN ") +
             to_string(rec.cut->dir)];
    }
    // The relay carries more than the payload: a tunnel that got more than its relay
    // connection forwarded would mean the numbering is off.
    if (o.received > rec.forwarded[1])
      why = "received more than the relay forwarded", kind = Kind::kBad;
    if (kind == Kind::kBad) {
      bad += "tunnel " + std::to_string(i) + " (" + specs[i].describe() + "): " + why + "\n  " +
             o.describe() + "\n  " + rec.describe() + "\n";
    }
  }

  auto status = local.process().terminate(Deadline::after(30s));
  const std::string final_log = local.log_text();
  CHECK_MESSAGE(status.success(), status.describe());
  CHECK(final_log.find("closing 0 tunnel(s)") != std::string::npos);
  for (const char* needle : {"Sanitizer", "runtime error:"}) {
    CHECK_MESSAGE(final_log.find(needle) == std::string::npos,
                  "vmess-local's log has \"" << needle << "\"");
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::ostringstream summary;
  summary << "seed " << seed << ": " << kTunnels << " tunnels in " << seconds << " s: intact "
          << kinds[Kind::kIntact] << ", reset " << kinds[Kind::kReset]
          << ", clean-short after the app's END (FIN down after the client's FIN) "
          << kinds[Kind::kCleanShortDown] << ", clean-short after the app's END (FIN up) "
          << kinds[Kind::kCleanShortUp] << ", clean-empty " << kinds[Kind::kCleanEmpty] << ", bad "
          << kinds[Kind::kBad] << "; cuts made:";
  for (const auto& [what, n] : cuts)
    summary << " " << what << " " << n;
  MESSAGE(summary.str());
  CHECK_MESSAGE(bad.empty(), bad << "\nvmess-local log:\n" << final_log);
}

}  // namespace

TEST_SUITE("chaos") {
  TEST_CASE("chaos seed 1: every tunnel intact, reset with a log line, or cut after END") {
    run_chaos(1);
  }
  TEST_CASE("chaos seed 2: every tunnel intact, reset with a log line, or cut after END") {
    run_chaos(2);
  }
  TEST_CASE("chaos seed 3: every tunnel intact, reset with a log line, or cut after END") {
    run_chaos(3);
  }
}
