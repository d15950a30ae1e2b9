#include "driver.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "harness/socks5_client.hpp"
#include "wire.hpp"

namespace vmlocal::soak {
namespace {

using namespace std::chrono_literals;

// vmess-local's own connect timeout is 10 s: an opening tunnel gets twice that.
constexpr auto kOpenTimeout = 20s;
constexpr auto kStallTimeout = 60s;
constexpr auto kProbeTimeout = 10s;
constexpr auto kWindDownTimeout = 30s;
constexpr std::size_t kMaxShortInFlight = 2000;
// Uplink bytes sent per writable event, so one tunnel cannot starve the others.
constexpr std::size_t kSendBurst = 1 << 20;
constexpr std::size_t kReadSize = 256 * 1024;
// The bulk pace aims to finish the volume at this fraction of the run, so a slow patch (a
// server kill, a busy machine) can be caught up; a few MiB ahead of the pace is allowed.
constexpr double kPaceFraction = 0.9;
constexpr std::uint64_t kPaceBurst = std::uint64_t{4} << 20;
// Bulk job ids from here; short job ids count from 1.
constexpr std::uint64_t kBulkJobBase = std::uint64_t{1} << 62;
constexpr std::uint8_t kIdleFirst = 'i';
constexpr std::uint8_t kIdleProbe = 'p';

// 1, 2, 4, then 8 s, each ±50 %, so tunnels cut by the same kill do not all retry at once.
Clock::duration backoff(int failures_in_a_row, std::mt19937_64& rng) {
  const double base = 1 << std::min(std::max(failures_in_a_row - 1, 0), 3);
  const double jittered = base * std::uniform_real_distribution<double>(0.5, 1.5)(rng);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(jittered));
}

}  // namespace

const char* kind_name(TunnelKind kind) {
  switch (kind) {
    case TunnelKind::kBulk:
      return "bulk";
    case TunnelKind::kShort:
      return "short";
    case TunnelKind::kIdle:
      return "idle";
  }
  return "?";
}

enum class Driver::Stage : std::uint8_t {
  kConnecting,
  kMethod,    // greeting sent, waiting for the chosen method
  kReply,     // request sent, waiting for the reply
  kAnswer,    // job header sent, waiting for the origin's answer
  kTransfer,  // both streams moving
  kTrailer,   // downlink complete, waiting for the trailer (the uplink may still be moving)
  kEcho,      // idle: first byte sent, waiting for its echo
  kIdle,      // idle: held
  kProbe,     // idle: probe byte sent
};

namespace {

const char* stage_phrase(int stage) {
  static constexpr const char* kPhrases[] = {
      "while connecting",
      "during the SOCKS handshake",
      "during the SOCKS handshake",
      "before the origin's answer",
      "mid-transfer",
      "before the trailer",
      "before the first echo",
      "while idle",
      "before the probe echo",
  };
  return kPhrases[stage];
}

}  // namespace

struct Driver::Job {
  std::uint64_t id = 0;
  bool resumable = false;
  std::uint64_t up_total = 0;
  std::uint64_t down_total = 0;
  std::uint64_t up_hashed = 0;  // the uplink SHA covers stream bytes [0, up_hashed)
  itest::Sha256 up_sha;
  std::uint64_t down_received = 0;
  itest::Sha256 down_sha;
  std::uint32_t tunnels = 0;
  bool done = false;
  bool corrupt = false;
};

struct Driver::Tunnel {
  std::uint64_t id = 0;
  TunnelKind kind = TunnelKind::kShort;
  std::size_t owner = 0;  // bulk worker or idle slot
  int fd = -1;
  Stage stage = Stage::kConnecting;
  bool pipelined = false;
  Clock::time_point start{};
  Clock::time_point deadline{};
  Clock::time_point last_progress{};
  WallClock::time_point start_wall{};
  std::uint16_t local_port = 0;
  std::uint32_t mask = 0;
  std::vector<std::uint8_t> out;  // control bytes not yet written
  std::size_t out_off = 0;
  std::array<std::uint8_t, 80> in{};  // the control message being read
  std::size_t in_got = 0;
  std::size_t in_need = 0;
  Job* job = nullptr;
  std::unique_ptr<Job> owned_job;  // a short tunnel's
  std::uint64_t up_pos = 0;
  bool up_allowed = false;

