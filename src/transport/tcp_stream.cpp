#include "vmlocal/transport/tcp_stream.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "vmlocal/log/log.hpp"
#include "vmlocal/platform/socket_options.hpp"
#include "vmlocal/transport/address_order.hpp"
#include "vmlocal/uv/sockaddr.hpp"
#include "vmlocal/uv/socket_error.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::transport {

FailureKind failure_kind_for_uv_error(int uv_error) {
  switch (uv_error) {
    case UV_ECONNREFUSED:
      return FailureKind::kRefused;
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_EADDRNOTAVAIL:
    case UV_EAI_NONAME:
    case UV_EAI_AGAIN:
    case UV_EAI_FAIL:
    case UV_EAI_NODATA:
      return FailureKind::kUnreachable;
    case UV_ETIMEDOUT:
      return FailureKind::kTimeout;
    case UV_ECONNRESET:
    case UV_EPIPE:
    case UV_ECONNABORTED:
      return FailureKind::kReset;
    default:
      return FailureKind::kOther;
  }
}

TcpStream::TcpStream(uv_loop_t* loop, StreamHandler& handler, std::string host, uint16_t port,
                     bool fast_open)
    : loop_(loop), handler_(handler), host_(std::move(host)), port_(port), fast_open_(fast_open) {
  resolve_req_.data = this;
  write_req_.data = this;
  shutdown_req_.data = this;
  attempt_delay_.data = this;
}

void TcpStream::connect() {
  uv_timer_init(loop_, &attempt_delay_);
  attempt_delay_busy_ = true;
  sockaddr_storage literal{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&literal);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&literal);
  if (uv_ip4_addr(host_.c_str(), port_, v4) == 0 || uv_ip6_addr(host_.c_str(), port_, v6) == 0) {
    addresses_.push_back(literal);
    start_next_attempt();
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // No AI_ADDRCONFIG: with attempts raced, an address family this host cannot reach fails at
  // once (ENETUNREACH) and the other starts without waiting, while AI_ADDRCONFIG would also
  // hide ::1 from a host whose only IPv6 address is loopback.
  const std::string service = std::to_string(port_);
  int rc =
      uv_getaddrinfo(loop_, &resolve_req_, on_resolved, host_.c_str(), service.c_str(), &hints);
  if (rc != 0) {
    fail(FailureKind::kResolve, "DNS: cannot resolve " + host_ + ": " + uv_strerror(rc));
    return;
  }
  resolving_ = true;
}

void TcpStream::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* self = static_cast<TcpStream*>(req->data);
  self->resolving_ = false;
  if (self->closing_) {
    if (result != nullptr) uv_freeaddrinfo(result);
    self->maybe_finish_close();
    return;
  }
  if (status != 0) {
    uv_freeaddrinfo(result);
    self->fail(FailureKind::kResolve,
               "DNS: cannot resolve " + self->host_ + ": " + uv_strerror(status));
    return;
  }
  std::vector<sockaddr_storage> resolved;
  std::vector<int> families;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    sockaddr_storage storage{};
    std::memcpy(&storage, ai->ai_addr, ai->ai_addrlen);
    resolved.push_back(storage);
    families.push_back(ai->ai_family);
  }
  uv_freeaddrinfo(result);
  if (resolved.empty()) {
    self->fail(FailureKind::kResolve, "DNS: " + self->host_ + " has no IPv4 or IPv6 address");
    return;
  }
  for (size_t i : interleave_families(families))
    self->addresses_.push_back(resolved[i]);
  self->start_next_attempt();
}

