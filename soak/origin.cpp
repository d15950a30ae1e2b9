#include "origin.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "harness/sha256.hpp"
#include "unique_fd.hpp"
#include "wire.hpp"

namespace vmlocal::soak {
namespace {

using bench::UniqueFd;

constexpr std::size_t kReadSize = 256 * 1024;
// Downlink bytes sent per writable event, so one fast connection cannot starve the others.
constexpr std::size_t kSendBurst = 1 << 20;
constexpr std::size_t kMaxErrorDetails = 20;

UniqueFd listen_loopback() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 4096) != 0) {
    throw std::runtime_error(std::string("origin listen: ") + std::strerror(errno));
  }
  return fd;
}

itest::Endpoint local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return itest::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace

class Origin::Loop {
 public:
  Loop(Origin& owner, const StreamBytes& stream, UniqueFd duplex, UniqueFd echo)
      : owner_(owner),
        stream_(stream),
        buffer_(kReadSize),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        duplex_listener_(std::move(duplex)),
        echo_listener_(std::move(echo)) {
    if (!epoll_.valid()) throw std::runtime_error("epoll_create1 failed");
    add(duplex_listener_.get(), &duplex_tag_);
    add(echo_listener_.get(), &echo_tag_);
  }

  ~Loop() {
    for (auto& [fd, conn] : conns_)
      ::close(fd);
  }