  void expect(std::size_t n) {
    in_got = 0;
    in_need = n;
  }
  void queue(std::span<const std::uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
};

Driver::Driver(DriverSettings settings, const StreamBytes& stream)
    : settings_(std::move(settings)),
      stream_(stream),
      rng_(settings_.seed),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      buffer_(kReadSize),
      workers_(settings_.bulk_parallel),
      idle_slots_(settings_.idle_tunnels) {
  if (!epoll_.valid()) throw std::runtime_error("epoll_create1 failed");
  plan_bulk_jobs();
}

Driver::~Driver() {
  for (auto& [id, t] : tunnels_) {
    if (t->fd >= 0) ::close(t->fd);
  }
}

void Driver::plan_bulk_jobs() {
  const std::size_t n = settings_.bulk_jobs;
  summary_.bulk_jobs_planned = n;
  if (n == 0 || settings_.bulk_bytes == 0) return;
  // Sizes from half to one and a half times the mean, scaled to add up to the volume exactly;
  // each job's split between uplink and downlink drawn too, so both directions carry about
  // half and no two jobs look alike.
  std::uniform_real_distribution<double> weight(0.5, 1.5);
  std::uniform_real_distribution<double> split(0.05, 0.95);
  std::vector<double> weights(n);
  double sum = 0;
  for (auto& w : weights)
    sum += (w = weight(rng_));
  std::uint64_t assigned = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto job = std::make_unique<Job>();
    job->id = kBulkJobBase + i;
    job->resumable = true;
    const std::uint64_t size =
        i + 1 == n ? settings_.bulk_bytes - assigned
                   : static_cast<std::uint64_t>(static_cast<double>(settings_.bulk_bytes) *
                                                weights[i] / sum);
    assigned += size;
    job->up_total = static_cast<std::uint64_t>(static_cast<double>(size) * split(rng_));
    job->down_total = size - job->up_total;
    bulk_jobs_.push_back(std::move(job));
  }
}

// --- starting tunnels ---

