// The running proxy on one event loop: the listeners, the inbound handshake each accepted
// connection gets, the servers (outbound::ServerPool) and the orderly stop (stop accepting,
// close every tunnel).
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/inbound/udp_relay.hpp"
#include "vmlocal/outbound/router.hpp"
#include "vmlocal/outbound/server_pool.hpp"
#include "vmlocal/tunnel/loop_context.hpp"

namespace vmlocal::inbound {

// One proxy per event loop. With several workers ([local] workers), each runs its own Proxy:
// listeners share the ports through SO_REUSEPORT and the limits are shared out.
struct WorkerSlot {
  unsigned index = 0;  // 0-based
  unsigned count = 1;
};

class Proxy {
 public:
  Proxy(uv_loop_t* loop, config::Profile profile, WorkerSlot worker = {});
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Builds the servers, binds and listens on every [local] listen endpoint (and, with [local]
  // udp, the first worker's UDP relay on each). Returns an error message on failure.
  std::optional<std::string> start();
  // Workers after the first: before start(), share the first worker's UDP relay (see
  // udp_relay.hpp for why there is one for all workers).
  void share_udp_relay(const Proxy& first) { udp_relay_ = first.udp_relay_; }
  // The relay when this proxy runs it or shares it; null with [local] udp off.
  const std::shared_ptr<UdpRelay>& udp_relay() const { return udp_relay_; }
  // A reload (runtime: SIGHUP, a changed subscription): new tunnels get `profile`; live ones
  // keep the snapshot they started with (the last of them frees it). Listen endpoints the new
  // profile still lists keep their sockets (no connection is refused meanwhile); new ones are
  // opened first and removed ones closed last, so on an error (a port in use, an unreadable
  // ca_file) nothing has changed. Servers with unchanged settings keep their ServerContext
  // (state, TLS sessions, Mux.Cool connections); `health` is the new generation's, shared by the
  // workers (ServerHealth::successor). `[local] workers` must be the running value
  // (config::plan_reload). Returns the error; on the loop's thread.
  std::optional<std::string> reload(config::Profile profile,
                                    std::shared_ptr<outbound::ServerHealth> health);
  // The snapshot new tunnels get.
  const std::shared_ptr<const config::Profile>& profile() const { return profile_; }
  // Stops accepting; live tunnels may finish for up to [timeouts] shutdown_grace, then every
  // tunnel is closed. The loop ends once their handles have closed.
  void stop(std::string_view why);
  // Closes the proxy's own remaining handles once the loop has run dry; run the loop once more
  // afterwards so their close callbacks complete.
  void release_handles();

  size_t tunnel_count() const { return tunnels_.tunnel_count; }
  // The servers and their shared health (runtime shares worker 1's with the others).
  outbound::ServerPool& server_pool() { return servers_; }
  // "127.0.0.1:1080", ... as bound (a port 0 in the profile shows the port the kernel chose).
  std::vector<std::string> bound_addresses() const;
  // The bound port of each listener, in [local] listen order.
  std::vector<uint16_t> bound_ports() const;

 private:
  struct Listener {
    uv_tcp_t handle;
    Proxy* proxy;
    std::string name;
    config::ListenEndpoint endpoint;  // as the profile says (a reload compares it)
  };

  // A bound, listening socket; on an error the half-made one is closed (and freed) already, and
  // `uv_error` (when given) gets libuv's code.
  Result<Listener*> open_listener(const config::ListenEndpoint& endpoint, int* uv_error = nullptr);
  static void close_listener(Listener* listener);
  bool hand_over_port(const config::Profile& next, const config::ListenEndpoint& endpoint,
                      std::vector<std::optional<config::ListenEndpoint>>& handed_over);
  void set_limits();
  std::optional<std::string> start_udp_relay();
  void warn_if_udp_stays(const config::Profile& before, const config::Profile& after) const;
  void log_started(std::string_view what) const;
  static void on_connection(uv_stream_t* server, int status);
  void accept_tunnel(uv_stream_t* server);
  void close_all(std::string_view why);
  void refuse(uv_stream_t* server);
  void note_refusal(const char* why);

  static constexpr size_t kReservedDescriptors = 32;

  // The configuration snapshot new tunnels get; each tunnel keeps the one it started with.
  std::shared_ptr<const config::Profile> profile_;
  WorkerSlot worker_;
  crypto::SystemRandom random_;
  tunnel::LoopContext tunnels_;
  outbound::ServerPool servers_;
  outbound::Router router_;              // [route]: servers_, direct, or refused
  std::vector<Listener*> listeners_;     // freed in their close callbacks
  std::shared_ptr<UdpRelay> udp_relay_;  // shared by all workers; runs on the first one's loop
  bool stopped_ = false;
  size_t max_tunnels_ = SIZE_MAX;          // the smaller of the two limits below
  size_t profile_max_tunnels_ = SIZE_MAX;  // [local] max_connections
  uv_timer_t grace_timer_{};
  bool grace_timer_started_ = false;
  uint64_t last_refusal_log_ms_ = 0;
  uint64_t refused_since_log_ = 0;
};

}  // namespace vmlocal::inbound