void TcpStream::start_next_attempt() {
  if (closing_ || connected_ || failed_) return;
  if (next_address_ >= addresses_.size()) {
    // Nothing left to start: the stream fails once the last racing attempt has.
    if (racing_.empty()) {
      stop_attempt_delay();
      fail(last_connect_kind_, connect_errors_);
    }
    return;
  }
  auto* attempt = new Attempt;
  attempt->owner = this;
  attempt->address = next_address_++;
  attempt->tcp.data = attempt;
  attempt->req.data = attempt;
  const auto* addr = reinterpret_cast<const sockaddr*>(&addresses_[attempt->address]);
  if (fast_open_) {
    // The socket must exist before connect() to take the Fast Open option.
    uv_tcp_init_ex(loop_, &attempt->tcp, addr->sa_family);
    uv_os_fd_t fd = -1;
    const int fileno_rc = uv_fileno(reinterpret_cast<uv_handle_t*>(&attempt->tcp), &fd);
    if (fileno_rc != 0) {
      log::debug("TCP Fast Open unavailable: ", uv_strerror(fileno_rc));
    } else if (!platform::enable_fast_open_connect(fd)) {
      log::debug("TCP Fast Open unavailable on this system: ", std::strerror(errno));
    }
  } else {
    uv_tcp_init(loop_, &attempt->tcp);
  }
  ++attempts_busy_;
  racing_.push_back(attempt);
  const int rc = uv_tcp_connect(&attempt->req, &attempt->tcp, addr, on_connect);
  if (rc != 0) {
    // Synchronous failure (e.g. EMFILE): the same path as an asynchronous one.
    attempt_failed(attempt, rc);
    return;
  }
  // The next address gets its turn after the Connection Attempt Delay, this one still running.
  if (next_address_ < addresses_.size()) {
    uv_timer_start(&attempt_delay_, on_attempt_delay,
                   static_cast<uint64_t>(kConnectionAttemptDelay.count()), 0);
  }
}

void TcpStream::on_attempt_delay(uv_timer_t* timer) {
  static_cast<TcpStream*>(timer->data)->start_next_attempt();
}

void TcpStream::on_connect(uv_connect_t* req, int status) {
  auto* attempt = static_cast<Attempt*>(req->data);
  TcpStream* self = attempt->owner;
  // Closed meanwhile (the stream, or this attempt as a loser): the close callback finishes.
  if (self->closing_ || status == UV_ECANCELED ||
      std::find(self->racing_.begin(), self->racing_.end(), attempt) == self->racing_.end()) {
    return;
  }
  if (status != 0) {
    self->attempt_failed(attempt, status);
    return;
  }
  self->won(attempt);
}

void TcpStream::attempt_failed(Attempt* attempt, int uv_error) {
  const auto* addr = reinterpret_cast<const sockaddr*>(&addresses_[attempt->address]);
  const std::string why = "connect " + uv::format_sockaddr(addr) + ": " + uv_strerror(uv_error);
  log::debug("TCP: ", why);
  if (!connect_errors_.empty()) connect_errors_ += "; ";
  connect_errors_ += why;
  ++connect_failures_;
  last_connect_kind_ = failure_kind_for_uv_error(uv_error);
  drop_attempt(attempt);
  // A failure starts the next attempt at once (RFC 8305 §5).
  uv_timer_stop(&attempt_delay_);
  start_next_attempt();
}

void TcpStream::won(Attempt* attempt) {
  racing_.erase(std::find(racing_.begin(), racing_.end(), attempt));
  stop_attempt_delay();
  // The others lost: the addresses that failed or were overtaken, for the log.
  std::string overtaken;
  for (Attempt* loser : racing_) {
    const auto* addr = reinterpret_cast<const sockaddr*>(&addresses_[loser->address]);
    overtaken += (overtaken.empty() ? "" : ", ") + uv::format_sockaddr(addr);
  }
  while (!racing_.empty())
    drop_attempt(racing_.front());
  if (attempt->address > 0) {
    const auto* addr = reinterpret_cast<const sockaddr*>(&addresses_[attempt->address]);
    log::info("TCP: ", host_, ": connected to ", uv::format_sockaddr(addr), " (",
              connect_errors_.empty() ? "" : connect_errors_,
              !connect_errors_.empty() && !overtaken.empty() ? "; " : "",
              overtaken.empty() ? "" : "no answer yet from " + overtaken, ")");
  }
  // The winner's socket is the stream's from now on; it reports to the stream.
  winner_.reset(attempt);
  --attempts_busy_;
  tcp_ = &attempt->tcp;
  tcp_->data = this;
  handle_open_ = true;
  handle_busy_ = true;
  connected_ = true;
  uv_tcp_nodelay(tcp_, 1);
  handler_.on_stream_connected();
}