Driver::Tunnel& Driver::start_tunnel(TunnelKind kind, bool pipelined) {
  auto owned = std::make_unique<Tunnel>();
  Tunnel& t = *owned;
  t.id = next_tunnel_id_++;
  t.kind = kind;
  t.pipelined = pipelined;
  t.start = Clock::now();
  t.start_wall = WallClock::now();
  t.deadline = t.start + kOpenTimeout;
  t.last_progress = t.start;
  tunnels_.emplace(t.id, std::move(owned));
  counters_.opened[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
  counters_.open_tunnels.fetch_add(1, std::memory_order_relaxed);
  return t;
}

// After the caller has tied the tunnel to its job and owner: a failure here is recorded
// against them.
void Driver::connect_tunnel(Tunnel& t) {
  t.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t.fd < 0) {
    fail(t, std::string("socket: ") + std::strerror(errno));
    return;
  }
  int one = 1;
  ::setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = settings_.socks.to_sockaddr(ss);
  if (::connect(t.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    fail(t, std::string("connect to the SOCKS port: ") + std::strerror(errno));
    return;
  }
  sockaddr_in local{};
  socklen_t local_len = sizeof local;
  if (::getsockname(t.fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0)
    t.local_port = ntohs(local.sin_port);
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = t.id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, t.fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
  t.mask = EPOLLOUT;
}

void Driver::start_bulk(std::size_t index) {
  BulkWorker& worker = workers_[index];
  Tunnel& t = start_tunnel(TunnelKind::kBulk, false);
  t.owner = index;
  t.job = worker.job;
  ++t.job->tunnels;
  worker.tunnel = t.id;
  connect_tunnel(t);
}

void Driver::start_short() {
  // Most a few bytes to 64 KiB each way, one in ten up to 512 KiB; lengths in both
  // directions drawn separately, zero included.
  auto draw = [this] {
    const auto bucket = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (bucket < 45) return std::uniform_int_distribution<std::uint64_t>(0, 1024)(rng_);
    if (bucket < 90) return std::uniform_int_distribution<std::uint64_t>(1025, 65536)(rng_);
    return std::uniform_int_distribution<std::uint64_t>(65537, 524288)(rng_);
  };
  auto job = std::make_unique<Job>();
  job->id = next_short_job_++;
  job->up_total = draw();
  job->down_total = draw();
  job->tunnels = 1;
  const bool pipelined = std::uniform_int_distribution<int>(0, 1)(rng_) == 1;
  Tunnel& t = start_tunnel(TunnelKind::kShort, pipelined);
  t.owned_job = std::move(job);
  t.job = t.owned_job.get();
  ++short_in_flight_;
  connect_tunnel(t);
}

void Driver::start_idle(std::size_t slot) {
  Tunnel& t = start_tunnel(TunnelKind::kIdle, false);
  t.owner = slot;
  idle_slots_[slot].tunnel = t.id;
  connect_tunnel(t);
}

void Driver::start_due_tunnels(Clock::time_point now) {
  if (!winding_down_) {
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(60.0 / settings_.short_per_minute));
    while (settings_.short_per_minute > 0 && next_short_ <= now) {
      if (short_in_flight_ < kMaxShortInFlight) {
        start_short();
      } else {
        ++summary_.short_skipped;
      }
      next_short_ += interval;
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      BulkWorker& w = workers_[i];
      if (w.tunnel != 0 || now < w.retry_at) continue;
      if (w.job == nullptr && next_bulk_job_ < bulk_jobs_.size())
        w.job = bulk_jobs_[next_bulk_job_++].get();
      if (w.job != nullptr) start_bulk(i);
    }
    for (std::size_t i = 0; i < idle_slots_.size(); ++i) {
      if (idle_slots_[i].tunnel == 0 && now >= idle_slots_[i].retry_at) start_idle(i);
    }
  }
  if (now >= next_probe_) {
    probe_idle(now);
    next_probe_ += settings_.idle_probe_every;
  }
}

std::size_t Driver::probe_idle(Clock::time_point now) {
  std::vector<std::uint64_t> held;
  for (const IdleSlot& slot : idle_slots_) {
    if (slot.tunnel == 0) continue;
    auto it = tunnels_.find(slot.tunnel);
    if (it != tunnels_.end() && it->second->stage == Stage::kIdle) held.push_back(slot.tunnel);
  }
  for (std::uint64_t id : held) {
    Tunnel& t = *tunnels_.at(id);
    t.queue(std::span(&kIdleProbe, 1));
    t.stage = Stage::kProbe;
    t.expect(1);
    t.deadline = now + kProbeTimeout;
    if (flush(t)) update_mask(t);
  }
  return held.size();
}

// --- events ---

void Driver::poll(std::chrono::milliseconds timeout) {
  std::array<epoll_event, 512> events;
  int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                       static_cast<int>(timeout.count()));
  if (n < 0 && errno != EINTR)
    throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
  for (int i = 0; i < n; ++i) {
    // A tunnel finished earlier in this batch is gone; ids are never reused.
    auto it = tunnels_.find(events[i].data.u64);
    if (it != tunnels_.end()) on_event(*it->second, events[i].events);
  }
}