  void run() {
    std::array<epoll_event, 256> events;
    while (!owner_.stop_.load(std::memory_order_relaxed)) {
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 100);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        throw std::runtime_error(std::string("origin epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < n; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &duplex_tag_) {
          accept_all(duplex_listener_.get(), Service::kDuplex);
        } else if (tag == &echo_tag_) {
          accept_all(echo_listener_.get(), Service::kEcho);
        } else {
          // A connection closed earlier in this batch is no longer in the map.
          const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(tag) - 1);
          auto it = conns_.find(fd);
          if (it != conns_.end()) handle(*it->second, events[i].events);
        }
      }
    }
  }

 private:
  enum class Service : std::uint8_t { kDuplex, kEcho };
  enum class Phase : std::uint8_t { kHeader, kBody, kDrain };

  struct Conn;

  struct Job {
    wire::Header header;  // as first announced
    std::uint64_t up_verified = 0;
    itest::Sha256 up_sha;
    std::uint64_t down_hashed = 0;  // the downlink SHA covers bytes [0, down_hashed)
    itest::Sha256 down_sha;
    std::optional<std::uint64_t> corrupt_at;
    // Kept once complete: a resumable job's trailer may be cut off with its tunnel, and the
    // driver then resumes a job the origin has finished.
    std::optional<wire::Trailer> trailer;
    Conn* active = nullptr;
  };

  struct Conn {
    int fd = -1;
    Service service = Service::kEcho;
    Phase phase = Phase::kHeader;
    std::uint32_t mask = 0;
    std::array<std::uint8_t, wire::kHeaderSize> header{};
    std::size_t header_got = 0;
    std::uint64_t job_id = 0;
    Job* job = nullptr;
    std::uint64_t down_pos = 0;
    bool trailer_queued = false;
    bool discard = false;           // answered kBadHeader or kCorrupt: whatever follows is ignored
    std::vector<std::uint8_t> out;  // answer, trailer, or echo bytes not yet written
    std::size_t out_off = 0;
  };

  static void* tag_of(int fd) {
    return reinterpret_cast<void*>(static_cast<std::intptr_t>(fd) + 1);
  }

  void add(int fd, void* tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = tag;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      throw std::runtime_error(std::string("origin epoll_ctl: ") + std::strerror(errno));
  }

  void set_mask(Conn& c, std::uint32_t mask) {
    if (mask == c.mask) return;
    epoll_event ev{};
    ev.events = mask;
    ev.data.ptr = tag_of(c.fd);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd, &ev);
    c.mask = mask;
  }

  void accept_all(int listener, Service service) {
    for (;;) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or EMFILE: the rest wait in the backlog
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto conn = std::make_unique<Conn>();
      conn->fd = fd;
      conn->service = service;
      conn->mask = EPOLLIN;
      add(fd, tag_of(fd));
      conns_.emplace(fd, std::move(conn));
      owner_.connections_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void close_conn(Conn& c, bool reset) {
    if (reset) {
      linger hard{1, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
    if (c.job != nullptr && c.job->active == &c) {
      c.job->active = nullptr;
      // A job that is not resumable ends with its only tunnel.
      if (!c.job->header.resumable()) jobs_.erase(c.job_id);
    }
    const int fd = c.fd;
    ::close(fd);  // also leaves the epoll set
    conns_.erase(fd);
  }

  void handle(Conn& c, std::uint32_t events) {
    if (c.service == Service::kEcho) {
      handle_echo(c, events);
      return;
    }
    if (events & EPOLLOUT) {
      if (!write_duplex(c)) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (!read_duplex(c)) return;
    }
    update_duplex_mask(c);
  }

  // --- echo ---

  void handle_echo(Conn& c, std::uint32_t events) {
    if ((events & (EPOLLERR | EPOLLHUP)) && c.out_off < c.out.size()) {
      close_conn(c, false);  // the echo can never be delivered
      return;
    }
    if (c.out_off < c.out.size()) {
      if (!flush(c)) return;
      if (c.out_off < c.out.size()) return;
      set_mask(c, EPOLLIN);
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    ssize_t n = ::recv(c.fd, buffer_.data(), buffer_.size(), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close_conn(c, false);
      return;
    }
    if (n < 0) return;
    c.out.assign(buffer_.begin(), buffer_.begin() + n);
    c.out_off = 0;
    if (!flush(c)) return;
    // The peer is not reading: stop reading until the rest is written.
    set_mask(c, c.out_off < c.out.size() ? EPOLLOUT : EPOLLIN);
  }

  // Writes what is queued in c.out; false (after closing) if the connection failed.
  bool flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t sent = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) return true;
        close_conn(c, false);
        return false;
      }
      c.out_off += static_cast<std::size_t>(sent);
    }
    c.out.clear();
    c.out_off = 0;
    return true;
  }

  // --- duplex ---

  void queue(Conn& c, std::span<const std::uint8_t> bytes) {
    c.out.insert(c.out.end(), bytes.begin(), bytes.end());
  }

  void update_duplex_mask(Conn& c) {
    std::uint32_t mask = EPOLLIN;
    const bool down_left = c.phase == Phase::kBody && c.down_pos < c.job->header.down_total;
    if (c.out_off < c.out.size() || down_left) mask |= EPOLLOUT;
    set_mask(c, mask);
  }

  // False if the connection was closed.
  bool write_duplex(Conn& c) {
    if (!flush(c)) return false;
    if (c.out_off < c.out.size() || c.phase != Phase::kBody) return true;
    Job& job = *c.job;
    const std::uint64_t seed = wire::down_seed(c.job_id);
    std::size_t burst = 0;
    while (c.down_pos < job.header.down_total && burst < kSendBurst) {
      auto chunk = stream_.at(seed, c.down_pos, job.header.down_total - c.down_pos);
      ssize_t sent = ::send(c.fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        close_conn(c, false);
        return false;
      }
      const auto n = static_cast<std::size_t>(sent);
      // Bytes resent after a resume were hashed when they first went out.
      if (c.down_pos + n > job.down_hashed) {
        const std::size_t skip = static_cast<std::size_t>(job.down_hashed - c.down_pos);
        job.down_sha.update(chunk.subspan(skip, n - skip));
        job.down_hashed = c.down_pos + n;
      }
      c.down_pos += n;
      burst += n;
      owner_.down_sent_.fetch_add(n, std::memory_order_relaxed);
    }
    return maybe_finish(c);
  }

  // False if the connection was closed.
  bool read_duplex(Conn& c) {
    if (c.phase == Phase::kHeader) {
      ssize_t n = ::recv(c.fd, c.header.data() + c.header_got, c.header.size() - c.header_got, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_conn(c, false);
        return false;
      }
      if (n < 0) return true;
      c.header_got += static_cast<std::size_t>(n);
      if (c.header_got < c.header.size()) return true;
      return start_job(c);
    }
    ssize_t n = ::recv(c.fd, buffer_.data(), buffer_.size(), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close_conn(c, false);
      return false;
    }
    if (n < 0) return true;
    return on_uplink(c, std::span(buffer_.data(), static_cast<std::size_t>(n)));
  }

  bool on_uplink(Conn& c, std::span<const std::uint8_t> data) {
    if (c.discard) return true;
    if (c.phase != Phase::kBody) {
      protocol_error(c, std::to_string(data.size()) + " bytes after the trailer of job " +
                            std::to_string(c.job_id));
      return false;
    }
    Job& job = *c.job;
    const std::uint64_t left = job.header.up_total - job.up_verified;
    if (data.size() > left) {
      return corrupt(c, job.header.up_total,
                     std::to_string(data.size() - left) + " uplink bytes beyond the announced " +
                         std::to_string(job.header.up_total));
    }
    if (auto bad = stream_.first_mismatch(wire::up_seed(c.job_id), job.up_verified, data)) {
      return corrupt(c, *bad, "uplink byte does not match its stream");
    }
    job.up_sha.update(data);
    job.up_verified += data.size();
    owner_.up_verified_.fetch_add(data.size(), std::memory_order_relaxed);
    if (job.header.resumable())
      owner_.bulk_up_verified_.fetch_add(data.size(), std::memory_order_relaxed);
    return maybe_finish(c);
  }

  bool corrupt(Conn& c, std::uint64_t offset, const std::string& what) {
    c.job->corrupt_at = offset;
    owner_.record_corruption("job " + std::to_string(c.job_id) + ": " + what + " at offset " +
                             std::to_string(offset));
    close_conn(c, true);
    return false;
  }

  void protocol_error(Conn& c, std::string what) {
    owner_.record_protocol_error(std::move(what));
    close_conn(c, true);
  }

  // The header is complete: find or create the job and answer.
  bool start_job(Conn& c) {
    auto header = wire::decode_header(c.header);
    if (!header) {
      answer_bad(c, "header with a bad magic or offsets");
      return true;
    }
    auto it = jobs_.find(header->job);
    if (it == jobs_.end()) {
      if (header->down_offset != 0) {
        answer_bad(c, "unknown job " + std::to_string(header->job) + " resumed");
        return true;
      }
      it = jobs_.emplace(header->job, std::make_unique<Job>()).first;
      it->second->header = *header;
    }
    Job& job = *it->second;
    if (job.header.up_total != header->up_total || job.header.down_total != header->down_total ||
        job.header.flags != header->flags) {
      answer_bad(c, "job " + std::to_string(header->job) + " announced with other lengths");
      return true;
    }
    if (job.active != nullptr) retire(*job.active);
    if (header->down_offset > job.down_hashed) {
      answer_bad(c, "job " + std::to_string(header->job) + " resumed at downlink offset " +
                        std::to_string(header->down_offset) + ", beyond the " +
                        std::to_string(job.down_hashed) + " bytes sent");
      return true;
    }
    c.job_id = header->job;
    c.job = &job;
    if (job.corrupt_at) {
      queue(c, wire::encode(wire::Answer{wire::Status::kCorrupt, *job.corrupt_at}));
      c.phase = Phase::kDrain;
      c.discard = true;
      return flush(c);
    }
    job.active = &c;
    c.down_pos = header->down_offset;
    c.phase = Phase::kBody;
    queue(c, wire::encode(wire::Answer{wire::Status::kOk, job.up_verified}));
    return write_duplex(c);
  }

  void answer_bad(Conn& c, std::string what) {
    owner_.record_protocol_error(std::move(what));
    queue(c, wire::encode(wire::Answer{wire::Status::kBadHeader, 0}));
    c.phase = Phase::kDrain;
    c.discard = true;
    flush(c);
  }

  // An older tunnel of a job that is being resumed: it was cut (its failure is what made the
  // driver resume), so take whatever it still has buffered, then close it.
  void retire(Conn& old) {
    for (;;) {
      ssize_t n = ::recv(old.fd, buffer_.data(), buffer_.size(), 0);
      if (n <= 0) break;
      if (!on_uplink(old, std::span(buffer_.data(), static_cast<std::size_t>(n)))) return;
    }
    close_conn(old, true);
  }

  // Once both directions are complete, the trailer; then the job is over (a resumable one is
  // kept with its trailer, in case this tunnel is cut before the trailer arrives).
  bool maybe_finish(Conn& c) {
    if (c.phase != Phase::kBody || c.trailer_queued) return true;
    Job& job = *c.job;
    if (job.up_verified < job.header.up_total || c.down_pos < job.header.down_total) return true;
    if (!job.trailer) {
      wire::Trailer trailer;
      trailer.up_received = job.up_verified;
      trailer.up_sha = job.up_sha.finish();
      trailer.down_sha = job.down_sha.finish();
      job.trailer = trailer;
      owner_.jobs_completed_.fetch_add(1, std::memory_order_relaxed);
    }
    queue(c, wire::encode(*job.trailer));
    c.trailer_queued = true;
    c.phase = Phase::kDrain;
    if (!job.header.resumable()) {
      jobs_.erase(c.job_id);
      c.job = nullptr;
    }
    return flush(c);
  }

  Origin& owner_;
  const StreamBytes& stream_;
  std::vector<std::uint8_t> buffer_;
  UniqueFd epoll_;
  UniqueFd duplex_listener_;
  UniqueFd echo_listener_;
  int duplex_tag_ = 0;
  int echo_tag_ = 0;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Job>> jobs_;
};

