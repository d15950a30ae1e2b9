// The stream ServerPool::dial returns: one tunnel's way to the servers, trying them in the
// order the shared ServerHealth gives until one connects. Each attempt is a VmessStream, or, on
// a server with [server.mux] on, a Mux.Cool session (MuxSession, which joins or opens a shared
// MuxConnection from the loop's MuxPool). When an attempt fails before its stack is ready — at
// DNS, TCP, TLS or the WebSocket upgrade (for a session: its mux connection failed while
// connecting), or by taking longer than its share of the connect timeout — it is closed and the
// next server is dialled, mux or not, so the app is answered only once a server works, and never
// sees a dead one. The tunnel sees one stream: it does not know how many attempts there were.
// The sessions waiting on one mux connection that fails are each told, and each fails over on
// its own; the failed connection takes no new sessions (MuxPool opens a fresh one).
//
// After the stack is ready (on_stream_connected reached the tunnel, and the app got its reply)
// nothing is retried: the VMess request has gone (for a session: its New frame), and a failure
// from then on may be the target's; a mux connection that dies fails every session on it. Every
// attempt's outcome goes to ServerHealth (marking servers down and up), and the bytes and
// tunnels to the server's counters.
//
// Lifetime: owned by the handler (the tunnel). Attempts that were given up are closed at once
// (reset) and kept until their close callbacks; on_stream_closed() comes once every attempt and
// the attempt timer have closed.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/server_health.hpp"
#include "vmlocal/outbound/warm_pool.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::outbound {

class MuxPool;

// The servers of one configuration, as a tunnel pins them.
struct ServerSet {
  std::vector<std::shared_ptr<const ServerContext>> servers;
  std::shared_ptr<ServerHealth> health;  // shared by every worker
  // How long one attempt may take when another server is left to try: the connect timeout
  // shared out over the servers (at least 1 s). The last attempt is bounded by the tunnel's
  // own connect timer.
  Millis attempt_timeout{10'000};
  // Per server (same index): its warm pool on this loop (warm_pool.hpp), or null when it has
  // none. Owned by the ServerPool, which keeps every pool it made until it is destroyed, so a
  // tunnel pinning an older set after a reload finds a stopped pool (take() gives nothing).
  std::vector<WarmPool*> warm;
  // The Mux.Cool connections of this loop, for the servers with [server.mux] on; null: every
  // attempt is a VmessStream. Owned by the ServerPool, which outlives its tunnels.
  MuxPool* mux = nullptr;
};

class FailoverStream final : public transport::Stream {
 public:
  // Opens the first attempt (in `order`, which must not be empty) at once, so a target VMess
  // cannot carry fails here as VmessStream::open does (kUnreachable), before any traffic.
  // `command`: each attempt's VmessStream command (kTcp, or kUdp for one UDP destination). A
  // server with [server.mux] on gets a MuxSession instead (a packet-mode one for kUdp).
  static Result<std::unique_ptr<FailoverStream>> open(
      OutboundContext& context, std::shared_ptr<const ServerSet> set, std::vector<size_t> order,
      const TargetAddress& target, transport::StreamHandler& handler,
      vmess::Command command = vmess::Command::kTcp);
  ~FailoverStream() override;
  FailoverStream(const FailoverStream&) = delete;
  FailoverStream& operator=(const FailoverStream&) = delete;

  void connect() override;
  void read_start() override;
  void read_stop() override;
  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override;
  void close(bool reset) override;
  const transport::Failure& failure() const override;
  std::string_view connect_stage() const override;
  std::string_view route() const override;
  size_t max_write_size() const override;
  void release_views() override;

  // The server of the current attempt (an index into the set's servers).
  size_t server() const;

 private:
  class Attempt;

  FailoverStream(OutboundContext& context, std::shared_ptr<const ServerSet> set,
                 std::vector<size_t> order, const TargetAddress& target,
                 transport::StreamHandler& handler, vmess::Command command);

  // From the attempts.
  void attempt_connected(Attempt& attempt);
  void attempt_writable(Attempt& attempt);
  void attempt_failed(Attempt& attempt, const transport::Failure& failure);
  void attempt_closed(Attempt* attempt);
  bool attempt_views(uv_buf_t* views, size_t count);
  void attempt_read(size_t n);

  // The stream of an attempt on `attempt.server()`: a Mux.Cool session when that server has
  // [server.mux] on (and the command is kTcp), else a VmessStream. Errors: as VmessStream::open.
  Result<std::unique_ptr<transport::Stream>> open_attempt(Attempt& attempt);
  // Starts the attempt at order_[next_] once it is open; false when none could be opened.
  void start_current();
  // Gives up on the current attempt and dials the next server, or fails the stream.
  void next_or_fail(const transport::Failure& failure);
  void arm_attempt_timer();
  static void on_attempt_timer(uv_timer_t* timer);
  void fail(transport::Failure failure);
  void maybe_closed();

  OutboundContext& context_;
  std::shared_ptr<const ServerSet> set_;
  std::vector<size_t> order_;
  size_t next_ = 0;  // index in order_ of the current attempt
  TargetAddress target_;
  vmess::Command command_;
  transport::StreamHandler& handler_;
  std::unique_ptr<Attempt> current_;
  std::vector<std::unique_ptr<Attempt>> retired_;  // closing, freed in their close callbacks
  std::string tried_;                              // "A: why; B: why" of the failed attempts
  uv_timer_t attempt_timer_{};
  bool timer_open_ = false;     // initialized by connect(), uv_close not yet called
  bool timer_started_ = false;  // initialized, close callback not yet run
  bool connected_ = false;
  bool committed_ = false;  // the attempt reported on_stream_writable (early data): no failover
  bool closing_ = false;
  bool failed_ = false;
  bool close_reported_ = false;
  bool reading_ = false;
  transport::Failure failure_;
  mutable std::string stage_;
};

}  // namespace vmlocal::outbound