void Driver::on_event(Tunnel& t, std::uint32_t events) {
  if (t.stage == Stage::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      fail(t,
           std::string("connect to the SOCKS port: ") + std::strerror(err != 0 ? err : ECONNRESET));
      return;
    }
    on_connected(t);
    return;
  }
  if ((events & EPOLLOUT) && !flush(t)) return;
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !on_readable(t)) return;
  update_mask(t);
}

void Driver::on_connected(Tunnel& t) {
  static constexpr std::array<std::uint8_t, 3> kGreeting{itest::socks5::kVersion, 1,
                                                         itest::socks5::kMethodNoAuth};
  t.queue(kGreeting);
  if (t.pipelined) {
    // Greeting, request, job header and the first uplink bytes before any reply.
    t.queue(request_for(t));
    queue_job_header(t);
    t.up_allowed = true;
  }
  t.stage = Stage::kMethod;
  t.expect(2);
  if (flush(t)) update_mask(t);
}

const std::vector<std::uint8_t>& Driver::request_for(const Tunnel& t) {
  if (requests_[0].empty()) {
    requests_[0] = itest::socks5::request(itest::Socks5Target::to(settings_.duplex));
    requests_[1] = itest::socks5::request(itest::Socks5Target::to(settings_.echo));
  }
  return requests_[t.kind == TunnelKind::kIdle ? 1 : 0];
}

void Driver::queue_job_header(Tunnel& t) {
  wire::Header h;
  h.flags = t.job->resumable ? wire::kFlagResumable : 0;
  h.job = t.job->id;
  h.up_total = t.job->up_total;
  h.down_total = t.job->down_total;
  h.down_offset = t.job->down_received;
  t.queue(wire::encode(h));
}

// False if the tunnel was finished.
bool Driver::on_readable(Tunnel& t) {
  ssize_t n;
  if (t.stage == Stage::kTransfer) {
    const std::uint64_t left = t.job->down_total - t.job->down_received;
    n = ::recv(t.fd, buffer_.data(),
               static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), left)), 0);
    if (n > 0) return on_downlink(t, std::span(buffer_.data(), static_cast<std::size_t>(n)));
  } else {
    // Control messages are read to their exact length, so nothing after them is taken.
    const std::size_t want = t.stage == Stage::kIdle ? 1 : t.in_need - t.in_got;
    n = ::recv(t.fd, t.in.data() + t.in_got, want, 0);
    if (n > 0 && t.stage == Stage::kIdle) {
      fail(t, "data on an idle tunnel", true);
      return false;
    }
    if (n > 0) {
      t.in_got += static_cast<std::size_t>(n);
      return t.in_got < t.in_need || on_control(t);
    }
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  std::string how = n == 0 ? "closed " : errno == ECONNRESET ? "reset " : std::strerror(errno);
  if (n < 0 && errno != ECONNRESET) how += " ";
  fail(t, how + stage_phrase(static_cast<int>(t.stage)));
  return false;
}

