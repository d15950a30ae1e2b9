// One destination of a SOCKS5 UDP association that [route] sends direct: a UDP socket of this
// machine, connected to the target (a name is resolved here), so only the target's replies
// come back. It keeps the packet-mode Stream contract of a VMess UDP stream (vmess_stream.hpp,
// Command::kUdp): each buffer given to write() is one datagram, each view handed to
// on_stream_views() is one datagram from the target, so VmessUdpSession carries either.
//
// UDP may lose datagrams: one the socket will not take at once (or refused by an ICMP error of
// an earlier one) is dropped and counted, never queued. shutdown() has nothing to send.
//
// Lifetime: owned by its handler; close() cancels a resolution in flight and closes the
// socket; on_stream_closed() follows once both are done.
#pragma once

#include <uv.h>

#include <cstdint>
#include <vector>

#include "vmlocal/transport/stream.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::outbound {

class DirectUdpStream final : public transport::Stream {
 public:
  // The largest UDP payload over IPv4 (65535 - 20 - 8).
  static constexpr size_t kMaxDatagram = 65'507;

  DirectUdpStream(uv_loop_t* loop, transport::StreamHandler& handler, const TargetAddress& target);
  ~DirectUdpStream() override;
  DirectUdpStream(const DirectUdpStream&) = delete;
  DirectUdpStream& operator=(const DirectUdpStream&) = delete;

  void connect() override;
  void read_start() override;
  void read_stop() override;
  WriteResult write(uv_buf_t* bufs, size_t count) override;
  WriteResult shutdown() override { return WriteResult::kDone; }
  void close(bool reset) override;
  const transport::Failure& failure() const override { return failure_; }
  std::string_view connect_stage() const override { return "DNS: resolve"; }
  size_t max_write_size() const override { return kMaxDatagram; }
  std::string_view route() const override { return "direct"; }
  void release_views() override;

  // Datagrams dropped on the way out (the socket would not take them).
  uint64_t send_drops() const { return send_drops_; }

 private:
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags);
  void open_socket(const sockaddr& addr);
  void fail(transport::Failure failure);
  void maybe_closed();

  uv_loop_t* loop_;
  transport::StreamHandler& handler_;
  TargetAddress target_;
  uv_getaddrinfo_t resolve_{};
  uv_udp_t socket_{};
  std::vector<uint8_t> buffer_;  // one datagram from the target at a time
  transport::Failure failure_;
  bool resolving_ = false;
  bool socket_open_ = false;  // initialized, close callback not yet run
  bool reading_ = false;
  bool views_held_ = false;  // the handler kept the last datagram's view
  bool closing_ = false;
  bool failed_ = false;
  bool close_reported_ = false;
  uint64_t send_drops_ = 0;
};

}  // namespace vmlocal::outbound