Origin::Origin(const StreamBytes& stream) {
  UniqueFd duplex = listen_loopback();
  UniqueFd echo = listen_loopback();
  duplex_ = local_endpoint(duplex.get());
  echo_ = local_endpoint(echo.get());
  loop_ = std::make_unique<Loop>(*this, stream, std::move(duplex), std::move(echo));
  thread_ = std::thread([this] {
    try {
      loop_->run();
    } catch (const std::exception& e) {
      record_protocol_error(std::string("the origin stopped: ") + e.what());
    }
  });
}

Origin::~Origin() {
  stop();
}

void Origin::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

Origin::Stats Origin::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.connections = connections_.load();
  s.up_verified_bytes = up_verified_.load();
  s.bulk_up_verified_bytes = bulk_up_verified_.load();
  s.down_sent_bytes = down_sent_.load();
  s.jobs_completed = jobs_completed_.load();
  return s;
}

void Origin::record_corruption(std::string what) {
  std::lock_guard lock(mutex_);
  stats_.corruptions.push_back(std::move(what));
}

void Origin::record_protocol_error(std::string what) {
  std::lock_guard lock(mutex_);
  ++stats_.protocol_errors;
  if (stats_.protocol_error_details.size() < kMaxErrorDetails)
    stats_.protocol_error_details.push_back(std::move(what));
}

}  // namespace vmlocal::soak