bool Driver::on_control(Tunnel& t) {
  const auto now = Clock::now();
  switch (t.stage) {
    case Stage::kMethod:
      if (t.in[0] != itest::socks5::kVersion || t.in[1] != itest::socks5::kMethodNoAuth) {
        fail(t, "SOCKS method refused");
        return false;
      }
      if (!t.pipelined) t.queue(request_for(t));
      t.stage = Stage::kReply;
      t.expect(5);
      return flush(t);
    case Stage::kReply:
      if (t.in_need == 5) {
        if (t.in[1] != itest::socks5::kReplySucceeded) {
          fail(t, std::string("SOCKS reply: ") + itest::socks5::reply_name(t.in[1]));
          return false;
        }
        std::size_t total = 0;
        if (t.in[3] == 0x01) total = 10;
        if (t.in[3] == 0x04) total = 22;
        if (t.in[3] == 0x03) total = 7 + std::size_t{t.in[4]};
        if (total == 0) {
          fail(t, "SOCKS reply with an unknown address type", true);
          return false;
        }
        t.in_need = total;
        return true;
      }
      if (t.kind == TunnelKind::kIdle) {
        t.queue(std::span(&kIdleFirst, 1));
        t.stage = Stage::kEcho;
        t.expect(1);
        return flush(t);
      }
      if (!t.pipelined) {
        queue_job_header(t);
        // A fresh job's uplink can go at once; a resumed one waits to hear where to resume.
        if (!t.job->resumable) t.up_allowed = true;
      }
      t.stage = Stage::kAnswer;
      t.expect(wire::kAnswerSize);
      return flush(t);
    case Stage::kAnswer: {
      const auto answer = wire::decode_answer(std::span(t.in).first<wire::kAnswerSize>());
      if (answer.status == wire::Status::kCorrupt) {
        t.job->corrupt = true;
        fail(t,
             "origin: uplink corrupted (job " + std::to_string(t.job->id) + ", offset " +
                 std::to_string(answer.value) + ")",
             true);
        return false;
      }
      if (answer.status != wire::Status::kOk) {
        fail(t, "origin refused the job header", true);
        return false;
      }
      if (t.job->resumable) {
        if (answer.value > t.job->up_hashed) {
          fail(t,
               "origin resumes the uplink at " + std::to_string(answer.value) +
                   ", beyond the bytes ever sent",
               true);
          return false;
        }
        t.up_pos = answer.value;
        t.up_allowed = true;
      } else if (answer.value != 0) {
        fail(t, "origin resumes a fresh job at " + std::to_string(answer.value), true);
        return false;
      }
      t.last_progress = now;
      if (t.job->down_received == t.job->down_total) {
        t.stage = Stage::kTrailer;
        t.expect(wire::kTrailerSize);
      } else {
        t.stage = Stage::kTransfer;
      }
      return flush(t);
    }
    case Stage::kTrailer:
      return on_trailer(t);
    case Stage::kEcho:
      if (t.in[0] != kIdleFirst) {
        fail(t, "wrong echo on an idle tunnel", true);
        return false;
      }
      t.stage = Stage::kIdle;
      idle_slots_[t.owner].failures_in_a_row = 0;
      counters_.idle_held.fetch_add(1, std::memory_order_relaxed);
      return true;
    case Stage::kProbe:
      if (t.in[0] != kIdleProbe) {
        fail(t, "wrong probe echo on an idle tunnel", true);
        return false;
      }
      t.stage = Stage::kIdle;
      counters_.idle_probes_ok.fetch_add(1, std::memory_order_relaxed);
      if (final_probe_) ++summary_.final_probe_ok;
      return true;
    case Stage::kConnecting:
    case Stage::kTransfer:
    case Stage::kIdle:
      break;
  }
  return true;
}

bool Driver::on_downlink(Tunnel& t, std::span<const std::uint8_t> data) {
  Job& job = *t.job;
  if (auto bad = stream_.first_mismatch(wire::down_seed(job.id), job.down_received, data)) {
    job.corrupt = true;
    fail(t,
         "downlink byte does not match its stream (job " + std::to_string(job.id) + ", offset " +
             std::to_string(*bad) + ")",
         true);
    return false;
  }
  job.down_sha.update(data);
  job.down_received += data.size();
  auto& counter =
      t.kind == TunnelKind::kBulk ? counters_.bulk_down_verified : counters_.short_down_verified;
  counter.fetch_add(data.size(), std::memory_order_relaxed);
  t.last_progress = Clock::now();
  if (job.down_received == job.down_total) {
    t.stage = Stage::kTrailer;
    t.expect(wire::kTrailerSize);
  }
  return true;
}

