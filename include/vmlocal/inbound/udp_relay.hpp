// The SOCKS5 UDP relay (RFC 1928 §7): one UDP socket per listen address, on the same address and
// port as the TCP listener, shared by every worker.
//
// How the workers share it: the sockets, the associations and their VMess UDP tunnels all live
// on worker 1's loop (the relay's loop). A UDP socket cannot be spread over workers with
// SO_REUSEPORT as the TCP listeners are: the kernel would hash each app's datagrams to a worker
// that may not hold its association. A control connection may be accepted by any worker; its
// tunnel calls associate() on that worker's thread, which records the app's address in a table
// under a mutex and returns at once, so the reply can name the relay before any datagram can
// arrive. The association's state is made on the relay's loop when its first datagram comes.
// Dropping the lease (the control connection closed) marks the entry ended and wakes the relay's
// loop (uv_async_send), which frees the association there.
//
// Which datagrams are accepted: only those from an app with a live association, matched by
// source address: the address the app gave in its request when it is not zero, else the control
// connection's IP; the port it gave, else the port of its first datagram. Anything else is
// dropped and counted (foreign_drops()).
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/inbound/udp_association.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/tunnel/udp_associator.hpp"

namespace vmlocal::inbound {

class UdpRelay final : public tunnel::UdpAssociator, public std::enable_shared_from_this<UdpRelay> {
 public:
  // `loop` and `dialer` are the relay's (worker 1's); `profile` gives the [local] UDP bounds.
  UdpRelay(uv_loop_t* loop, std::shared_ptr<const config::Profile> profile,
           outbound::UdpDialer& dialer);
  ~UdpRelay() override;
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  // On the relay's loop, before any associate(): binds a UDP socket on `address` (the TCP
  // listener's bound address, so port 0 has become a real port). Returns an error message.
  std::optional<std::string> bind(const sockaddr& address, const std::string& name);

  // Any thread.
  Result<tunnel::UdpAssociated> associate(const TargetAddress& client, const sockaddr& peer,
                                          const sockaddr& local) override;

  // Any thread: the addresses its sockets are bound to ("127.0.0.1:1080"), in bind order. They
  // stay as started: a reload that adds a listen address adds no UDP socket there.
  std::vector<std::string> bound_names();

  // On the relay's loop: closes the sockets and every association; later leases only mark.
  void stop();

  // On the relay's loop.
  size_t association_count() const { return associations_.size(); }
  uint64_t foreign_drops() const { return foreign_drops_; }

 private:
  class Lease;
  struct Socket {
    uv_udp_t handle;
    UdpRelay* relay;
    sockaddr_storage bound;
    std::string name;
  };
  // One association as the table shared by the threads knows it.
  struct Entry {
    uint64_t id;
    sockaddr_storage client;  // the port is 0 until learnt from the first datagram
    bool port_known;
    bool ended;
  };

  void end(uint64_t id);  // any thread: the lease was dropped
  void reap();            // relay loop: free the associations whose leases are gone
  void on_datagram(Socket& socket, ByteView datagram, const sockaddr& from);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* from,
                      unsigned flags);

  uv_loop_t* loop_;
  std::shared_ptr<const config::Profile> profile_;
  outbound::UdpDialer& dialer_;

  // Shared by the threads, under mutex_.
  std::mutex mutex_;
  std::vector<Entry> entries_;
  uint64_t next_id_ = 1;
  bool running_ = false;
  std::vector<std::pair<sockaddr_storage, uint16_t>> bound_;  // socket addresses, for replies

  // The relay's loop only.
  uv_async_t wake_{};
  std::vector<Socket*> sockets_;  // freed in their close callbacks
  std::unordered_map<uint64_t, UdpAssociation*> associations_;
  std::array<uint8_t, 64 * 1024> recv_buf_{};
  uint64_t foreign_drops_ = 0;
  uint64_t last_foreign_log_ms_ = 0;
};

}  // namespace vmlocal::inbound
