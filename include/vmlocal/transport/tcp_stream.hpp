// The bottom transport: resolves the server name (uv_getaddrinfo, skipped for IP literals),
// connects as RFC 8305 says (address_order.hpp: IPv6 and IPv4 interleaved, a new attempt every
// 250 ms or at once when one fails, the earlier ones still running; the first to connect wins
// and the others are closed), then moves bytes with no copy — reads land in the handler's
// buffer and writes go straight from the caller's buffers. An address that failed or was
// overtaken is named in the log when another one won; when all fail, the failure names each.
//
// A graceful close() with a write still queued in libuv keeps the socket open until that write
// has gone (reading and discarding meanwhile, so a peer that writes while we wait does not stall
// us), then closes; after kCloseDrainMs it resets instead. Nothing else is queued below us, so
// that is everything a layer above handed down before it closed.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "vmlocal/transport/stream.hpp"

namespace vmlocal::transport {

class TcpStream final : public Stream {
 public:
  // fast_open: TCP Fast Open (TCP_FASTOPEN_CONNECT): "connected" is reported at once and the
  // first write leaves with the SYN when the kernel holds a cookie for the server, saving a
  // round trip per tunnel. The server must have TFO on; otherwise the kernel falls back to a
  // plain handshake.
  TcpStream(uv_loop_t* loop, StreamHandler& handler, std::string host, uint16_t port,
            bool fast_open = false);
  ~TcpStream() override = default;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  void connect() override;
  void read_start() override;
  void read_stop() override;
  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  void close(bool reset) override;
  const Failure& failure() const override { return failure_; }
  std::string_view connect_stage() const override {
    return addresses_.empty() ? "DNS: resolve" : "TCP: connect";
  }

 private:
  // One connection attempt to one address: its own socket, racing the others. The winner's
  // socket becomes the stream's.
  struct Attempt {
    uv_tcp_t tcp{};
    uv_connect_t req{};
    TcpStream* owner = nullptr;
    size_t address = 0;  // index into addresses_
  };

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result);
  static void on_connect(uv_connect_t* req, int status);
  static void on_attempt_closed(uv_handle_t* handle);
  static void on_attempt_delay(uv_timer_t* timer);
  static void on_closed(uv_handle_t* handle);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_drain_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_drain_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_drain_timeout(uv_timer_t* timer);
  static void on_drain_timer_closed(uv_handle_t* handle);

  void start_next_attempt();
  void attempt_failed(Attempt* attempt, int uv_error);
  void won(Attempt* attempt);
  // Closes a losing or failed attempt; freed in its close callback.
  void drop_attempt(Attempt* attempt);
  void stop_attempt_delay();
  void report_fast_open();
  void fail(FailureKind kind, std::string message);
  void maybe_finish_close();
  // Closes tcp_ (with a reset when asked and possible).
  void close_handle(bool reset);
  // Ends a graceful close's wait: closes the timer and the socket.
  void end_drain(bool reset);

  uv_loop_t* loop_;
  StreamHandler& handler_;
  std::string host_;
  uint16_t port_;

  std::vector<sockaddr_storage> addresses_;  // in attempt order
  size_t next_address_ = 0;
  std::vector<Attempt*> racing_;  // started, not yet connected or failed
  size_t attempts_busy_ = 0;      // attempt sockets whose close callback has not run
  std::string connect_errors_;    // "connect A: why; connect B: why"
  size_t connect_failures_ = 0;
  FailureKind last_connect_kind_ = FailureKind::kOther;
  uv_timer_t attempt_delay_{};
  bool attempt_delay_busy_ = false;  // initialized, close callback not yet run

  uv_getaddrinfo_t resolve_req_{};
  std::unique_ptr<Attempt> winner_;  // owns tcp_'s memory
  uv_tcp_t* tcp_ = nullptr;          // the connected socket
  uv_write_t write_req_{};
  uv_shutdown_t shutdown_req_{};
  uv_timer_t drain_timer_{};  // initialized only for a graceful close that must wait

  bool resolving_ = false;    // uv_getaddrinfo outstanding
  bool handle_open_ = false;  // tcp_ initialized and uv_close not yet called
  bool handle_busy_ = false;  // tcp_ initialized and its close callback not yet run
  bool connected_ = false;
  bool closing_ = false;
  bool close_reported_ = false;
  bool write_pending_ = false;     // write_req_ is queued in libuv
  bool failed_ = false;            // fail() reported a failure
  bool draining_ = false;          // a graceful close waits for write_req_
  bool drain_timer_busy_ = false;  // drain_timer_ initialized, its close callback not yet run
  bool fast_open_ = false;
  bool fast_open_checked_ = false;
  Failure failure_;
};

}  // namespace vmlocal::transport