bool Driver::on_trailer(Tunnel& t) {
  Job& job = *t.job;
  const auto trailer = wire::decode_trailer(std::span(t.in).first<wire::kTrailerSize>());
  if (trailer.up_received != job.up_total || job.up_hashed != job.up_total) {
    job.corrupt = true;
    fail(t,
         "trailer: the origin received " + std::to_string(trailer.up_received) + " of " +
             std::to_string(job.up_total) + " uplink bytes",
         true);
    return false;
  }
  const itest::Digest up = job.up_sha.finish();
  const itest::Digest down = job.down_sha.finish();
  if (up != trailer.up_sha || down != trailer.down_sha) {
    job.corrupt = true;
    fail(t,
         std::string("trailer: SHA-256 of the ") + (up != trailer.up_sha ? "uplink" : "downlink") +
             " differs between the two ends (job " + std::to_string(job.id) + ")",
         true);
    return false;
  }
  job.done = true;
  if (t.kind == TunnelKind::kBulk) counters_.bulk_jobs_done.fetch_add(1, std::memory_order_relaxed);
  succeed(t);
  return false;
}

// Writes queued control bytes, then uplink bytes if the stage and the pace allow. False if
// the tunnel was finished.
bool Driver::flush(Tunnel& t) {
  while (t.out_off < t.out.size()) {
    ssize_t sent = ::send(t.fd, t.out.data() + t.out_off, t.out.size() - t.out_off, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      fail(t, std::string(errno == ECONNRESET || errno == EPIPE ? "reset " : "error ") +
                  stage_phrase(static_cast<int>(t.stage)) + " (while sending)");
      return false;
    }
    t.out_off += static_cast<std::size_t>(sent);
  }
  t.out.clear();
  t.out_off = 0;
  if (!t.up_allowed || t.job == nullptr || (t.kind == TunnelKind::kBulk && paused_)) return true;
  Job& job = *t.job;
  const std::uint64_t seed = wire::up_seed(job.id);
  std::size_t burst = 0;
  while (t.up_pos < job.up_total && burst < kSendBurst) {
    auto chunk = stream_.at(seed, t.up_pos, job.up_total - t.up_pos);
    ssize_t sent = ::send(t.fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      fail(t, std::string(errno == ECONNRESET || errno == EPIPE ? "reset " : "error ") +
                  stage_phrase(static_cast<int>(t.stage)) + " (while sending)");
      return false;
    }
    const auto n = static_cast<std::size_t>(sent);
    // Bytes resent after a resume were hashed when they first went out.
    if (t.up_pos + n > job.up_hashed) {
      const auto skip = static_cast<std::size_t>(job.up_hashed - t.up_pos);
      job.up_sha.update(chunk.subspan(skip, n - skip));
      auto& counter =
          t.kind == TunnelKind::kBulk ? counters_.bulk_up_sent : counters_.short_up_sent;
      counter.fetch_add(n - skip, std::memory_order_relaxed);
      job.up_hashed = t.up_pos + n;
    }
    t.up_pos += n;
    burst += n;
    t.last_progress = Clock::now();
  }
  return true;
}

void Driver::update_mask(Tunnel& t) {
  std::uint32_t mask = EPOLLIN;
  if (t.stage == Stage::kConnecting) {
    mask = EPOLLOUT;
  } else {
    const bool held_back = t.kind == TunnelKind::kBulk && paused_;
    if (held_back && t.stage == Stage::kTransfer) mask = 0;  // the downlink waits too
    const bool uplink_left = t.up_allowed && t.job != nullptr && t.up_pos < t.job->up_total;
    if (t.out_off < t.out.size() || (uplink_left && !held_back)) mask |= EPOLLOUT;
  }
  if (mask == t.mask) return;
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = t.id;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, t.fd, &ev);
  t.mask = mask;
}