void TcpStream::drop_attempt(Attempt* attempt) {
  const auto it = std::find(racing_.begin(), racing_.end(), attempt);
  if (it != racing_.end()) racing_.erase(it);
  uv_close(reinterpret_cast<uv_handle_t*>(&attempt->tcp), on_attempt_closed);
}

void TcpStream::on_attempt_closed(uv_handle_t* handle) {
  auto* attempt = static_cast<Attempt*>(handle->data);
  TcpStream* self = attempt->owner;
  delete attempt;
  --self->attempts_busy_;
  self->maybe_finish_close();
}

void TcpStream::stop_attempt_delay() {
  if (!attempt_delay_busy_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&attempt_delay_))) {
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&attempt_delay_), [](uv_handle_t* handle) {
    auto* self = static_cast<TcpStream*>(handle->data);
    self->attempt_delay_busy_ = false;
    self->maybe_finish_close();
  });
}

void TcpStream::fail(FailureKind kind, std::string message) {
  failed_ = true;
  failure_ = Failure{kind, std::move(message)};
  handler_.on_stream_failed(failure_);
}

void TcpStream::read_start() {
  if (connected_ && !closing_)
    uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_), on_alloc, on_read);
}

void TcpStream::read_stop() {
  if (connected_ && !closing_) uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
}

void TcpStream::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<TcpStream*>(handle->data);
  MutableByteView space = self->handler_.on_stream_buffer();
  *buf = uv_buf_init(reinterpret_cast<char*>(space.data()), static_cast<unsigned>(space.size()));
}

void TcpStream::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<TcpStream*>(stream->data);
  if (self->closing_) return;
  if (nread > 0) {
    if (self->fast_open_ && !self->fast_open_checked_) self->report_fast_open();
    self->handler_.on_stream_read(static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    uv_read_stop(stream);
    // A reset right behind data can reach us as UV_EOF (see uv::pending_error): it must not
    // pass for the server's clean end.
    if (const int error = uv::pending_error(stream); error != 0) {
      self->fail(failure_kind_for_uv_error(error), std::string("read: ") + uv_strerror(error));
      return;
    }
    self->handler_.on_stream_eof();
  } else if (nread < 0) {
    self->fail(failure_kind_for_uv_error(static_cast<int>(nread)),
               std::string("read: ") + uv_strerror(static_cast<int>(nread)));
  }
  // nread == 0 is EAGAIN, not EOF: nothing to do.
}

Stream::WriteResult TcpStream::write(uv_buf_t* bufs, size_t count) {
  int error = 0;
  switch (uv::write_now_or_queue(reinterpret_cast<uv_stream_t*>(tcp_), &write_req_, bufs, count,
                                 on_write, &error)) {
    case uv::WriteOutcome::kDone:
      return WriteResult::kDone;
    case uv::WriteOutcome::kQueued:
      write_pending_ = true;
      return WriteResult::kPending;
    case uv::WriteOutcome::kFailed:
      break;
  }
  failure_ = Failure{failure_kind_for_uv_error(error), std::string("write: ") + uv_strerror(error)};
  return WriteResult::kFailed;
}

void TcpStream::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<TcpStream*>(req->data);
  self->write_pending_ = false;
  if (self->closing_) {
    // A graceful close waited for this write; a failed one has nothing left to wait for.
    if (self->draining_) self->end_drain(status != 0);
    return;
  }
  if (status != 0) {
    self->fail(failure_kind_for_uv_error(status), std::string("write: ") + uv_strerror(status));
    return;
  }
  self->handler_.on_stream_write_done();
}