void Driver::update_pacing(Clock::time_point now) {
  bool paused = false;
  if (settings_.bulk_bytes > 0) {
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    const double over = kPaceFraction * std::chrono::duration<double>(settings_.duration).count();
    const double share = over > 0 ? std::min(1.0, elapsed / over) : 1.0;
    const auto target =
        static_cast<std::uint64_t>(share * static_cast<double>(settings_.bulk_bytes));
    const std::uint64_t moved = counters_.bulk_up_sent.load() + counters_.bulk_down_verified.load();
    paused = moved >= target + kPaceBurst;
  }
  if (paused == paused_) return;
  paused_ = paused;
  for (const BulkWorker& w : workers_) {
    if (w.tunnel == 0) continue;
    auto it = tunnels_.find(w.tunnel);
    if (it == tunnels_.end()) continue;
    Tunnel& t = *it->second;
    if (t.stage == Stage::kConnecting) continue;
    // Resuming may write at once; flush() finishes the tunnel if that fails.
    if (paused_ || flush(t)) update_mask(t);
  }
}

void Driver::check_deadlines(Clock::time_point now) {
  std::vector<std::pair<std::uint64_t, std::string>> due;
  for (const auto& [id, tp] : tunnels_) {
    const Tunnel& t = *tp;
    switch (t.stage) {
      case Stage::kConnecting:
      case Stage::kMethod:
      case Stage::kReply:
      case Stage::kAnswer:
      case Stage::kEcho:
        if (now >= t.deadline)
          due.emplace_back(id, std::string("timeout ") + stage_phrase(static_cast<int>(t.stage)));
        break;
      case Stage::kTransfer:
      case Stage::kTrailer:
        if (now - t.last_progress >= kStallTimeout)
          due.emplace_back(
              id, std::string("stalled for 60 s ") + stage_phrase(static_cast<int>(t.stage)));
        break;
      case Stage::kProbe:
        if (now >= t.deadline) due.emplace_back(id, "no probe echo within 10 s");
        break;
      case Stage::kIdle:
        break;
    }
  }
  for (auto& [id, what] : due)
    fail(*tunnels_.at(id), std::move(what));
}

// --- endings ---

std::string Driver::job_progress(const Tunnel& t) const {
  if (t.job == nullptr)
    return t.kind == TunnelKind::kIdle ? "idle slot " + std::to_string(t.owner) : "";
  const Job& j = *t.job;
  return "job " + std::to_string(j.id) + ": up " + std::to_string(t.up_pos) + "/" +
         std::to_string(j.up_total) + ", down " + std::to_string(j.down_received) + "/" +
         std::to_string(j.down_total) + (t.pipelined ? ", pipelined" : "");
}

void Driver::succeed(Tunnel& t) {
  counters_.succeeded[static_cast<std::size_t>(t.kind)].fetch_add(1, std::memory_order_relaxed);
  finish(t, true);
}

void Driver::fail(Tunnel& t, std::string what, bool corrupt) {
  FailureRecord r;
  r.kind = t.kind;
  r.what = std::move(what);
  r.detail = job_progress(t);
  r.corrupt = corrupt;
  r.start = t.start;
  r.end = Clock::now();
  r.start_wall = t.start_wall;
  r.end_wall = WallClock::now();
  r.local_port = t.local_port;
  failures_.push_back(std::move(r));
  counters_.failed[static_cast<std::size_t>(t.kind)].fetch_add(1, std::memory_order_relaxed);
  finish(t, false);
}

void Driver::finish(Tunnel& t, bool ok) {
  if (t.fd >= 0) ::close(t.fd);
  counters_.open_tunnels.fetch_sub(1, std::memory_order_relaxed);
  const auto now = Clock::now();
  switch (t.kind) {
    case TunnelKind::kBulk: {
      BulkWorker& w = workers_[t.owner];
      w.tunnel = 0;
      if (ok || t.job->corrupt) {
        if (t.job->corrupt) ++summary_.bulk_jobs_corrupt;
        w.job = nullptr;  // done, or not worth resuming
        w.failures_in_a_row = 0;
      } else {
        w.retry_at = now + backoff(++w.failures_in_a_row, rng_);
      }
      break;
    }
    case TunnelKind::kShort:
      --short_in_flight_;
      break;
    case TunnelKind::kIdle: {
      IdleSlot& slot = idle_slots_[t.owner];
      slot.tunnel = 0;
      if (t.stage == Stage::kIdle || t.stage == Stage::kProbe)
        counters_.idle_held.fetch_sub(1, std::memory_order_relaxed);
      if (!ok) slot.retry_at = now + backoff(++slot.failures_in_a_row, rng_);
      break;
    }
  }
  tunnels_.erase(t.id);  // destroys t
}