void TcpStream::report_fast_open() {
  // By the first reply the handshake is over, and the kernel can say whether the SYN carried data.
  fast_open_checked_ = true;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp_), &fd) != 0) return;
  if (const std::optional<bool> used = platform::fast_open_used(fd)) {
    log::debug(*used ? "TCP Fast Open: the request went out with the SYN"
                     : "TCP Fast Open: not used for this connection (no cookie yet, or the server "
                       "does not offer it)");
  }
}

Stream::WriteResult TcpStream::shutdown() {
  if (!connected_ || closing_) return WriteResult::kDone;
  uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(tcp_), on_shutdown);
  return WriteResult::kDone;
}

void TcpStream::on_shutdown(uv_shutdown_t* /*req*/, int /*status*/) {
  // Nothing waits on it: a failed shutdown surfaces as a read or write error.
}

void TcpStream::close(bool reset) {
  if (closing_) {
    if (reset && draining_) end_drain(true);  // cut the graceful close short
    return;
  }
  closing_ = true;
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));
  stop_attempt_delay();
  while (!racing_.empty())
    drop_attempt(racing_.front());
  if (!reset && !failed_ && handle_open_ && connected_ && write_pending_) {
    // uv_close would cancel the queued write: wait for it (bounded), discarding input meanwhile.
    draining_ = true;
    auto* stream = reinterpret_cast<uv_stream_t*>(tcp_);
    uv_read_stop(stream);
    uv_read_start(stream, on_drain_alloc, on_drain_read);
    uv_timer_init(loop_, &drain_timer_);
    drain_timer_.data = this;
    drain_timer_busy_ = true;
    uv_timer_start(&drain_timer_, on_drain_timeout, kCloseDrainMs, 0);
    return;
  }
  close_handle(reset);
  maybe_finish_close();
}

void TcpStream::close_handle(bool reset) {
  if (!handle_open_) return;
  handle_open_ = false;
  // close_reset refuses a handle that is shutting down; then a plain close it is.
  if (!(reset && connected_ && uv_tcp_close_reset(tcp_, on_closed) == 0)) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_), on_closed);
  }
}

void TcpStream::end_drain(bool reset) {
  if (!draining_) return;
  draining_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), on_drain_timer_closed);
  close_handle(reset);
}

void TcpStream::on_drain_alloc(uv_handle_t* /*handle*/, size_t /*suggested*/, uv_buf_t* buf) {
  static char discard[4096];  // only ever written, never read
  *buf = uv_buf_init(discard, sizeof discard);
}

void TcpStream::on_drain_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  if (nread == UV_EOF) {
    uv_read_stop(stream);
  } else if (nread < 0) {
    static_cast<TcpStream*>(stream->data)->end_drain(true);  // the write cannot finish now
  }
}

void TcpStream::on_drain_timeout(uv_timer_t* timer) {
  auto* self = static_cast<TcpStream*>(timer->data);
  log::debug("TCP: closing with bytes still unsent after ", kCloseDrainMs, " ms");
  self->end_drain(true);
}

void TcpStream::on_drain_timer_closed(uv_handle_t* handle) {
  auto* self = static_cast<TcpStream*>(handle->data);
  self->drain_timer_busy_ = false;
  self->maybe_finish_close();
}

void TcpStream::on_closed(uv_handle_t* handle) {
  auto* self = static_cast<TcpStream*>(handle->data);
  self->handle_busy_ = false;
  self->maybe_finish_close();
}

void TcpStream::maybe_finish_close() {
  // Every outstanding libuv operation reports here; the last one to end tells the handler.
  if (!closing_ || resolving_ || handle_busy_ || drain_timer_busy_ || attempts_busy_ > 0 ||
      attempt_delay_busy_ || close_reported_) {
    return;
  }
  close_reported_ = true;
  handler_.on_stream_closed();
}

}  // namespace vmlocal::transport