// --- the run ---

void Driver::run(const std::atomic<bool>& stop) {
  started_ = Clock::now();
  next_short_ = started_;
  next_probe_ = started_ + settings_.idle_probe_every;
  while (!stop.load(std::memory_order_relaxed)) {
    auto now = Clock::now();
    start_due_tunnels(now);
    update_pacing(now);
    const auto until_short =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_short_ - now);
    poll(std::clamp(until_short, std::chrono::milliseconds(0), std::chrono::milliseconds(10)));
    now = Clock::now();
    if (now - last_deadline_scan_ >= 100ms) {
      last_deadline_scan_ = now;
      check_deadlines(now);
    }
  }
  wind_down();
}

void Driver::wind_down() {
  winding_down_ = true;
  // Bulk tunnels still moving are stopped where they are: the volume is what was verified.
  std::vector<std::uint64_t> bulk;
  for (BulkWorker& w : workers_) {
    if (w.tunnel != 0) bulk.push_back(w.tunnel);
  }
  for (std::uint64_t id : bulk) {
    ++summary_.stopped_at_end[static_cast<std::size_t>(TunnelKind::kBulk)];
    Tunnel& t = *tunnels_.at(id);
    t.job = nullptr;  // not a failure and not a success: no bookkeeping for the job
    BulkWorker& w = workers_[t.owner];
    w.tunnel = 0;
    ::close(t.fd);
    t.fd = -1;
    counters_.open_tunnels.fetch_sub(1, std::memory_order_relaxed);
    tunnels_.erase(id);
  }
  // In-flight short tunnels and opening idle ones finish (or fail) on their own.
  auto opening = [this] {
    for (const auto& [id, t] : tunnels_) {
      if (t->kind == TunnelKind::kShort) return true;
      if (t->kind == TunnelKind::kIdle && t->stage != Stage::kIdle) return true;
    }
    return false;
  };
  const auto deadline = Clock::now() + kWindDownTimeout;
  while (opening() && Clock::now() < deadline) {
    poll(10ms);
    check_deadlines(Clock::now());
  }
  // Every idle tunnel held across the run must still work.
  final_probe_ = true;
  summary_.final_probe_held = probe_idle(Clock::now());
  auto probing = [this] {
    for (const auto& [id, t] : tunnels_) {
      if (t->stage == Stage::kProbe) return true;
    }
    return false;
  };
  while (probing()) {
    poll(10ms);
    check_deadlines(Clock::now());
  }
  std::vector<std::uint64_t> rest;
  for (const auto& [id, t] : tunnels_)
    rest.push_back(id);
  for (std::uint64_t id : rest) {
    Tunnel& t = *tunnels_.at(id);
    if (t.kind == TunnelKind::kIdle && t.stage == Stage::kIdle) {
      succeed(t);
    } else {
      ++summary_.stopped_at_end[static_cast<std::size_t>(t.kind)];
      summary_.notes.push_back(std::string(kind_name(t.kind)) + " tunnel still open " +
                               stage_phrase(static_cast<int>(t.stage)) + " at the end");
      if (t.kind == TunnelKind::kShort) --short_in_flight_;
      if (t.fd >= 0) ::close(t.fd);
      counters_.open_tunnels.fetch_sub(1, std::memory_order_relaxed);
      tunnels_.erase(id);
    }
  }
}

}  // namespace vmlocal::soak
